"""Colours for the source lines that diagnostics show, from the Pygments lexer; imported only when colour is on."""

from __future__ import annotations

from functools import cache

from pygments.token import Comment, Keyword, Name, Number

from cnnc.highlighting import CnncLexer

# Terminal colours by name (the user's palette), for the token types cnnc.highlighting gives; a type
# takes its parent's style (Keyword.Reserved: Keyword's), and names, operators and punctuation stay plain.
STYLES = {
    Comment: "dim",
    Comment.Special: "italic cyan",  # a `noqa` suppression
    Keyword: "magenta",
    Keyword.Constant: "bright_blue",
    Name.Builtin: "cyan",  # a layer
    Name.Function: "green",
    Name.Attribute: "italic",  # an option's key
    Number: "bright_blue",
}


@cache
def _lexer() -> CnncLexer:
    return CnncLexer()


def _style(token) -> str | None:
    while token is not None:
        if token in STYLES:
            return STYLES[token]
        token = token.parent
    return None


def line_styles(line: str, first: int = 0, last: int | None = None) -> list[tuple[int, int, str]]:
    """(start, end, style) of the styled tokens of ``line[first:last]`` (one source line), by index in ``line``.
    A long line is lexed from a little before ``first`` (see ``_restart``) to MARGIN characters after ``last``
    (a token's class can depend on what follows it: `stride=`, `min(`), not whole."""
    last = len(line) if last is None else last
    restart = _restart(line, first)
    spans = []
    for start, token, text in _lexer().get_tokens_unprocessed(line[restart:last + MARGIN]):
        begin, end = max(start + restart, first), min(start + restart + len(text), last)
        style = _style(token)
        if not style or begin >= end:
            continue
        if spans and spans[-1][1:] == (begin, style):  # one span for a comment's tokens
            spans[-1] = (spans[-1][0], end, style)
        else:
            spans.append((begin, end, style))
    return spans


MARGIN = 200  # characters searched back for a statement's start, and lexed after the shown part


def _restart(line: str, first: int) -> int:
    """Where lexing can start for the tokens from ``first`` on to be those of the whole line: at the
    last `#` before it (the rest of the line is a comment: the language has no strings), else after
    the closest `;`, `{` or `}`, else after a blank, searched in the MARGIN characters before it."""
    if first == 0:
        return 0
    comment = line.rfind("#", 0, first)
    if comment >= 0:
        return comment
    low = max(0, first - MARGIN)
    for boundaries in (";{}", " \t"):
        found = max(line.rfind(character, low, first) for character in boundaries)
        if found >= 0:
            return found + 1
    return first
