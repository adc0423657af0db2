"""cnnc's folder in the user's cache: downloaded data sets and the parser's tables."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def user_cache_folder() -> Path:
    """``$CNNC_CACHE_DIR`` if set, else the platform's place: ``$XDG_CACHE_HOME/cnnc`` or
    ``~/.cache/cnnc``; ``~/Library/Caches/cnnc`` on macOS; ``%LOCALAPPDATA%\\cnnc\\Cache`` on Windows.
    Raises RuntimeError when there is no home folder to put it in."""
    if os.environ.get("CNNC_CACHE_DIR"):
        return Path(os.environ["CNNC_CACHE_DIR"]).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "cnnc" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "cnnc"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cnnc"
