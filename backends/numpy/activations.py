"""The activation functions: one forward/backward pair per function, registered by name.

``forward(x, node) -> (out, saved)`` and ``backward(dout, saved, node) -> dx``, elementwise on
(N, *spatial, C) arrays (softmax: over the channel axis). Each backward takes torch's choice at a
kink: the derivative of the piece on the left (``x <= k``) or the right, as written at each one."""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.special import erf

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Function(NamedTuple):
    forward: Callable[[np.ndarray, ir.Activation], tuple[np.ndarray, object]]
    backward: Callable[[np.ndarray, object, ir.Activation], np.ndarray]


FUNCTIONS: dict[str, Function] = {}


def register(name: str, forward, backward) -> None:
    FUNCTIONS[name] = Function(forward, backward)


def _t(x: np.ndarray, value: float):
    """A constant in the array's dtype (so float32 stays float32)."""
    return x.dtype.type(value)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) computed as (1 + tanh(x / 2)) / 2, which cannot overflow."""
    half = x.dtype.type(0.5)
    return half * (1 + np.tanh(half * x))


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last (channel) axis, shifted by the maximum so exp cannot overflow."""
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted


# ReLU: the gradient is 0 at 0 (torch: output <= 0). Multiplying by a mask is several times faster
# than np.where.
register("relu", lambda x, node: (out := np.maximum(x, 0), out),
         lambda dout, out, node: dout * (out > 0))


def _leakyrelu(x, node):
    slope = _t(x, node.slope)
    return (np.maximum(x, x * slope) if node.slope <= 1 else np.minimum(x, x * slope)), x


def _leakyrelu_grad(dout, x, node):  # slope at 0, as torch (x > 0 ? 1 : slope)
    slope = _t(dout, node.slope)
    return dout * ((x > 0) * (_t(dout, 1) - slope) + slope)


register("leakyrelu", _leakyrelu, _leakyrelu_grad)
register("sigmoid", lambda x, node: (out := sigmoid(x), out),
         lambda dout, out, node: dout * out * (_t(dout, 1) - out))
register("tanh", lambda x, node: (out := np.tanh(x), out),
         lambda dout, out, node: dout * (_t(dout, 1) - out * out))
register("softmax", lambda x, node: (out := softmax(x), out),
         lambda dout, out, node: out * (dout - (dout * out).sum(axis=-1, keepdims=True)))


# ReLU6 = hardtanh(0, 6): the gradient is 0 at both kinks (torch: 0 < x < 6).
register("relu6", lambda x, node: (np.clip(x, 0, 6), x),
         lambda dout, x, node: dout * ((x > 0) & (x < 6)))


def _silu(x, node):
    s = sigmoid(x)
    return x * s, (x, s)


def _silu_grad(dout, saved, node):
    x, s = saved
    return dout * s * (1 + x * (1 - s))


register("silu", _silu, _silu_grad)


# Hardswish = x * relu6(x + 3) / 6; torch's gradient: 0 up to and including -3, x / 3 + 1/2 strictly
# between -3 and 3, 1 from 3 on.
def _hardswish_grad(dout, x, node):
    middle = x / _t(x, 3) + _t(x, 0.5)
    return dout * np.where(x <= -3, _t(x, 0), np.where(x < 3, middle, _t(x, 1)))


register("hardswish", lambda x, node: (x * np.clip(x + 3, 0, 6) / _t(x, 6), x), _hardswish_grad)

# Hardsigmoid = relu6(x + 3) / 6; the gradient is 1/6 strictly between -3 and 3, 0 elsewhere. Torch's
# 1/6 here is a float32 constant (0.1666666716...) in every dtype: taken as is, to match its gradients.
_TORCH_ONE_SIXTH = float(np.float32(1.0) / np.float32(6.0))
register("hardsigmoid", lambda x, node: (np.clip(x + 3, 0, 6) / _t(x, 6), x),
         lambda dout, x, node: dout * (((x > -3) & (x < 3)) * _t(x, _TORCH_ONE_SIXTH)))


def _mish(x, node):
    t = np.tanh(np.logaddexp(0, x))  # tanh(softplus(x)), softplus without overflow
    return x * t, (x, t)


def _mish_grad(dout, saved, node):
    x, t = saved
    return dout * (t + x * sigmoid(x) * (1 - t * t))


register("mish", _mish, _mish_grad)


# ELU and SELU: the negative piece (alpha * (exp(x) - 1)) up to and including 0, as torch.
def _elu(x, node):
    alpha = _t(x, node.alpha)
    negative = alpha * np.expm1(np.minimum(x, 0))
    return np.where(x > 0, x, negative), x


def _elu_grad(dout, x, node):
    return dout * np.where(x > 0, _t(x, 1), _t(x, node.alpha) * np.exp(np.minimum(x, 0)))


register("elu", _elu, _elu_grad)


def _selu(x, node):
    negative = _t(x, SELU_ALPHA) * np.expm1(np.minimum(x, 0))
    return _t(x, SELU_SCALE) * np.where(x > 0, x, negative), x


def _selu_grad(dout, x, node):
    slope = np.where(x > 0, _t(x, 1), _t(x, SELU_ALPHA) * np.exp(np.minimum(x, 0)))
    return dout * (_t(x, SELU_SCALE) * slope)


register("selu", _selu, _selu_grad)


# GELU: x * Phi(x) with the exact normal CDF (erf), or torch's tanh approximation.
def _gelu(x, node):
    if node.approximate == "tanh":
        inner = _t(x, _SQRT_2_OVER_PI) * (x + _t(x, 0.044715) * x * x * x)
        t = np.tanh(inner)
        return _t(x, 0.5) * x * (1 + t), (x, t)
    cdf = _t(x, 0.5) * (1 + erf(x * _t(x, _INV_SQRT_2)))
    return x * cdf, (x, cdf)


def _gelu_grad(dout, saved, node):
    x, second = saved
    if node.approximate == "tanh":
        t = second
        dinner = _t(x, _SQRT_2_OVER_PI) * (1 + _t(x, 3 * 0.044715) * x * x)
        return dout * (_t(x, 0.5) * (1 + t) + _t(x, 0.5) * x * (1 - t * t) * dinner)
    pdf = _t(x, _INV_SQRT_2PI) * np.exp(_t(x, -0.5) * x * x)
    return dout * (second + x * pdf)


register("gelu", _gelu, _gelu_grad)
