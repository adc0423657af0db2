"""Convolution and max pooling when no backward pass follows (predict, evaluate). Convolution: the batch in
chunks small enough for their im2col columns to stay in the cache, through scratch arrays and window views
kept from call to call. Max pooling: one spatial axis at a time (rows of whole rows first)."""

from __future__ import annotations

from collections.abc import Callable
from math import prod

import numpy as np

from cnnc.backends.numpy.windows import Geometry, window_view

# Columns of at most this many bytes per chunk (or one example's), so that they are read again while still in
# the cache. On the CIFAR net's second convolution (32x32x32, 3x3, batch 256, one thread) the matmul ran at
# 0.45 ms an example on the whole batch's 302 MB of columns and 0.19 ms in chunks of one to eight examples; on
# LeNet-5 at batch 256 (process time, one thread) the two convolutions took 6.1 + 3.8 ms in chunks of 2 MB,
# 4.1-4.8 + 3.1-3.5 ms in chunks of 512 KB and 6.8 + 3.9 ms in chunks of 64 KB.
CHUNK_BYTES = 2 ** 19

Epilogue = Callable[[np.ndarray], None]


class Scratch:
    """One convolution's buffers for a chunk of ``count`` examples: its padded input (the padding written
    once), a window view of it, and its columns."""

    def __init__(self, geo: Geometry, count: int, channels: int, dtype: np.dtype) -> None:
        self.padded = np.zeros((count, *geo.padded, channels), dtype=dtype)
        self.interior = self.padded[geo.interior()]
        rows = count * prod(geo.output)
        if channels == 1:  # tap by tap: long contiguous runs (as the NumPy backend's im2col)
            self.taps = np.empty((geo.taps, count, *geo.output), dtype=dtype)
            self.sources = [self.padded[region][..., 0] for region in geo.tap_regions]
            self.cols = self.taps.reshape(geo.taps, rows).T
        else:
            self.windows = window_view(self.padded, geo)
            self.copied = np.empty(self.windows.shape, dtype=dtype)
            self.cols = self.copied.reshape(rows, -1)

    def columns(self, x: np.ndarray) -> np.ndarray:
        """The im2col columns of the chunk ``x`` (count, *input, C): (count * prod(output), taps * C)."""
        self.interior[...] = x
        if hasattr(self, "taps"):
            for index, source in enumerate(self.sources):
                self.taps[index] = source
        else:
            np.copyto(self.copied, self.windows)
        return self.cols


class ChunkedConvolution:
    """An ungrouped convolution's output, computed chunk by chunk; ``epilogue`` runs on each chunk's
    output rows (count * prod(output), F) while they are in the cache (adding the bias, a ReLU)."""

    def __init__(self, geo: Geometry, channels: int, filters: int) -> None:
        self.geo, self.channels, self.filters = geo, channels, filters
        self.scratch: dict[tuple[int, str], Scratch] = {}

    def __call__(self, x: np.ndarray, weight: np.ndarray, epilogue: Epilogue | None) -> np.ndarray:
        geo, batch = self.geo, x.shape[0]
        positions = prod(geo.output)
        per_example = positions * geo.taps * self.channels * x.dtype.itemsize
        chunk = max(1, min(batch, CHUNK_BYTES // per_example))
        out = np.empty((batch, *geo.output, self.filters), dtype=x.dtype)
        rows = out.reshape(batch * positions, self.filters)
        matrix = weight.reshape(-1, self.filters)
        for start in range(0, batch, chunk):
            stop = min(batch, start + chunk)
            scratch = self._scratch(stop - start, x.dtype)
            target = rows[start * positions:stop * positions]
            np.matmul(scratch.columns(x[start:stop]), matrix, out=target)
            if epilogue is not None:
                epilogue(target)
        return out

    def _scratch(self, count: int, dtype: np.dtype) -> Scratch:
        key = (count, dtype.str)
        found = self.scratch.get(key)
        if found is None:
            if len(self.scratch) >= 4:  # a chunk, a last chunk, and a batch of another size: no more
                self.scratch.clear()
            found = self.scratch[key] = Scratch(self.geo, count, self.channels, dtype)
        return found


def chunked(kernel) -> ChunkedConvolution:
    """The ``ChunkedConvolution`` of a ``Convolution`` kernel (made the first time, then kept on it)."""
    found = kernel.__dict__.get("chunked")
    if found is None:
        found = kernel.__dict__["chunked"] = ChunkedConvolution(kernel.geo, kernel.channels, kernel.filters)
    return found


def max_pool(kernel, x: np.ndarray) -> np.ndarray:
    """A max pooling kernel's output (N, *output, C): the maximum over each window's extent in the first
    spatial axis, then the next: a 2x2 window takes 2 + 2 ``np.maximum`` where taking tap by tap takes 3 (at
    batch 256 on LeNet-5's 28x28x6, 1.2 against 4.2 ms), and the first, over whole rows, runs on long
    contiguous runs. Padding (-inf) goes into a buffer kept on the kernel, written once."""
    geo = kernel.geo
    values = x
    if geo.needs_padding:
        shape = (x.shape[0], *geo.padded, x.shape[-1])
        values = kernel.__dict__.get("padded_for_inference")
        if values is None or values.shape != shape or values.dtype != x.dtype:
            values = kernel.__dict__["padded_for_inference"] = np.full(shape, -np.inf, dtype=x.dtype)
        values[geo.interior()] = x
    for axis, (size, stride, count) in enumerate(zip(geo.kernel, geo.stride, geo.output), start=1):
        lead = (slice(None),) * axis
        taps = [values[(*lead, slice(tap, tap + stride * (count - 1) + 1, stride))] for tap in range(size)]
        reduced = np.maximum(taps[0], taps[1]) if size > 1 else taps[0].copy()
        for tap in taps[2:]:
            np.maximum(reduced, tap, out=reduced)
        values = reduced
    return values
