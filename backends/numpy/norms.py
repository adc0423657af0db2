"""Layer, group and instance normalisation, local response normalisation, layer scale and drop path."""

from __future__ import annotations

from math import prod

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.kernel import Kernel, Params, Pass
from cnnc.backends.numpy.layers import Dropout
from cnnc.report import LayerReport


class Normalization(Kernel):
    """Standardise groups of values with their own mean and biased variance, in training and in
    evaluation alike (no running statistics), then scale (``weight``) and shift (``bias``) each
    channel when affine. The input (N, *spatial, C) is viewed as (N, P, G, C/G) with P the number
    of positions; the statistics run over ``axes`` of that view:
    layernorm (1 position at a time, 1 group): the channels at each position;
    groupnorm: the positions and the channels of each group; instancenorm (G = C): the positions."""

    def __init__(self, node: ir.LayerNorm | ir.GroupNorm | ir.InstanceNorm, layer: LayerReport) -> None:
        self.name = node.name
        shape = layer.input
        self.channels = shape.channels
        self.eps = node.eps
        self.affine = node.affine
        positions = prod(shape.spatial)
        if isinstance(node, ir.LayerNorm):
            self.view, self.axes = (positions, 1, shape.channels), (3,)
        elif isinstance(node, ir.GroupNorm):
            self.view, self.axes = (positions, node.groups, shape.channels // node.groups), (1, 3)
        else:
            self.view, self.axes = (positions, shape.channels, 1), (1,)
        self.weight_key, self.bias_key = f"{node.name}.weight", f"{node.name}.bias"

    def init(self, rng: np.random.Generator) -> Params:
        if not self.affine:
            return {}
        return {self.weight_key: np.ones(self.channels), self.bias_key: np.zeros(self.channels)}

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        grouped = x.reshape(x.shape[0], *self.view)
        centered = grouped - grouped.mean(axis=self.axes, keepdims=True)
        var = (centered * centered).mean(axis=self.axes, keepdims=True)
        inv_std = 1 / np.sqrt(var + x.dtype.type(self.eps))
        normalized = (centered * inv_std).reshape(x.shape)
        out = normalized * params[self.weight_key] + params[self.bias_key] if self.affine else normalized
        return out, (normalized, inv_std)

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        normalized, inv_std = cache
        grads: Params = {}
        if self.affine:
            grads[self.weight_key] = (dout * normalized).reshape(-1, self.channels).sum(axis=0)
            grads[self.bias_key] = dout.reshape(-1, self.channels).sum(axis=0)
            dout = dout * params[self.weight_key]
        if not need_dx:
            return None, grads
        view = (dout.shape[0], *self.view)
        dnormalized, xhat = dout.reshape(view), normalized.reshape(view)
        dx = inv_std * (dnormalized - dnormalized.mean(axis=self.axes, keepdims=True)
                        - xhat * (dnormalized * xhat).mean(axis=self.axes, keepdims=True))
        return dx.reshape(dout.shape), grads


def _channel_window_sums(values: np.ndarray, before: int, after: int) -> np.ndarray:
    """For every channel c, the sum of ``values`` over channels c - before .. c + after (zeros past
    either end)."""
    channels = values.shape[-1]
    total = np.zeros_like(values)
    for offset in range(-before, after + 1):
        low, high = max(0, -offset), min(channels, channels - offset)
        if low < high:
            total[..., low:high] += values[..., low + offset:high + offset]
    return total


class LocalResponseNorm(Kernel):
    """PyTorch's LocalResponseNorm: out_c = x_c / s_c^beta with s_c = k + alpha/size * sum of x^2
    over channels c - size//2 .. c + (size-1)//2. The shape is unchanged."""

    def __init__(self, node: ir.LocalResponseNorm, layer: LayerReport) -> None:
        self.name = node.name
        self.size, self.alpha, self.beta, self.k = node.size, node.alpha, node.beta, node.k
        self.before, self.after = node.size // 2, (node.size - 1) // 2

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        sums = _channel_window_sums(x * x, self.before, self.after)
        base = x.dtype.type(self.k) + x.dtype.type(self.alpha / self.size) * sums
        scale = base ** x.dtype.type(-self.beta)
        return x * scale, (x, base, scale)

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        if not need_dx:
            return None, {}
        x, base, scale = cache
        # d out_c / d x_j = [c = j] s_c^-beta - 2 alpha beta / size * x_c x_j s_c^(-beta-1) for j in c's window
        through = _channel_window_sums(dout * x * scale / base, self.after, self.before)
        factor = dout.dtype.type(2 * self.alpha * self.beta / self.size)
        return dout * scale - factor * x * through, {}


class LayerScale(Kernel):
    """x * gamma, one learned multiplier per channel (``gamma``, initialised to ``init``)."""

    def __init__(self, node: ir.LayerScale, layer: LayerReport) -> None:
        self.name = node.name
        self.channels = layer.input.channels
        self.initial = node.init
        self.gamma_key = f"{node.name}.gamma"

    def init(self, rng: np.random.Generator) -> Params:
        return {self.gamma_key: np.full(self.channels, self.initial)}

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        return x * params[self.gamma_key], x

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        grads = {self.gamma_key: (dout * cache).reshape(-1, self.channels).sum(axis=0)}
        return (dout * params[self.gamma_key] if need_dx else None), grads


class DropPath(Dropout):
    """Stochastic depth: in training, each example's whole value is zeroed with probability p and
    the others scaled by 1 / (1 - p), drawn from the pass's generator; the identity in evaluation."""

    def mask_shape(self, x: np.ndarray) -> tuple[int, ...]:
        """What one draw decides: a whole example."""
        return (x.shape[0], *(1,) * (x.ndim - 1))
