"""What a drawing writes beside its layers: the diagnostics on the layers they concern, and the totals."""

from __future__ import annotations

from cnnc import ir
from cnnc.diagnostics import Diagnostic
from cnnc.render.units import short, size


def diagnostic_text(diagnostic: Diagnostic) -> str:
    """``warning[W201] `conv1` ...``, as the command line writes a diagnostic's first line."""
    return f"{diagnostic.severity.value}[{diagnostic.code}] {diagnostic.message}"


class Marks:
    """The diagnostics of a checked spec, by layer. A diagnostic belongs to the layers written where it
    points whose block calls are among its notes (a layer of a block is written once, called many
    times); one that points at no layer (a budget, the input) is drawn in the footer or on the input."""

    def __init__(self, checked) -> None:
        self.network: ir.Network = checked.network
        by_span: dict = {}
        for node in ir.walk(self.network.layers):
            by_span.setdefault(node.span, []).append(node)
        self.by_layer: dict[str, list[Diagnostic]] = {}
        self.on_input: list[Diagnostic] = []
        self.elsewhere: list[Diagnostic] = []
        for diagnostic in checked.diagnostics:
            candidates = by_span.get(diagnostic.span, [])
            notes = {note.span for note in diagnostic.notes}
            chosen = [node for node in candidates if all(frame.span in notes for frame in node.origin)] or candidates
            for node in chosen:
                self.by_layer.setdefault(node.name, []).append(diagnostic)
            if not chosen:
                on_input = diagnostic.span is not None and diagnostic.span == self.network.input_span
                (self.on_input if on_input else self.elsewhere).append(diagnostic)

    def of(self, nodes: list[ir.Node]) -> tuple[list[str], bool]:
        """The lines of the diagnostics on ``nodes``, and whether they are all warnings (or less)."""
        found: list[Diagnostic] = []
        for node in nodes:
            for diagnostic in self.by_layer.get(node.name, ()):
                if diagnostic not in found:
                    found.append(diagnostic)
        return self._lines(found)

    def of_input(self) -> tuple[list[str], bool]:
        return self._lines(self.on_input)

    def unplaced(self) -> list[Diagnostic]:
        return self.elsewhere

    @staticmethod
    def _lines(found: list[Diagnostic]) -> tuple[list[str], bool]:
        return [diagnostic_text(d) for d in found], not any(d.is_error for d in found)


def totals_lines(checked) -> list[str]:
    """The footer: the headline, the counts, and the memory with what it assumes."""
    report = checked.report
    if report is None:
        return [f"{checked.network.name}: not analyzed (the spec has errors)"]
    lines = [report.headline]
    totals = report.totals
    if totals is None:
        return lines + ["no totals: the analysis stopped at an error"]
    assumed = report.assumptions
    lines.append(f"params {totals.params:,}, buffers {totals.buffers:,}, MACs {short(totals.macs)} "
                 f"({totals.macs:,}), FLOPs {short(totals.flops)}")
    lines.append(f"memory: weights {size(totals.weights_bytes)}, inference {size(totals.inference_bytes)} per image, "
                 f"training {size(totals.training_bytes)} (batch {assumed.batch}, {assumed.dtype}, "
                 f"{assumed.optimizer})")
    return lines
