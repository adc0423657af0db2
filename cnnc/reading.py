"""Reading a spec's bytes as ``cnnc check`` does: undecodable bytes kept, then reported as E001."""

from __future__ import annotations

import sys

from cnnc.diagnostics import error
from cnnc.source import Source, Span

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:
    from cnnc.api import Checked


def decode(data: bytes, path: str) -> Source:
    """A spec's text from its bytes; bytes that are not UTF-8 are kept as surrogates for
    ``not_utf8`` to locate."""
    return Source(data.decode("utf-8", errors="surrogateescape"), path)


def read_source(name: str) -> Source:
    """A spec's text (``-``: standard input); OSError when it cannot be read."""
    if name == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(name, "rb") as file:
            data = file.read()
    return decode(data, "<stdin>" if name == "-" else name)


def not_utf8(source: Source) -> Checked | None:
    """An E001 at the first byte that is not UTF-8, if any."""
    from cnnc.api import Checked  # the pipeline's result type; the pipeline imports this module
    for number, line in enumerate(source.lines, start=1):
        for column, char in enumerate(line, start=1):
            if "\udc80" <= char <= "\udcff":
                diagnostic = error("E001", "the file is not UTF-8 text", Span.point(number, column),
                                   "is this a binary file? cnnc reads `.cnn` text encoded as UTF-8")
                shown = Source(source.text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
                               source.path)
                return Checked(shown, None, None, (diagnostic,))
    return None
