"""Winograd F(2x2, 3x3) (backends/numpy/winograd.py, backends/numba/winograd.py): the output, the input's and the
weight's gradients equal the im2col path's (float64 to 1e-10, float32 to 1e-5, relative to the values' scale) on
odd and even sizes, pads 0/1/2, one and several images, few and many channels; gradient checks through networks
whose convolutions take it; chunks; predict; and which convolutions choose it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from test_numpy_gradients import assert_gradients_match

import cnnc
from cnnc.backends.numpy import winograd
from cnnc.backends.numpy.conv import Convolution
from cnnc.backends.numpy.kernel import Pass

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from train_throughput import CIFAR  # noqa: E402  (the bench's net: the choice asserted below is the one it measures)

BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not __import__("importlib").util.find_spec("numba"), reason="numba not installed"))]

SHAPES = [  # (height, width, channels, filters, pad)
    (6, 6, 16, 16, "same"),
    (7, 5, 16, 20, "0"),
    (9, 8, 17, 3, "2"),
    (5, 6, 20, 64, "1"),
    (3, 3, 2, 4, "0"),  # one output, a partial tile in both directions
    (4, 3, 1, 5, "2"),
    (11, 10, 3, 2, "1"),
    (8, 9, 64, 48, "same"),
]


def convolutions(model) -> list[Convolution]:
    """The convolution kernels of a model or a program, in order (Numba's fused steps hold them as ``layer``)."""
    found = [getattr(kernel, "layer", kernel) for kernel in getattr(model, "program", model).root.kernels()]
    return [kernel for kernel in found if isinstance(kernel, Convolution)]


def lowered(network: cnnc.Network, backend: str):
    """The network's lowered program on ``backend`` (no weights drawn)."""
    if backend == "numba":
        from cnnc.backends.numba import Program
    else:
        from cnnc.backends.numpy import Program
    return Program(network.ir, network.report)


def pair(spec: str, backend: str, dtype: str) -> tuple[Convolution, Convolution, dict]:
    """The spec's first convolution twice, from the same weights: by Winograd, both passes (made so where the
    selection would not choose it) and by im2col."""
    model = cnnc.loads(spec).compile(backend=backend, dtype=dtype, seed=3)
    by_winograd = convolutions(model)[0]
    if by_winograd.winograd is None:
        by_winograd.winograd = by_winograd.winograd_class(by_winograd.geo, by_winograd.channels,
                                                          by_winograd.filters, by_winograd.workspace)
    by_winograd.winograd.takes_backward = True
    by_im2col = convolutions(cnnc.loads(spec).compile(backend=backend, dtype=dtype, seed=3))[0]
    by_im2col.winograd = by_im2col.predicting_winograd = None
    return by_winograd, by_im2col, model.params


def assert_close(found: np.ndarray, expected: np.ndarray, tolerance: float, name: str) -> None:
    assert found.dtype == expected.dtype and found.shape == expected.shape, name
    scale = float(np.abs(expected).max())
    assert scale > 0, name
    error = float(np.abs(found - expected).max())
    assert error <= tolerance * scale, f"{name}: {error / scale:.3g} of the scale {scale:.3g}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("shape", SHAPES, ids=[f"{h}x{w}x{c}-{f}-pad{p}" for h, w, c, f, p in SHAPES])
def test_equals_im2col(shape, batch: int, dtype: str, tolerance: float, backend: str) -> None:
    height, width, channels, filters, pad = shape
    spec = f"input {height}x{width}x{channels}\nconv {filters} 3x3 pad={pad}"
    by_winograd, by_im2col, params = pair(spec, backend, dtype)
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, height, width, channels)).astype(dtype)
    params[by_im2col.bias_key][...] = rng.standard_normal(filters)
    out, cache = by_winograd.forward(x, params, Pass(training=True))
    expected, expected_cache = by_im2col.forward(x, params, Pass(training=True))
    assert_close(out, expected, tolerance, "output")
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, grads = by_winograd.backward(dout, cache, params, need_dx=True)
    dx_expected, grads_expected = by_im2col.backward(dout, expected_cache, params, need_dx=True)
    assert_close(dx, dx_expected, tolerance, "input gradient")
    for key in grads_expected:
        assert_close(grads[key], grads_expected[key], tolerance, key)
    assert by_winograd.backward(dout, cache, params, need_dx=False)[0] is None


def test_float32_error_is_that_of_im2col() -> None:
    """Against float64, Winograd's float32 output and gradients err no more than 4x as much as im2col's."""
    spec = "input 16x16x64\nconv 64 3x3 pad=same"
    x = np.random.default_rng(0).standard_normal((4, 16, 16, 64))
    dout = np.random.default_rng(1).standard_normal((4, 16, 16, 64))
    exact_kernel, _, params64 = pair(spec, "numpy", "float64")
    out64, cache = exact_kernel.forward(x, params64, Pass(training=True))
    dx64, grads64 = exact_kernel.backward(dout, cache, params64, need_dx=True)
    by_winograd, by_im2col, params = pair(spec, "numpy", "float32")
    errors = {}
    for name, kernel in (("winograd", by_winograd), ("im2col", by_im2col)):
        out, cache = kernel.forward(x.astype(np.float32), params, Pass(training=True))
        dx, grads = kernel.backward(dout.astype(np.float32), cache, params, need_dx=True)
        pairs = ((out, out64), (dx, dx64), (grads["conv1.weight"], grads64["conv1.weight"]))
        errors[name] = [float(np.abs(found - exact).max() / np.abs(exact).max()) for found, exact in pairs]
    for winograd_error, im2col_error in zip(errors["winograd"], errors["im2col"]):
        assert winograd_error < 1e-6 and winograd_error <= 4 * im2col_error, errors


@pytest.mark.parametrize("backend", BACKENDS)
def test_chunks_of_one_image_equal_the_whole_batch(backend: str, monkeypatch) -> None:
    spec = "input 7x6x16\nconv 16 3x3 pad=1"
    x = np.random.default_rng(0).standard_normal((5, 7, 6, 16))
    by_winograd, _, params = pair(spec, backend, "float64")
    whole, cache = by_winograd.forward(x, params, Pass(training=True))
    dout = np.random.default_rng(1).standard_normal(whole.shape)
    dx, grads = by_winograd.backward(dout, cache, params, need_dx=True)
    monkeypatch.setattr(winograd, "CHUNK_VALUES", 1)
    assert by_winograd.winograd._chunks(5) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    chunked, cache = by_winograd.forward(x, params, Pass(training=True))
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-12)
    dx_chunked, grads_chunked = by_winograd.backward(dout, cache, params, need_dx=True)
    np.testing.assert_allclose(dx_chunked, dx, rtol=0, atol=1e-12)
    np.testing.assert_allclose(grads_chunked["conv1.weight"], grads["conv1.weight"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_shorter_last_chunk_with_partial_tiles_equals_im2col(backend: str, monkeypatch) -> None:
    """Chunks of 2 + 2 + 1 images on an odd output (7x5): the last chunk takes the front of the buffers a
    longer one filled, and its partial tiles' missing outputs must still read as zeros (regression: the
    weight's gradient was off by several percent)."""
    spec = "input 7x5x16\nconv 16 3x3 pad=1"
    by_winograd, by_im2col, params = pair(spec, backend, "float64")
    monkeypatch.setattr(winograd, "CHUNK_VALUES", 2 * by_winograd.winograd.per_image)
    assert by_winograd.winograd._chunks(5) == [(0, 2), (2, 4), (4, 5)]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 7, 5, 16))
    out, cache = by_winograd.forward(x, params, Pass(training=True))
    expected, expected_cache = by_im2col.forward(x, params, Pass(training=True))
    assert_close(out, expected, 1e-10, "output")
    dout = rng.standard_normal(out.shape)
    for _ in range(2):  # the second backward pass finds the buffers as the first left them
        dx, grads = by_winograd.backward(dout, cache, params, need_dx=True)
        dx_expected, grads_expected = by_im2col.backward(dout, expected_cache, params, need_dx=True)
        assert_close(dx, dx_expected, 1e-10, "input gradient")
        assert_close(grads["conv1.weight"], grads_expected["conv1.weight"], 1e-10, "weight gradient")


GRADIENT_NETWORK = """
input 7x6x16
conv 16 3x3 pad=same
relu
conv 18 3x3 pad=2
relu
conv 5 3x3
maxpool 2
fc 3
"""


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("backward", ["chosen", "winograd"])
def test_gradients_through_winograd_match_central_differences(backend: str, backward: str) -> None:
    """Forward passes by Winograd; backward passes as chosen (on NumPy, by im2col for these few channels:
    ``min_backward_saving``) or all by Winograd."""
    model = cnnc.loads(GRADIENT_NETWORK).compile(backend=backend, dtype="float64", seed=3)
    kernels = convolutions(model)
    assert [kernel.winograd is not None for kernel in kernels] == [True, True, True]
    assert [kernel.winograd.takes_backward for kernel in kernels] == [backend == "numba"] * 3
    for kernel in kernels if backward == "winograd" else ():
        kernel.winograd.takes_backward = True
    for key, value in model.params.items():  # biases off zero, so that they count
        if key.endswith(".bias"):
            value[...] = np.random.default_rng(4).standard_normal(value.shape) * 0.1
    x = np.random.default_rng(0).standard_normal((2, 7, 6, 16))
    assert assert_gradients_match(model, x) > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_predict_equals_the_training_forward_pass(backend: str, monkeypatch) -> None:
    """``predict`` (each kernel's ``infer``: the bias, and on Numba the ReLU, applied per chunk) against
    the training path's forward pass, both through Winograd (predicting's thresholds lifted)."""
    monkeypatch.setattr(winograd.Winograd, "min_inference_tiles", 0)  # Numba's inherits it
    monkeypatch.setattr(winograd.Winograd, "min_inference_saving", 0.0)  # Numba's is 0
    model = cnnc.loads(GRADIENT_NETWORK).compile(backend=backend, dtype="float64", seed=3)
    x = np.random.default_rng(0).standard_normal((5, 7, 6, 16))
    expected = model.forward(x, training=False)
    found = model.predict(x, batch_size=3)
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_cifar_nets_convolutions_take_winograd_from_16_channels(backend: str) -> None:
    """bench/train_throughput.py's CIFAR net: its first convolution (3 input channels) by im2col, the other
    three by Winograd, on both backends; as do ResNet-18's stride-1 3x3 convolutions at 28x28 and 14x14 (at
    56x56x64 an image's tiles do not fit ``MAX_IMAGE_VALUES``; at 7x7x512 a chunk of one image holds 16 tiles,
    below ``MIN_CHUNK_TILES``), not its 7x7 stem, its stride-2 3x3s or 1x1 shortcuts."""
    cifar = convolutions(lowered(cnnc.loads(CIFAR), backend))
    assert [kernel.winograd is not None for kernel in cifar] == [False, True, True, True]
    # the NumPy backend's backward pass of the 32 -> 32 channel layer by im2col (``min_backward_saving``)
    assert [kernel.winograd.takes_backward for kernel in cifar[1:]] == [backend == "numba", True, True]
    resnet = cnnc.load(Path(__file__).parents[2] / "examples" / "resnet18.cnn")
    for kernel in convolutions(lowered(resnet, backend)):
        expected = kernel.geo.kernel == (3, 3) and kernel.geo.stride == (1, 1) and kernel.geo.output[0] in (14, 28)
        assert (kernel.winograd is not None) == expected, (kernel.name, kernel.geo)
    assert sum(kernel.winograd is not None for kernel in convolutions(lowered(resnet, backend))) == 6


@pytest.mark.parametrize("backend", BACKENDS)
def test_predicting_takes_winograd_where_it_pays_for_the_batch(backend: str) -> None:
    """At inference a Winograd convolution runs by im2col below ``min_inference_tiles`` tiles in the batch (196 on
    NumPy, 64 on Numba), and on the NumPy backend below ``min_inference_saving`` (the CIFAR net's 32- and
    64-channel layers); Numba keeps Winograd for those from one image (256 and 64 tiles)."""
    cifar = convolutions(lowered(cnnc.loads(CIFAR), backend))[1:]
    for kernel in cifar:
        assert kernel.winograd.pays_at_inference(64) == (backend == "numba")
        assert kernel.winograd.pays_at_inference(1) == (backend == "numba")
    resnet = cnnc.load(Path(__file__).parents[2] / "examples" / "resnet18.cnn")
    found = {kernel.geo.output[0]: kernel.winograd for kernel in convolutions(lowered(resnet, backend))
             if kernel.winograd is not None}
    from_batch = 2 if backend == "numba" else 4  # 49 tiles an image
    assert [found[14].pays_at_inference(batch) for batch in (from_batch - 1, from_batch)] == [False, True]
    assert found[28].pays_at_inference(1)  # 196 tiles
    # 56x56x64 (1.6M transformed values an image): predicting by Winograd on Numba only, training by im2col on both
    large = [kernel for kernel in convolutions(lowered(resnet, backend)) if kernel.geo.output == (56, 56)
             and kernel.geo.kernel == (3, 3)]
    assert len(large) == 4 and all(kernel.winograd is None for kernel in large)
    assert all((kernel.predicting_winograd is not None) == (backend == "numba") for kernel in large)


@pytest.mark.skipif(not __import__("importlib").util.find_spec("numba"), reason="numba not installed")
def test_numba_predicts_by_winograd_on_images_too_large_for_training() -> None:
    """Numba predicts a 56x56x64 convolution by Winograd (``inference_image_values``) where training takes
    im2col: the same outputs within float64 rounding."""
    model = cnnc.loads("input 56x56x64\nconv 64 3x3 pad=same\nrelu").compile(backend="numba", dtype="float64",
                                                                             seed=3)
    kernel = convolutions(model)[0]
    assert kernel.winograd is None and kernel.predicting_winograd is not None
    x = np.random.default_rng(0).standard_normal((1, 56, 56, 64))
    expected = model.forward(x, training=False)
    np.testing.assert_allclose(model.predict(x), expected, rtol=0, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("backend", BACKENDS)
def test_predicting_below_the_batch_threshold_equals_the_winograd_forward_pass(backend: str) -> None:
    """A batch too small for Winograd at inference (im2col then) predicts what the training path's Winograd
    forward pass computes, within float64 rounding."""
    model = cnnc.loads(GRADIENT_NETWORK).compile(backend=backend, dtype="float64", seed=3)
    x = np.random.default_rng(0).standard_normal((1, 7, 6, 16))  # 12 tiles
    assert not any(kernel.winograd.pays_at_inference(1) for kernel in convolutions(model)
                   if kernel.winograd is not None)
    expected = model.forward(x, training=False)
    np.testing.assert_allclose(model.predict(x), expected, rtol=0, atol=1e-12 * np.abs(expected).max())


def test_chosen_only_where_it_applies() -> None:
    """Not for strides, dilations, groups, other kernels or 1-D; the same choice on both backends."""
    for spec in ("input 8x8x32\nconv 32 3x3 stride=2 pad=1", "input 8x8x32\nconv 32 3x3 dilation=2 pad=2",
                 "input 8x8x32\nconv 32 3x3 groups=2 pad=1", "input 8x8x32\nconv 32 5x5 pad=2",
                 "input 8x8x32\nconv 32 3x1 pad=1", "input 16x32\nconv 32 3 pad=1"):
        assert convolutions(cnnc.loads(spec).compile(seed=0))[0].winograd is None, spec


@pytest.mark.parametrize("shape", SHAPES[:4], ids=[f"{h}x{w}x{c}-{f}-pad{p}" for h, w, c, f, p in SHAPES[:4]])
def test_numba_gets_the_numpy_backends_bits(shape) -> None:
    """The compiled transforms do each value's operations in the NumPy backend's order: in float32 the output
    and both gradients are equal bit for bit (so that max pooling's winners and ReLU's zeros agree)."""
    pytest.importorskip("numba")
    height, width, channels, filters, pad = shape
    spec = f"input {height}x{width}x{channels}\nconv {filters} 3x3 pad={pad}"
    found = []
    for backend in ("numpy", "numba"):
        kernel, _, params = pair(spec, backend, "float32")
        x = np.random.default_rng(0).standard_normal((3, height, width, channels), dtype=np.float32)
        out, cache = kernel.forward(x, params, Pass(training=True))
        dout = np.random.default_rng(1).standard_normal(out.shape, dtype=np.float32)
        dx, grads = kernel.backward(dout, cache, params, need_dx=True)
        found.append((out, dx, grads["conv1.weight"]))
    for numpy_result, numba_result in zip(*found):
        np.testing.assert_array_equal(numba_result, numpy_result)


def test_a_stride_1_deconvolution_through_its_winograd_adjoint() -> None:
    """A transposed convolution's weight gradient is its adjoint convolution's (backends/numpy/resample.py):
    a 3x3 stride-1 one with 16 output channels takes that through Winograd, and matches central differences."""
    model = cnnc.loads("input 5x4x3\ndeconv 16 3x3 pad=1").compile(dtype="float64", seed=3)
    adjoint = model.program.root.steps[0].adjoint
    assert adjoint.channels == 16 and adjoint.winograd is not None
    x = np.random.default_rng(0).standard_normal((2, 5, 4, 3))
    assert assert_gradients_match(model, x) > 0
