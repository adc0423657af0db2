"""Checks of the ``def`` blocks before expansion: names, duplicates, and cycles of calls."""

from __future__ import annotations

from cnnc import syntax as ast
from cnnc.catalog import RESERVED
from cnnc.diagnostics import Diagnostic, error
from cnnc.source import Span


def collect_definitions(module: ast.Module) -> tuple[dict[str, ast.Definition], list[Diagnostic]]:
    """The top-level blocks by name; a block named like a built-in or defined twice is an error."""
    definitions: dict[str, ast.Definition] = {}
    found: list[Diagnostic] = []
    for statement in module.statements:
        if not isinstance(statement, ast.Definition):
            continue
        if statement.name in RESERVED:
            found.append(error("E005", f"`{statement.name}` is a built-in name and cannot name a block",
                               statement.name_span, f"rename the block, for example `{statement.name}_block`"))
        elif statement.name in definitions:
            first = definitions[statement.name]
            found.append(error("E005", f"block `{statement.name}` is defined twice", statement.name_span,
                               f"the first definition is at line {first.span.line}"))
        else:
            definitions[statement.name] = statement
    return definitions, found


def calls_in(block: ast.Block):
    """Every call in a block and the blocks nested in it, with its span (iteratively: nesting may be
    deeper than Python's stack)."""
    pending = [block]
    while pending:
        current = pending.pop()
        for statement in current.statements:
            if isinstance(statement, ast.Call):
                yield statement.op, statement.op_span
                if statement.body is not None:
                    pending.append(statement.body)
                pending.extend(clause.body for clause in statement.clauses)


def recursive_blocks(definitions: dict[str, ast.Definition]) -> tuple[set[str], list[Diagnostic]]:
    """Every block on a cycle of calls, and an E004 at the call that closes each cycle (the language
    has no conditionals, so any cycle is infinite). An iterative depth-first search."""
    calls: dict[str, list[tuple[str, Span]]] = {name: list(calls_in(d.body)) for name, d in definitions.items()}
    recursive: set[str] = set()
    found: list[Diagnostic] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for root in definitions:
        if root in state:
            continue
        path: list[str] = [root]
        state[root] = 1
        pending = [iter(calls[root])]
        while pending:
            step = next(pending[-1], None)
            if step is None:
                state[path.pop()] = 2
                pending.pop()
                continue
            callee, span = step
            if callee not in definitions:
                continue
            if state.get(callee) == 1:
                cycle = path[path.index(callee):] + [callee]
                recursive.update(cycle)
                found.append(error("E004", f"block `{callee}` calls itself: {' -> '.join(cycle)}", span,
                                   "a block cannot use itself, directly or through other blocks; "
                                   "use `repeat N { ... }` for repetition"))
            elif callee not in state:
                state[callee] = 1
                path.append(callee)
                pending.append(iter(calls[callee]))
    return recursive, found


def parameter_problem(definition: ast.Definition) -> tuple[str, Span, str | None] | None:
    """What is wrong with a definition's parameter list, as (message, span, help), or None: a name
    listed twice, or a parameter without a default after one with a default."""
    names: set[str] = set()
    seen_default = False
    for parameter in definition.parameters:
        if parameter.name in names:
            return f"parameter `{parameter.name}` is listed twice", parameter.span, None
        names.add(parameter.name)
        if parameter.default is None and seen_default:
            return (f"parameter `{parameter.name}` has no default but follows one that has", parameter.span,
                    "put parameters with defaults last")
        seen_default = seen_default or parameter.default is not None
    return None
