"""The Numba backend: the NumPy backend's program, with compiled kernels where the profile says NumPy is slow."""

from __future__ import annotations

from cnnc import ir
from cnnc.backends import numpy as numpy_backend
from cnnc.report import Report

INSTALL = "pip install 'cnnc[numba]'"


class NumbaMissing(ImportError):
    """The Numba backend was asked for and numba is not installed."""

    def __init__(self) -> None:
        super().__init__(f"the numba backend needs numba, which is not installed: {INSTALL}")


def require_numba() -> None:
    """Raise NumbaMissing (naming the extra to install) unless numba can be imported."""
    try:
        import numba  # noqa: F401
    except ImportError:
        raise NumbaMissing() from None


class Program(numpy_backend.Program):
    """The same kernels, parameters, buffers and checkpoints as the NumPy backend's ``Program``; max
    pooling and every conv/fc followed by a ReLU run as compiled kernels (``cnnc.backends.numba.layers``),
    every other layer as NumPy's."""

    def __init__(self, network: ir.Network, report: Report) -> None:
        require_numba()
        super().__init__(network, report)
        from cnnc.backends.numba.optim import CompiledUpdates

        self.compiled_updates = CompiledUpdates()

    @staticmethod
    def lower(network: ir.Network, report: Report) -> numpy_backend.Sequence:
        from cnnc.backends.numba.program import lower

        return lower(network, report)


__all__ = ["INSTALL", "NumbaMissing", "Program", "require_numba"]
