"""Evidence that the Numba backend computes what the NumPy backend does, beyond the layer table of
test_numba_backend.py: random programs of the whole language (hypothesis, tests/fuzz_strategies.py), predict's
inference path (chunked convolution, max pooling axis by axis, the fused steps) on every shipped example and on
those programs, and `cnnc train --backend numba` on MNIST."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the whole-language generator
from fuzz_strategies import program_text, strategy  # noqa: E402
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_numba_backend import TOLERANCE, assert_same_as_numpy  # noqa: E402
from test_numpy_gradients import EXAMPLE_FILES, HEAVY, small_example  # noqa: E402
from test_numpy_mnist import MNIST, ROOT  # noqa: E402

import cnnc  # noqa: E402
from cnnc.backends.numpy import inference  # noqa: E402


def assert_predict_matches(network: cnnc.Network, dtype: str) -> None:
    """``predict`` on both backends (the inference path, in predict batches of 2: 2 + 1 examples) against
    the NumPy backend's evaluation-mode ``forward`` (the training path's kernels), within the dtype's
    tolerance relative to the largest output. The running statistics are first moved off their initial
    values by a training pass, so that evaluation mode has something to read."""
    x = np.random.default_rng(2).standard_normal((3, *network.report.input.dims))
    models = {backend: network.compile(backend=backend, dtype=dtype, seed=3) for backend in ("numpy", "numba")}
    models["numpy"].forward(x, training=True, seed=1)
    for key, value in models["numpy"].buffers.items():
        models["numba"].buffers[key][...] = value
    expected = models["numpy"].forward(x, training=False)
    scale = max(1.0, float(np.abs(expected).max()))
    for backend, model in models.items():
        found = model.predict(x, batch_size=2)
        assert found.dtype == expected.dtype and found.shape == expected.shape, backend
        assert np.abs(found - expected).max() <= TOLERANCE[dtype] * scale, backend


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in HEAVY else p
                                  for p in EXAMPLE_FILES], ids=[p.stem for p in EXAMPLE_FILES])
def test_example_predicts_as_the_training_path(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """float32 with the convolution's chunks as predict makes them; float64 with chunks as small as they get
    (one example each, the last predict batch's chunk of another size: every scratch path taken)."""
    network = small_example(path)
    assert_predict_matches(network, "float32")
    monkeypatch.setattr(inference, "CHUNK_BYTES", 1)
    assert_predict_matches(network, "float64")


def small_program(text: str) -> cnnc.Network:
    """The program as a network, if it is valid and small enough to run in a moment (else the example is
    rejected)."""
    try:
        network = cnnc.loads(text)
    except cnnc.SpecError:
        assume(False)
    report = network.report
    assume(report.totals.params < 20_000 and report.totals.macs < 2_000_000 and report.input.size < 5_000)
    return network


@st.composite
def compiled_kernel_stacks(draw) -> str:
    """A 1-D or 2-D stack of what the Numba backend compiles: convolutions (any kernel, stride, padding,
    dilation, groups, bias, rounding) followed by a ReLU or not, max pooling (padding, ceil mode, overlapping
    windows), then fc layers with and without a ReLU."""
    rank = draw(st.sampled_from([1, 2]))
    spatial = [draw(st.integers(5, 14)) for _ in range(rank)]
    channels = draw(st.integers(1, 4))
    lines = [f"input {'x'.join(map(str, spatial))}x{channels}"]
    for _ in range(draw(st.integers(1, 4))):
        kernel, stride = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        pad = draw(st.integers(0, kernel // 2))
        rounding = draw(st.sampled_from(["floor", "ceil"]))
        if draw(st.booleans()):
            groups = draw(st.sampled_from([g for g in (1, 2) if channels % g == 0]))
            channels = groups * draw(st.integers(1, 4))
            lines.append(f"conv {channels} {kernel} stride={stride} pad={pad} dilation={draw(st.integers(1, 2))} "
                         f"groups={groups} bias={draw(st.sampled_from(['true', 'false']))} round={rounding}")
            if draw(st.booleans()):
                lines.append("relu")
        else:
            lines.append(f"maxpool {kernel} stride={stride} pad={pad} round={rounding}")
    for _ in range(draw(st.integers(0, 2))):
        lines.append(f"fc {draw(st.integers(1, 6))} bias={draw(st.sampled_from(['true', 'false']))}")
        if draw(st.booleans()):
            lines.append("relu")
    return "\n".join(lines)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.one_of(strategy(program_text), compiled_kernel_stacks()))
def test_random_programs_equal_the_numpy_backend(text: str) -> None:
    """Programs of the whole language and stacks of the compiled kernels: outputs (training and evaluation)
    and every gradient as test_numba_backend.py compares them, and predict as above, in float64 (1e-10)
    and float32 (1e-5)."""
    network = small_program(text)
    for dtype in ("float64", "float32"):
        assert_same_as_numpy(network, dtype, batch=2)
        assert_predict_matches(network, dtype)


@pytest.mark.slow
def test_cnnc_train_with_backend_numba_reaches_97_percent_on_mnist(tmp_path: Path) -> None:
    """`cnnc train examples/lenet5.cnn --data mnist:DIR --backend numba --threads 1`: the spec's recipe (5
    epochs), the first 8,000 t10k digits to train and the last 2,000 to test; the log's final test accuracy.
    On 2 threads the steps equal these within float32's rounding (tests/backends/test_shards.py), which over 5
    epochs moves the final accuracy by a few tenths of a point (98.45% on one thread, 98.50% on two, seed 0)."""
    from rich.console import Console

    from cnnc.cli import main

    if not (MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST is not at {MNIST}")
    log = tmp_path / "run.jsonl"
    out, err = io.StringIO(), io.StringIO()
    code = main(["train", str(ROOT / "examples" / "lenet5.cnn"), "--data", f"mnist:{MNIST}", "--backend", "numba",
                 "--out", str(tmp_path / "lenet5.npz"), "--log", str(log), "--threads", "1"],
                out=Console(file=out, width=200), err=Console(file=err, width=200))
    assert code == 0, err.getvalue()
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [event["event"] for event in events] == ["epoch"] * 5 + ["finished"]
    assert events[-1]["test_accuracy"] >= 0.97
