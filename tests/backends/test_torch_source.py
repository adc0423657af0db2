"""The `--to torch` target: the generated PyTorch source, imported and loaded with a NumPy-backend
model's weights, against the NumPy backend (outputs, gradients and running statistics in float64),
on every shipped example, on fixed and random specs and on programs of the whole language; and
``ruff check`` on what it writes."""

from __future__ import annotations

import importlib.util
import random
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the whole-language generator
from fuzz_strategies import RandomDraw, program_text
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_numpy_torch import FIXED, random_specs

import cnnc
from cnnc import ir
from cnnc.backends.torch_layers import layer_code
from cnnc.backends.torch_source import class_name, torch_arrays, torch_module, torch_source, write_torch_source
from cnnc.catalog import LAYERS
from cnnc.errors import CannotRun
from cnnc.export import to_torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "torch"
CLOSE = {"rtol": 1e-9, "atol": 1e-11}


def channels_first(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if x.ndim > 2 else x


def channels_last(x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, 1, -1) if x.ndim > 2 else x


def imported(path: Path):
    """The generated file as a fresh module."""
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem}_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ruff_check(*paths: Path) -> None:
    """``ruff check`` with its default rules (no configuration read) passes on ``paths``."""
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    found = subprocess.run([ruff, "check", "--isolated", "--no-cache", *map(str, paths)],
                           check=False, capture_output=True, text=True)
    assert found.returncode == 0, found.stdout + found.stderr


def compare(spec: str, batch: int = 3, seed: int = 0) -> None:
    """The generated module of ``spec`` against the NumPy backend in float64: evaluation outputs;
    training outputs, the input's and every parameter's gradient of sum(outputs * R); the running
    statistics after the training pass; and the parameter count."""
    model = cnnc.loads(spec).compile(dtype="float64", seed=seed)
    report = model.network.report
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *report.input.dims))
    module = torch_module(model)
    assert sum(p.numel() for p in module.parameters()) == report.totals.params
    with torch.no_grad():
        evaluated = module.eval()(torch.from_numpy(channels_first(x)))
    np.testing.assert_allclose(model.predict(x), channels_last(evaluated.numpy()), **CLOSE)

    outputs = model.forward(x, training=True)
    weights = rng.standard_normal(outputs.shape)
    dx, grads = model.backward(weights)
    tx = torch.from_numpy(channels_first(x)).requires_grad_()
    theirs = module.train()(tx)
    np.testing.assert_allclose(outputs, channels_last(theirs.detach().numpy()), **CLOSE)
    (theirs * torch.from_numpy(channels_first(weights))).sum().backward()
    np.testing.assert_allclose(dx, channels_last(tx.grad.numpy()), **CLOSE)
    expected = torch_arrays(model.network.ir, report, grads, {})  # gradients laid out as the weights
    for name, parameter in module.named_parameters():
        np.testing.assert_allclose(expected[name], parameter.grad.numpy(), err_msg=name, **CLOSE)
    statistics = torch_arrays(model.network.ir, report, {}, model.buffers)
    for name, buffer in module.named_buffers():
        if not name.endswith("num_batches_tracked"):
            np.testing.assert_allclose(statistics[name], buffer.numpy(), err_msg=name, **CLOSE)


# Every shipped example, end to end through the files ------------------------------------------------

SMALLER = {"alexnet": "67x67x3", "alexnet_torchvision": "64x64x3", "c3d": "16x16x16x3", "convnext_tiny": "32x32x3",
           "efficientnet_b0": "32x32x3", "googlenet": "32x32x3", "m5_audio": "4000x1", "mobilenet_v3_small": "32x32x3",
           "resnet18": "32x32x3", "resnet50": "32x32x3", "shufflenet_v2": "32x32x3", "unet": "16x16x1",
           "vgg16": "32x32x3"}
"""Inputs that keep the outputs' comparison quick here (the examples' own are used for the counts)."""
FLOAT32 = {"convnext_tiny", "efficientnet_b0", "mobilenet_v1", "mobilenet_v3_small", "shufflenet_v2"}
"""Depthwise convolutions, which torch runs slowly in float64 (and MobileNet's fixed 7x7 average pool needs
its 224x224 input): compared in float32, to 1e-5 of the largest output."""


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.cnn")), ids=lambda path: path.stem)
def test_examples_compile_to_torch_with_the_numpy_backends_outputs(path: Path, tmp_path: Path) -> None:
    network = cnnc.load(path)
    (source,) = write_torch_source(network, tmp_path / f"{path.stem}.py")
    generated = getattr(imported(source), class_name(network.name))
    with torch.device("meta"):  # the report's count at the example's own size, without the memory
        assert sum(p.numel() for p in generated().parameters()) == network.report.totals.params

    dtype = "float32" if path.stem in FLOAT32 else "float64"
    model = cnnc.load(path, input=SMALLER.get(path.stem)).compile(dtype=dtype, seed=3)
    (smaller,) = write_torch_source(model.network, tmp_path / "smaller.py")
    ruff_check(source, smaller)
    with torch.device("meta"):  # no initialisation: every tensor is loaded
        module = getattr(imported(smaller), class_name(network.name))().eval()
    state = torch_arrays(model.network.ir, model.network.report, model.params, model.buffers)
    module.load_state_dict({key: torch.from_numpy(value) for key, value in state.items()}, assign=True)
    assert sum(p.numel() for p in module.parameters()) == model.network.report.totals.params
    x = np.random.default_rng(0).standard_normal((1, *model.network.report.input.dims)).astype(dtype)
    with torch.no_grad():
        theirs = channels_last(module(torch.from_numpy(channels_first(x))).numpy())
    ours = model.predict(x)
    assert np.abs(theirs - ours).max() <= (1e-5 if dtype == "float32" else 1e-12) * np.abs(ours).max()


@pytest.mark.parametrize("spec", [
    (EXAMPLES / "lenet5.cnn").read_text(),
    "network flat_batchnorm\ninput 5x4x3\nconv 4 3 pad=1\nbatchnorm\nflatten\nbatchnorm\nprelu\nfc 3",
], ids=["lenet5", "flat-batchnorm"])
def test_weights_file_loads_with_weights_only(spec: str, tmp_path: Path) -> None:
    """The state_dict file beside the source: tensors only, cnnc's names (and batchnorm's step
    counter), loadable with ``weights_only=True`` into the imported class."""
    model = cnnc.loads(spec).compile(dtype="float64", seed=5)
    model.buffers.update({key: value + 0.5 for key, value in model.buffers.items()})  # not the defaults
    name = model.network.name
    source, weights = write_torch_source(model, tmp_path / f"{name}.py")
    assert (source.name, weights.name) == (f"{name}.py", f"{name}.pt")
    assert f'torch.load("{name}.pt", weights_only=True)' in source.read_text()
    state = torch.load(weights, weights_only=True)
    assert all(isinstance(value, torch.Tensor) for value in state.values())
    expected = set(model.params) | set(model.buffers)
    assert set(state) == expected | {key.replace("running_mean", "num_batches_tracked")
                                     for key in expected if key.endswith("running_mean")}
    module = getattr(imported(source), class_name(name))().double().eval()
    module.load_state_dict(state)
    x = np.random.default_rng(0).standard_normal((4, *model.network.report.input.dims))
    with torch.no_grad():
        theirs = module(torch.from_numpy(channels_first(x))).numpy()
    np.testing.assert_allclose(model.predict(x), theirs, **CLOSE)


def test_lenet5_source_is_as_written_in_the_golden_file(tmp_path: Path) -> None:
    """The text itself, for a reader: one module per layer named as in the report, a flatten that
    reads as torch's (its fc's weight permuted to match)."""
    network = cnnc.load(EXAMPLES / "lenet5.cnn")
    text = torch_source(network.ir, network.report, network.source)
    assert text == (GOLDEN / "lenet5.py").read_text(encoding="utf-8")


BLOCKS = """network small_blocks
input 9x9x3

def unit(c) {
    residual {
        conv c 3 pad=same bias=false; batchnorm; relu
        conv c 3 pad=1; layerscale init=0.5
    }
    relu
}

conv 8 4 stride=2 pad=same        # asymmetric padding: F.pad, then the convolution
repeat 2 { unit 8 }
concat {
    branch { maxpool 3 stride=2 pad=1 round=ceil }
    branch { avgpool 2 pad=same }
}
multiply {
    branch { }
    branch { globalavgpool; flatten; fc 4; relu; fc 16; sigmoid }
}
shuffle 4
slice 0 12
flatten
fc 5
"""


def test_blocks_become_helper_methods_and_merges_plain_code() -> None:
    network = cnnc.loads(BLOCKS)
    text = torch_source(network.ir, network.report, network.source)
    assert text == (GOLDEN / "small_blocks.py").read_text(encoding="utf-8")
    compare(BLOCKS, batch=2)


# Fixed and random specs -------------------------------------------------------------------------------

MORE = {
    "flatten-into-fc-through-per-feature-layers": "input 3x4x5\nflatten\nbatchnorm\nprelu\ndropout 0.0\n"
                                                  "layerscale init=0.3\nlayernorm\nrelu\nfc 4",
    "flatten-at-the-end-keeps-cnncs-order": "input 3x4x5\nconv 2 1\nflatten",
    "flatten-then-groupnorm": "input 2x3x4\nflatten\ngroupnorm 4\nfc 3",
    "flatten-then-slice": "input 2x3x4\nflatten\nslice 3 17\nfc 2",
    "flatten-in-a-branch": "input 3x3x2\nconcat {\n branch { flatten }\n branch { flatten; fc 3 }\n}\nfc 2",
    "fc-on-volume-then-flat-layers": "input 3x2x4\nfc 6\nbatchnorm\nprelu\nfc 2",
    "avgpool-ceil-window-in-the-padding": "input 7x2\navgpool 3 stride=3 pad=2 round=ceil",  # cnnc drops it
    "avgpool-same-asymmetric-ceil": "input 6x5x2\navgpool 3 stride=2 pad=same round=ceil",
    "avgpool-window-beyond-the-input": "input 2x2x2x2\navgpool 3 stride=2 round=ceil",
    "avgpool-3d-small-padded": "input 2x3x2x2\navgpool 3 stride=2 pad=1 round=ceil",
    "avgpool-large-padding": "input 6x6x2\navgpool 2 pad=2",
    "maxpool-large-padding": "input 6x6x2\nmaxpool 3 pad=2 round=ceil",  # kernel 2: E106
    "maxpool-window-beyond-the-input": "input 2x3x2\nmaxpool 3 stride=2 round=ceil",
    "conv-per-dimension-padding": "input 7x6x2\nconv 3 3x2 pad=1x0",
    "multiply-flat-gates-and-sums": "input 4x4x3\nmultiply {\n branch { add {\n branch { }\n branch { relu }\n } }\n"
                                    " branch { globalmaxpool; flatten; fc 3; sigmoid }\n}",
    "droppath-zero": "input 4x4x3\nresidual {\n conv 3 1\n droppath 0\n}",  # p > 0: the test below
    "empty-residual-body": "input 3x3x2\nresidual { }",
    "nested-blocks": "input 6x6x2\ndef inner(c) {\n conv c 1; relu; conv c 1; relu\n}\n"
                     "def outer(c) {\n inner c\n residual { inner c }\n}\nouter 2\nouter 2",
}


@pytest.mark.parametrize("spec", [*FIXED.values(), *MORE.values()], ids=[*FIXED, *MORE])
def test_generated_modules_match_the_numpy_backend(spec: str) -> None:
    compare(spec)


def test_the_fixed_specs_cover_every_layer_of_the_language() -> None:
    seen = {node.kind for spec in [*FIXED.values(), *MORE.values()] for node in ir.walk(cnnc.loads(spec).ir.layers)}
    assert set(LAYERS) <= seen
    assert set(typing.get_args(ir.Node)) - set(layer_code.registry) == {ir.Residual, ir.Concat, ir.Add, ir.Multiply}


def test_droppath_drops_whole_examples_in_training_only() -> None:
    model = cnnc.loads("input 3x3x2\nconv 2 1\ndroppath 0.5").compile(dtype="float64")
    module = torch_module(model).eval()
    x = np.random.default_rng(0).standard_normal((3, 3, 3, 2))
    with torch.no_grad():
        np.testing.assert_allclose(channels_last(module(torch.from_numpy(channels_first(x))).numpy()),
                                   model.predict(x), **CLOSE)
    module = torch_module(cnnc.loads("input 3x3x2\ndroppath 0.5").compile(dtype="float64")).train()
    torch.manual_seed(0)
    out = module(torch.ones(400, 2, 3, 3, dtype=torch.float64))
    per_example = out.flatten(1)
    assert set(per_example.unique().tolist()) == {0.0, 2.0}
    assert torch.all(per_example.min(dim=1).values == per_example.max(dim=1).values)
    assert 150 < int((per_example[:, 0] == 0).sum()) < 250


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_specs(), st.integers(0, 2**16))
def test_random_specs_match_the_numpy_backend(spec: str, seed: int) -> None:
    try:
        cnnc.loads(spec)
    except cnnc.SpecError:
        assume(False)
    compare(spec, batch=2, seed=seed)


def test_programs_of_the_whole_language_give_valid_source(tmp_path: Path) -> None:
    """Generated programs (any layer, blocks with odd names, nesting, repeats): every valid one gives a
    file that compiles and passes ruff, and the small ones the NumPy backend's outputs."""
    files, compared = [], 0
    for seed in range(300):
        try:
            network = cnnc.loads(program_text(RandomDraw(random.Random(seed))))
        except cnnc.SpecError:
            continue
        text = torch_source(network.ir, network.report, network.source)
        compile(text, f"seed{seed}.py", "exec")
        files.append(tmp_path / f"seed{seed}.py")
        files[-1].write_text(text, encoding="utf-8")
        report = network.report
        if report.totals.params < 20_000 and report.totals.macs < 2_000_000 and report.input.size < 5_000:
            model = network.compile(dtype="float64", seed=seed)
            x = np.random.default_rng(seed).standard_normal((2, *report.input.dims))
            with torch.no_grad():
                theirs = torch_module(model).eval()(torch.from_numpy(channels_first(x))).numpy()
            np.testing.assert_allclose(model.predict(x), channels_last(theirs), err_msg=str(seed), **CLOSE)
            compared += 1
    assert len(files) >= 50 and compared >= 20, (len(files), compared)
    ruff_check(*files)


# Names, files and the Python API -----------------------------------------------------------------------

@pytest.mark.parametrize(("network", "name"), [
    ("lenet5", "Lenet5"), ("mobilenet_v3_small", "MobilenetV3Small"), ("ResNet", "ResNet"), ("3d-net", "Net3dNet"),
    ("nét", "Net"), ("网络", "Net"), ("none", "NoneNet"), ("layer_scale", "LayerScaleNet"), ("net[bold]", "NetBold"),
])
def test_class_names_are_pep8_and_valid(network: str, name: str) -> None:
    assert class_name(network) == name
    assert name.isidentifier()


def test_a_network_without_weights_writes_the_source_only(tmp_path: Path) -> None:
    network = cnnc.load(EXAMPLES / "lenet5.cnn")
    target = tmp_path / "lenet.py"
    target.write_text("old contents")
    assert write_torch_source(network, target) == [target]
    assert target.read_text().startswith('"""The network `lenet5`')
    assert sorted(path.name for path in tmp_path.iterdir()) == ["lenet.py"]  # no temporary left behind


def test_unwritable_outputs_give_a_one_line_reason_and_leave_nothing(tmp_path: Path) -> None:
    model = cnnc.load(EXAMPLES / "lenet5.cnn").compile()
    with pytest.raises(CannotRun, match=r"cannot write .*missing.*No such file or directory"):
        write_torch_source(model, tmp_path / "missing" / "lenet.py")
    (tmp_path / "taken.py").mkdir()
    with pytest.raises(CannotRun, match="cannot write .*taken.py: it is a folder"):
        write_torch_source(model, tmp_path / "taken.py")
    with pytest.raises(CannotRun, match="would both be lenet.pt") as raised:
        write_torch_source(model, tmp_path / "lenet.pt")
    assert raised.value.help == "give the source file the suffix .py"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["taken.py"]
    assert not list((tmp_path / "taken.py").iterdir())


def test_weights_without_torch_name_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = cnnc.load(EXAMPLES / "lenet5.cnn").compile()
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(CannotRun, match="needs PyTorch") as raised:
        write_torch_source(model, tmp_path / "lenet.py")
    assert "pip install 'cnnc[torch]'" in raised.value.help
    assert not list(tmp_path.iterdir())
    assert write_torch_source(model.network, tmp_path / "lenet.py") == [tmp_path / "lenet.py"]  # no torch needed


def test_to_torch_is_channels_first_unless_asked() -> None:
    model = cnnc.loads("input 6x5x3\nconv 4 3 pad=1\nrelu\nmaxpool 2\nflatten\nfc 3").compile(dtype="float64", seed=2)
    x = np.random.default_rng(1).standard_normal((2, 6, 5, 3))
    first = to_torch(model).eval()
    assert type(first).__name__ == "Network" and first.conv1.weight.dtype == torch.float64
    assert first.conv1.weight.shape == (4, 3, 3, 3)  # torch's (out, in, *kernel)
    with torch.no_grad():
        np.testing.assert_allclose(first(torch.from_numpy(channels_first(x))).numpy(), model.predict(x), **CLOSE)
        last = to_torch(model, channels_last=True).eval()
        np.testing.assert_allclose(last(torch.from_numpy(x)).numpy(), model.predict(x), **CLOSE)
    model.params["conv1.weight"][...] = 0  # copies: the module keeps its own weights
    assert first.conv1.weight.abs().sum() > 0
    with pytest.raises(TypeError, match="model must be a cnnc.model.Model"):
        to_torch(model.network)
    with pytest.raises(TypeError, match="channels_last must be True or False"):
        to_torch(model, channels_last="yes")
