"""The AST: what was written, with where it was written. The grammar knows no layer names."""

from __future__ import annotations


from cnnc.frozen import frozen
from cnnc.source import Span


# Expressions -----------------------------------------------------------------------------

@frozen
class Number:
    value: int | float
    span: Span


@frozen
class Dims:
    """``3x3``, ``224x224x3``: one integer per dimension."""

    values: tuple[int, ...]
    span: Span


@frozen
class Name:
    """A bare name: a block parameter, or a symbol such as ``same`` or ``false``."""

    id: str
    span: Span


@frozen
class BinaryOp:
    op: str  # one of + - * / //
    left: Expr
    right: Expr
    span: Span


@frozen
class Negate:
    operand: Expr
    span: Span


@frozen
class Function:
    """``min(a, b)``, ``max(a, b)``, ``floor(x)``, ``ceil(x)``, ``round(x)``."""

    name: str
    args: tuple[Expr, ...]
    span: Span
    name_span: Span


@frozen
class Size:
    """A size built from expressions, ``(s)x(s)`` or ``1x(s)x(s)``: one expression per dimension."""

    parts: tuple[Expr, ...]
    span: Span


Expr = Number | Dims | Name | BinaryOp | Negate | Function | Size


# Statements ------------------------------------------------------------------------------

@frozen
class Option:
    """``key=value``."""

    key: str
    value: Expr
    span: Span
    key_span: Span


@frozen
class Block:
    """``{ statements }``."""

    statements: tuple[Statement, ...]
    span: Span


@frozen
class Clause:
    """A named block after a call's first block: ``shortcut { ... }``."""

    keyword: str
    body: Block
    span: Span


@frozen
class Call:
    """Any use of a name as a statement: ``conv 64 3x3 pad=1``, ``repeat 2 { ... }``, ``conv3 64``.

    ``args`` and ``options`` keep their order of writing in ``items`` so that elaboration can
    report a positional argument written after an option.
    """

    op: str
    items: tuple[Expr | Option, ...]
    body: Block | None
    clauses: tuple[Clause, ...]
    span: Span
    op_span: Span

    @property
    def args(self) -> tuple[Expr, ...]:
        return tuple(item for item in self.items if not isinstance(item, Option))

    @property
    def options(self) -> tuple[Option, ...]:
        return tuple(item for item in self.items if isinstance(item, Option))


@frozen
class Settings:
    """A line of bare options, as in a ``train { }`` section: ``optimizer=sgd lr=0.05``."""

    options: tuple[Option, ...]
    span: Span


@frozen
class Parameter:
    name: str
    default: Expr | None
    span: Span


@frozen
class Definition:
    """``def name(params) { body }``: a reusable block."""

    name: str
    parameters: tuple[Parameter, ...]
    body: Block
    span: Span
    name_span: Span


Statement = Call | Settings | Definition


@frozen
class Module:
    statements: tuple[Statement, ...]
    span: Span


def mentions(block: Block, name: str) -> bool:
    """Whether ``name`` is read anywhere in ``block`` (block definitions cannot see it: they are
    top-level, with scopes of their own)."""
    pending: list = [block]
    while pending:
        node = pending.pop()
        if isinstance(node, Name):
            if node.id == name:
                return True
        elif isinstance(node, Block):
            pending.extend(node.statements)
        elif isinstance(node, Call):
            pending.extend(node.items)
            pending.extend(clause.body for clause in node.clauses)
            if node.body is not None:
                pending.append(node.body)
        elif isinstance(node, (Option, Settings)):
            pending.extend(node.options if isinstance(node, Settings) else (node.value,))
        elif isinstance(node, BinaryOp):
            pending += [node.left, node.right]
        elif isinstance(node, Negate):
            pending.append(node.operand)
        elif isinstance(node, (Function, Size)):
            pending.extend(node.args if isinstance(node, Function) else node.parts)
    return False


def loop_variable(args: tuple) -> str | None:
    """The name in ``repeat N as NAME``, if the arguments have that form."""
    if (len(args) == 3 and isinstance(args[1], Name) and args[1].id == "as"
            and isinstance(args[2], Name)):
        return args[2].id
    return None
