"""Styled text built without rich: written as plain text to a pipe, handed to rich as a ``Text`` for colour."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:
    from rich.text import Text

# The control codes that rich's Text drops from the text it is given (bell, backspace, vertical tab,
# form feed, carriage return), dropped here too so that `.plain` is the same with or without rich.
_CONTROL_CODES = dict.fromkeys((7, 8, 11, 12, 13))


class StyledText:
    """The part of ``rich.text.Text`` the renderers use: ``append``, ``append_text`` and ``plain``,
    kept as rich keeps them (the text, a base style, and spans of styled characters), so that
    ``__rich__`` gives the very ``Text`` rich itself would have built. Importing rich costs a piped
    ``cnnc check`` about a fifth of its start (`python -X importtime`)."""

    __slots__ = ("_length", "_spans", "_text", "style")

    def __init__(self, text: str = "", style: str = "") -> None:
        clean = text.translate(_CONTROL_CODES)
        self._text = [clean] if clean else []
        self._length = len(clean)
        self._spans: list[tuple[int, int, str]] = []
        self.style = style

    @property
    def plain(self) -> str:
        if len(self._text) > 1:
            self._text = ["".join(self._text)]
        return self._text[0] if self._text else ""

    def __str__(self) -> str:
        return self.plain

    def __len__(self) -> int:
        return self._length

    def __repr__(self) -> str:
        return f"<styled {self.plain!r} {self._spans!r}>"

    @property
    def spans(self) -> tuple[tuple[int, int, str], ...]:
        """(start, end, style) of each styled run, in the order they were added (they may nest)."""
        return tuple(self._spans)

    def append(self, text: str, style: str | None = None) -> StyledText:
        """``text`` at the end, in ``style`` (none when empty)."""
        if text:  # as rich does: a span even when only control codes were given
            clean = text.translate(_CONTROL_CODES)
            if style:
                self._spans.append((self._length, self._length + len(clean), style))
            self._text.append(clean)
            self._length += len(clean)
        return self

    def append_text(self, other: StyledText) -> StyledText:
        """Another styled text at the end, its base style becoming a span over its characters."""
        start = self._length
        if other.style:
            self._spans.append((start, start + len(other), other.style))
        self._text.append(other.plain)
        self._spans.extend((begin + start, end + start, style) for begin, end, style in other._spans)
        self._length += len(other)
        return self

    def __rich__(self) -> Text:
        from rich.text import Span, Text

        return Text(self.plain, style=self.style, spans=[Span(*span) for span in self._spans])
