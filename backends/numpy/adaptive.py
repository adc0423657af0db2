"""Adaptive average and max pooling (PyTorch's windows), and global max pooling."""

from __future__ import annotations

from itertools import product

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.kernel import Kernel, Params, Pass
from cnnc.report import LayerReport


def adaptive_bounds(size: int, output: int) -> list[tuple[int, int]]:
    """PyTorch's windows from ``size`` positions to ``output``: [floor(i n/o), ceil((i+1) n/o))."""
    return [(i * size // output, -(-(i + 1) * size // output)) for i in range(output)]


class AdaptiveAvgPool(Kernel):
    """(N, *spatial, C) -> (N, *output, C): each output averages its window. A box average is an
    average along each dimension in turn, so the pool is one small averaging matrix per dimension."""

    def __init__(self, node: ir.AdaptivePool, layer: LayerReport) -> None:
        self.name = node.name
        self.matrices = []
        for size, output in zip(layer.input.spatial, layer.output.spatial):
            matrix = np.zeros((output, size))
            for row, (start, end) in enumerate(adaptive_bounds(size, output)):
                matrix[row, start:end] = 1 / (end - start)
            self.matrices.append(matrix)

    @staticmethod
    def _apply(x: np.ndarray, matrices) -> np.ndarray:
        for axis, matrix in enumerate(matrices, start=1):
            x = np.moveaxis(np.tensordot(matrix.astype(x.dtype, copy=False), x, axes=([1], [axis])), 0, axis)
        return x

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        return np.ascontiguousarray(self._apply(x, self.matrices)), None

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        if not need_dx:
            return None, {}
        return np.ascontiguousarray(self._apply(dout, [m.T for m in self.matrices])), {}


class AdaptiveMaxPool(Kernel):
    """(N, *spatial, C) -> (N, *output, C): each output is its window's maximum; `globalmaxpool` is
    the one window over every position. Among equal values the first in row-major order within
    the window takes the gradient, as PyTorch's adaptive max pool."""

    def __init__(self, node: ir.AdaptivePool | ir.GlobalMaxPool, layer: LayerReport) -> None:
        self.name = node.name
        bounds = [adaptive_bounds(n, o) for n, o in zip(layer.input.spatial, layer.output.spatial)]
        self.windows = [(index, tuple(slice(start, end) for start, end in spans))
                        for index, spans in zip(product(*(range(o) for o in layer.output.spatial)),
                                                product(*bounds))]
        self.output = layer.output.spatial

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        out = np.empty((x.shape[0], *self.output, x.shape[-1]), dtype=x.dtype)
        winners = []
        for index, window in self.windows:
            values = x[(slice(None), *window)].reshape(x.shape[0], -1, x.shape[-1])
            winner = values.argmax(axis=1)[:, np.newaxis]  # the first maximum, as torch
            out[(slice(None), *index)] = np.take_along_axis(values, winner, axis=1)[:, 0]
            winners.append(winner)
        return out, (x.shape, winners)

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        if not need_dx:
            return None, {}
        shape, winners = cache
        dx = np.zeros(shape, dtype=dout.dtype)
        for (index, window), winner in zip(self.windows, winners):
            region = dx[(slice(None), *window)]
            flat = np.zeros((shape[0], region[0, ..., 0].size, shape[-1]), dtype=dout.dtype)
            np.put_along_axis(flat, winner, dout[(slice(None), *index)][:, np.newaxis], axis=1)
            region += flat.reshape(region.shape)
        return dx, {}
