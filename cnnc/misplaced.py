"""Positional arguments that were meant as options: `conv 16 3x3 stride 2` for `stride=2`."""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence

from cnnc import syntax as ast
from cnnc.frozen import frozen
from cnnc.source import Source, Span
from cnnc.values import BadValue, Converter, Symbol

CLOSE_ENOUGH = 0.75
"""How similar a bare name must be to an option's to be taken for a misspelling of it (`strid`, `strde`)."""


@frozen
class MisplacedOption:
    """A bare name standing where ``option=value`` was meant, and the positional value after it."""

    option: str
    name: ast.Name
    value: ast.Expr | None  # the positional that follows the name and was meant as its value
    value_text: str | None  # that value as written, or the name itself when it is the value (`gelu tanh`)
    value_span: Span | None = None  # the value with the parentheses around it

    @property
    def span(self) -> Span:
        return self.name.span.to(self.value_span) if self.value_span is not None else self.name.span

    @property
    def exact(self) -> bool:
        """Whether the name is the option's own (not a misspelling of it, nor a value of it)."""
        return self.option == self.name.id

    @property
    def fix(self) -> str:
        return f"`{self.option}={self.value_text or 'VALUE'}`"

    def message(self, owner: str) -> str | None:
        """What is wrong, when the name and its value are one mistake of their own (else the
        caller reports a positional argument too many, with ``hint()``)."""
        if self.value is not None:
            return f"`{self.name.id} {self.value_text}` reads as two positional arguments of {owner}"
        if self.exact:
            return f"`{self.name.id}` is an option of {owner} and needs a value"
        return None

    def hint(self, doc: str = "") -> str:
        if not self.exact:
            return f"did you mean {self.fix}?"
        about = f" ({doc})" if doc and self.value is None else ""
        return f"write {self.fix}{about}: options are written NAME=VALUE, without spaces"


def written_text(span: Span, source: Source) -> str | None:
    """The text of a span on one line; None when it spans lines."""
    if span.line != span.end_line:
        return None
    return source.line_text(span.line)[span.column - 1:span.end_column - 1] or None


def _accepts(convert: Converter, name: str) -> bool:
    try:
        convert(Symbol(name))
    except BadValue:
        return False
    return True


def option_meant(items: Sequence, index: int, options: Mapping[str, Converter | None], beyond_positionals: bool,
                 scope: Container[str], statements: Container[str], source: Source) -> MisplacedOption | None:
    """The option a positional bare name at ``items[index]`` stands for, if it looks meant as one
    (``options``: their names, with what converts their values where known):

    - its name is an option's (`stride 2`, or `stride` followed by nothing);
    - past the positional arguments, a close misspelling of one (`strid 2`), or a value that
      exactly one option accepts (`gelu tanh` for `approximate=tanh`).

    A name the enclosing block defines is a value, never an option name; a layer or block name
    after it (`stride relu`) starts a statement, and is never taken for its value."""
    item = items[index]
    if not isinstance(item, ast.Name) or item.id in scope:
        return None
    following = items[index + 1] if index + 1 < len(items) else None
    if isinstance(following, ast.Option) or (isinstance(following, ast.Name) and (following.id in options
                                                                                 or following.id in statements)):
        following = None
    if item.id in options:
        option = item.id
    elif not beyond_positionals:
        return None
    else:
        from difflib import get_close_matches

        close = get_close_matches(item.id, list(options), n=1, cutoff=CLOSE_ENOUGH)
        accepting = [name for name, convert in options.items() if convert and _accepts(convert, item.id)]
        if not close and len(accepting) == 1:
            return MisplacedOption(accepting[0], item, None, item.id)
        if not close:
            return None
        option = close[0]
    if following is None:
        return MisplacedOption(option, item, None, None)
    span = _parenthesized(following.span, source)
    text = written_text(span, source) or "VALUE"
    if isinstance(following, (ast.BinaryOp, ast.Negate)) and not text.startswith("("):
        text = f"({text})"  # an option's value is one term: `stride=(s + 1)`
    return MisplacedOption(option, item, following, text, span)


def _parenthesized(span: Span, source: Source) -> Span:
    """``span`` widened to the parentheses written around it (the AST keeps only what is inside)."""
    line = source.line_text(span.line)
    end_line = source.line_text(span.end_line)
    while (span.column > 1 and line[span.column - 2:span.column - 1] == "("
           and end_line[span.end_column - 1:span.end_column] == ")"):
        span = Span(span.line, span.column - 1, span.end_line, span.end_column + 1)
    return span
