"""Fully connected, flatten, activations (PReLU too), dropout and batch normalisation."""

from __future__ import annotations

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.activations import FUNCTIONS
from cnnc.backends.numpy.init import weights
from cnnc.backends.numpy.kernel import Kernel, Params, Pass, column_sums
from cnnc.report import LayerReport


class Dense(Kernel):
    """Weight (features, units): a spatial input is flattened in (*spatial, C) order first.
    (N, *spatial, C) -> (N, units)."""

    def __init__(self, node: ir.Dense, layer: LayerReport, relu_slope: float | None) -> None:
        self.name = node.name
        self.features = layer.input.size
        self.units = node.units
        self.has_bias = node.bias
        self.relu_slope = relu_slope
        self.weight_key = f"{node.name}.weight"
        self.bias_key = f"{node.name}.bias"

    def init(self, rng: np.random.Generator) -> Params:
        params = {self.weight_key: weights(rng, (self.features, self.units), self.features, self.units,
                                           self.relu_slope)}
        if self.has_bias:
            params[self.bias_key] = np.zeros(self.units)
        return params

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        flat = x.reshape(x.shape[0], -1)
        out = flat @ params[self.weight_key]
        if self.has_bias:
            out += params[self.bias_key]
        return out, (x.shape, flat)

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        shape, flat = cache
        grads = {self.weight_key: flat.T @ dout}
        if self.has_bias:
            grads[self.bias_key] = column_sums(dout)
        dx = (dout @ params[self.weight_key].T).reshape(shape) if need_dx else None
        return dx, grads


class Flatten(Kernel):
    """(N, *spatial, C) -> (N, prod(spatial) * C), in (*spatial, C) order."""

    def __init__(self, node: ir.Flatten, layer: LayerReport) -> None:
        self.name = node.name

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        return (dout.reshape(cache) if need_dx else None), {}


class Activation(Kernel):
    """An elementwise function from the registry in ``activations.py`` (softmax: over the channel
    axis); the shape is unchanged."""

    def __init__(self, node: ir.Activation, layer: LayerReport) -> None:
        self.name = node.name
        self.node = node
        self.function = FUNCTIONS[node.function]

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        return self.function.forward(x, self.node)

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        if not need_dx:
            return None, {}
        return self.function.backward(dout, cache, self.node), {}


class PReLU(Kernel):
    """x for x > 0, a * x otherwise, with a learned slope ``a`` per channel (``weight``, C values,
    initialised to 0.25) or one for every channel (``shared``), as torch's nn.PReLU. At 0 the slope
    applies (torch's choice). (N, *spatial, C) -> the same shape."""

    def __init__(self, node: ir.PReLU, layer: LayerReport) -> None:
        self.name = node.name
        self.count = 1 if node.shared else layer.input.channels
        self.weight_key = f"{node.name}.weight"

    def init(self, rng: np.random.Generator) -> Params:
        return {self.weight_key: np.full(self.count, 0.25)}

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        positive = x > 0
        return np.where(positive, x, x * params[self.weight_key]), (x, positive)

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        x, positive = cache
        negative_part = np.where(positive, 0, dout * x).reshape(-1, x.shape[-1])
        dweight = column_sums(negative_part)
        grads = {self.weight_key: dweight.sum(keepdims=True) if self.count == 1 else dweight}
        if not need_dx:
            return None, grads
        return np.where(positive, dout, dout * params[self.weight_key]), grads


class Dropout(Kernel):
    """Inverted dropout: in training, zero each value with probability p and scale the rest by
    1 / (1 - p); the identity in evaluation."""

    def __init__(self, node: ir.Dropout, layer: LayerReport) -> None:
        self.name = node.name
        self.p = node.p

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        if not run.training or self.p == 0:
            return x, None
        shape = self.mask_shape(x)
        if run.shard is None:
            draws = run.rng.random(shape, dtype=x.dtype)
        else:  # the whole batch's draws, this shard's part: the masks of the batch run whole
            start, stop, batch = run.shard
            draws = run.rng.random((batch, *shape[1:]), dtype=x.dtype)[start:stop]
        keep = draws >= x.dtype.type(self.p)
        scale = keep * x.dtype.type(1 / (1 - self.p))
        return x * scale, scale

    def mask_shape(self, x: np.ndarray) -> tuple[int, ...]:
        """What one draw decides: every value."""
        return x.shape

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        if not need_dx:
            return None, {}
        return (dout if cache is None else dout * cache), {}


class BatchNorm(Kernel):
    """Normalise each channel over the batch and spatial positions, then scale (``weight``) and
    shift (``bias``). Training: the batch's mean and biased variance, and the running statistics
    move toward the batch's (unbiased variance), new = (1 - momentum) old + momentum batch, as
    PyTorch. Evaluation: the running statistics."""

    def __init__(self, node: ir.BatchNorm, layer: LayerReport) -> None:
        self.name = node.name
        self.channels = layer.input.channels
        self.eps = node.eps
        self.momentum = node.momentum
        self.weight_key, self.bias_key = f"{node.name}.weight", f"{node.name}.bias"
        self.mean_key, self.var_key = f"{node.name}.running_mean", f"{node.name}.running_var"

    def init(self, rng: np.random.Generator) -> Params:
        return {self.weight_key: np.ones(self.channels), self.bias_key: np.zeros(self.channels)}

    def init_buffers(self) -> Params:
        return {self.mean_key: np.zeros(self.channels), self.var_key: np.ones(self.channels)}

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        flat = x.reshape(-1, self.channels)
        gamma, beta = params[self.weight_key], params[self.bias_key]
        if run.training:
            count = flat.shape[0]
            mean = column_sums(flat) / x.dtype.type(count)
            centered = flat - mean
            var = np.einsum("ij,ij->j", centered, centered) / x.dtype.type(count)
            inv_std = 1 / np.sqrt(var + x.dtype.type(self.eps))
            normalized = centered
            normalized *= inv_std
            self._update(run.buffers, mean, var * x.dtype.type(count / max(count - 1, 1)))
        else:
            inv_std = self._running_inv_std(run.buffers, x.dtype)
            normalized = (flat - run.buffers[self.mean_key]) * inv_std
        out = normalized * gamma + beta
        return out.reshape(x.shape), (normalized, inv_std, run.training)

    def infer(self, x: np.ndarray, params: Params, run: Pass) -> np.ndarray:
        """Evaluation as one scale and shift per channel, two passes over ``x``: x * s + (beta - mean * s) with
        s = gamma / sqrt(running_var + eps), the form PyTorch's CPU kernel computes in evaluation. A training
        pass (the batch's statistics) without a backward pass is ``forward``'s."""
        if run.training:
            return self.forward(x, params, run)[0]
        scale = params[self.weight_key] * self._running_inv_std(run.buffers, x.dtype)
        shift = params[self.bias_key] - run.buffers[self.mean_key] * scale
        out = np.multiply(x.reshape(-1, self.channels), scale)
        out += shift
        return out.reshape(x.shape)

    def _running_inv_std(self, buffers: Params, dtype: np.dtype) -> np.ndarray:
        """1 / sqrt(running_var + eps), per channel: evaluation's normalisation."""
        return 1 / np.sqrt(buffers[self.var_key] + dtype.type(self.eps))

    def _update(self, buffers: Params, mean: np.ndarray, var: np.ndarray) -> None:
        momentum = self.momentum
        for key, batch in ((self.mean_key, mean), (self.var_key, var)):
            running = buffers[key]
            running *= 1 - momentum
            running += momentum * batch

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        normalized, inv_std, training = cache
        flat = dout.reshape(-1, self.channels)
        dbeta = column_sums(flat)
        dgamma = np.einsum("ij,ij->j", flat, normalized)
        grads = {self.weight_key: dgamma, self.bias_key: dbeta}
        if not need_dx:
            return None, grads
        scale = params[self.weight_key] * inv_std
        if training:
            count = dout.dtype.type(flat.shape[0])
            dx = (flat - dbeta / count - normalized * (dgamma / count)) * scale
        else:
            dx = flat * scale
        return dx.reshape(dout.shape), grads
