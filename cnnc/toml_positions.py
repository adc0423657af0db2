"""Where each key of a TOML document is written: tomllib gives values but no positions.

``key_positions`` reads a document that tomllib has already accepted and maps every key path
(``("tool", "cnnc", "severity", "W204")``) to the line and column of its last part, wherever it is
written: under a table header (``[tool.cnnc.severity]``), as a dotted key (``severity.W204 = ...``),
in an inline table (``severity = { W204 = ... }``), or in quotes (``"max-params" = ...``). A table
defined only by a header is at its header. Strings, arrays and comments are skipped whole, so a key
written inside a string or a comment is never taken for a real one."""

from __future__ import annotations

import re
from bisect import bisect_right

Path = tuple[str, ...]
Position = tuple[int, int]  # line and column, from 1

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPE = re.compile(r'\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|x([0-9A-Fa-f]{2})|(.))', re.DOTALL)
_BARE_VALUE = re.compile(r"[^,\]}\n#]*")  # a number, a boolean or a date runs up to one of these
_SIMPLE_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "e": "\x1b", '"': '"', "\\": "\\"}


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
        self.positions: dict[Path, Position] = {}

    # Positions ---------------------------------------------------------------------------

    def position(self, index: int) -> Position:
        line = bisect_right(self.line_starts, index)
        return line, index - self.line_starts[line - 1] + 1

    def record(self, path: Path, index: int) -> None:
        self.positions.setdefault(path, self.position(index))

    # Characters --------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> str:
        index = self.at + ahead
        return self.text[index] if index < len(self.text) else ""

    def skip_blanks(self, newlines: bool) -> None:
        """Spaces and tabs, and when asked newlines and comments too."""
        while self.at < len(self.text):
            char = self.text[self.at]
            if char in " \t" or (newlines and char in "\r\n"):
                self.at += 1
            elif newlines and char == "#":
                end = self.text.find("\n", self.at)
                self.at = len(self.text) if end < 0 else end
            else:
                return

    def skip_line(self) -> None:
        end = self.text.find("\n", self.at)
        self.at = len(self.text) if end < 0 else end + 1

    # Keys --------------------------------------------------------------------------------

    def key(self) -> list[tuple[str, int]]:
        """A dotted key's parts, each with the index where it starts."""
        parts = []
        while True:
            self.skip_blanks(newlines=False)
            start = self.at
            if self.peek() in ("'", '"'):
                parts.append((self.string(), start))
            else:
                match = _BARE_KEY.match(self.text, self.at)
                if match is None:
                    raise ValueError(f"no key at {self.position(self.at)}")
                parts.append((match.group(), start))
                self.at = match.end()
            self.skip_blanks(newlines=False)
            if self.peek() != ".":
                return parts
            self.at += 1

    def record_key(self, prefix: Path, parts: list[tuple[str, int]]) -> Path:
        path = prefix
        for name, start in parts:
            path += (name,)
            self.record(path, start)
        return path

    # Values ------------------------------------------------------------------------------

    def string(self) -> str:
        """A string of any of TOML's four kinds, decoded; the scanner moves past it."""
        text, quote = self.text, self.peek()
        if text.startswith(quote * 3, self.at):
            end = self.at + 3
            while True:
                end = text.index(quote * 3, end)
                if quote == '"' and _escaped(text, end):
                    end += 1
                    continue
                break
            while text.startswith(quote, end + 3):  # up to two quotes may end the content
                end += 1
            body, self.at = text[self.at + 3:end], end + 3
        else:
            end = self.at + 1
            while text[end] != quote or (quote == '"' and _escaped(text, end)):
                end += 1
            body, self.at = text[self.at + 1:end], end + 1
        return _unescape(body) if quote == '"' else body

    def value(self, path: Path) -> None:
        """Skip one value; an inline table's keys are recorded under ``path``."""
        char = self.peek()
        if char in ("'", '"'):
            self.string()
        elif char == "[":
            self.at += 1
            while True:
                self.skip_blanks(newlines=True)
                if self.peek() in ("]", ""):
                    self.at += 1
                    return
                self.value(path)
                self.skip_blanks(newlines=True)
                if self.peek() == ",":
                    self.at += 1
        elif char == "{":
            self.at += 1
            while True:
                self.skip_blanks(newlines=False)
                if self.peek() in ("}", ""):
                    self.at += 1
                    return
                if self.peek() == ",":
                    self.at += 1
                    continue
                key = self.record_key(path, self.key())
                self.skip_blanks(newlines=False)
                self.at += 1  # the "="
                self.skip_blanks(newlines=False)
                self.value(key)
        else:
            match = _BARE_VALUE.match(self.text, self.at)
            self.at = max(match.end(), self.at + 1)

    # Statements --------------------------------------------------------------------------

    def document(self) -> None:
        table: Path = ()
        while True:
            self.skip_blanks(newlines=True)
            if self.at >= len(self.text):
                return
            if self.peek() == "[":
                brackets = 2 if self.peek(1) == "[" else 1
                self.at += brackets
                table = self.record_key((), self.key())
                self.skip_line()
            else:
                key = self.record_key(table, self.key())
                self.skip_blanks(newlines=False)
                self.at += 1  # the "="
                self.skip_blanks(newlines=False)
                self.value(key)
                self.skip_line()


def _escaped(text: str, index: int) -> bool:
    """Whether the character at ``index`` follows an odd number of backslashes."""
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _unescape(body: str) -> str:
    def replace(match: re.Match) -> str:
        code = match.group(1) or match.group(2) or match.group(3)
        if code:
            return chr(int(code, 16))
        return _SIMPLE_ESCAPES.get(match.group(4), "")  # a line-ending backslash joins lines
    return _ESCAPE.sub(replace, body)


def key_positions(text: str) -> dict[Path, Position]:
    """Every key path of a valid TOML document, with the line and column of its last part (see the
    module's docstring). A document tomllib rejects yields the keys before the problem."""
    scanner = _Scanner(text)
    try:
        scanner.document()
    except (ValueError, IndexError):  # not valid TOML after all: keep what was found
        pass
    return scanner.positions


def locate(positions: dict[Path, Position], path: Path) -> Position | None:
    """The position of ``path``, else of the nearest table that holds it, else None."""
    for end in range(len(path), 0, -1):
        if path[:end] in positions:
            return positions[path[:end]]
    return None
