"""Reading a spec's bytes as ``cnnc check`` does: undecodable bytes kept, then reported as E001."""

from __future__ import annotations

import re
import sys

from cnnc.diagnostics import error
from cnnc.source import Source, Span

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:
    from cnnc.api import Checked


def decode(data: bytes, path: str, size: int | None = None) -> Source:
    """A spec's text from its bytes; bytes that are not UTF-8 are kept as surrogates for
    ``not_utf8`` to locate. ``size``: the file's whole length, when ``data`` is its cut front."""
    return Source(data.decode("utf-8", errors="surrogateescape"), path, size)


def read_spec_bytes(file) -> tuple[bytes, int | None]:
    """A spec file's bytes, and None; or, past four bytes a character of the longest text cnnc parses
    (``parser.MAX_SOURCE_CHARACTERS``: more bytes than that are more characters than that, whatever
    they are), its front and its whole length, the rest counted in chunks and never held: a 600 MB spec
    took 2.5 s and some 3 GB to be refused whole."""
    from cnnc.parser import MAX_SOURCE_CHARACTERS

    limit = 4 * MAX_SOURCE_CHARACTERS + 4
    data = file.read(limit + 1)
    if len(data) <= limit:
        return data, None
    size = len(data)
    while chunk := file.read(1 << 20):
        size += len(chunk)
    return data[:limit], size


def read_source(name: str) -> Source:
    """A spec's text (``-``: standard input); OSError when it cannot be read."""
    if name == "-":
        data, size = read_spec_bytes(sys.stdin.buffer)
    else:
        with open(name, "rb") as file:
            data, size = read_spec_bytes(file)
    return decode(data, "<stdin>" if name == "-" else name, size)


UNDECODED = re.compile("[\udc80-\udcff]")
"""A byte that was not UTF-8, as ``decode`` keeps it (a lone surrogate)."""


def not_utf8(source: Source) -> Checked | None:
    """An E001 at the first byte that is not UTF-8, if any: one regular-expression search (a loop over the
    characters in Python took 35 s on a 600 MB spec before its length was refused, E006)."""
    if source.size is not None:  # cut, maybe inside a character: refused for its length (E006)
        return None
    text = source.parsed_text
    found = UNDECODED.search(text)
    if found is None:
        return None
    from cnnc.api import Checked  # the pipeline's result type; the pipeline imports this module

    at = found.start()
    line, column = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
    diagnostic = error("E001", "the file is not UTF-8 text", Span.point(line, column),
                       "is this a binary file? cnnc reads `.cnn` text encoded as UTF-8")
    shown = Source(source.text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), source.path)
    return Checked(shown, None, None, (diagnostic,))
