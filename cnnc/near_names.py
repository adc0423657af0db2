""""Did you mean" for a file that does not exist: the name in its folder that is closest to the one typed."""

from __future__ import annotations

import difflib
import os

CUTOFF = 0.75
"""The least similarity (``difflib``'s ratio) of a name taken for the one meant: among the examples,
`lenet.cnn` and `lenett5.cnn` find `lenet5.cnn` (0.95), `vgg.cnn` finds `vgg16.cnn` (0.88), `cifar10.cnn`
finds nothing (`c3d.cnn`: 0.56)."""


EXTENSION_CUTOFF = 0.7
"""The least similarity of a name's extension to the one asked: a misspelt one (`.nzp` for `.npz`: 0.75) is
near, another kind of file is not (`.npz` or `.png` for `.cnn`: 0.5, `.onnx` for `.cnn`: 0.67)."""


def near_name(path: str) -> str | None:
    """The existing file beside ``path`` with a near extension whose name is closest to its name, spelled with
    ``path``'s folder; None when ``path`` exists, its folder cannot be listed, or no name is close enough."""
    folder, name = os.path.split(path)
    if not name or os.path.lexists(path):
        return None
    extension = os.path.splitext(name)[1]
    try:
        names = [entry.name for entry in os.scandir(folder or ".")
                 if entry.is_file() and _near_extension(os.path.splitext(entry.name)[1], extension)]
    except OSError:
        return None
    close = difflib.get_close_matches(name, names, n=1, cutoff=CUTOFF)
    return os.path.join(folder, close[0]) if close else None


def _near_extension(found: str, asked: str) -> bool:
    return found == asked or difflib.SequenceMatcher(None, found, asked).ratio() >= EXTENSION_CUTOFF


def did_you_mean(path: str) -> str | None:
    """``did you mean X?`` for a help line, or None (``near_name``)."""
    found = near_name(path)
    return f"did you mean {found}?" if found else None
