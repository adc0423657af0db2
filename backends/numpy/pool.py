"""Max, average and global average pooling, with PyTorch's padding and ceil-mode semantics."""

from __future__ import annotations

from math import prod

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.inference import max_pool
from cnnc.backends.numpy.kernel import Kernel, Params, Pass
from cnnc.backends.numpy.windows import Geometry, Workspace, geometry, pad
from cnnc.report import LayerReport


class MaxPool(Kernel):
    """(N, *spatial, C) -> (N, *output, C). Padding is -inf; among equal values the first tap in
    row-major order takes the gradient (as PyTorch)."""

    def __init__(self, node: ir.Pool, layer: LayerReport) -> None:
        self.name = node.name
        self.geo: Geometry = geometry(node, layer)
        self.overlapping = any(s < k for s, k in zip(self.geo.stride, self.geo.kernel))
        self.tiling = all(s == k and o * s == p for s, k, o, p in
                          zip(self.geo.stride, self.geo.kernel, self.geo.output, self.geo.padded))
        self.workspace = Workspace()

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        geo = self.geo
        padded = pad(x, geo, -np.inf, self.workspace if run.for_backward else None)
        regions = geo.tap_regions
        out = padded[regions[0]].copy()
        for region in regions[1:]:
            np.maximum(out, padded[region], out=out)
        return out, ((padded, out) if run.for_backward else None)

    def infer(self, x: np.ndarray, params: Params, run: Pass) -> np.ndarray:
        """One spatial axis at a time (``backends/numpy/inference.py``): fewer, longer passes."""
        return max_pool(self, x)

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        """Each output's gradient goes to the first tap (row-major) that holds the maximum: masks
        and products only, which NumPy runs far faster than masked copies."""
        if not need_dx:
            return None, {}
        padded, out = cache
        geo = self.geo
        # windows that neither overlap nor leave a position out write every value of dpadded once
        dpadded = (np.empty if self.tiling else np.zeros)(padded.shape, dtype=dout.dtype)
        free = np.ones(out.shape, dtype=bool)  # outputs whose gradient no tap has taken yet
        hit = np.empty(out.shape, dtype=bool)
        for region in geo.tap_regions:
            np.equal(padded[region], out, out=hit)
            hit &= free
            free ^= hit
            if self.overlapping:
                dpadded[region] += dout * hit
            else:
                np.multiply(dout, hit, out=dpadded[region])
        return (dpadded[geo.interior()] if geo.needs_padding else dpadded), {}


class AvgPool(Kernel):
    """(N, *spatial, C) -> (N, *output, C). Padding counts as zeros (PyTorch's count_include_pad);
    a ceil-mode window hanging past the right padding is divided by its part inside input and
    padding only, as PyTorch does."""

    def __init__(self, node: ir.Pool, layer: LayerReport) -> None:
        self.name = node.name
        self.geo: Geometry = geometry(node, layer)
        self.divisor = _divisor(self.geo)
        self.workspace = Workspace()

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        geo = self.geo
        padded = pad(x, geo, 0.0, self.workspace if run.for_backward else None)
        regions = geo.tap_regions
        out = padded[regions[0]].copy()
        for region in regions[1:]:
            out += padded[region]
        out /= self.divisor.astype(x.dtype, copy=False)
        return out, padded.shape

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        if not need_dx:
            return None, {}
        geo = self.geo
        share = dout / self.divisor.astype(dout.dtype, copy=False)
        dpadded = np.zeros(cache, dtype=dout.dtype)
        for region in geo.tap_regions:
            dpadded[region] += share
        return (dpadded[geo.interior()] if geo.needs_padding else dpadded), {}


def _divisor(geo: Geometry) -> np.ndarray:
    """Per output position (*output, 1): the window's size clipped to end at the right padding."""
    counts = []
    for n, o, k, s, (before, after) in zip(geo.input, geo.output, geo.kernel, geo.stride, geo.pads):
        starts = np.arange(o) * s - before
        counts.append(np.minimum(starts + k, n + after) - starts)
    divisor = counts[0]
    for count in counts[1:]:
        divisor = np.multiply.outer(divisor, count)
    divisor = np.asarray(divisor, dtype=np.float64)
    if np.all(divisor == prod(geo.kernel)):
        return np.asarray(float(prod(geo.kernel)))
    return divisor[..., np.newaxis]


class GlobalAvgPool(Kernel):
    """(N, *spatial, C) -> (N, 1, ..., 1, C)."""

    def __init__(self, node: ir.GlobalAvgPool, layer: LayerReport) -> None:
        self.name = node.name
        self.axes = tuple(range(1, 1 + layer.input.rank))

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        return x.mean(axis=self.axes, keepdims=True), x.shape

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        if not need_dx:
            return None, {}
        count = prod(cache[1:-1])
        return np.broadcast_to(dout / dout.dtype.type(count), cache), {}
