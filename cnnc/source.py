"""Source text and the spans that point into it."""

from __future__ import annotations

import os
from collections import namedtuple
from functools import cached_property

from cnnc.frozen import frozen


class Span(namedtuple("Span", "line column end_line end_column")):
    """A region of a source file: 1-based line and column of its start and end (end exclusive).
    A named tuple, not a dataclass: the parser makes one per token, and a tuple is made fastest.
    (``collections.namedtuple``: ``typing.NamedTuple`` would import typing at every start.)"""

    __slots__ = ()
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


def file_stem(path: str) -> str:
    """``pathlib.PurePath(path).stem`` without importing pathlib (start-up): the last part of the path
    without its last suffix (``nets/vgg.v2.cnn`` -> ``vgg.v2``, ``.hidden`` -> ``.hidden``)."""
    name = os.path.basename(os.path.normpath(path)) if path else ""
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


@frozen
class Source:
    """A spec's text with the name it is reported under (a path, or ``<string>``)."""

    text: str
    path: str = "<string>"
    size: int | None = None
    """The file's length in bytes when its text was cut where no spec cnnc reads can go on
    (``reading.read_spec_bytes``): refused for its length (E006); None when the text is whole."""

    @property
    def stem(self) -> str:
        return "network" if self.path in ("<string>", "<stdin>") else file_stem(self.path)

    @cached_property
    def parsed_text(self) -> str:
        """The text as the parser reads it: without a byte-order mark, and with every line ending
        (``\r\n``, and the lone ``\r`` of old Mac files) written as ``\n``. Columns are unchanged."""
        return self.text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")

    @cached_property
    def lines(self) -> list[str]:
        """The lines as the parser counts them."""
        return self.parsed_text.split("\n")

    def line_text(self, line: int) -> str:
        """The text of a 1-based line without its line ending ('' past the end)."""
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1]
        return ""
