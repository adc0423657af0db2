"""The NumPy backend's conv/fc + ReLU steps (backends/numpy/fused.py) and its choice of im2col in a sharded pass:
the same values as the layers run apart, bit for bit; which pairs fuse (in blocks too); gradient checks."""

from __future__ import annotations

import numpy as np
import pytest
from test_numpy_gradients import assert_gradients_match

import cnnc
from cnnc.backends.numpy import Program
from cnnc.backends.numpy.conv import Convolution
from cnnc.backends.numpy.fused import ReluAfter
from cnnc.backends.numpy.kernel import Pass
from cnnc.backends.numpy.program import lower

SPEC = """
input 12x12x16
conv 16 3x3 pad=same
relu
conv 8 3x3 stride=2 groups=2
relu
residual {
  conv 8 3x3 pad=1 bias=false
  relu
}
conv 8 1x1
leakyrelu 0.1
maxpool 2
fc 20
relu
fc 5
"""


def _unfused(network: cnnc.Network) -> Program:
    """The NumPy program with every ReLU a step of its own, as lowered before fusion."""
    program = Program.__new__(Program)
    program.root = lower(network.ir, network.report)
    return program


def test_which_pairs_fuse() -> None:
    """conv/fc followed by a plain ReLU, in a residual block's body too; not a leaky ReLU, not the last fc."""
    root = cnnc.loads(SPEC).compile(seed=0).program.root
    fused = [step for step in root.kernels() if isinstance(step, ReluAfter)]
    assert [(step.name, step.relu_name) for step in fused] == [
        ("conv1", "relu1"), ("conv2", "relu2"), ("conv3", "relu3"), ("fc1", "relu4")]
    assert [type(step).__name__ for step in root.steps] == [
        "ReluAfter", "ReluAfter", "ResidualBlock", "Convolution", "Activation", "MaxPool", "ReluAfter", "Dense"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_bits_as_the_layers_apart(dtype: str) -> None:
    """Output, input gradient and every parameter's gradient equal bit for bit, training and inference."""
    network = cnnc.loads(SPEC)
    model = network.compile(seed=2, dtype=dtype)
    apart = _unfused(network)
    x = np.random.default_rng(0).standard_normal((6, 12, 12, 16)).astype(dtype)
    found, caches = model.program.forward(x, model.params, Pass(True))
    expected, expected_caches = apart.forward(x, model.params, Pass(True))
    np.testing.assert_array_equal(found, expected)
    dout = np.random.default_rng(1).standard_normal(found.shape).astype(dtype)
    dx, grads = model.program.backward(dout, caches, model.params, need_dx=True)
    expected_dx, expected_grads = apart.backward(dout, expected_caches, model.params, need_dx=True)
    np.testing.assert_array_equal(dx, expected_dx)
    assert set(grads) == set(expected_grads) == set(model.params)
    for key in grads:
        np.testing.assert_array_equal(grads[key], expected_grads[key], err_msg=key)
    np.testing.assert_array_equal(model.program.infer(x, model.params, Pass(False, for_backward=False)),
                                  apart.infer(x, model.params, Pass(False, for_backward=False)))


def test_gradients_through_fused_steps() -> None:
    model = cnnc.loads(SPEC).compile(seed=4, dtype="float64")
    x = np.random.default_rng(3).standard_normal((2, 12, 12, 16))
    assert assert_gradients_match(model, x) > 0


def test_a_pass_on_threads_beside_other_shards_takes_im2col_on_numpy() -> None:
    """NumPy's Winograd transforms do not run in parallel on threads: a pass over a shard of a batch whose other
    shards run on threads of the process takes im2col (the backward pass follows the forward's path), with the
    same values within float64 rounding; a shard in a process of its own keeps Winograd."""
    model = cnnc.loads("input 10x9x16\nconv 24 3x3 pad=same\nrelu").compile(seed=1, dtype="float64")
    conv = model.program.root.steps[0].layer
    assert isinstance(conv, Convolution) and conv.winograd is not None
    x = np.random.default_rng(5).standard_normal((4, 10, 9, 16))
    dout = np.random.default_rng(6).standard_normal((4, 10, 9, 24))
    results = []
    assert conv.forward(x, model.params, Pass(True, shard=(0, 4, 8)))[1][1] is conv.winograd
    for threaded in (False, True):
        out, cache = conv.forward(x, model.params, Pass(True, shard=(0, 4, 8) if threaded else None,
                                                         threaded=threaded))
        assert (cache[1] is None) == threaded
        dx, grads = conv.backward(dout, cache, model.params, need_dx=True)
        results.append((out, dx, grads["conv1.weight"]))
    for by_winograd, by_im2col in zip(*results):
        np.testing.assert_allclose(by_im2col, by_winograd, rtol=1e-10, atol=1e-10)


def test_numba_keeps_winograd_in_a_sharded_pass() -> None:
    pytest.importorskip("numba")
    model = cnnc.loads("input 10x9x16\nconv 24 3x3 pad=same").compile(seed=1, backend="numba")
    conv = model.program.root.steps[0]
    x = np.random.default_rng(5).standard_normal((4, 10, 9, 16)).astype(np.float32)
    _, cache = conv.forward(x, model.params, Pass(True, shard=(0, 4, 8)))
    assert cache[1] is conv.winograd is not None
