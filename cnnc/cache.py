"""cnnc's folder in the user's cache: downloaded data sets and the parser's tables."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from pathlib import Path


def _home() -> str:
    home = os.path.expanduser("~")
    if home == "~":
        raise RuntimeError("Could not determine home directory.")
    return home


def user_cache_path() -> str:
    """``$CNNC_CACHE_DIR`` if set, else the platform's place: ``$XDG_CACHE_HOME/cnnc`` or
    ``~/.cache/cnnc``; ``~/Library/Caches/cnnc`` on macOS; ``%LOCALAPPDATA%\\cnnc\\Cache`` on Windows.
    Raises RuntimeError when there is no home folder to put it in. A string: pathlib stays unloaded
    on `cnnc check`'s path (its imports are a good part of the start-up of an installed cnnc)."""
    if os.environ.get("CNNC_CACHE_DIR"):
        return os.path.expanduser(os.environ["CNNC_CACHE_DIR"])
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return os.path.join(os.environ["LOCALAPPDATA"], "cnnc", "Cache")
    if sys.platform == "darwin":
        return os.path.join(_home(), "Library", "Caches", "cnnc")
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(_home(), ".cache"), "cnnc")


def user_cache_folder() -> Path:
    """``user_cache_path()`` as a Path."""
    from pathlib import Path

    return Path(user_cache_path())
