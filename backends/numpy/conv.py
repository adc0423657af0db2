"""Convolution (cross-correlation) as im2col: a strided window view, one copy, one BLAS matmul."""

from __future__ import annotations

from math import prod

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.inference import chunked
from cnnc.backends.numpy.init import weights
from cnnc.backends.numpy.kernel import Kernel, Params, Pass, column_sums
from cnnc.backends.numpy.windows import Geometry, Workspace, geometry, pad, window_view
from cnnc.report import LayerReport


class Convolution(Kernel):
    """Weight (*kernel, C/groups, F); input (N, *spatial, C) -> output (N, *output, F).
    ``round=ceil`` is extra zero padding on the right."""

    def __init__(self, node: ir.Conv, layer: LayerReport, relu_slope: float | None) -> None:
        self.name = node.name
        self.geo: Geometry = geometry(node, layer)
        self.channels = layer.input.channels
        self.filters = node.filters
        self.groups = node.groups
        self.has_bias = node.bias
        self.relu_slope = relu_slope
        self.weight_key = f"{node.name}.weight"
        self.bias_key = f"{node.name}.bias"
        self.transposed = _transposed(self.geo)
        self.workspace = Workspace()

    def init(self, rng: np.random.Generator) -> Params:
        group_channels = self.channels // self.groups
        taps = self.geo.taps
        shape = (*self.geo.kernel, group_channels, self.filters)
        params = {self.weight_key: weights(rng, shape, taps * group_channels, taps * self.filters // self.groups,
                                           self.relu_slope)}
        if self.has_bias:
            params[self.bias_key] = np.zeros(self.filters)
        return params

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        geo, groups = self.geo, self.groups
        workspace = self.workspace if run.for_backward else None
        cols = _im2col(pad(x, geo, 0.0, workspace), geo, groups, workspace, "cols")
        weight = params[self.weight_key]
        if groups == 1:
            out = cols @ weight.reshape(-1, self.filters)
        else:
            out = np.matmul(cols, _grouped(weight, groups))  # (G, rows, F/G)
            out = out.transpose(1, 0, 2).reshape(-1, self.filters)
        if self.has_bias:
            out += params[self.bias_key]
        cache = (x.shape, cols) if run.for_backward else None
        return out.reshape(x.shape[0], *geo.output, self.filters), cache

    def infer(self, x: np.ndarray, params: Params, run: Pass) -> np.ndarray:
        """Ungrouped: the batch in chunks that stay in the cache (``backends/numpy/inference.py``)."""
        if self.groups != 1:
            return self.forward(x, params, run)[0]
        bias = params[self.bias_key] if self.has_bias else None
        add_bias = None if bias is None else lambda rows: np.add(rows, bias, out=rows)
        return chunked(self)(x, params[self.weight_key], add_bias)

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        input_shape, cols = cache
        groups = self.groups
        weight = params[self.weight_key]
        dout2 = dout.reshape(-1, self.filters)
        grads: Params = {}
        if self.has_bias:
            grads[self.bias_key] = column_sums(dout2)
        if groups == 1:
            grads[self.weight_key] = (cols.T @ dout2).reshape(weight.shape)
        else:
            dout3 = dout2.reshape(len(dout2), groups, -1).transpose(1, 0, 2)  # (G, rows, F/G)
            dweight = np.matmul(cols.transpose(0, 2, 1), dout3)  # (G, taps * C/G, F/G)
            grads[self.weight_key] = dweight.transpose(1, 0, 2).reshape(weight.shape)
        if not need_dx:
            return None, grads
        return self.input_gradient(dout, weight, input_shape), grads

    def input_gradient(self, dout: np.ndarray, weight: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
        """The input's gradient (N, *input, C) from the output's (N, *output, F): also the forward pass
        of the transposed convolution with this weight (backends/numpy/resample.py)."""
        if self.transposed is not None and self.filters <= self.channels:
            return self._input_gradient_by_convolution(dout, weight, input_shape)
        return self._input_gradient_by_col2im(dout.reshape(-1, self.filters), weight, input_shape)

    def _input_gradient_by_convolution(self, dout: np.ndarray, weight: np.ndarray,
                                       input_shape: tuple[int, ...]) -> np.ndarray:
        """At stride 1 the input's gradient is the output's gradient, padded, convolved with the
        kernel flipped in space and transposed in channels: im2col and one matmul again. It copies
        taps x F values per input position where col2im computes taps x C per output position, so
        it is used when F <= C (measured: 2x faster than col2im for 32 -> 32 channels on 32x32)."""
        geo, groups = self.transposed, self.groups
        padded = pad(dout, geo, 0.0, self.workspace, "padded_dout")
        cols = _im2col(padded, geo, groups, self.workspace, "dcols")
        rank = self.geo.rank
        flipped = weight[(slice(None, None, -1),) * rank]  # (*kernel, C/G, F), flipped in space
        if groups == 1:
            return (cols @ np.swapaxes(flipped, -1, -2).reshape(-1, self.channels)).reshape(input_shape)
        split = flipped.reshape(*flipped.shape[:-1], groups, -1)  # (*kernel, C/G, G, F/G)
        grouped = np.moveaxis(split, (-2, -3), (0, -1)).reshape(groups, -1, self.channels // groups)
        dx = np.matmul(cols, grouped)  # (G, rows, C/G)
        return dx.transpose(1, 0, 2).reshape(input_shape)

    def _input_gradient_by_col2im(self, dout2: np.ndarray, weight: np.ndarray,
                                  input_shape: tuple[int, ...]) -> np.ndarray:
        """Any stride: each tap's share of the gradient (one batched matmul, tap-major so that
        every tap's block is contiguous), added back where that tap read, one strided add per tap."""
        geo, groups = self.geo, self.groups
        batch = input_shape[0]
        group_channels = self.channels // groups
        blocks = weight.reshape(geo.taps, group_channels, groups, -1).transpose(2, 0, 3, 1)  # (G, taps, F/G, C/G)
        blocks = np.ascontiguousarray(blocks)  # small; contiguous blocks make the batched matmul 2x faster
        dout3 = dout2.reshape(len(dout2), groups, -1).transpose(1, 0, 2)[:, np.newaxis]  # (G, 1, rows, F/G)
        dcols = np.matmul(dout3, blocks)  # (G, taps, rows, C/G)
        padded_shape = (batch, *geo.padded, self.channels)
        dpadded = np.zeros(padded_shape, dtype=dout2.dtype)
        target = dpadded.reshape(*padded_shape[:-1], groups, group_channels)
        for index, region in enumerate(geo.tap_regions):
            share = np.moveaxis(dcols[:, index], 0, 1)  # (rows, G, C/G): a view
            target[region] += share.reshape(batch, *geo.output, groups, group_channels)
        return dpadded[geo.interior()] if geo.needs_padding else dpadded


def _grouped(weight: np.ndarray, groups: int) -> np.ndarray:
    """(*kernel, C/G, F) -> (G, taps * C/G, F/G): filter f belongs to group f // (F/G)."""
    return weight.reshape(-1, groups, weight.shape[-1] // groups).transpose(1, 0, 2)


def _im2col(padded: np.ndarray, geo: Geometry, groups: int, workspace: Workspace | None,
            key: str) -> np.ndarray:
    """Every window as a row: (N * prod(output), taps * C), or per group (G, rows, taps * C/G)."""
    rows = padded.shape[0] * prod(geo.output)
    if padded.shape[-1] == 1:  # one channel: copy tap by tap, long contiguous runs (5x faster)
        shape = (geo.taps, padded.shape[0], *geo.output)
        cols = np.empty(shape, padded.dtype) if workspace is None else workspace.get(key, shape, padded.dtype)
        for index, region in enumerate(geo.tap_regions):
            cols[index] = padded[region][..., 0]
        return cols.reshape(geo.taps, rows).T
    windows = window_view(padded, geo)  # (N, *output, *kernel, C): no copy yet
    if groups != 1:
        split = windows.reshape(*windows.shape[:-1], groups, -1)
        windows = np.moveaxis(split, -2, 0)  # (G, N, *output, *kernel, C/G)
    if workspace is None:
        return windows.reshape(rows, -1) if groups == 1 else windows.reshape(groups, rows, -1)
    cols = workspace.get(key, windows.shape, padded.dtype)
    np.copyto(cols, windows)
    return cols.reshape(rows, -1) if groups == 1 else cols.reshape(groups, rows, -1)


def _transposed(geo: Geometry) -> Geometry | None:
    """The windows of the input-gradient convolution when the forward one has stride 1 and its
    padding is within the kernel's span; None otherwise (col2im is used)."""
    if any(s != 1 for s in geo.stride) or any(geo.extra):
        return None
    reach = tuple((k - 1) * d for k, d in zip(geo.kernel, geo.dilation))
    pads = tuple((r - before, r - after) for r, (before, after) in zip(reach, geo.pads))
    if any(before < 0 or after < 0 for before, after in pads):
        return None
    return Geometry(geo.output, geo.input, geo.kernel, geo.stride, geo.dilation, pads, (0,) * geo.rank)
