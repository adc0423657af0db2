"""cnnc: a compiler for convolutional networks written as text."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from cnnc.api import Network, load, loads
from cnnc.diagnostics import Diagnostic, Severity, SpecError

if TYPE_CHECKING:
    from cnnc.model import Model


def load_model(path: str | Path) -> Model:
    """A saved model (``Model.save``), rebuilt from the spec embedded in the file. Raises
    ``cnnc.checkpoint.ModelFileError`` (a ValueError) for a file that is not a cnnc model or whose
    arrays do not fit its spec, OSError if it cannot be read, ``SpecError`` if the embedded spec has
    errors, and TypeError for a ``path`` that is not a str or os.PathLike."""
    from cnnc.arguments import path_argument
    from cnnc.checkpoint import load_model as load_checkpoint

    return load_checkpoint(path_argument(path))


def __getattr__(name: str) -> object:
    """``cnnc.optim`` on first use, so that ``import cnnc`` (and the CLI) does not load NumPy."""
    if name == "optim":
        return import_module("cnnc.optim")
    raise AttributeError(f"module 'cnnc' has no attribute {name!r}")


__all__ = ["Diagnostic", "Network", "Severity", "SpecError", "load", "load_model", "loads", "optim"]
