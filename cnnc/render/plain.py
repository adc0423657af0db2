"""A console for output that rich would print without colour (a pipe, a file): plain writes, rich loaded only if needed."""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Mapping

from cnnc.render.styled import StyledText

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:
    from typing import IO, Any

    from rich.console import Console

# Characters that rich's print changes or drops (tabs are expanded, these control codes removed).
_CHANGED_BY_RICH = frozenset("\t\a\b\v\f\r")


def prints_plain(file: IO[str] | None, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a rich ``Console`` on ``file`` would print no colour and no terminal controls, by
    rich's own rules (``Console.is_terminal``, rich 13-15): ``TTY_COMPATIBLE=0`` says no terminal,
    ``=1`` a terminal; else a set ``FORCE_COLOR`` forces one unless empty; else the file's
    ``isatty()``. Without a terminal rich chooses no colour system, whatever ``NO_COLOR``, ``TERM``
    (``dumb``) or ``COLORTERM`` say, and ``TTY_INTERACTIVE`` only moves live displays, which cnnc
    check and rules do not use. Where rich would look further (Jupyter, where it renders HTML;
    IDLE), this says False and leaves rich to decide."""
    if file is None or hasattr(builtins, "get_ipython"):
        return False
    stdin_module = getattr(sys.stdin, "__module__", None)
    if isinstance(stdin_module, str) and stdin_module.startswith("idlelib"):
        return False
    compatible = environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "0"
    force_color = environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color == ""
    isatty = getattr(file, "isatty", None)
    try:
        return isatty is None or not isatty()
    except ValueError:  # a closed file: rich says "not a terminal" too
        return True


class PlainConsole:
    """What ``cnnc check`` asks of a rich ``Console`` without colour, done without rich: the file,
    ``is_terminal``, ``color_system``, and ``print`` of a string or styled text that rich would write
    unchanged (one object, ``soft_wrap``, no tabs, control codes or trailing spaces); anything else
    goes to a real ``Console`` made with the same options on first use."""

    is_terminal = False
    color_system = None

    def __init__(self, stderr: bool = False, **options: Any) -> None:
        self._stderr = stderr
        self._options = options

    @property
    def file(self) -> IO[str]:
        return sys.stderr if self._stderr else sys.stdout

    @property
    def no_color(self) -> bool:
        return os.environ.get("NO_COLOR", "") != ""

    def print(self, *objects: Any, end: str = "\n", soft_wrap: bool | None = None, **options: Any) -> None:
        if soft_wrap is None:
            soft_wrap = self._options.get("soft_wrap", False)
        text = _as_is(objects, soft_wrap, options)
        if text is None:
            self.rich.print(*objects, end=end, soft_wrap=soft_wrap, **options)
            return
        self.file.write(text + end)
        self.file.flush()  # as rich does after each print: stdout and stderr stay in order

    @property
    def rich(self) -> Console:
        """The real console, for whatever this one does not do itself."""
        if "_rich" not in self.__dict__:
            from rich.console import Console

            self.__dict__["_rich"] = Console(stderr=self._stderr, **self._options)
        return self.__dict__["_rich"]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.rich, name)


def _as_is(objects: tuple[Any, ...], soft_wrap: bool, options: dict[str, Any]) -> str | None:
    """The text rich would print for ``objects`` when that is the text itself, else None."""
    if len(objects) != 1 or not soft_wrap or any(value for value in options.values()):
        return None  # several objects, wrapping, markup, highlighting, a style, a width...
    (value,) = objects
    if isinstance(value, StyledText):
        text = value.plain
    elif type(value) is str:
        text = value
    else:
        return None
    if _CHANGED_BY_RICH.intersection(text) or any(line != line.rstrip() for line in text.split("\n")):
        return None
    return text
