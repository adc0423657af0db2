"""`cnnc train --backend torch [--device] [--nproc N]` end to end: real worker processes, real signals,
torchrun's two-machine command on one machine, and checkpoints that the NumPy backend evaluates and resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cnnc.backends.torch_train.launcher import free_port

import cnnc
from command_runner import run

ROOT = Path(__file__).resolve().parents[2]
MNIST = ROOT.parent / "shared" / "data" / "mnist"

# Dropout (the same masks on every worker), Adam, and batches of 23 from 70 examples: 12 + 11 examples a
# worker, and a last batch of one example, which leaves the second worker none.
SPEC = """network small
input 8x8x1
conv 4 3x3 pad=1; relu
maxpool 2
dropout 0.3
fc 3
softmax
train { optimizer=adam lr=0.01 epochs=2 batch=23 seed=5 }
"""
DATA = "synthetic:n=70,test=31,classes=3,seed=1,shape=8x8x1"
LONG_DATA = "synthetic:n=700,test=31,classes=3,seed=1,shape=8x8x1"
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "small.cnn"
    path.write_text(SPEC, encoding="utf-8")
    return path


def weights(path: Path) -> dict[str, np.ndarray]:
    model = cnnc.load_model(path)
    return {**model.params, **{f"buffer/{k}": v for k, v in model.buffers.items()},
            **{f"{slot}/{k}": v for slot, arrays in model.optimizer.state.items() for k, v in arrays.items()}}


def assert_same_weights(first: Path, second: Path, **tolerance) -> None:
    ours, theirs = weights(first), weights(second)
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **tolerance)


def events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_torch_trains_and_numpy_evaluates_the_checkpoint(spec, tmp_path):
    target, log = tmp_path / "m.npz", tmp_path / "m.jsonl"
    code, out, err = run("train", str(spec), "--data", DATA, "--backend", "torch", "--out", str(target),
                         "--log", str(log))
    assert code == 0, err
    assert "backend     torch " in out and " on cpu" in out
    finished = events(log)[-1]
    code, out, err = run("eval", str(target), "--format", "json")  # the NumPy backend
    assert code == 0, err
    assert json.loads(out)["accuracy"] == pytest.approx(finished["test_accuracy"])
    assert json.loads(out)["loss"] == pytest.approx(finished["test_loss"], rel=1e-5)


def test_two_workers_take_the_steps_of_one_process(spec, tmp_path):
    """Two gloo workers (``--nproc 2``) and one process, float64: the same weights and Adam state, the
    same log, written once. The last batch of each epoch holds one example: the second worker runs none."""
    alone, log_alone = tmp_path / "alone.npz", tmp_path / "alone.jsonl"
    both, log_both = tmp_path / "both.npz", tmp_path / "both.jsonl"
    common = ("train", str(spec), "--data", DATA, "--backend", "torch", "--dtype", "float64")
    assert run(*common, "--out", str(alone), "--log", str(log_alone))[0] == 0
    code, _out, err = run(*common, "--nproc", "2", "--out", str(both), "--log", str(log_both))
    assert code == 0, err
    assert_same_weights(both, alone, rtol=1e-10, atol=1e-13)
    lines_alone, lines_both = events(log_alone), events(log_both)
    assert [line["event"] for line in lines_both] == ["epoch", "epoch", "finished"]  # rank 0 alone logs
    for ours, theirs in zip(lines_both, lines_alone):
        for key in ("loss", "accuracy", "test_loss", "test_accuracy"):
            if key in ours:
                assert ours[key] == pytest.approx(theirs[key], rel=1e-10), key


@pytest.mark.parametrize("args, message", [
    (("--nproc", "2"), "--nproc: needs --backend torch"),
    (("--device", "cpu"), "--device: needs --backend torch"),
    (("--backend", "torch", "--nproc", "0"), "expected a number of workers from 1 to 1,024"),
    (("--backend", "torch", "--device", "cuda"), "--device cuda: PyTorch"),
])
def test_flags_that_cannot_run_exit_2(spec, tmp_path, args, message):
    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _out, err = run("train", str(spec), "--data", DATA, *args, "--out", str(tmp_path / "m.npz"))
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) <= 2 and "Traceback" not in err
    assert not (tmp_path / "m.npz").exists()


def test_without_torch_the_extra_to_install_is_named(spec, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import fails as if it were not installed
    code, _out, err = run("train", str(spec), "--data", DATA, "--backend", "torch", "--out", str(tmp_path / "m.npz"))
    assert code == 2
    assert err.strip() == ("cnnc: error: --backend torch needs PyTorch, which is not installed: "
                           "pip install 'cnnc[torch]'")


@pytest.mark.parametrize("variables, message", [
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}, "without MASTER_ADDR, MASTER_PORT"),
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"},
     "--nproc: under torchrun"),
])
def test_under_a_launcher_the_environment_is_checked(spec, tmp_path, monkeypatch, variables, message):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    extra = ("--nproc", "2") if "MASTER_ADDR" in variables else ()
    code, _out, err = run("train", str(spec), "--data", DATA, "--backend", "torch", *extra)
    assert code == 2 and message in err, err
    code, _out, err = run("train", str(spec), "--data", DATA)
    assert code == 2 and "started as one of 2 workers" in err and "--backend torch" in err


def _workers(parent: int) -> dict[int, int]:
    """{rank: pid} of the workers a launcher started."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    found = {}
    for pid in map(int, children):
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        rank = next(int(item[5:]) for item in environ if item.startswith(b"RANK="))
        found[rank] = pid
    return found


def _start(spec: Path, target: Path, log: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "cnnc", "train", str(spec), "--data", LONG_DATA, "--backend", "torch",
               "--nproc", "2", "--epochs", "500", "--out", str(target), "--log", str(log), *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def _after_first_epoch(process: subprocess.Popen, log: Path) -> dict[int, int]:
    deadline = time.time() + 120
    while not (log.exists() and log.read_text().count("\n") >= 1) and time.time() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    return _workers(process.pid)


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_a_dead_worker_ends_the_others_and_leaves_the_checkpoint(spec, tmp_path):
    """SIGKILL to worker 1 in the middle of a run: the launcher stops worker 0, says which worker died,
    exits 1, and the last epoch's checkpoint loads."""
    target, log = tmp_path / "m.npz", tmp_path / "m.jsonl"
    process = _start(spec, target, log)
    workers = _after_first_epoch(process, log)
    os.kill(workers[1], signal.SIGKILL)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert f"worker 1 of 2 (pid {workers[1]}) was killed by SIGKILL" in err
    assert "the other workers were stopped" in err and f"the last checkpoint, {target}, is intact" in err
    assert "Traceback" not in err
    assert all(_gone(pid) for pid in workers.values())
    model = cnnc.load_model(target)
    assert model.run_state["progress"]["epoch"] >= 1
    assert not list(tmp_path.glob(".m.npz.*"))  # no temporary file left behind


def test_ctrl_c_stops_every_worker_and_the_numpy_backend_resumes(spec, tmp_path):
    target, log = tmp_path / "m.npz", tmp_path / "m.jsonl"
    process = _start(spec, target, log)
    workers = _after_first_epoch(process, log)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert f"resume with: cnnc train {spec} --resume {target} --backend torch --nproc 2" in err
    assert all(_gone(pid) for pid in workers.values())
    assert [line["event"] for line in events(log)].count("interrupted") == 1
    done = cnnc.load_model(target).run_state["progress"]["epoch"]
    code, _out, err = run("train", str(spec), "--resume", str(target), "--epochs", str(done + 1))
    assert code == 0, err
    assert cnnc.load_model(target).run_state["progress"]["epoch"] == done + 1


def test_an_orphaned_worker_stops_as_on_ctrl_c(spec, tmp_path):
    """The launcher killed outright: its workers notice, stop after the batch and write a checkpoint."""
    target, log = tmp_path / "m.npz", tmp_path / "m.jsonl"
    process = _start(spec, target, log)
    workers = _after_first_epoch(process, log)
    process.kill()
    process.communicate(timeout=60)
    deadline = time.time() + 60
    while not all(_gone(pid) for pid in workers.values()) and time.time() < deadline:
        time.sleep(0.1)
    assert all(_gone(pid) for pid in workers.values())
    assert events(log)[-1]["event"] == "interrupted"
    assert cnnc.load_model(target).run_state["progress"]["batch"] >= 0


def test_torchruns_two_machine_command_on_one_machine(spec, tmp_path):
    """docs/training.md's two-node command, both "nodes" here: one worker each, joined through
    torchrun's variables, the weights of one process."""
    alone = tmp_path / "alone.npz"
    assert run("train", str(spec), "--data", DATA, "--backend", "torch", "--dtype", "float64",
               "--out", str(alone))[0] == 0
    target, log, port = tmp_path / "two.npz", tmp_path / "two.jsonl", free_port()
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(rank),
         "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", str(port), "--no-python", "--",
         "cnnc", "train", str(spec), "--data", DATA, "--backend", "torch", "--dtype", "float64",
         "--out", str(target), "--log", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path) for rank in (0, 1)]
    results = [node.communicate(timeout=120) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], results
    assert "2 workers (gloo, DistributedDataParallel)" in results[0][0] and not results[1][0].strip()
    assert [line["event"] for line in events(log)] == ["epoch", "epoch", "finished"]
    assert_same_weights(target, alone, rtol=1e-10, atol=1e-13)


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.is_dir(), reason="../shared/data/mnist is absent")
def test_lenet5_on_mnist_two_workers_reach_the_weights_of_one(tmp_path):
    """The issue's check: LeNet-5, one epoch of the 8,000 digits (125 steps of the spec's global batch
    of 64, seed 0), 2 gloo workers against 1 process, in float64: weights within 1e-5 (about 1e-13 here).
    In float32 both runs are as far apart as either is from its own float64 run: see docs/training.md."""
    spec = ROOT / "examples" / "lenet5.cnn"
    common = ("train", str(spec), "--data", f"mnist:{MNIST}", "--backend", "torch", "--dtype", "float64",
              "--epochs", "1")
    assert run(*common, "--out", str(tmp_path / "one.npz"))[0] == 0
    code, _out, err = run(*common, "--nproc", "2", "--out", str(tmp_path / "two.npz"))
    assert code == 0, err
    one, two = weights(tmp_path / "one.npz"), weights(tmp_path / "two.npz")
    assert max(float(np.abs(one[key] - two[key]).max()) for key in one) < 1e-5


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.is_dir(), reason="../shared/data/mnist is absent")
def test_lenet5_on_mnist_torch_reaches_the_numpy_backends_accuracy(tmp_path):
    """LeNet-5 on MNIST 8k/2k from the same initial weights, one epoch on each backend in float64: the
    same test accuracy within 0.5 points (in fact the same digits right) and weights within 1e-8.
    bench/train_mnist.py runs the whole recipe, float32 and float64."""
    spec = ROOT / "examples" / "lenet5.cnn"
    scores = {}
    for backend in ("numpy", "torch"):
        log = tmp_path / f"{backend}.jsonl"
        code, _out, err = run("train", str(spec), "--data", f"mnist:{MNIST}", "--backend", backend, "--dtype",
                             "float64", "--epochs", "1", "--out", str(tmp_path / f"{backend}.npz"), "--log", str(log))
        assert code == 0, err
        scores[backend] = events(log)[-1]["test_accuracy"]
    assert abs(scores["torch"] - scores["numpy"]) <= 0.005 and scores["numpy"] > 0.9
    assert_same_weights(tmp_path / "torch.npz", tmp_path / "numpy.npz", rtol=1e-6, atol=1e-8)
