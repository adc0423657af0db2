"""Convolutions run a chunk of images at a time (backends/numpy/conv.py): with chunks of one or two
images, outputs and gradients equal the whole batch's, on both backends, and match central differences
in float64 (the columns are rebuilt in the backward pass, not kept)."""

from __future__ import annotations

from math import prod

import numpy as np
import pytest
from test_numpy_gradients import assert_gradients_match

import cnnc
from cnnc.backends.numpy import conv

SPECS = {
    "conv-pad-relu": "input 6x5x3\nconv 4 3 pad=1\nrelu",  # F > C: col2im (numba: compiled), fused ReLU
    "conv-transposed-path": "input 6x6x5\nconv 3 3 pad=same",  # F <= C, stride 1: by convolution
    "conv-stride-dilation": "input 9x8x2\nconv 5 3 stride=2 dilation=2 pad=1",  # col2im
    "conv-one-channel": "input 8x8x1\nconv 4 5 pad=2\nrelu\nmaxpool 2",  # one-channel im2col
    "conv-groups": "input 7x7x4\nconv 6 3 groups=2 pad=1",
    "conv-1d": "input 12x3\nconv 4 3 stride=2",
    "deconv": "input 4x4x3\ndeconv 2 3 stride=2",  # the adjoint convolution's chunked input gradient
}
BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not __import__("importlib").util.find_spec("numba"), reason="numba not installed"))]


def _run(spec: str, backend: str, x: np.ndarray, weights: np.ndarray | None):
    model = cnnc.loads(spec).compile(backend=backend, dtype="float64", seed=3)
    out = model.forward(x, training=True, seed=5)
    weights = np.random.default_rng(1).standard_normal(out.shape) if weights is None else weights
    dx, grads = model.backward(weights)
    return out, dx, grads, weights


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_chunks_of_one_image_equal_the_whole_batch(spec: str, backend: str, monkeypatch) -> None:
    x = np.random.default_rng(0).standard_normal((5, *cnnc.loads(spec).report.input.dims))
    whole = _run(spec, backend, x, None)
    monkeypatch.setattr(conv, "CHUNK_VALUES", 1)  # every chunk one image
    assert conv.chunks(5, 10) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    chunked = _run(spec, backend, x, whole[3])
    np.testing.assert_allclose(chunked[0], whole[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(chunked[1], whole[1], rtol=0, atol=1e-12)
    for key, grad in whole[2].items():
        np.testing.assert_allclose(chunked[2][key], grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_chunked_gradients_match_central_differences(spec: str, backend: str, monkeypatch) -> None:
    network = cnnc.loads(spec)
    model = network.compile(backend=backend, dtype="float64", seed=3)
    first = next(c for c in map(_convolution, model.program.root.kernels()) if isinstance(c, conv.Convolution))
    per_image = prod(first.geo.output) * first.geo.taps * first.channels
    monkeypatch.setattr(conv, "CHUNK_VALUES", 2 * per_image)  # two images a chunk, and a short last one
    assert conv.chunks(5, per_image) == [(0, 2), (2, 4), (4, 5)]
    x = np.random.default_rng(0).standard_normal((5, *network.report.input.dims))
    assert assert_gradients_match(model, x) > 0


def _convolution(kernel):
    """The convolution inside a kernel: itself, a fused ReLU's layer, a deconvolution's adjoint."""
    return getattr(getattr(kernel, "layer", kernel), "adjoint", getattr(kernel, "layer", kernel))


def test_chunk_bounds() -> None:
    assert conv.chunks(7, conv.CHUNK_VALUES // 3) == [(0, 3), (3, 6), (6, 7)]
    assert conv.chunks(2, conv.CHUNK_VALUES * 4) == [(0, 1), (1, 2)]  # one image is never split
    assert conv.chunks(64, 1000) == [(0, 64)]
