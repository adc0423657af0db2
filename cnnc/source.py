"""Source text and the spans that point into it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path


@dataclass(frozen=True)
class Span:
    """A region of a source file: 1-based line and column of its start and end (end exclusive)."""

    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def point(cls, line: int, column: int) -> Span:
        return cls(line, column, line, column + 1)

    def to(self, other: Span) -> Span:
        """The span from the start of this one to the end of ``other``."""
        return Span(self.line, self.column, other.end_line, other.end_column)


START = Span.point(1, 1)


@dataclass(frozen=True)
class Source:
    """A spec's text with the name it is reported under (a path, or ``<string>``)."""

    text: str
    path: str = "<string>"

    @property
    def stem(self) -> str:
        return "network" if self.path in ("<string>", "<stdin>") else Path(self.path).stem

    @cached_property
    def lines(self) -> list[str]:
        """The lines as the parser counts them: a byte-order mark is not part of line 1."""
        return self.text.removeprefix("\ufeff").split("\n")

    def line_text(self, line: int) -> str:
        """The text of a 1-based line without its line ending ('' past the end)."""
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1].rstrip("\r")
        return ""
