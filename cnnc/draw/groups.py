"""Which block call or `repeat` each layer came from, for drawing them collapsed.

The IR keeps the block calls a layer was expanded from (``Layer.origin``) but not the repeats: a repeat
is found from the spec's syntax tree instead. A layer's statement, or the block call it came from,
lies inside the text of every `repeat` it was written in, so the repeats around each position are the
`repeat` statements whose spans contain it (definitions are top-level, never inside a repeat)."""

from __future__ import annotations

from cnnc import ir
from cnnc import syntax as ast
from cnnc.source import Source, Span

GroupKey = tuple  # ("repeat", span) or ("block", name, span, call number)


def repeat_spans(source: Source) -> list[Span]:
    """The span of every `repeat` statement of the spec, outermost first (empty if it does not parse)."""
    from cnnc.parser import parse

    if "repeat" not in source.parsed_text:  # no need to parse again (a 3,000-line spec takes 0.4 s)
        return []
    module, _ = parse(source)
    if module is None:
        return []
    found: list[Span] = []
    pending: list = list(module.statements)
    while pending:
        statement = pending.pop()
        if isinstance(statement, ast.Definition):
            pending.extend(statement.body.statements)
        elif isinstance(statement, ast.Call):
            if statement.op == "repeat" and statement.body is not None:
                found.append(statement.span)
            if statement.body is not None:
                pending.extend(statement.body.statements)
            for clause in statement.clauses:
                pending.extend(clause.body.statements)
    return sorted(found)


def _contains(outer: Span, inner: Span) -> bool:
    return (outer.line, outer.column) <= (inner.line, inner.column) and \
        (inner.end_line, inner.end_column) <= (outer.end_line, outer.end_column) and outer != inner


class Paths:
    """The groups around each node, outermost first: ``path(node)[d]`` is the group a node belongs to
    at nesting level ``d``; a node's children have paths that begin with the node's own."""

    def __init__(self, repeats: list[Span]) -> None:
        self.repeats = repeats
        self.around: dict[Span, tuple[GroupKey, ...]] = {}

    def repeats_around(self, span: Span) -> tuple[GroupKey, ...]:
        found = self.around.get(span)
        if found is None:
            # sorted by start, an enclosing repeat starts first: outermost first
            found = tuple(("repeat", repeat) for repeat in self.repeats if _contains(repeat, span))
            self.around[span] = found
        return found

    def path(self, node: ir.Node) -> tuple[GroupKey, ...]:
        keys: list[GroupKey] = []
        for frame in node.origin:
            keys += self.repeats_around(frame.span)
            keys.append(("block", frame.block, frame.span, frame.call))
        keys += self.repeats_around(node.span)
        return tuple(keys)


def runs(nodes: tuple[ir.Node, ...], depth: int, paths: Paths) -> list[tuple[GroupKey | None, list[ir.Node]]]:
    """``nodes`` cut into runs: each run of consecutive nodes in one group at level ``depth`` (key), and
    each node in no group there alone (key None)."""
    found: list[tuple[GroupKey | None, list[ir.Node]]] = []
    for node in nodes:
        path = paths.path(node)
        key = path[depth] if len(path) > depth else None
        if key is not None and found and found[-1][0] == key:
            found[-1][1].append(node)
        else:
            found.append((key, [node]))
    return found
