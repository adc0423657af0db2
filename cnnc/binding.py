"""Binding a call's arguments to its parameters: positionals in order, options by name, each value
evaluated in the enclosing scope, with one located error per mistake (an unknown option, a value
given twice, an option written as a positional, too many or too few arguments)."""

from __future__ import annotations

from collections.abc import Callable

from cnnc import syntax as ast
from cnnc.diagnostics import did_you_mean
from cnnc.frozen import field, frozen
from cnnc.misplaced import option_meant
from cnnc.source import Source, Span
from cnnc.values import BadValue, Converter, Value, evaluate

Report = Callable[[str, str, "Span | None", "str | None"], None]
"""Records one error: (code, message, span, help)."""


@frozen
class Parameters:
    """What a layer or block accepts. ``positional``: (name, has a default) in order; ``names``: every
    name an option may use; ``owner`` names the layer or block in messages; ``options``: the names that
    may be written as positionals by mistake (`stride 2`), with what converts their values, if known;
    ``docs``: a line on each, for hints."""

    positional: list[tuple[str, bool]]
    names: list[str]
    usage: str
    owner: str
    options: dict[str, Converter | None]
    docs: dict[str, str] = field(default_factory=dict)


def bind(call: ast.Call, parameters: Parameters, scope: dict[str, Value], statements: set[str], source: Source,
         report: Report) -> dict[str, tuple[Value, Span]] | None:
    """Each parameter's value and where it was written; None after an error (reported). ``statements``
    are the names that begin a statement (layers and blocks), which a misplaced argument may be."""
    positional, names, usage, owner = parameters.positional, parameters.names, parameters.usage, parameters.owner
    bound: dict[str, tuple[Value, Span]] = {}
    ok = True
    position = 0
    seen_option = False
    extra: list[ast.Expr] = []  # positionals past the last parameter
    extra_hint: str | None = None
    after_option: list[ast.Expr] = []
    items = call.items
    skip = -1
    for index, item in enumerate(items):
        if index == skip:
            continue
        if isinstance(item, ast.Option):
            seen_option = True
            if item.key not in names:
                report("E002", f"{owner} has no option `{item.key}`", item.key_span,
                       did_you_mean(item.key, names) or f"usage: {usage}")
                ok = False
                continue
            key, expr = item.key, item.value
        else:
            meant = option_meant(items, index, parameters.options, position >= len(positional), scope, statements,
                                 source)
            message = meant.message(owner) if meant else None
            if meant and message:
                report("E003", message, meant.span, meant.hint(parameters.docs.get(meant.option, "")))
                ok = False
                skip = index + 1 if meant.value is not None else -1
                continue
            if seen_option:
                after_option.append(item)
                ok = False
                continue
            if position >= len(positional):
                extra_hint = extra_hint or (meant.hint() if meant else None)
                extra.append(item)
                ok = False
                position += 1
                continue
            key, expr = positional[position][0], item
            position += 1
        if key in bound:
            report("E003", f"`{key}` is given twice", item.span, f"usage: {usage}")
            ok = False
            continue
        try:
            bound[key] = (evaluate(expr, scope), expr.span)
        except BadValue as problem:
            report(problem.code, problem.message, problem.span or expr.span, problem.hint)
            ok = False
    if extra:
        _too_many(call, extra, len(positional), usage, extra_hint, statements, report)
    if after_option:
        report("E003", "a positional argument follows an option", after_option[0].span.to(after_option[-1].span),
               _subtraction_hint(call) or f"write positional arguments first; usage: {usage}")
    missing = [name for name, has_default in positional if not has_default and name not in bound]
    if missing and ok:
        listed = " ".join(name.upper() for name in missing)
        report("E003", f"{owner} needs {listed}", call.span, f"usage: {usage}")
        ok = False
    return bound if ok else None


def _too_many(call: ast.Call, extra: list[ast.Expr], expected: int, usage: str, hint: str | None,
              statements: set[str], report: Report) -> None:
    """One error for every positional past the last parameter."""
    takes = f"takes {expected} positional argument{'s' if expected != 1 else ''}"
    first = extra[0]
    if isinstance(first, ast.Name) and first.id in statements:
        hint = (f"{hint[:-1]}, or the `{first.id}` layer on a line of its own (or after `;`)?" if hint else
                f"`{first.id}` is read as an argument: put it on its own line or after `;`")
    elif isinstance(first, ast.Name) and first.id == "x":
        hint = "write sizes without spaces: `3x3`"
    hint = _subtraction_hint(call) or hint or f"usage: {usage}"
    report("E003", f"`{call.op}` {takes}", first.span.to(extra[-1].span), hint)


def _subtraction_hint(call: ast.Call) -> str | None:
    """`stride=s - 1` reads as `stride=s` and a positional `-1`: say how to subtract."""
    if any(isinstance(item, ast.Number) and item.value < 0 for item in call.args):
        return "to subtract, put the arithmetic in parentheses: `stride=(s - 1)`, `conv (c - 1) 3x3`"
    return None
