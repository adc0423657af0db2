"""``cnnc fmt``'s engine: a spec's text in the canonical layout, checked to mean what the original meant."""

from __future__ import annotations

import re
import threading
from dataclasses import fields, is_dataclass
from functools import cache

from cnnc import syntax as ast
from cnnc.diagnostics import Diagnostic, SpecError, error
from cnnc.frozen import frozen
from cnnc.lark_loading import Lark, Token, Tree, load_parser
from cnnc.layout import layout
from cnnc.parser import MAX_SOURCE_CHARACTERS, parse
from cnnc.reading import not_utf8
from cnnc.source import Source, Span

_LINE_ENDING = re.compile(r"\r\n|\r|\n")
_POSITIONS = frozenset({"span", "op_span", "key_span", "name_span"})


class FormatterBug(Exception):
    """The formatted text would not mean what the original means: a bug in cnnc, never written out."""


@frozen
class Formatted:
    """One spec after formatting: its text in the canonical layout, or None and the syntax errors
    that prevent formatting (a spec with errors of meaning is formatted as any other)."""

    source: Source
    text: str | None
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def changed(self) -> bool:
        return self.text is not None and self.text != self.source.text


class _Comments:
    """The lexer's callback for comments, which the grammar ignores: collects those of one parse."""

    def __init__(self) -> None:
        self.found: list[Token] = []

    def __call__(self, token: Token) -> Token:
        self.found.append(token)
        return token


@cache
def _concrete_parser() -> tuple[Lark, _Comments, threading.Lock]:
    """A second parser of the same grammar that keeps every token (punctuation, `;` and line ends)
    and hands over the comments, so that the layout can write what was written, parentheses and
    the spelling of numbers included. Built once per process; its tables are cached (lark_loading)."""
    comments = _Comments()
    parser = load_parser("cnnc.grammar", "cnnc.lark", keep_all_tokens=True, propagate_positions=True,
                         maybe_placeholders=False, lexer_callbacks={"COMMENT": comments})
    return parser, comments, threading.Lock()


def concrete_tree(text: str) -> tuple[Tree, list[Token]]:
    """The concrete tree of a spec that parses, and its comments in order."""
    parser, comments, lock = _concrete_parser()
    with lock:
        comments.found = []
        return parser.parse(text), comments.found


def format_source(source: Source) -> Formatted:
    """A spec in the canonical layout, with its byte-order mark and line ending (the first one's)
    kept. Raises FormatterBug if the result would not parse to the same statements with the same
    comments (as black and ruff check their output)."""
    invalid = not_utf8(source)
    if invalid is not None:
        return Formatted(invalid.source, None, invalid.diagnostics)
    module, diagnostics = parse(source)
    if module is None:
        return Formatted(source, None, tuple(diagnostics))
    tree, comments = concrete_tree(source.parsed_text)
    text, origins = layout(tree, comments, source.lines)
    if len(text) > MAX_SOURCE_CHARACTERS:
        return Formatted(source, None, (_too_long(text, origins),))
    ending = _LINE_ENDING.search(source.text)
    text = ("\ufeff" if source.text.startswith("\ufeff") else "") + text.replace("\n", ending.group() if ending else "\n")
    if text == source.text:
        return Formatted(source, text)
    formatted, _ = parse(Source(text, source.path))
    if formatted is None or _skeleton(formatted) != _skeleton(module):
        raise FormatterBug(f"{source.path}: the formatted spec would not mean what the original means")
    if _comments(text) != _comments(source.text):
        raise FormatterBug(f"{source.path}: the formatted spec would lose or change a comment")
    return Formatted(source, text)


def _too_long(text: str, origins: list[int]) -> Diagnostic:
    """E006 where the formatted text passes the length cnnc reads (indentation and spaces add up)."""
    length = 0
    for line, origin in zip(text.split("\n"), origins):
        length += len(line) + 1
        if length > MAX_SOURCE_CHARACTERS:
            break
    return error("E006", f"formatted, the spec would be {len(text):,} characters long, more than the "
                         f"{MAX_SOURCE_CHARACTERS:,} characters cnnc reads", Span.point(max(origin, 1), 1),
                 "formatting indents each block level by four spaces and writes `; ` between statements; "
                 "a network this long is better written with `def` blocks and `repeat`")


def format_text(text: str, path: str = "<string>") -> str:
    """``text`` in the canonical layout; SpecError (with the diagnostics) if it has syntax errors."""
    formatted = format_source(Source(text, path))
    if formatted.text is None:
        raise SpecError(list(formatted.diagnostics), formatted.source)
    return formatted.text


def _skeleton(module: ast.Module) -> list[object]:
    """What a module says, without where it was written, as a flat list in the order of the text
    (no recursion: a spec may nest deeper than Python's limit). Options are in name order where
    their order does not matter (a run of options, a line of settings): two specs with equal
    skeletons elaborate to the same network."""
    flat: list[object] = []
    stack: list[object] = [module]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            flat.append(("tuple", len(node)))
            stack.extend(reversed(node))
            continue
        if not is_dataclass(node):
            flat.append((type(node).__name__, node))
            continue
        values = []
        for part in fields(node):
            if part.name in _POSITIONS:
                continue
            value = getattr(node, part.name)
            if isinstance(node, ast.Call) and part.name == "items":
                value = _options_sorted(value)
            elif isinstance(node, ast.Settings):
                value = tuple(sorted(value, key=lambda option: option.key))
            values.append(value)
        flat.append((type(node).__name__, len(values)))
        stack.extend(reversed(values))
    return flat


def _comments(text: str) -> list[str]:
    """Every comment of a spec, in order (a line's comment starts at its first `#`: there are no strings)."""
    return [line[line.index("#"):].rstrip() for line in Source(text).lines if "#" in line]


def _options_sorted(items: tuple) -> tuple:
    """A call's items with each run of consecutive options sorted by name (stable: a repeated
    option keeps its place among its namesakes)."""
    result: list = []
    run: list[ast.Option] = []
    for item in (*items, None):
        if isinstance(item, ast.Option):
            run.append(item)
            continue
        result += sorted(run, key=lambda option: option.key)
        run = []
        if item is not None:
            result.append(item)
    return tuple(result)
