"""The ONNX target against the NumPy backend: for every shipped example and every layer option, the
exported model passes ONNX's full checker and strict shape inference, the inferred shape of every
layer's output is the report's, and ONNX Runtime's outputs equal ``model.predict``'s (float32,
within 1e-4 of the outputs' scale)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cnnc  # noqa: E402
from cnnc.api import Network, check  # noqa: E402
from cnnc.export import to_onnx  # noqa: E402
from cnnc.source import Source  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RELATIVE = 1e-4


def channels_first(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if x.ndim > 2 else x


def inferred_shapes(path: Path) -> dict[str, list]:
    """Every value's shape as ONNX's strict shape inference finds it (dimension names for symbolic ones)."""
    inferred = path.with_suffix(".inferred.onnx")
    onnx.shape_inference.infer_shapes_path(str(path), str(inferred), strict_mode=True)
    graph = onnx.load(str(inferred)).graph
    inferred.unlink()
    return {value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
            for value in [*graph.value_info, *graph.output]}


def assert_exports(model, path: Path, batch: int = 2, seed: int = 1) -> None:
    """``model`` written as ONNX to ``path``: checked, every layer's inferred shape the report's, and
    ONNX Runtime's outputs ``model.predict``'s."""
    to_onnx(model, path)
    onnx.checker.check_model(str(path), full_check=True)
    report = model.network.report
    shapes = inferred_shapes(path)
    assert shapes["output"] == ["batch", report.output.channels, *report.output.spatial]
    for layer in report.layers:
        assert shapes[layer.name] == ["batch", layer.output.channels, *layer.output.spatial], layer.name
    x = np.random.default_rng(seed).standard_normal((batch, *report.input.dims)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(["output"], {"input": channels_first(x)})
    ours = channels_first(model.predict(x))
    assert theirs.shape == ours.shape
    # a max-pool window wholly in the padding: -inf in cnnc, float32's lowest in ONNX Runtime's MaxPool
    theirs = np.where(theirs == np.finfo(np.float32).min, -np.inf, theirs)
    scale = float(np.abs(ours[np.isfinite(ours)]).max(initial=0.0))  # a max pool's window in its padding: -inf
    np.testing.assert_allclose(theirs, ours, rtol=RELATIVE, atol=RELATIVE * scale)


@pytest.mark.parametrize("name", sorted(path.stem for path in EXAMPLES.glob("*.cnn")))
def test_every_example_runs_in_onnx_runtime_as_in_numpy(name: str, tmp_path: Path) -> None:
    assert_exports(cnnc.load(EXAMPLES / f"{name}.cnn").compile(seed=0), tmp_path / f"{name}.onnx")


LAYERS = {
    "conv-options": "input 9x8x4\nconv 6 3x2 stride=2x1 pad=1x0 dilation=2x1 groups=2",
    "conv-same-asymmetric": "input 7x6x3\nconv 4 4 stride=2 pad=same\nconv 2 2x3 dilation=2 pad=same",
    "conv-ceil": "input 8x8x2\nconv 3 3 stride=2 round=ceil",
    "conv-padded-beyond-kernel": "input 3x3x1\nconv 1 1 pad=1 round=ceil",
    "conv-1d-3d": "input 20x3\nconv 4 5 stride=3 pad=2 dilation=2\nleakyrelu 0.1",
    "conv-3d": "input 5x6x4x2\nconv 3 3 stride=2 pad=1\ntanh",
    "depthwise": "input 7x7x3\nconv 6 3 groups=3 pad=1 bias=false\nbatchnorm\nrelu",
    "maxpool-ceil-pad": "input 9x9x2\nmaxpool 3 stride=2 pad=1 round=ceil",
    "maxpool-same": "input 7x7x2\nmaxpool 2 pad=same",
    "maxpool-pad-past-half": "input 5x5x2\nmaxpool 3 stride=1 pad=2",  # PyTorch refuses; E106 at pad=3
    "avgpool-ceil-partial": "input 8x8x2\navgpool 3 stride=2 pad=1 round=ceil",
    "avgpool-ceil-no-pad": "input 10x2\navgpool 3 stride=2 round=ceil",
    "avgpool-same": "input 7x7x2\navgpool 2 pad=same",
    "avgpool-padded": "input 6x6x2\navgpool 3 stride=1 pad=1",
    "avgpool-3d-ceil": "input 5x5x5x2\navgpool 2 round=ceil",
    "global-pools": "input 5x4x3\nconcat {\n branch {\n globalavgpool\n }\n branch {\n globalmaxpool\n }\n}",
    "adaptive-avg": "input 9x7x3\nadaptiveavgpool 4x3",
    "adaptive-avg-divides": "input 8x6x3\nadaptiveavgpool 4x3",
    "adaptive-avg-larger": "input 3x5x2\nadaptiveavgpool 5x7",
    "adaptive-avg-3d": "input 5x4x3x2\nadaptiveavgpool 2x3x2",
    "adaptive-max": "input 9x7x3\nadaptivemaxpool 4x3",
    "adaptive-max-larger-1d": "input 3x2\nadaptivemaxpool 7",
    "adaptive-max-3d": "input 5x4x3x2\nadaptivemaxpool 2x3x2",
    "fc-after-spatial": "input 4x3x5\nfc 6\nsigmoid\nfc 2 bias=false",
    "flatten-then-fc": "input 4x3x5\nflatten\nbatchnorm\nfc 6",
    "batchnorm-1d-3d": "input 9x3\nbatchnorm momentum=0.3 eps=0.01\nconv 2 3\nbatchnorm",
    "softmax-spatial": "input 3x3x4\nconv 3 1\nsoftmax",
    "activations": "input 6x6x3\nconv 4 3 pad=1\nrelu6\nsilu\nhardswish\nhardsigmoid\nmish\nselu\ngelu\n"
                   "gelu approximate=tanh\nelu\nelu 0.3\nleakyrelu 0.2\nsigmoid\ntanh\nrelu",
    "activations-3d-flat": "input 4x4x3x2\nconv 3 1\nhardswish\nmish\ngelu\nfc 4\nselu\nsoftmax",
    "prelu": "input 6x6x3\nconv 4 3 pad=1\nprelu\nconv 2 1\nprelu shared=true\nfc 3\nprelu",
    "dropout-droppath": "input 6x6x3\ndropout 0.5\nconv 2 1\ndroppath 0.3\nfc 2\ndropout 0.1",
    "layernorm": "input 5x4x6\nconv 6 3 pad=1\nlayernorm eps=0.001\nfc 3\nlayernorm affine=false",
    "layernorm-1d": "input 7x4\nlayernorm affine=false",
    "groupnorm": "input 5x4x6\ngroupnorm 3\nconv 4 1\ngroupnorm 2 affine=false eps=0.01",
    "groupnorm-flat": "input 6\ngroupnorm 2",
    "instancenorm": "input 5x4x3\ninstancenorm\nconv 4 1\ninstancenorm affine=true",
    "instancenorm-1d-3d": "input 3x4x3x2\ninstancenorm affine=true\nconv 2 1\ninstancenorm",
    "lrn": "input 5x4x7\nlrn 3 alpha=0.5 beta=0.9 k=2",
    "lrn-even": "input 5x4x7\nlrn 4 alpha=1 beta=0.75",
    "lrn-1d-3d": "input 6x7\nlrn 5 alpha=0.3\nconv 6 1\nlrn 2",
    "lrn-3d": "input 3x3x3x5\nlrn 3 alpha=0.3",
    "layerscale": "input 5x4x3\nlayerscale init=0.5\nfc 2\nlayerscale",
    "upsample-nearest": "input 3x4x2\nupsample 2x3\nconv 2 3",
    "upsample-nearest-size": "input 3x4x2\nupsample size=7x5",
    "upsample-nearest-1d-3d": "input 5x2\nupsample 3\nconv 2 3\nupsample size=4",
    "upsample-nearest-3d": "input 2x3x2x2\nupsample 2x1x3",
    "upsample-linear-1d": "input 5x2\nupsample 3 mode=linear",
    "upsample-bilinear": "input 3x4x2\nupsample 2 mode=linear",
    "upsample-bilinear-corners": "input 3x4x2\nupsample 3x2 mode=linear align_corners=true",
    "upsample-bilinear-size-corners": "input 3x4x2\nupsample size=5x7 mode=linear align_corners=true",
    "upsample-bilinear-down": "input 6x7x2\nupsample size=4x3 mode=linear",
    "upsample-trilinear": "input 3x2x4x2\nupsample 2 mode=linear",
    "deconv": "input 4x3x3\ndeconv 2 3",
    "deconv-output-pad": "input 4x3x3\ndeconv 2 3 stride=2 pad=2 output_pad=1",
    "deconv-options": "input 4x3x4\ndeconv 6 3x2 stride=2x1 dilation=2 output_pad=1x0 groups=2",
    "deconv-output-pad-beyond-pad": "input 7x7x3\ndeconv 3 4 output_pad=1 dilation=2 groups=3\nflatten\nfc 3",
    "deconv-1d-3d": "input 5x3\ndeconv 2 3 stride=3 pad=1 output_pad=2",
    "deconv-3d": "input 2x3x2x2\ndeconv 2 2 stride=2 bias=false",
    "pixelshuffle": "input 3x2x8\npixelshuffle 2",
    "pixelshuffle-1d": "input 4x6\npixelshuffle 3",
    "pixelshuffle-3d": "input 2x2x3x16\npixelshuffle 2",
    "slice-shuffle": "input 4x4x6\nshuffle 3\nslice 1 4\nconv 2 1",
    "slice-shuffle-flat": "input 12\nshuffle 4\nslice 2 9",
    "residual": "input 6x6x3\nresidual {\n conv 4 3 stride=2 pad=1\n batchnorm\n relu\n} shortcut {\n"
                " conv 4 1 stride=2 bias=false\n}\nresidual {\n conv 4 3 pad=1\n}\nrelu",
    "concat": "input 6x6x3\nconcat {\n branch {\n conv 2 1\n }\n branch {\n maxpool 3 stride=1 pad=1\n }\n"
              " branch {\n }\n}\nglobalavgpool\nfc 4\nsoftmax",
    "add": "input 6x6x3\nadd {\n branch {\n conv 3 3 pad=1\n batchnorm\n }\n branch {\n }\n"
           " branch {\n conv 3 1\n }\n}\nrelu",
    "squeeze-excite": "input 6x5x4\nconv 4 3 pad=1\nmultiply {\n branch {\n }\n branch {\n globalavgpool\n"
                      " conv 2 1\n relu\n conv 4 1\n sigmoid\n }\n}\nglobalavgpool\nfc 3",
    "squeeze-excite-fc": "input 5x5x3\nmultiply {\n branch {\n conv 3 1\n }\n branch {\n globalavgpool\n"
                         " flatten\n fc 2\n relu\n fc 3\n sigmoid\n }\n}\nfc 4",
    "multiply-broadcast": "input 7x3\nmultiply {\n branch {\n conv 1 3 pad=1\n tanh\n }\n branch {\n conv 3 1\n"
                          " }\n branch {\n }\n}",
    "empty": "input 4x4x2",
}


def perturb(model, seed: int = 4) -> None:
    """Biases, batchnorm statistics, norm scales and shifts, slopes and layer scales away from their
    initial values (ones and zeros would hide a swapped or misplaced array)."""
    rng = np.random.default_rng(seed)
    for arrays in (model.params, model.buffers):
        for key, value in arrays.items():
            layer = model.network.report.layer(key.split(".")[0])
            if key.endswith(".weight") and layer.kind in ("conv", "fc", "deconv"):
                continue
            positive = key.endswith(("running_var", ".weight", ".gamma"))
            value[...] = rng.uniform(0.5, 1.5, value.shape) if positive else rng.standard_normal(value.shape)


@pytest.mark.parametrize("spec", LAYERS.values(), ids=LAYERS.keys())
def test_layer_options_run_in_onnx_runtime_as_in_numpy(spec: str, tmp_path: Path) -> None:
    model = cnnc.loads(spec).compile(seed=3)
    perturb(model)
    assert_exports(model, tmp_path / "layer.onnx", batch=3)


def _sizes(draw, low: int, high: int) -> str:
    return "x".join(str(draw(st.integers(low, high))) for _ in range(draw(st.integers(1, 2))))


@st.composite
def window_layers(draw) -> str:
    """A conv, deconv or pool line with random options (many of them invalid for the input: skipped)."""
    kind = draw(st.sampled_from(["conv", "maxpool", "avgpool", "deconv"]))
    options = {"stride": _sizes(draw, 1, 3), "pad": draw(st.sampled_from(["0", "1", "2", "same", "1x0"]))}
    if kind == "deconv":
        options["pad"] = draw(st.sampled_from(["0", "1"]))
        options["output_pad"] = draw(st.sampled_from(["0", "1"]))
    if kind in ("conv", "deconv"):
        options["dilation"] = _sizes(draw, 1, 2)
        options["groups"] = str(draw(st.sampled_from([1, 2])))
    if kind != "deconv":
        options["round"] = draw(st.sampled_from(["floor", "ceil"]))
    filters = f" {2 * draw(st.integers(1, 2))}" if kind in ("conv", "deconv") else ""
    chosen = draw(st.lists(st.sampled_from(sorted(options)), unique=True))
    return f"{kind}{filters} {_sizes(draw, 1, 4)} " + " ".join(f"{key}={options[key]}" for key in chosen)


OTHER_LAYERS = ["relu", "gelu", "prelu", "batchnorm", "layernorm", "groupnorm 2", "instancenorm affine=true",
                "lrn 3", "lrn 2", "upsample 2", "upsample 2 mode=linear", "upsample 3 mode=linear align_corners=true",
                "adaptiveavgpool 3", "adaptivemaxpool 2", "globalmaxpool", "pixelshuffle 2", "shuffle 2",
                "slice 0 2", "layerscale init=0.5", "fc 3", "flatten"]


@st.composite
def random_specs(draw) -> str:
    rank = draw(st.integers(1, 3))
    sizes = "x".join(str(draw(st.integers(2, 7))) for _ in range(rank))
    layers = draw(st.lists(st.one_of(window_layers(), st.sampled_from(OTHER_LAYERS)), min_size=1, max_size=4))
    return "\n".join([f"input {sizes}x{2 * draw(st.integers(1, 3))}", *layers])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                                 HealthCheck.function_scoped_fixture])
@given(spec=random_specs())
def test_random_specs_run_in_onnx_runtime_as_in_numpy(spec: str, tmp_path: Path) -> None:
    checked = check(Source(spec, "<random>"))
    assume(checked.ok and checked.report.totals.activations < 20_000)
    model = Network(checked).compile(seed=1)
    perturb(model)
    assert_exports(model, tmp_path / "random.onnx")


def test_names_layouts_and_the_dynamic_batch_are_as_documented(tmp_path: Path) -> None:
    model = cnnc.load(EXAMPLES / "lenet5.cnn").compile(seed=0)
    path = tmp_path / "lenet5.onnx"
    proto = to_onnx(model, path)
    assert [o.domain or "ai.onnx" for o in proto.opset_import] == ["ai.onnx"] and proto.opset_import[0].version == 18
    graph = proto.graph
    assert [(v.name, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim])
            for v in [*graph.input, *graph.output]] == [("input", ["batch", 1, 28, 28]), ("output", ["batch", 10])]
    layer_names = [layer.name for layer in model.network.report.layers]
    assert [node.name for node in graph.node if node.name in layer_names] == layer_names
    assert all(node.output == [node.name] for node in graph.node)
    weights = {tensor.name: list(tensor.dims) for tensor in graph.initializer}
    conv = model.params["conv1.weight"]  # cnnc: (*kernel, C, F); ONNX and PyTorch: (F, C, *kernel)
    assert weights["conv1.weight"] == [conv.shape[-1], conv.shape[-2], *conv.shape[:-2]]
    fc = model.params["fc1.weight"]  # cnnc: (features, units); Gemm's transB: (units, features)
    assert weights["fc1.weight"] == [fc.shape[1], fc.shape[0]]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 7):
        x = np.random.default_rng(batch).random((batch, 28, 28, 1), dtype=np.float32)
        (theirs,) = session.run(["output"], {"input": channels_first(x)})
        np.testing.assert_allclose(theirs, model.predict(x), rtol=RELATIVE, atol=1e-7)
