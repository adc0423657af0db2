"""What a lint rule reads: the checked spec, its analysis, the budgets, and walks over its paths."""

from __future__ import annotations

from functools import cached_property
from math import ceil

from cnnc import ir
from cnnc.diagnostics import Note, Severity
from cnnc.frozen import field, frozen
from cnnc.report import LayerReport, Report
from cnnc.shapes import Window, windows
from cnnc.source import Source, Span

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Iterator, Mapping


@frozen
class Budgets:
    """Limits that fail the check when exceeded (None: no limit)."""

    params: int | None = None
    macs: int | None = None
    memory: int | None = None  # training memory in bytes
    receptive_field: int | None = None  # smallest receptive field at the head, per spatial dimension


@frozen
class LintSettings:
    """Which rules run, the severities they report at, and the budgets."""

    enabled: frozenset[str]
    severities: Mapping[str, Severity] = field(default_factory=dict)
    budgets: Budgets = Budgets()


@frozen
class Finding:
    """What a rule found: a message at a layer (or at a span), with a hint and secondary locations."""

    message: str
    node: ir.Node | None = None
    span: Span | None = None
    help: str | None = None
    notes: tuple[Note, ...] = ()

    @property
    def location(self) -> Span | None:
        return self.span or (self.node.span if self.node is not None else None)


@frozen
class LintContext:
    source: Source
    network: ir.Network
    report: Report
    budgets: Budgets = Budgets()

    @cached_property
    def rows(self) -> dict[str, LayerReport]:
        return {row.name: row for row in self.report.layers}

    def row(self, node: ir.Node) -> LayerReport:
        return self.rows[node.name]

    def paths(self) -> Iterator[tuple[ir.Node, ...]]:
        """Every sequence of layers that runs one after another: the top level, then each residual
        body and shortcut and each branch of a concat, add or multiply."""
        pending = [self.network.layers]
        while pending:
            path = pending.pop(0)
            yield path
            for node in path:
                pending.extend(branches(node))


def branches(node: ir.Node) -> tuple[tuple[ir.Node, ...], ...]:
    """The parallel paths of a residual, concat, add or multiply; () for any other layer."""
    if isinstance(node, ir.Residual):
        return (node.body, node.shortcut)
    if isinstance(node, ir.MERGES):
        return node.branches
    return ()


def layer_windows(row: LayerReport) -> tuple[Window, ...] | None:
    """The per-dimension windows of a conv or pool as analyzed; None for other layers. Adaptive
    pools are skipped on purpose: their windows differ in size and step, and always cover the
    whole input, so no window rule (W201, W202, W203, W208) applies to them."""
    node = row.node
    if isinstance(node, ir.Conv):
        return windows(row.input.spatial, node.kernel, node.stride, node.pad, node.dilation, node.ceil_mode)
    if isinstance(node, ir.Pool):
        return windows(row.input.spatial, node.kernel, node.strides, node.pad, (1,), node.ceil_mode)
    return None


def dimension_names(rank: int) -> tuple[str, ...]:
    """How messages name the spatial dimensions: rows and columns of an image, positions of a signal."""
    if rank == 1:
        return ("positions",)
    if rank == 2:
        return ("rows", "columns")
    return tuple(f"positions along dimension {axis}" for axis in range(1, rank + 1))


def sizes(values) -> str:
    """``3x3``; a single value when every dimension agrees."""
    values = tuple(values)
    return str(values[0]) if len(set(values)) == 1 else "x".join(str(v) for v in values)


def head(report: Report) -> LayerReport | None:
    """The first flatten, fully connected layer or global pool: where the features meet the classifier.
    Not one inside a `multiply` (the global pool of a squeeze-excite gates the features, and its
    product keeps every position)."""
    gating = {node.name for row in report.layers if isinstance(row.node, ir.Multiply)
              for branch in row.node.branches for node in ir.walk(branch)}
    heads = (ir.Flatten, ir.Dense, ir.GlobalAvgPool, ir.GlobalMaxPool)
    return next((row for row in report.layers if isinstance(row.node, heads)
                 and row.name not in gating), None)


def head_receptive_field(row: LayerReport) -> tuple[int, ...]:
    """The receptive field of the features entering ``row`` (which sees its whole input at once)."""
    return tuple(ceil(r) for r in (row.input_field if row.input_field is not None else row.receptive_field))
