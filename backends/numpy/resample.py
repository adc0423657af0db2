"""Upsampling (nearest, linear), transposed convolution and pixel shuffle: layers that enlarge the
spatial sizes. Arrays are channels-last, (N, *spatial, C)."""

from __future__ import annotations

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.conv import Convolution
from cnnc.backends.numpy.kernel import Kernel, Params, Pass, column_sums
from cnnc.report import LayerReport
from cnnc.shapes import per_dimension


def interpolation_matrix(size: int, output: int, mode: str, align_corners: bool, factor: int | None) -> np.ndarray:
    """(output, size): the weights by which each output position mixes the input positions, as
    PyTorch's F.interpolate computes them (a factor sets the scale to 1/factor, a size to n/output)."""
    matrix = np.zeros((output, size))
    positions = np.arange(output)
    if mode == "nearest":
        scale = 1.0 / factor if factor is not None else size / output
        source = np.minimum(np.floor(positions * scale).astype(np.int64), size - 1)
        matrix[positions, source] = 1.0
        return matrix
    if align_corners:
        source = positions * ((size - 1) / (output - 1) if output > 1 else 0.0)
    else:
        scale = 1.0 / factor if factor is not None else size / output
        source = np.maximum(scale * (positions + 0.5) - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(np.int64), size - 1)
    high = np.minimum(low + 1, size - 1)
    weight_high = source - low
    np.add.at(matrix, (positions, low), 1.0 - weight_high)
    np.add.at(matrix, (positions, high), weight_high)
    return matrix


def _along(x: np.ndarray, matrix: np.ndarray, axis: int) -> np.ndarray:
    """``matrix`` applied to one spatial axis of ``x``."""
    return np.moveaxis(np.tensordot(matrix, x, axes=(1, axis)), 0, axis)


class Upsample(Kernel):
    """(N, *spatial, C) -> (N, *output, C): one interpolation matrix per spatial dimension, applied in
    turn (nearest copies; linear is separable, so bilinear and trilinear are linear in each axis)."""

    def __init__(self, node: ir.Upsample, layer: LayerReport) -> None:
        self.name = node.name
        rank = layer.input.rank
        factors = per_dimension(node.factor, rank) if node.factor is not None else (None,) * rank
        self.matrices = [interpolation_matrix(n, o, node.mode, node.align_corners, f)
                         for n, o, f in zip(layer.input.spatial, layer.output.spatial, factors)]

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        for axis, matrix in enumerate(self.matrices, start=1):
            x = _along(x, matrix.astype(x.dtype, copy=False), axis)
        return np.ascontiguousarray(x), None

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        if not need_dx:
            return None, {}
        for axis, matrix in enumerate(self.matrices, start=1):
            dout = _along(dout, matrix.T.astype(dout.dtype, copy=False), axis)
        return np.ascontiguousarray(dout), {}


class Deconvolution(Kernel):
    """Weight (*kernel, F/groups, C), bias (F); input (N, *spatial, C) -> output (N, *output, F).

    A transposed convolution is the input gradient of the convolution it transposes (the *adjoint*:
    from the deconv's output, F channels, to its input, C channels, same kernel, stride, dilation and
    groups, padding p before and p - output_pad after). So the forward pass is that convolution's
    input gradient, the input's gradient is its forward pass, and the weight's gradient is its
    weight gradient; the weight layout is the adjoint's, as cnnc's Convolution stores it."""

    def __init__(self, node: ir.Deconv, layer: LayerReport, relu_slope: float | None) -> None:
        self.name = node.name
        rank = layer.input.rank
        pad, output_pad = per_dimension(node.pad, rank), per_dimension(node.output_pad, rank)
        # output_pad beyond pad (allowed when it is below the dilation) adds positions no input reaches:
        # the adjoint convolution covers the rest, and those positions hold only the bias
        self.beyond = tuple(max(e - p, 0) for p, e in zip(pad, output_pad))
        reached = ir.Shape(tuple(o - b for o, b in zip(layer.output.spatial, self.beyond)), node.filters)
        adjoint = ir.Conv(node.name, node.span, node.origin, filters=layer.input.channels, kernel=node.kernel,
                          stride=node.stride, dilation=node.dilation, groups=node.groups, bias=False)
        adjoint_layer = LayerReport(
            node=adjoint, depth=0, input=reached, output=layer.input, params=0, buffers=0, macs=0,
            receptive_field=(), jump=(), padding=tuple((p, max(p - e, 0)) for p, e in zip(pad, output_pad)))
        self.adjoint = Convolution(adjoint, adjoint_layer, relu_slope)
        self.channels = layer.input.channels
        self.filters = node.filters
        self.reached_shape = reached.spatial
        self.has_bias = node.bias
        self.weight_key = f"{node.name}.weight"
        self.bias_key = f"{node.name}.bias"

    def init(self, rng: np.random.Generator) -> Params:
        params = self.adjoint.init(rng)  # (*kernel, F/G, C)
        if self.has_bias:
            params[self.bias_key] = np.zeros(self.filters)
        return params

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        shape = (x.shape[0], *self.reached_shape, self.filters)
        out = self.adjoint.input_gradient(x, params[self.weight_key], shape)
        if any(self.beyond):
            out = np.pad(out, [(0, 0), *((0, b) for b in self.beyond), (0, 0)])
        if self.has_bias:
            out = out + params[self.bias_key]
        return out, x if run.for_backward else None

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        x = cache
        reached = dout[(slice(None), *(slice(0, n) for n in self.reached_shape))] if any(self.beyond) else dout
        weights = {self.weight_key: params[self.weight_key]}
        dx, adjoint_cache = self.adjoint.forward(np.ascontiguousarray(reached), weights, Pass(False))
        _, grads = self.adjoint.backward(x, adjoint_cache, params, need_dx=False)
        if self.has_bias:
            grads[self.bias_key] = column_sums(dout.reshape(-1, self.filters))
        return (dx if need_dx else None), grads


class PixelShuffle(Kernel):
    """(N, *spatial, C * r**rank) -> (N, *spatial * r, C). Channel ``c * r**rank + offset`` goes to
    output channel c at the position whose per-dimension offsets, read as base-r digits with the first
    dimension most significant, are ``offset`` (PyTorch's order in 2-D, generalised to any rank)."""

    def __init__(self, node: ir.PixelShuffle, layer: LayerReport) -> None:
        self.name = node.name
        self.factor = node.factor
        self.rank = layer.input.rank
        self.channels = layer.output.channels

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        batch, *spatial, _ = x.shape
        rank, r = self.rank, self.factor
        split = x.reshape(batch, *spatial, self.channels, *(r,) * rank)
        # (N, S1..Sk, C, r1..rk) -> (N, S1, r1, ..., Sk, rk, C)
        order = (0, *(axis for d in range(rank) for axis in (1 + d, 2 + rank + d)), 1 + rank)
        return split.transpose(order).reshape(batch, *(n * r for n in spatial), self.channels), x.shape

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        if not need_dx:
            return None, {}
        batch, *spatial, _ = cache
        rank, r = self.rank, self.factor
        split = dout.reshape(batch, *(size for n in spatial for size in (n, r)), self.channels)
        # (N, S1, r1, ..., Sk, rk, C) -> (N, S1..Sk, C, r1..rk)
        order = (0, *(1 + 2 * d for d in range(rank)), 1 + 2 * rank, *(2 + 2 * d for d in range(rank)))
        return split.transpose(order).reshape(cache), {}
