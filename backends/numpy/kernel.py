"""The contract every lowered layer keeps: parameters, and a forward/backward pair."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from cnnc import ir


class UnsupportedLayer(Exception):
    """The backend has no kernel for a layer of the IR."""

    def __init__(self, node: ir.Node, backend: str) -> None:
        self.node = node
        line = f" (line {node.span.line})" if node.span else ""
        super().__init__(f"the {backend} backend has no kernel for `{node.kind}` layer `{node.name}`{line}")


@dataclass
class Pass:
    """One forward pass: training or evaluation, where dropout draws its masks, the buffers
    (running statistics) that batchnorm reads and, in training, updates in place, and whether a
    backward pass will follow (if not, kernels keep nothing for it). ``shard`` (start, stop, batch):
    the pass runs examples start..stop of a batch of ``batch`` (``cnnc.shards``); random masks are then
    drawn for the whole batch and sliced, so that they do not depend on how the batch is split. ``threaded``:
    other shards of the batch run meanwhile on threads of this process (not in processes of their own,
    ``cnnc.shard_processes``), taking the GIL in turn."""

    training: bool
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    buffers: dict[str, np.ndarray] = field(default_factory=dict)
    for_backward: bool = True
    shard: tuple[int, int, int] | None = None
    threaded: bool = False


Params = dict[str, np.ndarray]


class Kernel:
    """A lowered layer. ``forward(x, params, run) -> (out, cache)`` and
    ``backward(dout, cache, params, need_dx) -> (dx, grads)``; arrays are (N, *spatial, C).
    Parameter and buffer names are ``<layer>.<what>`` (``conv1.weight``)."""

    name: str = ""

    def init(self, rng: np.random.Generator) -> Params:
        """Fresh parameters, drawn in float64 (cast by the caller)."""
        return {}

    def init_buffers(self) -> Params:
        """Fresh buffers: state that is not trained by gradients (batchnorm's running statistics)."""
        return {}

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        raise NotImplementedError

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        raise NotImplementedError

    def infer(self, x: np.ndarray, params: Params, run: Pass) -> np.ndarray:
        """The output alone, for a pass that no backward pass follows (``run.for_backward`` false):
        ``forward``'s unless a kernel has a faster way that keeps nothing (predict, evaluate)."""
        return self.forward(x, params, run)[0]


@lru_cache(maxsize=64)
def _ones(count: int, dtype: str) -> np.ndarray:
    ones = np.ones(count, dtype=dtype)
    ones.setflags(write=False)
    return ones


def column_sums(matrix: np.ndarray) -> np.ndarray:
    """The sum of each column of a 2-D array, as one BLAS matrix-vector product (several times
    faster than ``sum(axis=0)`` on tall arrays)."""
    return _ones(matrix.shape[0], matrix.dtype.str) @ matrix
