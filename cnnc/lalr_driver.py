"""The parser's fast path: a contextual lexer and an LALR driver over the tables Lark built for our
grammar (``cnnc.lalr_tables``), without importing Lark.

It behaves as Lark's LALR parser with its contextual lexer and an inline transformer do on a text
that parses: the same tokens (in each parser state, the terminals that state accepts plus the
ignored ones, tried in Lark's order, a keyword matched by a pattern retyped as Lark retypes it), the
same positions, the same reductions in the same order, and the children of each rule shaped as
Lark's tree builder shapes them (filtered tokens, ``_rule`` inlined, ``?rule`` with one child
replaced by it, ``None`` for an absent ``[...]``). On anything else it raises ``CannotParse`` and
the caller parses with Lark, whose diagnostics the user then gets."""

from __future__ import annotations

import re
from collections.abc import Callable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any


class CannotParse(Exception):
    """The fast path does not parse this text (a syntax error, or a case it leaves to Lark)."""


class Token(str):
    """A token as Lark's ``Token`` gives it: the text, its terminal's name and where it was written
    (lines and columns from 1; ``end_*`` just past its last character)."""

    def __new__(cls, type: str, value: str, start_pos: int, line: int, column: int,  # noqa: A002 - Lark's name
                end_line: int, end_column: int, end_pos: int) -> Token:
        token = str.__new__(cls, value)
        token.type = type
        token.value = value
        token.start_pos = start_pos
        token.line = line
        token.column = column
        token.end_line = end_line
        token.end_column = end_column
        token.end_pos = end_pos
        return token

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {self.value!r})"


class Inlined:
    """The value of a ``_rule``: its children, which the rule using it takes as its own."""

    __slots__ = ("children",)

    def __init__(self, children: list) -> None:
        self.children = children


def _tree_needed(children: list) -> None:
    """A rule the transformer has no method for (a ``?rule`` whose one child always stands in for it
    never gets here): Lark would build a ``Tree``, which the fast path leaves to Lark."""
    raise CannotParse("a rule without a transformer method")


class _Scanner:
    """The terminals one parser state accepts, in the order Lark tries them; the first that matches
    wins. Compiled on first use (a text visits only some of the parser states)."""

    __slots__ = ("terminals", "retype", "_matchers")

    def __init__(self, terminals: list[tuple[str, bool, str]], retype: dict[str, dict[str, str]]) -> None:
        self.terminals = terminals
        self.retype = retype
        self._matchers: list[tuple[str, str | None, Callable | None]] | None = None

    def matchers(self, compiled: dict[str, Callable]) -> list[tuple[str, str | None, Callable | None]]:
        """(name, literal text or None, a pattern's ``match`` or None) per terminal."""
        if self._matchers is None:
            found = []
            for name, literal, pattern in self.terminals:
                if literal:
                    found.append((name, pattern, None))
                else:
                    match = compiled.get(pattern)
                    if match is None:
                        match = compiled[pattern] = re.compile(pattern).match
                    found.append((name, None, match))
            self._matchers = found
        return self._matchers


class FastParser:
    """An LALR parser over tables exported by ``cnnc.lalr_tables.export_tables``."""

    def __init__(self, tables: dict[str, Any]) -> None:
        self.start_state: int = tables["start_state"]
        self.end_state: int = tables["end_state"]
        self.actions: list[dict[str, int]] = tables["actions"]
        self.rules: list[tuple] = tables["rules"]
        self.ignore: frozenset[str] = frozenset(tables["ignore"])
        self.terminal_names: frozenset[str] = frozenset(tables["terminals"])
        self.scanners = [_Scanner(terminals, retype) for terminals, retype in tables["scanners"]]
        self.scanner_of_state: list[int] = tables["scanner_of_state"]
        self._compiled: dict[str, Callable] = {}
        self._builders: tuple[object, list[Callable]] | None = None  # the last transformer's

    def _rule_builders(self, transformer: object) -> list[Callable]:
        """Per rule, what makes its value: the transformer's method named by the rule (its alias,
        else its name), or ``Inlined`` for a ``_rule`` the transformer does not name (the rules using
        it take its children)."""
        if self._builders is not None and self._builders[0] is transformer:
            return self._builders[1]
        if any(hasattr(transformer, name) for name in self.terminal_names):
            raise CannotParse("the transformer has token callbacks")  # left to Lark
        builders = []
        for origin, _size, name, _single, _plan, _nones in self.rules:
            method = getattr(transformer, name, None)
            if method is None:
                method = Inlined if origin.startswith("_") else _tree_needed
            builders.append(method)
        self._builders = (transformer, builders)
        return builders

    def parse(self, text: str, transformer: object) -> Any:
        """The transformer's value for the start rule of ``text``; CannotParse where Lark would raise
        (or where the fast path leaves the work to Lark)."""
        builders = self._rule_builders(transformer)
        actions, rules, ignore = self.actions, self.rules, self.ignore
        scanners, scanner_of_state, compiled = self.scanners, self.scanner_of_state, self._compiled
        end_state = self.end_state
        state_stack = [self.start_state]
        value_stack: list[Any] = []
        position, line, line_start, end = 0, 1, 0, len(text)
        while True:
            # The next token, lexed with the terminals the current parser state accepts.
            token = None
            while position < end:
                scanner = scanners[scanner_of_state[state_stack[-1]]]
                for name, literal, match in scanner.matchers(compiled):
                    if literal is not None:
                        if text.startswith(literal, position):
                            value = literal
                            break
                    else:
                        found = match(text, position)
                        if found:
                            value = found.group()
                            break
                else:
                    raise CannotParse(f"no terminal matches at {position}")
                start, start_line, start_column = position, line, position - line_start + 1
                newlines = value.count("\n")
                if newlines:
                    line += newlines
                    line_start = position + value.rindex("\n") + 1
                position += len(value)
                if name in ignore:
                    continue
                retype = scanner.retype.get(name)
                if retype is not None:
                    name = retype.get(value, name)
                token = Token(name, value, start, start_line, start_column, line, position - line_start + 1,
                              position)
                break
            kind = "$END" if token is None else token.type
            # Reduce as long as the state says so, then shift the token (or stop at the end).
            while True:
                action = actions[state_stack[-1]].get(kind)
                if action is None:
                    raise CannotParse(f"unexpected {kind}")
                if action >= 0:
                    if token is None:
                        raise CannotParse("a shift at the end")  # Lark asserts the same
                    state_stack.append(action)
                    value_stack.append(token)
                    break
                rule = ~action
                _origin, size, _name, single, plan, nones_after = rules[rule]
                if size:
                    children = value_stack[-size:]
                    del state_stack[-size:]
                    del value_stack[-size:]
                else:
                    children = []
                if plan is not None:
                    kept: list[Any] = []
                    for index, expand, nones in plan:
                        if nones:
                            kept += [None] * nones
                        if expand and not kept:
                            # the first of the children: its list is taken over, as no other value holds it,
                            # so that a list rule (``_statements: _statements _SEP statement``) grows in place
                            # where copying it at each statement was quadratic (104,855 statements on one
                            # line: 15.6 s in this loop)
                            kept = children[index].children
                        elif expand:
                            kept += children[index].children
                        else:
                            kept.append(children[index])
                    if nones_after:
                        kept += [None] * nones_after
                    children = kept
                value = children[0] if single and len(children) == 1 else builders[rule](children)
                goto = actions[state_stack[-1]][rules[rule][0]]
                state_stack.append(goto)
                value_stack.append(value)
                if token is None and goto == end_state:
                    return value
