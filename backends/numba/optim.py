"""The optimizer's update compiled: SGD (momentum, Nesterov, weight decay) in one pass over each parameter's
values, where ``cnnc.optim.SGD.update`` makes four to six NumPy passes. The same operations in the same order,
each rounded to the parameter's dtype (the scalars are given in it, as NumPy takes a Python float beside a
float32 array), so both backends take the same steps, bit for bit."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _sgd(param, grad, velocity, momentum, weight_decay, rate, nesterov):  # pragma: no cover - compiled
    """In place on ``param`` and ``velocity`` (1-D, ``grad``'s length): ``SGD.update``'s arithmetic."""
    for i in range(param.size):
        g = grad[i]
        if weight_decay != 0:
            g = g + weight_decay * param[i]
        if momentum != 0:
            v = velocity[i] * momentum
            v = v + g
            velocity[i] = v
            g = g + momentum * v if nesterov else v
        param[i] = param[i] - rate * g


class CompiledUpdates:
    """What ``cnnc.optim`` asks a backend for (``Program.compiled_updates``): updates of contiguous arrays."""

    @staticmethod
    def sgd(param: np.ndarray, grad: np.ndarray, velocity: np.ndarray | None, momentum: float,
            weight_decay: float, rate: float, nesterov: bool) -> bool:
        """SGD's update of ``param`` (and ``velocity``, None without momentum) in place; False, doing nothing,
        where the arrays are not C-contiguous arrays of one floating dtype (the caller then updates them)."""
        dtype = param.dtype
        arrays = (param, grad) if velocity is None else (param, grad, velocity)
        if dtype.kind != "f" or any(a.dtype != dtype or not a.flags.c_contiguous for a in arrays):
            return False
        scalar = dtype.type
        _sgd(param.reshape(-1), grad.reshape(-1), param.reshape(-1)[:0] if velocity is None else velocity.reshape(-1),
             scalar(momentum), scalar(weight_decay), scalar(rate), nesterov)
        return True
