"""The NumPy backend's gradients against central differences in float64: every layer kind and
option, the losses, and whole networks from examples/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cnnc
from cnnc import ir
from cnnc.backends.numpy.kernel import Pass

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STEP = 1e-6
NETWORK_STEP = 1e-8
"""Whole networks have so many ReLU and max-pool kinks that a larger step crosses some of them: the
error then grows in proportion to the step (measured on ResNet-50: 4e-4 at 1e-6, 1e-8 at 1e-8)."""

LAYERS = {
    "deconv-output-pad-beyond-pad": "input 4x3x3\ndeconv 3 3 output_pad=1x0 dilation=2 groups=3",
    "conv": "input 7x6x3\nconv 4 3x3",
    "conv-stride-pad": "input 7x6x3\nconv 4 3x2 stride=2 pad=1",
    "conv-stride-per-dim": "input 9x8x2\nconv 3 3 stride=2x1 pad=1x0",
    "conv-one-channel": "input 7x7x1\nconv 3 3 pad=1\nconv 1 3 pad=1\nconv 2 2 stride=2",
    "conv-same-even-kernel": "input 7x6x3\nconv 4 4 pad=same\nconv 2 2x3 dilation=2 pad=same",
    "conv-same-asymmetric": "input 7x6x3\nconv 4 4 stride=2 pad=same",
    "conv-dilation": "input 9x8x2\nconv 3 3 dilation=2 pad=1",
    "conv-groups": "input 6x6x4\nconv 6 3 groups=2 pad=1",
    "conv-depthwise": "input 6x6x3\nconv 6 3 groups=3 stride=2 pad=1 bias=false",
    "conv-ceil": "input 8x8x2\nconv 3 3 stride=2 round=ceil",
    "conv-1d": "input 12x3\nconv 4 3 stride=2 pad=1 dilation=2",
    "conv-3d": "input 5x5x4x2\nconv 3 3 stride=2 pad=1",
    "maxpool": "input 8x8x2\nmaxpool 2",
    "maxpool-overlap-ceil": "input 9x9x2\nmaxpool 3 stride=2 pad=1 round=ceil",
    "maxpool-same": "input 7x7x2\nmaxpool 2 pad=same",
    "maxpool-1d": "input 11x2\nmaxpool 3 stride=2 round=ceil",
    "maxpool-3d": "input 4x4x4x2\nmaxpool 2",
    "avgpool": "input 8x8x2\navgpool 3 stride=2 pad=1",
    "avgpool-ceil": "input 8x8x2\navgpool 3 stride=2 pad=1 round=ceil",
    "avgpool-1d-ceil": "input 10x2\navgpool 3 stride=2 round=ceil",
    "avgpool-3d": "input 4x4x4x2\navgpool 2",
    "globalavgpool": "input 5x4x3\nglobalavgpool",
    "globalavgpool-1d": "input 9x3\nglobalavgpool",
    "fc-spatial": "input 4x3x2\nfc 5",
    "fc-flat-no-bias": "input 6\nfc 5 bias=false",
    "flatten": "input 4x3x2\nflatten\nfc 5",
    "relu": "input 5x5x3\nrelu",
    "leakyrelu": "input 5x5x3\nleakyrelu 0.2",
    "sigmoid": "input 5x5x3\nsigmoid",
    "tanh": "input 5x5x3\ntanh",
    "softmax": "input 5\nfc 4\nsoftmax",
    "softmax-spatial": "input 3x3x4\nsoftmax",
    "relu6": "input 5x5x3\nrelu6",
    "silu": "input 5x5x3\nsilu",
    "hardswish": "input 5x5x3\nhardswish",
    "hardsigmoid": "input 5x5x3\nhardsigmoid",
    "mish": "input 5x5x3\nmish",
    "selu": "input 5x5x3\nselu",
    "gelu": "input 5x5x3\ngelu",
    "gelu-tanh": "input 5x5x3\ngelu approximate=tanh",
    "elu": "input 5x5x3\nelu",
    "elu-alpha": "input 5x5x3\nelu 0.4",
    "prelu": "input 5x5x3\nconv 4 1\nprelu",
    "prelu-shared": "input 5x5x3\nconv 4 1\nprelu shared=true",
    "prelu-flat": "input 6\nfc 5\nprelu\nfc 2\nprelu shared=true",
    "dropout": "input 6x6x2\ndropout 0.5",
    "batchnorm": "input 4x4x3\nbatchnorm",
    "batchnorm-flat": "input 6\nbatchnorm eps=0.001 momentum=0.5",
    "batchnorm-1d": "input 7x3\nbatchnorm",
    "layernorm": "input 4x3x6\nlayernorm eps=0.001",
    "layernorm-flat-no-affine": "input 6\nfc 5\nlayernorm affine=false",
    "groupnorm": "input 4x3x6\ngroupnorm 3",
    "groupnorm-1d-no-affine": "input 7x4\ngroupnorm 2 affine=false eps=0.01",
    "groupnorm-flat": "input 6\ngroupnorm 2",
    "instancenorm": "input 4x3x3\ninstancenorm",
    "instancenorm-affine-3d": "input 3x3x2x2\ninstancenorm affine=true",
    "lrn": "input 4x3x7\nlrn 3 alpha=0.5 beta=0.9 k=2",
    "lrn-even-1d": "input 6x7\nlrn 4 alpha=1",
    "layerscale": "input 4x3x3\nlayerscale init=0.5",
    "layerscale-flat": "input 6\nfc 4\nlayerscale",
    "droppath": "input 4x3x3\ndroppath 0.5",
    "globalmaxpool": "input 5x4x3\nglobalmaxpool",
    "globalmaxpool-1d": "input 9x3\nglobalmaxpool",
    "adaptiveavgpool": "input 9x7x3\nadaptiveavgpool 4x3",
    "adaptiveavgpool-larger": "input 3x5x2\nadaptiveavgpool 5x7",
    "adaptiveavgpool-3d": "input 5x4x3x2\nadaptiveavgpool 2x3x2",
    "adaptivemaxpool": "input 9x7x3\nadaptivemaxpool 4x3",
    "adaptivemaxpool-larger-1d": "input 4x2\nadaptivemaxpool 7",
    "adaptivemaxpool-3d": "input 5x4x3x2\nadaptivemaxpool 2x3x2",
    "upsample-nearest": "input 3x4x2\nupsample 2x3",
    "upsample-nearest-size": "input 3x4x2\nupsample size=7x5",
    "upsample-linear-1d": "input 5x2\nupsample 3 mode=linear",
    "upsample-bilinear": "input 3x4x2\nupsample 2 mode=linear",
    "upsample-bilinear-corners-size": "input 3x4x2\nupsample size=5x7 mode=linear align_corners=true",
    "upsample-trilinear-down": "input 4x3x5x2\nupsample size=3x5x2 mode=linear",
    "deconv": "input 4x3x3\ndeconv 2 3",
    "deconv-stride-pad": "input 4x3x3\ndeconv 2 4 stride=2 pad=1",
    "deconv-output-pad": "input 4x3x3\ndeconv 2 3 stride=2 pad=2 output_pad=1 bias=false",
    "deconv-dilation-per-dim": "input 4x3x2\ndeconv 3 3x2 stride=2x1 dilation=2 output_pad=1x0",
    "deconv-groups": "input 3x3x4\ndeconv 6 3 stride=2 groups=2",
    "deconv-more-filters": "input 3x3x2\ndeconv 5 2",
    "deconv-1d": "input 5x3\ndeconv 2 3 stride=3 pad=1 output_pad=2",
    "deconv-3d": "input 2x3x2x2\ndeconv 2 2 stride=2",
    "pixelshuffle": "input 3x2x8\npixelshuffle 2",
    "pixelshuffle-1d": "input 4x6\npixelshuffle 3",
    "pixelshuffle-3d": "input 2x2x2x16\npixelshuffle 2",
    "slice": "input 4x4x6\nslice 1 4\nconv 2 1",
    "shuffle": "input 4x4x6\nconv 6 1\nshuffle 3",
    "residual-identity": "input 6x6x3\nresidual {\n conv 3 3 pad=1\n relu\n}",
    "residual-projection": "input 6x6x3\nresidual {\n conv 4 3 stride=2 pad=1\n batchnorm\n}"
                           " shortcut {\n conv 4 1 stride=2\n}",
    "concat": "input 6x6x3\nconcat {\n branch {\n conv 2 1\n }\n branch {\n conv 3 3 pad=1\n }\n"
              " branch {\n avgpool 3 stride=1 pad=1\n }\n branch {\n }\n}",
    "add": "input 6x6x3\nadd {\n branch {\n conv 3 3 pad=1\n }\n branch {\n }\n branch {\n conv 3 1\n relu\n }\n}",
    "multiply-same-shape": "input 5x5x2\nmultiply {\n branch {\n conv 2 3 pad=1\n }\n branch {\n conv 2 1\n"
                           " tanh\n }\n branch {\n }\n}",
    "multiply-squeeze-excite": "input 5x4x3\nmultiply {\n branch {\n }\n branch {\n globalavgpool\n conv 2 1\n"
                               " relu\n conv 3 1\n sigmoid\n }\n}\nconv 2 1",
    "multiply-flat-vector": "input 4x3x3\nmultiply {\n branch {\n conv 3 1\n }\n branch {\n globalavgpool\n"
                            " flatten\n fc 2\n relu\n fc 3\n sigmoid\n }\n}",
    "multiply-broadcast-channels": "input 4x5x3\nmultiply {\n branch {\n conv 1 3 pad=1\n }\n branch {\n"
                                   " conv 4 1\n }\n}\nfc 2",
    "nested-blocks": "input 5x5x2\nconcat {\n branch {\n residual {\n conv 2 3 pad=1\n }\n }\n"
                     " branch {\n maxpool 3 stride=1 pad=1\n }\n}\nglobalavgpool\nfc 3",
}


def numerical(function, array: np.ndarray, index: tuple[int, ...]) -> float:
    """d function / d array[index] by central differences."""
    saved = array[index]
    array[index] = saved + STEP
    above = function()
    array[index] = saved - STEP
    below = function()
    array[index] = saved
    return (above - below) / (2 * STEP)


def indices(shape: tuple[int, ...], limit: int, rng: np.random.Generator):
    """Every index of a small array; ``limit`` random ones of a large one."""
    count = int(np.prod(shape))
    if count <= limit:
        return list(np.ndindex(*shape))
    return [tuple(int(rng.integers(0, s)) for s in shape) for _ in range(limit)]


def assert_gradients_match(model, x: np.ndarray, training: bool = True, limit: int = 200) -> int:
    """Compare backward's gradients of sum(outputs * R) with central differences for the input and
    every parameter; returns how many entries were compared."""
    rng = np.random.default_rng(1)
    outputs = model.forward(x, training=training, seed=7)
    weights = rng.standard_normal(outputs.shape)
    dx, grads = model.backward(weights)
    assert set(grads) == set(model.params)

    def objective() -> float:
        return float(np.sum(model.forward(x, training=training, seed=7) * weights))

    compared = 0
    for name, array, analytic in [("input", x, dx)] + [(k, v, grads[k]) for k, v in model.params.items()]:
        assert analytic.shape == array.shape, name
        for index in indices(array.shape, limit, rng):
            expected = numerical(objective, array, index)
            assert analytic[index] == pytest.approx(expected, rel=1e-5, abs=1e-7), f"{name}{list(index)}"
            compared += 1
    return compared


@pytest.mark.parametrize("spec", LAYERS.values(), ids=LAYERS.keys())
def test_layer_gradients(spec: str) -> None:
    model = cnnc.loads(spec).compile(dtype="float64", seed=3)
    x = np.random.default_rng(0).standard_normal((3, *model.network.report.input.dims))
    assert assert_gradients_match(model, x) > 0


ACTIVATIONS = ["relu6", "silu", "hardswish", "hardsigmoid", "mish", "selu", "gelu", "gelu-tanh", "elu", "elu-alpha",
               "prelu", "prelu-shared"]


@pytest.mark.parametrize("spec", [LAYERS[name] for name in ACTIVATIONS], ids=ACTIVATIONS)
def test_activation_gradients_over_a_wide_range(spec: str) -> None:
    """Inputs spread over [-9, 9], across every kink (relu6's 6, hardswish's and hardsigmoid's +-3)
    and into the saturated tails; prelu's slopes moved off their initial 0.25."""
    model = cnnc.loads(spec).compile(dtype="float64", seed=3)
    for name, slopes in model.params.items():
        if name.startswith("prelu"):
            slopes[...] = np.random.default_rng(2).uniform(-1, 2, slopes.shape)
    x = np.random.default_rng(0).uniform(-9, 9, (3, *model.network.report.input.dims))
    assert assert_gradients_match(model, x) > 0


EVALUATION = ["batchnorm", "dropout", "residual-projection", "maxpool-overlap-ceil", "nested-blocks", "droppath"]


@pytest.mark.parametrize("spec", [LAYERS[name] for name in EVALUATION], ids=EVALUATION)
def test_evaluation_mode_gradients(spec: str) -> None:
    model = cnnc.loads(spec).compile(dtype="float64", seed=3)
    for buffer in model.buffers.values():  # running statistics that are not the initial 0 and 1
        buffer[...] = np.random.default_rng(5).uniform(0.5, 1.5, buffer.shape)
    x = np.random.default_rng(0).standard_normal((3, *model.network.report.input.dims))
    assert assert_gradients_match(model, x, training=False) > 0


@pytest.mark.parametrize("spec", [LAYERS[name] for name in ("batchnorm", "batchnorm-flat", "batchnorm-1d")])
def test_batchnorm_predicts_the_evaluation_forward_pass_and_trains_on_the_batch(spec: str) -> None:
    """``predict`` (batchnorm's ``infer``: one scale and shift per channel) against the evaluation forward pass;
    a training pass without a backward pass (``for_backward`` false) still normalises with the batch's own
    statistics (each channel's mean 0 before the affine part, here gamma 1 and beta 0)."""
    model = cnnc.loads(spec).compile(dtype="float64", seed=3)
    for buffer in model.buffers.values():
        buffer[...] = np.random.default_rng(5).uniform(0.5, 1.5, buffer.shape)
    x = np.random.default_rng(0).standard_normal((6, *model.network.report.input.dims)) * 3 + 2
    expected = model.forward(x, training=False)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-13, atol=1e-13)
    run = Pass(True, np.random.default_rng(0), model.buffers, for_backward=False)
    trained = model.program.forward(x, model.params, run)[0]
    channels = trained.reshape(-1, trained.shape[-1])
    np.testing.assert_allclose(channels.mean(axis=0), 0, atol=1e-12)


def test_dropout_is_active_in_training_and_the_identity_in_evaluation() -> None:
    model = cnnc.loads("input 1000\ndropout 0.25").compile(dtype="float64")
    x = np.ones((4, 1000))
    trained = model.forward(x, training=True, seed=0)
    np.testing.assert_allclose(np.unique(trained), [0.0, 1 / 0.75])
    assert np.mean(trained == 0) == pytest.approx(0.25, abs=0.03)
    np.testing.assert_array_equal(model.forward(x, training=False), x)


@pytest.mark.parametrize("loss", ["crossentropy", "mse"])
def test_loss_gradients(loss: str) -> None:
    spec = "input 5x5x2\nconv 3 3\nbatchnorm\nrelu\nfc 4\nsoftmax"
    model = cnnc.loads(spec).compile(dtype="float64", seed=2, loss=loss)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5, 5, 2))
    y = np.array([0, 3, 1, 3])
    value, grads = model.loss_and_grads(x, y, seed=1)

    def objective() -> float:
        return model.loss_and_grads(x, y, seed=1)[0]

    assert objective() == value
    for key, array in model.params.items():
        for index in indices(array.shape, 20, rng):
            assert grads[key][index] == pytest.approx(numerical(objective, array, index), rel=1e-5, abs=1e-8)


def test_mse_gradients_with_real_valued_targets() -> None:
    model = cnnc.loads("input 3x3x2\nconv 2 2\ntanh").compile(dtype="float64", seed=0)
    rng = np.random.default_rng(0)
    x, targets = rng.standard_normal((3, 3, 3, 2)), rng.standard_normal((3, 2, 2, 2))
    _, grads = model.loss_and_grads(x, targets)
    weight = model.params["conv1.weight"]
    for index in np.ndindex(*weight.shape):
        expected = numerical(lambda: model.loss_and_grads(x, targets)[0], weight, index)
        assert grads["conv1.weight"][index] == pytest.approx(expected, rel=1e-5, abs=1e-9)


def small_example(path: Path) -> cnnc.Network:
    """An example at a size a float64 gradient check can afford: its own input if small, else the
    smallest of a few inputs of the same rank that the network still fits (the analysis checks).
    Not too small: batchnorm in training mode over a handful of values is too ill-conditioned for
    finite differences."""
    network = cnnc.load(path)
    shape = network.report.input
    if shape.size <= 40_000:
        return network
    candidates = {1: [(4000,)], 2: [(64, 64), (128, 128), (224, 224)], 3: [(16, 32, 32)]}
    for spatial in candidates[shape.rank]:
        try:
            return cnnc.load(path, input=ir.Shape(spatial, shape.channels))
        except cnnc.SpecError:
            continue
    pytest.skip(f"{path.name} does not fit a small input")


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.cnn"))
HEAVY = {"alexnet", "alexnet_torchvision", "c3d", "vgg16", "resnet50", "googlenet", "mobilenet_v1", "dcgan_generator"}


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in HEAVY else p
                                  for p in EXAMPLE_FILES], ids=[p.stem for p in EXAMPLE_FILES])
def test_example_network_gradients(path: Path) -> None:
    """Whole networks: every gradient at once, as directional derivatives along unit directions in
    parameter space (the gradient's own, and a random one), to within 1e-5 of the gradient's norm."""
    network = small_example(path)
    model = network.compile(dtype="float64", seed=0)
    rng = np.random.default_rng(0)
    normalized = any(isinstance(node, ir.BatchNorm) for node in ir.walk(network.ir.layers))
    x = rng.standard_normal((4 if normalized else 2, *network.report.input.dims))
    outputs = model.forward(x, training=True, seed=3)
    weights = rng.standard_normal(outputs.shape)
    _, grads = model.backward(weights)
    saved = {key: value.copy() for key, value in model.params.items()}

    def objective(direction: dict[str, np.ndarray], step: float) -> float:
        for key, value in model.params.items():
            np.add(saved[key], step * direction[key], out=value)
        return float(np.sum(model.forward(x, training=True, seed=3) * weights))

    norm = np.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
    directions = [grads, {key: rng.standard_normal(value.shape) for key, value in saved.items()}]
    for direction in directions:  # along the gradient itself (the derivative is its norm), and at random
        length = np.sqrt(sum(float(np.sum(d * d)) for d in direction.values()))
        direction = {key: d / length for key, d in direction.items()}  # a unit step: few ReLU kinks crossed
        expected = (objective(direction, NETWORK_STEP) - objective(direction, -NETWORK_STEP)) / (2 * NETWORK_STEP)
        analytic = sum(float(np.sum(grads[key] * direction[key])) for key in saved)
        assert abs(analytic - expected) <= 1e-5 * norm, (analytic, expected, norm)
    for key, value in saved.items():
        model.params[key][...] = value
