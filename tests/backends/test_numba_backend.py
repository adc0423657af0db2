"""The Numba backend against the NumPy backend (outputs and every gradient) and against central
differences in float64, through its compiled kernels; its fusion, its checkpoints and its CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from test_numpy_gradients import EXAMPLE_FILES, HEAVY, LAYERS, assert_gradients_match, small_example

import cnnc

pytest.importorskip("numba")

from cnnc.backends.numba.direct import DirectConvolution  # noqa: E402
from cnnc.backends.numba.layers import Convolution, MaxPool, ReluAfter, ReluPoolAfter  # noqa: E402
from cnnc.backends.numpy.kernel import Pass  # noqa: E402

FUSED = {
    "conv-relu": "input 7x6x3\nconv 4 3\nrelu",
    "conv-no-bias-relu": "input 7x6x3\nconv 4 3 bias=false\nrelu",
    "conv-groups-stride-relu": "input 8x8x4\nconv 6 3 groups=2 stride=2 pad=1\nrelu",
    "fc-relu": "input 4x3x2\nfc 5\nrelu",
    "fc-no-bias-relu": "input 6\nfc 5 bias=false\nrelu\nfc 3",
    "conv-relu-maxpool": "input 9x9x2\nconv 3 3 pad=1\nrelu\nmaxpool 3 stride=2 pad=1 round=ceil\nfc 4",
    "maxpool-overlap": "input 9x9x2\nmaxpool 3 stride=1",
    "maxpool-pad-ceil-1d": "input 11x2\nmaxpool 3 stride=2 pad=1 round=ceil",
    "residual-relu": "input 6x6x3\nresidual {\n conv 3 3 pad=1\n relu\n conv 3 3 pad=1\n}\nrelu\nglobalavgpool\nfc 2",
}
POOLED = {  # a convolution (too many filters for a direct one), its ReLU and a max pool of windows apart
    "conv-relu-maxpool-apart": "input 9x9x2\nconv 10 3 pad=1\nrelu\nmaxpool 2\nfc 4",
    "conv-relu-maxpool-ceil-1d": "input 11x2\nconv 10 3\nrelu\nmaxpool 2 round=ceil\nfc 3",
    "conv-no-bias-relu-maxpool-gaps": "input 8x8x2\nconv 10 3 pad=1 bias=false\nrelu\nmaxpool 2 stride=3\nfc 3",
    "many-channels-relu-maxpool": "input 7x7x2\nconv 20 3 pad=1\nrelu\nmaxpool 2\nfc 3",  # position by position
    "many-channels-no-bias-relu-maxpool-gaps": "input 8x8x2\nconv 18 3 bias=false\nrelu\nmaxpool 2 stride=3\nfc 2",
}
DIRECT_POOLED = {  # the same with a direct convolution (few filters: ``direct.chosen``), which applies its ReLU
    "direct-relu-maxpool": "input 12x12x1\nconv 6 5x5 pad=2\nrelu\nmaxpool 2\nfc 3",
    "direct-no-bias-relu-maxpool-gaps": "input 11x11x2\nconv 4 3 pad=1 bias=false\nrelu\nmaxpool 2 stride=3\nfc 2",
    "direct-relu-maxpool-ceil-1d": "input 121x2\nconv 5 3\nrelu\nmaxpool 2 round=ceil\nfc 3",
}
POOLED.update(DIRECT_POOLED)
FUSED.update(POOLED)
SPECS = {**LAYERS, **FUSED}
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}


def both(network: cnnc.Network, dtype: str):
    return (network.compile(backend="numpy", dtype=dtype, seed=3),
            network.compile(backend="numba", dtype=dtype, seed=3))


def assert_same_as_numpy(network: cnnc.Network, dtype: str, batch: int = 3) -> None:
    """Outputs (training and evaluation), the input's gradient and every parameter's, within the
    dtype's tolerance relative to the largest value."""
    reference, compiled = both(network, dtype)
    assert set(reference.params) == set(compiled.params)
    for key in reference.params:
        np.testing.assert_array_equal(reference.params[key], compiled.params[key])
    x = np.random.default_rng(0).standard_normal((batch, *network.report.input.dims))
    tolerance = TOLERANCE[dtype]
    for training in (True, False):
        expected = reference.forward(x, training=training, seed=5)
        found = compiled.forward(x, training=training, seed=5)
        scale = max(1.0, float(np.abs(expected).max()))
        assert np.abs(found - expected).max() <= tolerance * scale
    weights = np.random.default_rng(1).standard_normal(expected.shape)
    reference.forward(x, training=True, seed=5)
    compiled.forward(x, training=True, seed=5)
    dx_expected, grads_expected = reference.backward(weights)
    dx_found, grads_found = compiled.backward(weights)
    assert set(grads_found) == set(grads_expected)
    for name, want, got in [("input", dx_expected, dx_found)] + [(k, grads_expected[k], grads_found[k])
                                                                  for k in grads_expected]:
        scale = max(1.0, float(np.abs(want).max()))
        assert got.dtype == want.dtype, name
        assert np.abs(got - want).max() <= tolerance * scale, name


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_layer_equals_numpy_backend(spec: str, dtype: str) -> None:
    assert_same_as_numpy(cnnc.loads(spec), dtype)


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_layer_gradients_through_compiled_kernels(spec: str) -> None:
    model = cnnc.loads(spec).compile(backend="numba", dtype="float64", seed=3)
    x = np.random.default_rng(0).standard_normal((3, *model.network.report.input.dims))
    assert assert_gradients_match(model, x) > 0


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in HEAVY else p
                                  for p in EXAMPLE_FILES], ids=[p.stem for p in EXAMPLE_FILES])
def test_example_equals_numpy_backend(path: Path) -> None:
    network = small_example(path)
    for dtype in ("float64", "float32"):
        assert_same_as_numpy(network, dtype, batch=2)


def test_lenet_runs_its_pools_and_relus_compiled() -> None:
    """LeNet-5's conv/fc + ReLU pairs become one fused step each (conv1 a direct convolution that applies
    its ReLU: tests/backends/test_direct_conv.py), each convolution's with the 2x2 max pool after it too
    (``ReluPoolAfter``)."""
    program = cnnc.load(Path(__file__).resolve().parents[2] / "examples" / "lenet5.cnn").compile(
        backend="numba").program
    kinds = [type(step).__name__ for step in program.root.steps]
    lenet = cnnc.load(Path(__file__).resolve().parents[2] / "examples" / "lenet5.cnn").ir.layers
    relus = sum(1 for node in lenet if getattr(node, "function", None) == "relu")
    pools = sum(1 for node in lenet if getattr(node, "mode", None) == "max")
    with_pool = kinds.count(ReluPoolAfter.__name__)
    assert with_pool == 2
    assert kinds.count(ReluAfter.__name__) + with_pool + kinds.count(DirectConvolution.__name__) == relus > 0
    assert kinds.count(MaxPool.__name__) + with_pool == pools > 1
    assert len(program.root.steps) == len(lenet) - relus - with_pool
    fused = [step.layer for step in program.root.steps if isinstance(step, (ReluAfter, ReluPoolAfter))]
    assert sum(isinstance(layer, (Convolution, DirectConvolution)) for layer in fused) == sum(
        node.kind == "conv" for node in lenet)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", POOLED.values(), ids=POOLED.keys())
def test_relu_pool_fusion_gives_the_bits_of_the_steps_apart(spec: str, dtype: str) -> None:
    """``ReluPoolAfter`` against its ``ReluAfter`` and ``MaxPool`` run one after the other, on inputs with ties
    (all zeros: every ReLU output 0; rounded values), and without the ReLU's output in its cache."""
    network = cnnc.loads(spec)
    fused, apart = (network.compile(backend="numba", dtype=dtype, seed=3) for _ in range(2))
    steps = fused.program.root.steps
    assert isinstance(steps[0], ReluPoolAfter) and steps[0].direct == (spec in DIRECT_POOLED.values())
    apart.program.root.steps = [part for step in apart.program.root.steps
                                for part in ((step.relu_step, step.pool) if isinstance(step, ReluPoolAfter) else (step,))]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, *network.report.input.dims))
    x[0] = 0.0
    x[1] = np.round(x[1])
    outputs = fused.forward(x, training=True)
    np.testing.assert_array_equal(outputs, apart.forward(x, training=True))
    weights = rng.standard_normal(outputs.shape)
    dx, grads = fused.backward(weights)
    dx_apart, grads_apart = apart.backward(weights)
    np.testing.assert_array_equal(dx, dx_apart)
    assert set(grads) == set(grads_apart)
    for key in grads:
        np.testing.assert_array_equal(grads[key], grads_apart[key])
    _, caches = fused.program.forward(x.astype(dtype), fused.params, Pass(True, rng, fused.buffers))
    relu_output = np.prod(steps[0].relu_step.forward(x.astype(dtype), fused.params, Pass(True, rng, fused.buffers))[0].shape)
    kept = [value for value in caches[0] if isinstance(value, np.ndarray)]
    assert kept and all(value.size < relu_output for value in kept)


def test_overlapping_or_padded_pools_stay_apart() -> None:
    for pool in ("maxpool 3 stride=2", "maxpool 2 pad=1"):
        steps = cnnc.loads(f"input 9x9x2\nconv 10 3\nrelu\n{pool}\nfc 2").compile(backend="numba").program.root.steps
        assert [type(step).__name__ for step in steps] == ["ReluAfter", "MaxPool", "Dense"], pool


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("settings", [{"momentum": 0.0}, {"momentum": 0.9}, {"momentum": 0.9, "weight_decay": 0.01},
                                      {"momentum": 0.8, "nesterov": True, "weight_decay": 0.001}],
                         ids=["plain", "momentum", "weight-decay", "nesterov"])
def test_the_compiled_sgd_update_takes_numpys_steps(dtype: str, settings: dict, monkeypatch) -> None:
    """``CompiledUpdates.sgd`` against ``SGD.update``'s NumPy passes, bit for bit, whole and dealt to threads in
    parts; a parameter that is not C-contiguous takes the NumPy passes."""
    from cnnc.backends.numba.optim import CompiledUpdates

    monkeypatch.setattr(cnnc.optim, "MIN_PARALLEL_VALUES", 0)
    rng = np.random.default_rng(0)
    params = {"a": rng.standard_normal((30, 7)).astype(dtype), "b": rng.standard_normal(5).astype(dtype),
              "f": np.asfortranarray(rng.standard_normal((4, 6)).astype(dtype))}
    runs = []
    for compiled, threads in ((None, 1), (CompiledUpdates(), 1), (CompiledUpdates(), 2)):
        optimizer, copy = cnnc.optim.SGD(lr=0.05, **settings), {k: v.copy(order="K") for k, v in params.items()}
        for step in range(3):
            grads = {k: np.random.default_rng(step).standard_normal(v.shape).astype(dtype) for k, v in copy.items()}
            optimizer.step(copy, grads, threads, compiled)
        runs.append((copy, optimizer.state))
    for copy, state in runs[1:]:
        for key in params:
            assert copy[key].dtype == params[key].dtype
            np.testing.assert_array_equal(copy[key], runs[0][0][key])
        for name, arrays in state.items():  # the velocities (none without momentum)
            assert arrays.keys() == runs[0][1][name].keys() == (params.keys() if settings["momentum"] else set())
            for key, array in arrays.items():
                np.testing.assert_array_equal(array, runs[0][1][name][key])
    assert not CompiledUpdates.sgd(params["f"], params["f"], None, 0.9, 0.0, 0.1, False)


def test_training_on_numba_uses_the_compiled_update() -> None:
    model = cnnc.loads("input 6x6x1\nconv 10 3\nrelu\nflatten\nfc 3").compile(backend="numba")
    calls = []
    sgd = model.program.compiled_updates.sgd
    model.program.compiled_updates.sgd = lambda *args: calls.append(1) or sgd(*args)
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((8, 6, 6, 1)), rng.integers(0, 3, 8), epochs=1, batch_size=8, verbose=False)
    assert len(calls) == len(model.params)


def test_max_pool_gradient_goes_to_the_first_of_equal_values() -> None:
    model = cnnc.loads("input 2x2x1\nmaxpool 2").compile(backend="numba", dtype="float64")
    model.forward(np.array([[[[1.0], [3.0]], [[3.0], [2.0]]]]))
    dx, _ = model.backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx[0, ..., 0], [[0.0, 1.0], [0.0, 0.0]])


def test_a_checkpoint_trained_on_numba_predicts_the_same_on_numpy(tmp_path: Path) -> None:
    network = cnnc.loads("input 8x8x1\nconv 4 3\nrelu\nmaxpool 2\nflatten\nfc 3\nsoftmax")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 8, 8, 1)), rng.integers(0, 3, 32)
    trained = network.compile(backend="numba", dtype="float64")
    trained.fit(x, y, epochs=2, batch_size=8, verbose=False)
    trained.save(tmp_path / "model.npz")
    from cnnc.checkpoint import load_model

    on_numpy = load_model(tmp_path / "model.npz")
    np.testing.assert_allclose(on_numpy.predict(x), trained.predict(x), rtol=0, atol=1e-12)
    reference = network.compile(backend="numpy", dtype="float64")
    reference.fit(x, y, epochs=2, batch_size=8, verbose=False)
    for key in reference.params:
        np.testing.assert_allclose(trained.params[key], reference.params[key], rtol=0, atol=1e-10)


def test_without_numba_compile_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` now raises ImportError
    with pytest.raises(ImportError, match=r"^the numba backend needs numba, which is not installed: "
                                          r"pip install 'cnnc\[numba\]'$"):
        cnnc.loads("input 4\nfc 2").compile(backend="numba")


@pytest.mark.parametrize("command", ["train", "eval", "predict"])
def test_without_numba_the_cli_says_so_in_one_line_with_exit_2(command: str, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    from cnnc.cli import main

    monkeypatch.setitem(sys.modules, "numba", None)
    spec = tmp_path / "net.cnn"
    spec.write_text("input 4x4x1\nflatten\nfc 2\nsoftmax\n")
    argv = {"train": ["train", str(spec), "--data", "synthetic:n=20", "--out", str(tmp_path / "m.npz")],
            "eval": ["eval", str(tmp_path / "m.npz")],
            "predict": ["predict", str(tmp_path / "m.npz"), str(tmp_path / "x.npy")]}[command]
    assert main([*argv, "--backend", "numba"]) == 2
    err = capsys.readouterr().err
    assert "the numba backend needs numba, which is not installed: pip install 'cnnc[numba]'" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_lenet5_on_numba_reaches_97_percent_on_held_out_digits() -> None:
    """As tests/backends/test_numpy_mnist.py, on the Numba backend: 8,000 MNIST digits, 5 epochs of the
    spec's recipe with a cosine-annealed rate, scored on the other 2,000."""
    from test_numpy_mnist import MNIST, ROOT, read_idx

    images, labels = MNIST / "t10k-images-idx3-ubyte.gz", MNIST / "t10k-labels-idx1-ubyte.gz"
    if not (images.exists() and labels.exists()):
        pytest.skip(f"MNIST is not at {MNIST}")
    x = read_idx(images, 16).reshape(-1, 28, 28, 1).astype(np.float32) / 255
    y = read_idx(labels, 8).astype(np.int64)
    network = cnnc.load(ROOT / "examples" / "lenet5.cnn")
    recipe = network.ir.train.settings
    model = network.compile(backend="numba", seed=0)
    optimizer = cnnc.optim.SGD(lr=recipe["lr"], momentum=recipe["momentum"], schedule=cnnc.optim.Cosine())
    model.fit(x[:8000], y[:8000], epochs=5, optimizer=optimizer, seed=0, verbose=False)
    assert model.evaluate(x[8000:], y[8000:])["accuracy"] >= 0.97
