"""Channel views: a slice of the channels, and ShuffleNet's channel shuffle. Arrays are (N, *spatial, C)."""

from __future__ import annotations

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.kernel import Kernel, Params, Pass
from cnnc.report import LayerReport


class Slice(Kernel):
    """(N, *spatial, C) -> (N, *spatial, TO - FROM): channels [FROM, TO)."""

    def __init__(self, node: ir.Slice, layer: LayerReport) -> None:
        self.name = node.name
        self.start, self.stop = node.start, node.stop

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        return x[..., self.start:self.stop], x.shape

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        if not need_dx:
            return None, {}
        dx = np.zeros(cache, dtype=dout.dtype)
        dx[..., self.start:self.stop] = dout
        return dx, {}


class Shuffle(Kernel):
    """(N, *spatial, C) -> (N, *spatial, C): channels seen as (G, C/G), transposed, flattened, so
    output channel ``j * G + g`` is input channel ``g * C/G + j``."""

    def __init__(self, node: ir.Shuffle, layer: LayerReport) -> None:
        self.name = node.name
        self.groups = node.groups

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        split = x.reshape(*x.shape[:-1], self.groups, -1)
        return np.swapaxes(split, -1, -2).reshape(x.shape), None

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        if not need_dx:
            return None, {}
        split = dout.reshape(*dout.shape[:-1], -1, self.groups)
        return np.swapaxes(split, -1, -2).reshape(dout.shape), {}
