"""Evaluating argument expressions, and checking values against what a layer option accepts."""

from __future__ import annotations

import math
from collections.abc import Callable

from cnnc import syntax as ast
from cnnc.frozen import frozen
from cnnc.source import Span


@frozen
class Symbol:
    """A bare name that is not a parameter in scope: ``same``, ``false``, ``ceil``."""

    name: str

    def __str__(self) -> str:
        return self.name


Value = int | float | tuple | Symbol

MAX_MAGNITUDE = 10**100
"""The largest whole number a spec may write or compute, and the largest figure the analyzer reports
(E006 beyond it): far past any real network, and far below the 4,300 digits Python converts to text."""


EXACT_FLOAT = 2**53
"""Above this, a decimal literal (a float) used as a whole number may not be the number written."""


class BadValue(Exception):
    """A value that does not fit: becomes an E002 (unknown name) or E003 (bad argument) diagnostic."""

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None,
                 code: str = "E003") -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.code = code


def show(value: Value) -> str:
    """A value as it would be written in a spec."""
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def evaluate(expr: ast.Expr, scope: dict[str, Value]) -> Value:
    """The value of an expression. Iterative, so a 10,000-term sum cannot exhaust the stack."""
    stack: list[tuple[ast.Expr, bool]] = [(expr, False)]
    results: list[Value] = []
    while stack:
        node, children_done = stack.pop()
        if isinstance(node, ast.Number):
            results.append(node.value)
        elif isinstance(node, ast.Dims):
            results.append(node.values)
        elif isinstance(node, ast.Name):
            results.append(scope[node.id] if node.id in scope else Symbol(node.id))
        elif isinstance(node, ast.Negate):
            if not children_done:
                stack += [(node, True), (node.operand, False)]
            else:
                results.append(-_number(results.pop(), node.operand.span, "-"))
        elif isinstance(node, (ast.Function, ast.Size)):
            parts = node.args if isinstance(node, ast.Function) else node.parts
            if not children_done:
                stack += [(node, True)] + [(part, False) for part in reversed(parts)]
            else:
                values = results[len(results) - len(parts):]
                del results[len(results) - len(parts):]
                results.append(_function(node, values) if isinstance(node, ast.Function)
                               else tuple(_number(v, p.span, "x") for v, p in zip(values, parts)))
        elif isinstance(node, ast.BinaryOp):
            if not children_done:
                stack += [(node, True), (node.right, False), (node.left, False)]
            else:
                right, left = results.pop(), results.pop()
                results.append(_arithmetic_bounded(node, left, right))
        else:  # pragma: no cover - the parser makes no other nodes
            raise TypeError(node)
    return results[0]


def _number(value: Value, span: Span, op: str) -> int | float:
    if isinstance(value, Symbol):
        raise BadValue(f"unknown name `{value}`", span,
                          "only the parameters of the enclosing block can be used in arithmetic", code="E002")
    if not isinstance(value, (int, float)):
        raise BadValue(f"`{op}` needs numbers, not `{show(value)}`", span)
    return value


def _arithmetic(node: ast.BinaryOp, left: Value, right: Value) -> Value:
    a = _number(left, node.left.span, node.op)
    b = _number(right, node.right.span, node.op)
    if node.op == "+":
        return a + b
    if node.op == "-":
        return a - b
    if node.op == "*":
        return a * b
    if b == 0:
        raise BadValue("division by zero", node.right.span)
    return a / b if node.op == "/" else a // b


FUNCTIONS: dict[str, tuple[int, Callable]] = {
    "min": (2, min),
    "max": (2, max),
    "floor": (1, math.floor),
    "ceil": (1, math.ceil),
    "round": (1, round),  # half to even, as Python
}
"""The functions an expression may call: how many arguments each takes, and what it computes."""


def _function(node: ast.Function, values: list[Value]) -> Value:
    if node.name not in FUNCTIONS:
        from difflib import get_close_matches

        close = get_close_matches(node.name, FUNCTIONS, n=1)
        listed = ", ".join(f"`{name}`" for name in FUNCTIONS)
        raise BadValue(f"unknown function `{node.name}`", node.name_span,
                       f"did you mean `{close[0]}`?" if close else f"the functions are {listed}", code="E002")
    count, compute = FUNCTIONS[node.name]
    if len(values) != count:
        raise BadValue(f"`{node.name}` takes {count} argument{'s' if count > 1 else ''}, not {len(values)}",
                       node.span, "write `min(a, b)`, `max(a, b)`, `floor(x)`, `ceil(x)` or `round(x)`")
    numbers = [_number(value, arg.span, node.name) for value, arg in zip(values, node.args)]
    return _bounded(compute(*numbers), node.span)


def _bounded(result: int | float, span: Span) -> int | float:
    if not abs(result) <= MAX_MAGNITUDE:  # also catches an infinite float
        raise BadValue("the value is too large (more than 10**100)", span, code="E006")
    return result


def _arithmetic_bounded(node: ast.BinaryOp, left: Value, right: Value) -> Value:
    try:
        result = _arithmetic(node, left, right)
    except OverflowError:  # a true division whose quotient no float can hold
        raise BadValue("the value is too large (more than 10**100)", node.span, code="E006") from None
    if not abs(result) <= MAX_MAGNITUDE:  # also catches an infinite float
        raise BadValue("the value is too large (more than 10**100)", node.span, code="E006")
    return result


# Converters: each takes an evaluated value and returns what the IR stores, or raises. ----

Converter = Callable[[Value], object]


def _integer(value: Value, what: str) -> int:
    if isinstance(value, Symbol):
        raise BadValue(f"unknown name `{value}`; expected {what}", code="E002")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadValue(f"expected {what}, got `{show(value)}`")
    if isinstance(value, float):
        if not value.is_integer():
            raise BadValue(f"expected {what}, got `{show(value)}`", hint="use a whole number")
        if abs(value) > EXACT_FLOAT:  # `1e23` is 99999999999999991611392 as a float
            raise BadValue(f"expected {what}, got `{show(value)}`, which a decimal number cannot hold exactly",
                           hint="write the whole number in digits: a decimal like `1e23` keeps only about 16 "
                                "significant digits")
        return int(value)
    return value


def whole(minimum: int, what: str) -> Converter:
    """A whole number of at least ``minimum``."""
    def convert(value: Value) -> int:
        number = _integer(value, what)
        if number < minimum:
            raise BadValue(f"expected {what}, got {number}", hint=f"use a whole number of at least {minimum}")
        return number
    return convert


def sizes(minimum: int, what: str) -> Converter:
    """One whole number for every spatial dimension (``5``) or one per dimension (``1x7``)."""
    def convert(value: Value) -> tuple[int, ...]:
        values = value if isinstance(value, tuple) else (value,)
        numbers = tuple(_integer(v, what) for v in values)
        if any(n < minimum for n in numbers):
            raise BadValue(f"expected {what}, got {show(value)}",
                              hint=f"every size must be at least {minimum}")
        return numbers
    return convert


def padding(value: Value) -> tuple[int, ...] | str:
    """``same``, ``valid`` (no padding) or sizes of at least 0."""
    if isinstance(value, Symbol):
        if value.name == "same":
            return "same"
        if value.name == "valid":
            return (0,)
        raise _not_one_of(value, ("same", "valid"), "padding")
    return sizes(0, "a padding of 0 or more, `same` or `valid`")(value)


def transposed_padding(value: Value) -> tuple[int, ...]:
    """A transposed convolution's padding: sizes of at least 0 (``same`` has no meaning there)."""
    if isinstance(value, Symbol) and value.name in ("same", "valid"):
        if value.name == "valid":
            return (0,)
        raise BadValue("`deconv` has no `pad=same`",
                       hint="a transposed convolution's output grows with the stride; give the padding as sizes: "
                            "`deconv 64 4 stride=2 pad=1` doubles the size, as does "
                            "`deconv 64 3 stride=2 pad=1 output_pad=1`")
    return sizes(0, "a padding of 0 or more")(value)


def boolean(value: Value) -> bool:
    if isinstance(value, Symbol) and value.name in ("true", "false"):
        return value.name == "true"
    raise _not_one_of(value, ("true", "false"), "boolean")


def choice(*names: str) -> Converter:
    def convert(value: Value) -> str:
        if isinstance(value, Symbol) and value.name in names:
            return value.name
        raise _not_one_of(value, names, "value")
    return convert


def real(minimum: float | None = None, maximum: float | None = None, *, open_minimum: bool = False,
         open_maximum: bool = False, what: str = "a number") -> Converter:
    """A finite number within the given bounds."""
    def convert(value: Value) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, Symbol):
                raise BadValue(f"unknown name `{value}`; expected {what}", code="E002")
            raise BadValue(f"expected {what}, got `{show(value)}`")
        number = float(value)
        too_low = minimum is not None and (number <= minimum if open_minimum else number < minimum)
        too_high = maximum is not None and (number >= maximum if open_maximum else number > maximum)
        if not math.isfinite(number) or too_low or too_high:
            raise BadValue(f"expected {what}, got {show(value)}")
        return number
    return convert


def _not_one_of(value: Value, names: tuple[str, ...], what: str) -> BadValue:
    from difflib import get_close_matches

    listed = ", ".join(f"`{n}`" for n in names)
    if isinstance(value, Symbol):
        close = get_close_matches(value.name, names, n=1)
        hint = f"did you mean `{close[0]}`? expected one of {listed}" if close else f"expected one of {listed}"
        return BadValue(f"unknown {what} `{value}`", hint=hint, code="E002")
    return BadValue(f"expected one of {listed}, got `{show(value)}`")
