"""`--threads N` on `cnnc train`, `eval` and `predict`: a usage error for 0 or junk, refused with the torch
backend, and a run on 2 threads that ends at the weights of a run on 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from command_runner import run

ROOT = Path(__file__).resolve().parents[2]
LENET = str(ROOT / "examples" / "lenet5.cnn")


@pytest.mark.parametrize("value", ["0", "junk", "-1", "2.5", "257"])
@pytest.mark.parametrize("command", [["train", LENET, "--data", "synthetic"], ["eval", "model.npz"],
                                     ["predict", "model.npz", "x.npy"]], ids=["train", "eval", "predict"])
def test_a_bad_thread_count_is_one_line_and_exit_2(command: list[str], value: str) -> None:
    code, out, err = run(*command, "--threads", value)
    errors = [line for line in err.splitlines() if not line.startswith("usage:")]
    assert code == 2 and not out
    assert errors == [f"cnnc {command[0]}: argument --threads: expected a whole number of threads from 1 to 256, "
                      f"got {value!r}"]


def test_threads_are_refused_with_the_torch_backend() -> None:
    code, _, err = run("train", LENET, "--data", "synthetic", "--backend", "torch", "--threads", "2")
    assert code == 2 and "argument --threads: not with --backend torch" in err


def test_training_on_two_threads_reaches_the_weights_of_one(tmp_path: Path) -> None:
    """LeNet-5 in float64 on 256 generated examples, 1 epoch of batches of 128 (shards of 64, above the NumPy
    backend's floor of multiply-accumulates per shard): the saved weights of `--threads 2` within 1e-12 of
    `--threads 1`'s; then eval and predict on 2 threads."""
    weights = {}
    for threads in ("1", "2"):
        target = tmp_path / f"lenet5-{threads}.npz"
        code, _, err = run("train", LENET, "--data", "synthetic:n=256,test=64", "--dtype", "float64",
                           "--epochs", "1", "--batch-size", "128", "--out", str(target), "--threads", threads)
        assert code == 0, err
        with np.load(target) as saved:
            weights[threads] = {key: saved[key] for key in saved.files if key.startswith("param")}
    assert weights["1"] and weights["1"].keys() == weights["2"].keys()
    for key, value in weights["1"].items():
        assert np.abs(weights["2"][key] - value).max() <= 1e-12 * max(1.0, np.abs(value).max()), key
    code, out, err = run("eval", str(tmp_path / "lenet5-2.npz"), "--threads", "2", "--format", "json")
    assert code == 0, err
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((40, 28, 28, 1)))
    code, out, err = run("predict", str(tmp_path / "lenet5-2.npz"), str(tmp_path / "x.npy"), "--threads", "2")
    assert code == 0, err
