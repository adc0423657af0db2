"""cnnc: a compiler for convolutional networks written as text."""

from __future__ import annotations

__version__ = "0.1.0"  # pyproject.toml's version (tests/test_startup.py keeps the two equal)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:
    from pathlib import Path

    from cnnc.api import Network, load, loads
    from cnnc.diagnostics import Diagnostic, Severity, SpecError
    from cnnc.model import Model

# Loaded on first use (PEP 562), so that `import cnnc` (and so `cnnc --version`) loads neither the
# parser nor the analysis: `cnnc.Network`, `from cnnc import load` and the rest work as before.
_LAZY = {"Network": "cnnc.api", "load": "cnnc.api", "loads": "cnnc.api", "Diagnostic": "cnnc.diagnostics",
         "Severity": "cnnc.diagnostics", "SpecError": "cnnc.diagnostics", "optim": None}


def load_model(path: str | Path) -> Model:
    """A saved model (``Model.save``), rebuilt from the spec embedded in the file. Raises
    ``cnnc.checkpoint.ModelFileError`` (a ValueError) for a file that is not a cnnc model or whose
    arrays do not fit its spec, OSError if it cannot be read, ``SpecError`` if the embedded spec has
    errors, and TypeError for a ``path`` that is not a str or os.PathLike."""
    from cnnc.arguments import path_argument
    from cnnc.checkpoint import load_model as load_checkpoint

    return load_checkpoint(path_argument(path))


def __getattr__(name: str) -> object:
    """The public names above on first use; ``cnnc.optim`` (NumPy) too."""
    if name not in _LAZY:
        raise AttributeError(f"module 'cnnc' has no attribute {name!r}")
    from importlib import import_module  # here: importlib/__init__ imports warnings, which `cnnc check` needs not

    module = _LAZY[name]
    value = import_module(f"cnnc.{name}") if module is None else getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = ["Diagnostic", "Network", "Severity", "SpecError", "__version__", "load", "load_model", "loads", "optim"]
