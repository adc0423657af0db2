"""Running the CLI in this process, as the command tests do: exit code, stdout and stderr."""

from __future__ import annotations

import io
import os
from pathlib import Path

from rich.console import Console

from cnnc.cli import main


def run(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """``cnnc ARGS`` with 200-column consoles (from ``cwd`` if given): (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        code = main(list(args), out=Console(file=out, width=200), err=Console(file=err, width=200))
    finally:
        os.chdir(previous)
    return code, out.getvalue(), err.getvalue()
