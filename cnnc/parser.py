"""Text to AST: the Lark LALR parser, its transformer, and syntax errors as diagnostics.

A text is parsed first by the fast path (``cnnc.lalr_driver`` over the tables Lark built for the
grammar, ``cnnc.lalr_tables``), which does not import Lark; a text it does not parse (a syntax error,
a number too large) is parsed again by Lark, whose errors become the diagnostics. Both give the same
AST (tests/test_fast_parser.py)."""

from __future__ import annotations

import re
from functools import cache

from cnnc import syntax as ast
from cnnc.diagnostics import Diagnostic, error

from cnnc.source import START, Source, Span
from cnnc.values import MAX_MAGNITUDE

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:  # Lark loads only to build the tables or to explain a syntax error
    from cnnc.lalr_driver import FastParser
    from cnnc.lark_loading import Lark, Token, UnexpectedInput


class _NumberTooLarge(Exception):
    def __init__(self, text: str, span: Span) -> None:
        super().__init__(text)
        self.text = text
        self.span = span


def _token_span(token: Token) -> Span:
    return Span(token.line, token.column, token.end_line, token.end_column)


def _outer(part) -> Span:
    """Where a child of a rule was written: a token's span, a parenthesised expression with its
    parentheses, or an AST node's span."""
    if isinstance(part, str):  # a token: Lark's or the fast path's, both strings
        return _token_span(part)
    if isinstance(part, _Parenthesized):
        return part.outer
    return part.span


def _extent(first, last) -> Span:
    """The span from the start of ``first`` to the end of ``last`` (tokens or nodes)."""
    return _outer(first).to(_outer(last))


def _inner(part):
    """The expression a value stands for (without its parentheses)."""
    return part.expression if isinstance(part, _Parenthesized) else part


class _Parenthesized:
    """``(expression)`` while parsing: the expression keeps its own span, but the call or option
    around it ends at the closing parenthesis."""

    __slots__ = ("expression", "outer")

    def __init__(self, expression: ast.Expr, outer: Span) -> None:
        self.expression = expression
        self.outer = outer


def _whole_number(text: str, token: Token) -> int:
    """An integer literal, refused above ``MAX_MAGNITUDE`` (Python will not even convert a number of
    more than 4,300 digits, and no network has such sizes)."""
    if len(text.lstrip("0")) > len(str(MAX_MAGNITUDE)) or int(text) > MAX_MAGNITUDE:
        raise _NumberTooLarge(text, _token_span(token))
    return int(text)


def _real_number(token: Token) -> float:
    """A decimal literal, refused above ``MAX_MAGNITUDE`` as whole numbers are (``1e300`` would
    otherwise become a 301-digit stride)."""
    value = float(token)
    if not abs(value) <= float(MAX_MAGNITUDE):  # also catches `1e999`, which is infinite
        raise _NumberTooLarge(str(token), _token_span(token))
    return value


_PUNCTUATION = {"LPAR", "RPAR", "COMMA"}


class _ToAst:
    """One method per grammar rule, each returning an AST node. The parser calls them as it reduces
    (Lark's inline transformer: no parse tree is built), so spans come from the tokens kept for the
    purpose rather than from Lark's position propagation. Tokens are told from nodes as strings (the
    fast path's tokens are not Lark's)."""

    def start(self, statements):
        span = _extent(statements[0], statements[-1]) if statements else START
        return ast.Module(tuple(statements), span)

    def definition(self, children):
        keyword, name, *rest = (c for c in children if not (isinstance(c, str) and c.type in _PUNCTUATION))
        *parameters, body = rest
        parameters = tuple(p for p in parameters if p is not None)
        return ast.Definition(str(name), parameters, body, _extent(keyword, body), _token_span(name))

    def parameter(self, children):
        name, default = children
        return ast.Parameter(str(name), _inner(default), _extent(name, default if default is not None else name))

    def call(self, children):
        name, *items = children
        last = next((item for item in reversed(items) if item is not None), name)
        body = None
        clauses: list[ast.Clause] = []
        # maybe_placeholders leaves a None where the optional `body clause*` is absent.
        while items and isinstance(items[-1], (ast.Clause, type(None))):
            item = items.pop()
            if item is not None:
                clauses.insert(0, item)
        if items and isinstance(items[-1], ast.Block):
            body = items.pop()
        return ast.Call(str(name), tuple(_inner(item) for item in items), body, tuple(clauses),
                        _extent(name, last), _token_span(name))

    def clause(self, children):
        keyword, body = children
        return ast.Clause(str(keyword), body, _extent(keyword, body))

    def body(self, children):
        opening, *statements, closing = children
        return ast.Block(tuple(statements), _extent(opening, closing))

    def settings(self, options):
        return ast.Settings(tuple(options), _extent(options[0], options[-1]))

    def option(self, children):
        key, value = children
        return ast.Option(str(key), _inner(value), _extent(key, value), _token_span(key))

    def integer(self, children):
        return ast.Number(_whole_number(children[0], children[0]), _token_span(children[0]))

    def real(self, children):
        return ast.Number(_real_number(children[0]), _token_span(children[0]))

    def negative_integer(self, children):
        minus, number = children
        return ast.Number(-_whole_number(number, number), _extent(minus, number))

    def negative_real(self, children):
        minus, number = children
        return ast.Number(-_real_number(number), _extent(minus, number))

    def dims(self, children):
        token = children[0]
        return ast.Dims(tuple(_whole_number(part, token) for part in str(token).split("x")), _token_span(token))

    def name(self, children):
        return ast.Name(str(children[0]), _token_span(children[0]))

    def parenthesized(self, children):
        opening, expression, closing = children
        return _Parenthesized(_inner(expression), _extent(opening, closing))

    def _binary(op):  # noqa: N805 - a factory used in the class body
        def method(self, children):
            left, right = children[0], children[-1]  # `-` is kept as a token between them
            return ast.BinaryOp(op, _inner(left), _inner(right), _extent(left, right))
        return method

    add = _binary("+")
    subtract = _binary("-")
    multiply = _binary("*")
    floor_divide = _binary("//")
    divide = _binary("/")

    def function(self, children):
        name, *args, closing = (c for c in children if not (isinstance(c, str) and c.type == "LPAR"))
        return ast.Function(str(name), tuple(_inner(arg) for arg in args), _extent(name, closing),
                            _token_span(name))

    def size(self, children):
        """``(s)x(s)``, ``1x(s)x3``: literal numbers and parenthesised expressions, one per dimension."""
        parts: list[ast.Expr] = []
        for child in children:
            if isinstance(child, str) and child.type in ("DIMS_X", "DIMS", "INT"):
                column = child.column
                for digits in str(child).split("x"):
                    if digits:
                        span = Span(child.line, column, child.line, column + len(digits))
                        parts.append(ast.Number(_whole_number(digits, child), span))
                    column += len(digits) + 1
            elif not isinstance(child, str):
                parts.append(_inner(child))
        return ast.Size(tuple(parts), _extent(children[0], children[-1]))

    def negate(self, children):
        minus, operand = children
        return ast.Negate(_inner(operand), _extent(minus, operand))


_OPTIONS = {"maybe_placeholders": True}  # Lark's options for the grammar, beside parser="lalr"
_TO_AST = _ToAst()


@cache
def _parser(strict: bool = False) -> Lark:
    """Lark's LALR parser, built once per process (and its tables once per grammar version, cached in
    the user's cache folder), with the AST built as it parses. ``strict`` (needs ``interegular``)
    also rejects colliding terminals; the test suite builds the grammar that way."""
    from cnnc.lark_loading import load_parser

    return load_parser("cnnc.grammar", "cnnc.lark", strict=strict, transformer=_TO_AST, **_OPTIONS)


@cache
def _fast_parser() -> FastParser | None:
    """The fast path's parser, over the tables exported from Lark's (None where they cannot be had:
    then Lark parses every text)."""
    from cnnc.lalr_driver import FastParser
    from cnnc.lalr_tables import fast_tables

    tables = fast_tables("cnnc.grammar", "cnnc.lark", _OPTIONS)
    return None if tables is None else FastParser(tables)


def parse_fast(text: str) -> ast.Module | None:
    """The AST of ``text`` by the fast path alone; None where it leaves the text to Lark."""
    from cnnc.lalr_driver import CannotParse

    fast = _fast_parser()
    if fast is None:
        return None
    try:
        return fast.parse(text, _TO_AST)
    except (CannotParse, _NumberTooLarge):
        return None


# Typical mistakes, each labelled with the hint it earns (matched by parser state in `_mistake_label`).
_MISTAKES: dict[str, list[str]] = {
    "arithmetic goes in parentheses: write `conv (c * 4) 3x3`": [
        "conv c * 4 3x3", "conv c + 1 3x3", "conv 64 3x3 stride=s * 2",
        "conv c // 2 3x3", "def f(c) {\n conv c*2 1x1 }",
    ],
    "sizes are one word, like `3x3` or `224x224x3`; options follow after spaces: `stride=2` (no commas)": [
        "conv 64 3, 3", "input 224, 224, 3", "input (224, 224, 3)", "conv 64 (3, 3)", "input 224*224*3",
        "conv 64 3x3, stride=2", "conv 64 3x3 stride=2, pad=1",
    ],
    "a block's parameters are names separated by commas: `def name(c, stride=1) { ... }`": [
        "def f(c stride) { }", "def f(3) { }", "def f c { }", "def (c) { }",
    ],
    "an option needs a value after `=`: `stride=2`": ["conv 64 3x3 stride=", "conv 64 3x3 stride=\n"],
    "only `shortcut { ... }` and the like may follow a block on its line; put the next statement on a "
    "new line or after `;`": ["residual { relu } relu", "repeat 2 { relu } relu\n"],
}


@cache
def _mistake_states() -> tuple[tuple[str, int, frozenset[str], str], ...]:
    """Each labelled example's failure: its label, parser state, accepted terminals and token type."""
    from cnnc.lark_loading import UnexpectedToken

    found = []
    for label, examples in _MISTAKES.items():
        for example in examples:
            try:
                _parser().parse(example)
            except UnexpectedToken as failure:
                found.append((label, failure.state.position, frozenset(failure.accepts), failure.token.type))
    return tuple(found)


def _mistake_label(exc: UnexpectedInput) -> str | None:
    """The label of a typical mistake that fails in the same parser state, preferring one on the same
    kind of token. (Lark's ``match_examples`` also compares the depth of the parser's stack, so an
    example written as a first statement would never match the same mistake after an ``input`` line.)"""
    from cnnc.lark_loading import UnexpectedToken

    if not isinstance(exc, UnexpectedToken):
        return None
    candidate = None
    for label, position, accepts, token_type in _mistake_states():
        if position == exc.state.position and accepts == exc.accepts:
            if token_type == exc.token.type:
                return label
            candidate = candidate or label
    return candidate


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type == "_SEP":
        return "end of line" if token.value == "\n" else "`;`"
    return f"`{token.value}`"


_VALUE_TERMINALS = {"INT", "FLOAT", "DIMS", "DIMS_X", "NAME", "LPAR", "MINUS"}
_TERMINAL_NAMES = {
    "LBRACE": "`{`", "RBRACE": "`}`", "LPAR": "`(`", "RPAR": "`)`", "EQUAL": "`=`", "COMMA": "`,`",
    "PLUS": "`+`", "MINUS": "`-`", "STAR": "`*`", "SLASH": "`/`", "RPAR_X": "`)`", "DIMS_X": "a size",
    "__ANON_0": "`//`", "DEF": "`def`",
    "_SEP": "the end of the line", "$END": "the end of the line",
}


def _values_expected(expected: set[str]) -> tuple[str | None, set[str]]:
    """How to name the values the parser would accept, and the terminals that naming covers (a `(`
    or `-` alone is an operator or a parenthesis, not "a value")."""
    if "DIMS" in expected:
        return "a value", _VALUE_TERMINALS
    if "INT" in expected:
        return ("a number or a name" if "NAME" in expected else "a number"), _VALUE_TERMINALS
    if "NAME" in expected:
        return "a name", {"NAME"}
    return None, set()


def _expected(expected: set[str]) -> str:
    """A short English list of what the parser would have accepted."""
    names: list[str] = []
    value, covered = _values_expected(expected)
    if value:
        names.append(value)
    for terminal in sorted(expected - covered):
        name = _TERMINAL_NAMES.get(terminal, terminal.lower())
        if name not in names:
            names.append(name)
    if not names:
        return ""
    if len(names) == 1:
        return f"expected {names[0]}"
    return "expected " + ", ".join(names[:-1]) + " or " + names[-1]


def _unclosed_brace(text: str) -> Span | None:
    """The ``{`` that is never closed, if any (there are no strings in the language, so counting
    braces outside comments is exact)."""
    stack: list[Span] = []
    for number, line in enumerate(text.split("\n"), start=1):
        code = line.split("#", 1)[0]
        for column, char in enumerate(code, start=1):
            if char == "{":
                stack.append(Span.point(number, column))
            elif char == "}" and stack:
                stack.pop()
    return stack[-1] if stack else None


def _end_position(text: str) -> Span:
    lines = text.split("\n")
    return Span.point(len(lines), len(lines[-1]) + 1)


def _syntax_error(exc: UnexpectedInput, source: Source) -> Diagnostic:
    from cnnc.lark_loading import UnexpectedCharacters, UnexpectedToken

    text = source.parsed_text
    label = _mistake_label(exc)
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        span = Span.point(exc.line, exc.column)
        message = f"unexpected character {char!r}"
        hint = None
        if char.isdigit() or char == ".":
            word = re.match(r"[0-9A-Za-z_.]*", text[exc.pos_in_stream:]).group()
            span = Span(exc.line, exc.column, exc.line, exc.column + len(word))
            message = f"malformed number or size `{word}`"
            hint = "numbers are like `64` or `0.5`; sizes are digits joined by `x`, like `3x3` or `224x224x3`"
        elif char == "/":
            hint = "division goes inside parentheses: `(c / 2)`, or `(c // 2)` for whole-number division"
        elif char in "\"'":
            hint = "the language has no strings: names are written bare, like `pad=same`"
        # (no label here: every labelled mistake is a misplaced token, and a label matched by parser
        # state alone would describe some other token)
        hint = hint or (
            "only layers, blocks, numbers, names, sizes like 3x3 and `( ) { } = ; , + - * //` are allowed")
        return error("E001", message, span, hint)
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    if token.type == "$END" or token.line is None:
        span = _end_position(text)
    else:
        span = _token_span(token)
    expected = exc.accepts or exc.expected
    message = f"unexpected {_describe_token(token)}"
    found = _expected(set(expected))
    if found:
        message += f"; {found}"
    hint = None
    if token.type == "RPAR" and "RPAR" not in expected:
        hint = "this `)` closes no `(`"
    elif token.type in ("$END", "_SEP") and "RPAR" in expected:
        hint = "a `(` is never closed on this line: add `)`"
    elif token.type == "SLASH":
        hint = "arithmetic goes in parentheses: `(c / 2)`, or `(c // 2)` for whole-number division"
    elif token.type == "DIMS" and "DIMS" not in expected:
        hint = "a size like `3x3` cannot take part in arithmetic; only single numbers can"
    hint = hint or label
    if hint is None and "RBRACE" in expected and token.type == "$END":
        opened = _unclosed_brace(text)
        where = f" (opened at line {opened.line}, column {opened.column})" if opened else ""
        hint = f"a `{{` is never closed{where}: add `}}`"
    if hint is None and token.type == "RBRACE":
        hint = "this `}` closes no block"
    if hint is None and token.type == "NAME" and "_SEP" in expected:
        hint = "put each statement on its own line or separate them with `;`"
    return error("E001", message, span, hint)


MAX_SOURCE_CHARACTERS = 512 * 1024
"""The longest spec cnnc parses (E006 beyond): some 20,000 lines, far past any network written by hand,
and short enough that any spec within the limits is checked in seconds (bench/check_limits.py)."""


def refusal(source: Source) -> Diagnostic | None:
    """Why a spec is not parsed at all (a NUL byte, or more text than cnnc reads), if it is not."""
    text = source.parsed_text
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        column = text.index("\x00") - (text.rfind("\n", 0, text.index("\x00")) + 1) + 1
        return error("E001", "the file contains a NUL byte: it is not a text spec",
                     Span.point(line, column), "is this a binary file? cnnc reads `.cnn` text")
    if len(text) > MAX_SOURCE_CHARACTERS:
        line = text.count("\n", 0, MAX_SOURCE_CHARACTERS) + 1
        column = MAX_SOURCE_CHARACTERS - text.rfind("\n", 0, MAX_SOURCE_CHARACTERS)
        length = f"{len(text):,} characters" if source.size is None else f"{source.size:,} bytes"
        return error("E006", f"the spec is {length} long, more than the "
                             f"{MAX_SOURCE_CHARACTERS:,} characters cnnc reads", Span.point(line, column),
                     "a network this long is better written with `def` blocks and `repeat`")
    return None


def parse(source: Source) -> tuple[ast.Module | None, list[Diagnostic]]:
    """Parse a spec. Returns the module, or None and the syntax error."""
    refused = refusal(source)
    if refused is not None:
        return None, [refused]
    text = source.parsed_text
    module = parse_fast(text)
    if module is not None:
        return module, []
    return parse_with_lark(source)


def parse_with_lark(source: Source) -> tuple[ast.Module | None, list[Diagnostic]]:
    """Parse a spec with Lark alone (what ``parse`` does where the fast path leaves the text)."""
    from cnnc.lark_loading import UnexpectedInput

    try:
        return _parser().parse(source.parsed_text), []
    except UnexpectedInput as exc:
        return None, [_syntax_error(exc, source)]
    except _NumberTooLarge as exc:
        return None, [error("E006", f"the number `{_abbreviated(exc.text)}` is too large", exc.span,
                            "numbers and sizes may be at most 10**100")]


def _abbreviated(text: str) -> str:
    return text if len(text) <= 30 else f"{text[:12]}...{text[-12:]} ({len(text):,} digits)"


