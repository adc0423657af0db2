"""The Numba backend's direct convolution (backends/numba/direct.py) against the NumPy backend's im2col
convolution, kernel by kernel and through whole networks, against central differences in float64, and
where the backend chooses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_numpy_gradients import assert_gradients_match

import cnnc

pytest.importorskip("numba")
from test_numba_backend import TOLERANCE, assert_same_as_numpy  # noqa: E402

from cnnc.backends.numba import direct  # noqa: E402
from cnnc.backends.numba.layers import Convolution as Im2colConvolution  # noqa: E402
from cnnc.backends.numba.layers import ReluAfter, ReluPoolAfter  # noqa: E402
from cnnc.backends.numpy.conv import Convolution  # noqa: E402
from cnnc.backends.numpy.kernel import Pass  # noqa: E402

LENET = Path(__file__).resolve().parents[2] / "examples" / "lenet5.cnn"
SHAPES = {  # what direct.supports: stride 1, ungrouped, 1-D or 2-D; any padding, dilation, bias, channel count
    "lenet-conv1": "input 28x28x1\nconv 6 5x5 pad=2",
    "lenet-conv2": "input 14x14x6\nconv 16 5x5",
    "dilation-pad-rectangular": "input 9x7x3\nconv 5 3x2 pad=1 dilation=2",
    "same-even-kernel": "input 7x6x2\nconv 3 4 pad=same",
    "pad-per-dimension": "input 6x9x2\nconv 4 3 pad=2x0 bias=false",
    "one-by-one": "input 5x5x7\nconv 4 1",
    "kernel-as-wide-as-input": "input 4x5x1\nconv 2 4x5",
    "1d": "input 20x3\nconv 7 4 pad=same",
    "1d-dilation": "input 12x2\nconv 3 3 dilation=3 pad=1",
}
NOT_SUPPORTED = {  # large enough to be chosen otherwise
    "stride": "input 28x28x2\nconv 4 3 stride=2",
    "height-stride": "input 29x28x2\nconv 3 3 stride=2x1 pad=1x0",
    "groups": "input 16x16x4\nconv 4 3 groups=2 pad=1",
    "3d": "input 12x12x12x2\nconv 3 3 pad=1",
}


def layer_and_report(spec: str):
    network = cnnc.loads(spec)
    node = network.ir.layers[0]
    return node, network.report.layer(node.name)


def relative_error(found: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(found - expected).max()) / max(1.0, float(np.abs(expected).max()))


@pytest.mark.parametrize("relu", [False, True], ids=["plain", "relu-fused"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", SHAPES.values(), ids=SHAPES.keys())
def test_kernel_equals_numpy_backend(spec: str, dtype: str, relu: bool) -> None:
    """Output, input gradient, weight and bias gradients of one layer (with the ReLU after it, when fused:
    NumPy's convolution then gets the gradient masked where the ReLU's output is 0)."""
    node, layer = layer_and_report(spec)
    assert direct.supports(node, layer)
    reference = Convolution(node, layer, 0.0)
    tested = direct.DirectConvolution(node, layer, 0.0)
    if relu:
        tested.relu = True
    rng = np.random.default_rng(0)
    params = {key: value.astype(dtype) for key, value in reference.init(rng).items()}
    if node.bias:  # not zeros, so that a bias added in the wrong place shows
        params[reference.bias_key] = rng.standard_normal(node.filters).astype(dtype)
    x = rng.standard_normal((3, *layer.input.dims)).astype(dtype)
    expected, cache = reference.forward(x, params, Pass(training=True))
    if relu:
        expected = np.maximum(expected, 0)
    found, found_cache = tested.forward(x, params, Pass(training=True))
    dout = rng.standard_normal(expected.shape).astype(dtype)
    dx_expected, grads_expected = reference.backward(np.where(expected > 0, dout, 0) if relu else dout, cache,
                                                     params, True)
    dx_found, grads_found = tested.backward(dout, found_cache, params, True)
    tolerance = TOLERANCE[dtype]
    assert found.dtype == expected.dtype and found.shape == expected.shape
    assert relative_error(found, expected) <= tolerance
    assert dx_found.dtype == dx_expected.dtype and relative_error(dx_found, dx_expected) <= tolerance
    assert set(grads_found) == set(grads_expected) == set(params)
    for key, want in grads_expected.items():
        assert grads_found[key].dtype == want.dtype and grads_found[key].shape == want.shape, key
        assert relative_error(grads_found[key], want) <= tolerance, key
    assert np.abs(dx_expected).max() > 0 and np.abs(grads_expected[reference.weight_key]).max() > 0


def test_without_input_gradient_the_parameter_gradients_are_the_same() -> None:
    node, layer = layer_and_report(SHAPES["lenet-conv1"])
    tested = direct.DirectConvolution(node, layer, 0.0)
    params = {key: value.astype("float64") for key, value in tested.init(np.random.default_rng(0)).items()}
    x = np.random.default_rng(1).standard_normal((2, *layer.input.dims))
    out, cache = tested.forward(x, params, Pass(training=True))
    dout = np.random.default_rng(2).standard_normal(out.shape)
    dx, with_dx = tested.backward(dout, cache, params, True)
    none, without_dx = tested.backward(dout, cache, params, False)
    assert none is None and dx.shape == x.shape
    for key in params:
        np.testing.assert_array_equal(with_dx[key], without_dx[key])


@pytest.mark.parametrize("spec", NOT_SUPPORTED.values(), ids=NOT_SUPPORTED.keys())
def test_convolutions_it_cannot_compute_take_im2col(spec: str) -> None:
    node, layer = layer_and_report(spec)
    assert not direct.supports(node, layer) and not direct.chosen(node, layer)
    steps = cnnc.loads(spec).compile(backend="numba").program.root.steps
    assert type(steps[0]) is Im2colConvolution


CHOSEN_ELSEWHERE = {  # what the measurements of bench/direct_conv.py give to im2col
    "16-filters": "input 28x28x1\nconv 16 5 pad=2",
    "wide-window": "input 28x28x4\nconv 6 5 pad=2",
    "small-plane": "input 7x7x6\nconv 6 3 pad=1",
    "1x1-input": "input 1x1x32\nconv 8 1",
}


@pytest.mark.parametrize("spec", CHOSEN_ELSEWHERE.values(), ids=CHOSEN_ELSEWHERE.keys())
def test_where_im2col_is_faster_it_is_chosen(spec: str) -> None:
    node, layer = layer_and_report(spec)
    assert direct.supports(node, layer) and not direct.chosen(node, layer)
    assert type(cnnc.loads(spec).compile(backend="numba").program.root.steps[0]) is Im2colConvolution


def test_lenet5_first_convolution_is_direct_with_its_relu_and_the_second_is_im2col() -> None:
    """conv1 (6 filters) runs direct with its ReLU fused; conv2 (16 filters: BLAS is faster) by im2col, with its
    ReLU; each with the max pool after it (``ReluPoolAfter``)."""
    network = cnnc.load(LENET)
    steps = network.compile(backend="numba").program.root.steps
    convs = [step for step in steps if isinstance(step, ReluPoolAfter)]
    assert [step.name for step in convs] == ["conv1", "conv2"]
    first = convs[0].relu_step
    assert isinstance(first, direct.DirectConvolution) and first.relu and first.relu_name == "relu1"
    assert convs[0].direct and convs[0].layer is first
    assert isinstance(convs[1].relu_step, ReluAfter) and isinstance(convs[1].layer, Im2colConvolution)
    assert convs[1].layer.filters > direct.MAX_FILTERS


NETWORKS = {  # each with a convolution that the backend runs direct
    "lenet-head": "input 12x12x1\nconv 6 5x5 pad=2\nrelu\nmaxpool 2\nconv 4 3\nrelu\nflatten\nfc 3\nsoftmax",
    "relu-not-fused-twice": "input 12x12x2\nconv 4 3 pad=1\nrelu\nrelu\nconv 3 3 bias=false\nfc 2",
    "1d-residual": "input 120x3\nresidual {\n conv 3 3 pad=1\n relu\n conv 3 3 pad=1\n}\nrelu\nglobalavgpool\nfc 2",
    "after-other-layers": "input 25x25x2\nconv 8 3 stride=2\nrelu\nconv 5 3x1 dilation=2 pad=same\nsigmoid\nfc 2",
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", NETWORKS.values(), ids=NETWORKS.keys())
def test_networks_with_direct_convolutions_equal_numpy_backend(spec: str, dtype: str) -> None:
    network = cnnc.loads(spec)
    kernels = list(network.compile(backend="numba").program.root.kernels())
    assert any(isinstance(getattr(kernel, "layer", kernel), direct.DirectConvolution) for kernel in kernels)
    assert_same_as_numpy(network, dtype)


@pytest.mark.parametrize("spec", NETWORKS.values(), ids=NETWORKS.keys())
def test_gradients_through_direct_convolutions(spec: str) -> None:
    model = cnnc.loads(spec).compile(backend="numba", dtype="float64", seed=3)
    x = np.random.default_rng(0).standard_normal((3, *model.network.report.input.dims))
    assert assert_gradients_match(model, x) > 0
