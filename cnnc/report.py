"""The analysis result: per-layer figures, totals and the assumptions behind the memory figures."""

from __future__ import annotations

import math

from cnnc import ir
from cnnc.assumptions import DTYPE_BYTES, OPTIMIZER_STATES
from cnnc.diagnostics import Diagnostic
from cnnc.frozen import field, frozen
from cnnc.render.units import short
from cnnc.source import Span


@frozen
class Assumptions:
    """What the memory figures assume; printed with every report."""

    batch: int = 1
    dtype: str = "float32"
    optimizer: str = "momentum"
    inplace_activations: bool = False  # activations (not softmax) and dropout overwrite their input

    @property
    def bytes_per_value(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def optimizer_states(self) -> int:
        return OPTIMIZER_STATES[self.optimizer]


@frozen
class LayerReport:
    """One layer as analyzed: its shapes, costs and receptive field."""

    node: ir.Node
    depth: int  # how many residual, concat, add or multiply blocks enclose it
    input: ir.Shape
    output: ir.Shape
    params: int
    buffers: int
    macs: int
    receptive_field: tuple[int, ...]
    jump: tuple[int, ...]
    padding: tuple[tuple[int, int], ...] | None = None  # resolved (before, after) per dimension
    allocates: bool = True  # False for views such as flatten
    input_field: tuple[int, ...] | None = None  # a layer that sees its whole input: the field entering it

    @property
    def name(self) -> str:
        return self.node.name

    def __repr__(self) -> str:
        settings = self.node.describe()
        kind = f"{self.kind} {settings}" if settings else self.kind
        return (f"<LayerReport {self.name} ({kind}): {self.input} -> {self.output}, {self.params:,} parameters, "
                f"{self.macs:,} MACs>")

    @property
    def reported_field(self) -> tuple[int, ...]:
        """The receptive field as reported: after an upsampling layer the exact value may be a fraction
        (the jump is then below one input pixel); its ceiling is the widest window an output sees."""
        return tuple(math.ceil(r) for r in self.receptive_field)

    @property
    def kind(self) -> str:
        return self.node.kind

    @property
    def span(self) -> Span:
        return self.node.span

    @property
    def activations(self) -> int:
        return self.output.size

    @property
    def flops(self) -> int:
        return 2 * self.macs


@frozen
class Totals:
    params: int
    buffers: int
    macs: int
    activations: int  # elements of every layer's output, per image
    weights_bytes: int  # parameters and buffers
    forward_bytes: int  # per image: the input and every layer output that owns storage
    inference_bytes: int  # per image: weights plus the peak of live activations, freed after last use
    training_bytes: int  # for the batch: stored activations and their gradients, weights, grads, optimizer

    @property
    def flops(self) -> int:
        return 2 * self.macs


@frozen  # its own __repr__ is kept
class Report:
    """What ``analyze`` found for a network. ``print(report)`` shows the table ``cnnc check`` prints;
    notebooks show it as HTML."""

    network: str
    input: ir.Shape | None
    output: ir.Shape | None
    layers: tuple[LayerReport, ...]
    totals: Totals | None
    assumptions: Assumptions
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    @property
    def headline(self) -> str:
        """``lenet5: 28x28x1 -> 10, 12 layers, 61,706 parameters, 416.5K MACs``."""
        text = f"{self.network}: {self.input} -> {self.output or '?'}, {len(self.layers):,} layers"
        if self.totals is not None:
            text += f", {self.totals.params:,} parameters, {short(self.totals.macs)} MACs"
        return text

    def __repr__(self) -> str:
        return f"<cnnc.Report {self.headline}>"

    def __str__(self) -> str:
        from cnnc.render.text import render_report

        return "".join(part.plain for part in render_report(self))

    def _repr_html_(self) -> str:
        from cnnc.render.html import report_html

        return report_html(self)

    def layer(self, name: str) -> LayerReport:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)
