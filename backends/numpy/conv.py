"""Convolution (cross-correlation) as im2col: a strided window view, one copy, one BLAS matmul, a chunk of
images at a time."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from math import prod

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.inference import chunked
from cnnc.backends.numpy.init import weights
from cnnc.backends.numpy.kernel import Kernel, Params, Pass, column_sums
from cnnc.backends.numpy.windows import Geometry, Workspace, geometry, window_view
from cnnc.backends.numpy.winograd import Winograd, chosen
from cnnc.report import LayerReport


class Convolution(Kernel):
    """Weight (*kernel, C/groups, F); input (N, *spatial, C) -> output (N, *output, F).
    ``round=ceil`` is extra zero padding on the right. A 3x3 stride-1 convolution where Winograd's F(2x2, 3x3)
    is faster runs through ``winograd`` (``backends/numpy/winograd.py``), any other through im2col."""

    winograd_class = Winograd

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
        self.columns_of: weakref.ref | None = None  # the input whose columns fill the workspace, all in one chunk
        self.winograd: Winograd | None = None  # training's path (and predicting's where it pays)
        if chosen(self.geo, self.groups, self.channels, self.filters):
            self.winograd = self.winograd_class(self.geo, self.channels, self.filters, self.workspace)
        self.predicting_winograd = self.winograd  # or one for predicting alone, on images too large for training's
        if self.winograd is None and chosen(self.geo, self.groups, self.channels, self.filters,
                                            self.winograd_class.inference_image_values):
            self.predicting_winograd = self.winograd_class(self.geo, self.channels, self.filters, self.workspace)

    def init(self, rng: np.random.Generator) -> Params:
        group_channels = self.channels // self.groups
        taps = self.geo.taps
        shape = (*self.geo.kernel, group_channels, self.filters)
        params = {self.weight_key: weights(rng, shape, taps * group_channels, taps * self.filters // self.groups,
                                           self.relu_slope)}
        if self.has_bias:
            params[self.bias_key] = np.zeros(self.filters)
        return params

    def forward(self, x: np.ndarray, params: Params, run: Pass,
                epilogue: Callable[[np.ndarray], None] | None = None) -> tuple[np.ndarray, object]:
        """A few images at a time (``chunks``): each chunk's columns are built in a reused buffer and
        multiplied at once, while they are in cache. The backward pass rebuilds them from the input,
        the only thing kept (when one chunk held the whole batch, it finds them still in the buffer).
        ``epilogue`` runs in place on each chunk's output rows (n * positions, F) after the bias (a ReLU
        fused with this layer: ``backends/numpy/fused.py``)."""
        geo = self.geo
        weight = params[self.weight_key]
        epilogue = _after_bias(params[self.bias_key] if self.has_bias else None, epilogue)
        winograd = self._winograd_for(run)
        if winograd is not None:
            return winograd.forward(x, weight, epilogue), ((x, winograd) if run.for_backward else None)
        positions = prod(geo.output)
        out = np.empty((x.shape[0] * positions, self.filters), dtype=np.result_type(x, weight))
        parts = chunks(x.shape[0], positions * geo.taps * self.channels)
        self.columns_of = None
        for start, stop in parts:
            cols = self.columns(x if len(parts) == 1 else x[start:stop])
            rows = out[start * positions:stop * positions]
            if self.groups == 1:
                np.matmul(cols, weight.reshape(-1, self.filters), out=rows)
            else:
                product = np.matmul(cols, _grouped(weight, self.groups))  # (G, rows, F/G)
                rows[...] = product.transpose(1, 0, 2).reshape(-1, self.filters)
            if epilogue is not None:
                epilogue(rows)
        if len(parts) == 1:  # the backward pass finds them in the buffer, unless this layer runs again first
            self.columns_of = weakref.ref(x)
        return out.reshape(x.shape[0], *geo.output, self.filters), ((x, None) if run.for_backward else None)

    def _winograd_for(self, run: Pass) -> Winograd | None:
        """The Winograd path where it is chosen, except in a pass over one shard of a batch split between
        threads when the path's transforms do not run in parallel (``Winograd.parallel``): im2col then."""
        if self.winograd is None or (run.threaded and not self.winograd.parallel):
            return None
        return self.winograd

    def columns(self, x: np.ndarray) -> np.ndarray:
        """im2col of a chunk of images, in this layer's reused buffers (valid until the next call)."""
        capacity = chunk_images(prod(self.geo.output) * self.geo.taps * self.channels)
        if self.columns_of is not None and self.columns_of() is x:  # a whole batch's, still in the buffer
            return _im2col(x, self.geo, self.groups, self.workspace, "cols", capacity, copy=False)
        return _im2col(_pad(x, self.geo, self.workspace, "padded", capacity), self.geo, self.groups,
                       self.workspace, "cols", capacity)

    def infer(self, x: np.ndarray, params: Params, run: Pass) -> np.ndarray:
        """Ungrouped: the batch in chunks that stay in the cache (``backends/numpy/inference.py``)."""
        if self.groups != 1:
            return self.forward(x, params, run)[0]
        bias = params[self.bias_key] if self.has_bias else None
        add_bias = None if bias is None else lambda rows: np.add(rows, bias, out=rows)
        return self.chunked_product(x, params[self.weight_key], add_bias)

    def chunked_product(self, x: np.ndarray, weight: np.ndarray, epilogue) -> np.ndarray:
        """An ungrouped convolution's output without bias, ``epilogue`` run on each chunk's rows while they
        are in the cache: by Winograd where predicting chooses it (``predicting_winograd``) and it pays for this
        batch (``Winograd.pays_at_inference``), else by im2col (``backends/numpy/inference.py``)."""
        winograd = self.predicting_winograd
        if winograd is not None and winograd.pays_at_inference(x.shape[0]):
            return winograd.forward(x, weight, epilogue)
        return chunked(self)(x, weight, epilogue)

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        x, winograd = cache  # the path the forward pass took
        groups = self.groups
        weight = params[self.weight_key]
        dout2 = dout.reshape(-1, self.filters)
        grads: Params = {}
        if self.has_bias:
            grads[self.bias_key] = column_sums(dout2)
        if winograd is not None and winograd.takes_backward:
            grads[self.weight_key], dx = winograd.backward(dout, x, weight, need_dx)
            return dx, grads
        positions = prod(self.geo.output)
        dweight = None
        parts = chunks(x.shape[0], positions * self.geo.taps * self.channels)
        for start, stop in parts:
            cols = self.columns(x if len(parts) == 1 else x[start:stop])
            rows = dout2[start * positions:stop * positions]
            if groups == 1:
                share = cols.T @ rows
            else:
                dout3 = rows.reshape(len(rows), groups, -1).transpose(1, 0, 2)  # (G, rows, F/G)
                share = np.matmul(cols.transpose(0, 2, 1), dout3)  # (G, taps * C/G, F/G)
            if dweight is None:
                dweight = share
            else:
                dweight += share
        if groups == 1:
            grads[self.weight_key] = dweight.reshape(weight.shape)
        else:
            grads[self.weight_key] = dweight.transpose(1, 0, 2).reshape(weight.shape)
        if not need_dx:
            return None, grads
        return self.input_gradient(dout, weight, x.shape), grads

    def input_gradient(self, dout: np.ndarray, weight: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
        """The input's gradient (N, *input, C) from the output's (N, *output, F), a chunk of images at
        a time: also the forward pass of the transposed convolution with this weight
        (backends/numpy/resample.py)."""
        by_convolution = self.transposed is not None and self.filters <= self.channels
        per_image = self.geo.taps * (prod(self.geo.input) * self.filters if by_convolution
                                     else prod(self.geo.output) * self.channels)
        dx = np.empty(input_shape, dtype=np.result_type(dout, weight))
        for start, stop in chunks(input_shape[0], per_image):
            shape = (stop - start, *input_shape[1:])
            if by_convolution:
                dx[start:stop] = self._input_gradient_by_convolution(dout[start:stop], weight, shape)
            else:
                dx[start:stop] = self._input_gradient_by_col2im(dout[start:stop].reshape(-1, self.filters),
                                                                weight, shape)
        return dx

    def _input_gradient_by_convolution(self, dout: np.ndarray, weight: np.ndarray,
                                       input_shape: tuple[int, ...]) -> np.ndarray:
        """At stride 1 the input's gradient is the output's gradient, padded, convolved with the
        kernel flipped in space and transposed in channels: im2col and one matmul again. It copies
        taps x F values per input position where col2im computes taps x C per output position, so
        it is used when F <= C (measured: 2x faster than col2im for 32 -> 32 channels on 32x32)."""
        geo, groups = self.transposed, self.groups
        capacity = chunk_images(geo.taps * prod(self.geo.input) * self.filters)
        padded = _pad(dout, geo, self.workspace, "padded_dout", capacity)
        cols = _im2col(padded, geo, groups, self.workspace, "dcols", capacity)
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


def _after_bias(bias: np.ndarray | None,
                epilogue: Callable[[np.ndarray], None] | None) -> Callable[[np.ndarray], None] | None:
    """What runs on each chunk's output rows: the bias added, then ``epilogue``; None if neither."""
    if bias is None:
        return epilogue

    def add_bias(rows: np.ndarray) -> None:
        rows += bias
        if epilogue is not None:
            epilogue(rows)
    return add_bias


def _grouped(weight: np.ndarray, groups: int) -> np.ndarray:
    """(*kernel, C/G, F) -> (G, taps * C/G, F/G): filter f belongs to group f // (F/G)."""
    return weight.reshape(-1, groups, weight.shape[-1] // groups).transpose(1, 0, 2)


CHUNK_VALUES = 1 << 21
"""im2col values built at a time (8 MB in float32): on the CIFAR net's 32x32x32 3x3 convolution at batch
64, im2col and the matmul take 17 ms by chunks of 8 images against 37-59 ms for the whole batch at once
(the columns stay in cache and their buffer is not faulted in again), with the same products."""


def chunk_images(per_image: int) -> int:
    """How many images make a chunk of at most ``CHUNK_VALUES`` (at least one)."""
    return max(1, CHUNK_VALUES // max(per_image, 1))


def chunks(batch: int, per_image: int) -> list[tuple[int, int]]:
    """(start, stop) of each chunk of a batch of ``batch`` images, ``per_image`` values each."""
    step = chunk_images(per_image)
    return [(start, min(batch, start + step)) for start in range(0, batch, step)]


def _scratch(workspace: Workspace, key: str, shape: tuple[int, ...], dtype: np.dtype, capacity: int,
             fill: float | None = None) -> np.ndarray:
    """An array of ``shape`` on the front of a reused buffer of ``capacity`` times ``shape[0]``'s
    share: a chunk of fewer images takes the first part of the same buffer (so a padded border once
    filled stays filled)."""
    per_image = prod(shape[1:])
    flat = workspace.get(key, (max(capacity, shape[0]) * per_image,), dtype, fill)
    return flat[:shape[0] * per_image].reshape(shape)


def _pad(x: np.ndarray, geo: Geometry, workspace: Workspace, key: str, capacity: int) -> np.ndarray:
    """``x`` (n, *input, C) zero-padded to (n, *padded, C) in a reused buffer; ``x`` if no padding."""
    if not geo.needs_padding:
        return x
    padded = _scratch(workspace, key, (x.shape[0], *geo.padded, x.shape[-1]), x.dtype, capacity, fill=0.0)
    padded[geo.interior()] = x
    return padded


def _im2col(padded: np.ndarray, geo: Geometry, groups: int, workspace: Workspace, key: str,
            capacity: int, copy: bool = True) -> np.ndarray:
    """Every window as a row: (n * prod(output), taps * C), or per group (G, rows, taps * C/G), in
    a reused buffer; ``copy`` false: the buffer as it is (``padded`` gives only the shape, the batch)."""
    batch = padded.shape[0]
    rows = batch * prod(geo.output)
    if padded.shape[-1] == 1:  # one channel: copy tap by tap, long contiguous runs (5x faster)
        cols = _scratch(workspace, key, (batch, geo.taps, *geo.output), padded.dtype, capacity)
        cols = cols.reshape(geo.taps, batch, *geo.output)
        for index, region in enumerate(geo.tap_regions if copy else ()):
            cols[index] = padded[region][..., 0]
        return cols.reshape(geo.taps, rows).T
    if not copy:
        shape = (batch, *geo.output, *geo.kernel, padded.shape[-1])
        cols = _scratch(workspace, key, shape, padded.dtype, capacity)
        return cols.reshape(rows, -1) if groups == 1 else cols.reshape(groups, rows, -1)
    windows = window_view(padded, geo)  # (N, *output, *kernel, C): no copy yet
    if groups != 1:
        split = windows.reshape(*windows.shape[:-1], groups, -1)
        windows = np.moveaxis(split, -2, 0)  # (G, N, *output, *kernel, C/G)
        cols = _scratch(workspace, key, (batch, groups, *windows.shape[2:]), padded.dtype, capacity)
        cols = cols.reshape(windows.shape)
    else:
        cols = _scratch(workspace, key, windows.shape, padded.dtype, capacity)
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
