"""Sliding-window geometry shared by convolution and pooling: padding and strided window views."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import product
from math import prod

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnc import ir
from cnnc.report import LayerReport
from cnnc.shapes import effective_kernel, per_dimension


@dataclass(frozen=True)
class Geometry:
    """One conv or pool layer's windows, per spatial dimension. ``pads`` are the resolved (before,
    after) padding; ``extra`` is what a ceil-mode last window reaches past the right padding."""

    input: tuple[int, ...]
    output: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    extra: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.input)

    @property
    def taps(self) -> int:
        return prod(self.kernel)

    @property
    def padded(self) -> tuple[int, ...]:
        return tuple(n + before + after + extra
                     for n, (before, after), extra in zip(self.input, self.pads, self.extra))

    @property
    def needs_padding(self) -> bool:
        return any(before or after for before, after in self.pads) or any(self.extra)

    def tap_positions(self):
        """Every kernel tap as a tuple of per-dimension indices, in row-major order."""
        return product(*(range(k) for k in self.kernel))

    def tap_slices(self, tap: tuple[int, ...]) -> tuple[slice, ...]:
        """The region of the padded input that one tap reads across all output positions (an
        index over the batch and spatial axes: trailing channel axes are kept whole)."""
        return (slice(None),
                *(slice(t * d, t * d + s * (o - 1) + 1, s)
                  for t, d, s, o in zip(tap, self.dilation, self.stride, self.output)))

    @cached_property
    def tap_regions(self) -> tuple[tuple[slice, ...], ...]:
        """``tap_slices`` of every tap, in ``tap_positions`` order (computed once)."""
        return tuple(self.tap_slices(tap) for tap in self.tap_positions())

    def interior(self) -> tuple[slice, ...]:
        """The region of the padded input that holds the input itself (batch and spatial axes)."""
        return (slice(None), *(slice(before, before + n) for n, (before, _) in zip(self.input, self.pads)))


def geometry(node: ir.Conv | ir.Pool, layer: LayerReport) -> Geometry:
    """The windows of ``node`` as the analysis resolved them (shapes, `same` padding, ceil mode)."""
    sizes = layer.input.spatial
    rank = len(sizes)
    stride = node.strides if isinstance(node, ir.Pool) else node.stride
    dilation = node.dilation if isinstance(node, ir.Conv) else (1,)
    kernel, stride, dilation = (per_dimension(v, rank) for v in (node.kernel, stride, dilation))
    output = layer.output.spatial
    pads = layer.padding
    extra = tuple(max(0, (o - 1) * s + effective_kernel(k, d) - (n + before + after))
                  for n, o, k, s, d, (before, after) in zip(sizes, output, kernel, stride, dilation, pads))
    return Geometry(sizes, output, kernel, stride, dilation, pads, extra)


class Workspace:
    """Scratch arrays a kernel reuses from one training step to the next, so that large buffers do
    not come back as fresh pages to fault in (and borders of padding need not be refilled)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def get(self, key: str, shape: tuple[int, ...], dtype: np.dtype, fill: float | None = None) -> np.ndarray:
        """An array of this shape and dtype, kept under ``key``; new ones are filled with ``fill``."""
        found = self.arrays.get(key)
        if found is None or found.shape != shape or found.dtype != dtype:
            found = np.empty(shape, dtype=dtype) if fill is None else np.full(shape, fill, dtype=dtype)
            self.arrays[key] = found
        return found


def pad(x: np.ndarray, geo: Geometry, value: float, workspace: Workspace | None = None,
        key: str = "padded") -> np.ndarray:
    """``x`` (N, *input, C) padded to (N, *padded, C) with ``value``; ``x`` itself if no padding.
    With a workspace, the padded array kept under ``key`` is reused: only its interior is written
    (so one key must always be used with the same geometry and value)."""
    if not geo.needs_padding:
        return x
    shape = (x.shape[0], *geo.padded, x.shape[-1])
    if workspace is None:
        padded = np.full(shape, value, dtype=x.dtype)
    else:
        padded = workspace.get(key, shape, x.dtype, fill=value)
    padded[geo.interior()] = x
    return padded


def window_view(padded: np.ndarray, geo: Geometry) -> np.ndarray:
    """A read-only view (N, *output, *kernel, C) of every window of a padded input: no copy."""
    batch_stride, *spatial_strides, channel_stride = padded.strides
    shape = (padded.shape[0], *geo.output, *geo.kernel, padded.shape[-1])
    strides = (batch_stride,
               *(st * s for st, s in zip(spatial_strides, geo.stride)),
               *(st * d for st, d in zip(spatial_strides, geo.dilation)),
               channel_stride)
    return as_strided(padded, shape, strides, writeable=False)


def tap_view(padded: np.ndarray, geo: Geometry, tap: tuple[int, ...]) -> np.ndarray:
    """The (N, *output, C) values one kernel tap sees: a strided view."""
    return padded[geo.tap_slices(tap)]
