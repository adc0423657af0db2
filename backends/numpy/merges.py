"""The elementwise merges: `add` (the sum of its branches) and `multiply` (their product, sizes of 1
broadcasting). Every branch runs on the same input."""

from __future__ import annotations

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.kernel import Kernel, Params, Pass
from cnnc.report import LayerReport


def _as_rank(value: np.ndarray, rank: int) -> np.ndarray:
    """A flat (N, C) array as (N, 1, .., 1, C) with ``rank`` spatial dimensions; others unchanged."""
    if value.ndim == 2 and rank:
        return value.reshape(value.shape[0], *(1,) * rank, value.shape[1])
    return value


def _unbroadcast(gradient: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``gradient`` summed over the dimensions that ``shape`` (as broadcast) has of size 1, then laid
    out as ``shape``."""
    target = shape if len(shape) == gradient.ndim else (shape[0], *(1,) * (gradient.ndim - 2), shape[-1])
    axes = tuple(axis for axis, (size, full) in enumerate(zip(target, gradient.shape)) if size == 1 and full != 1)
    if axes:
        gradient = gradient.sum(axis=axes, keepdims=True)
    return gradient.reshape(shape)


class _Merge(Kernel):
    def __init__(self, node: ir.Add | ir.Multiply, layer: LayerReport, branches: list) -> None:
        self.name = node.name
        self.branches = branches
        self.rank = layer.output.rank

    def kernels(self):
        for branch in self.branches:
            yield from branch.kernels()


class AddBlock(_Merge):
    """The sum of the branches' outputs, which all have one shape: (N, *spatial, C) -> the same."""

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        outputs, caches = zip(*(branch.forward(x, params, run) for branch in self.branches))
        total = outputs[0] + outputs[1]
        for out in outputs[2:]:
            total += out
        return total, caches

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        grads: Params = {}
        dx = None
        for branch, branch_cache in zip(self.branches, cache):
            dbranch = branch.backward(dout, branch_cache, params, need_dx, grads)
            if need_dx:
                dx = dbranch if dx is None else dx + dbranch
        return dx, grads


class MultiplyBlock(_Merge):
    """The elementwise product of the branches' outputs, broadcast per dimension (a flat (N, C) output
    as (N, 1, .., 1, C)). The gradient of each branch is ``dout`` times the other outputs, summed over
    the dimensions that branch broadcast along."""

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        outputs, caches = zip(*(branch.forward(x, params, run) for branch in self.branches))
        shaped = [_as_rank(out, self.rank) for out in outputs]
        product = shaped[0] * shaped[1]
        for out in shaped[2:]:
            product = product * out
        return product, ((caches, outputs) if run.for_backward else None)

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        caches, outputs = cache
        shaped = [_as_rank(out, self.rank) for out in outputs]
        grads: Params = {}
        dx = None
        for index, (branch, branch_cache) in enumerate(zip(self.branches, caches)):
            dbranch_out = dout
            for other, out in enumerate(shaped):
                if other != index:
                    dbranch_out = dbranch_out * out
            dbranch_out = _unbroadcast(dbranch_out, outputs[index].shape)
            dbranch = branch.backward(dbranch_out, branch_cache, params, need_dx, grads)
            if need_dx:
                dx = dbranch if dx is None else dx + dbranch
        return dx, grads
