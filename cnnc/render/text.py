"""The human report: a table of the layers, then totals and the assumptions behind them.

Tables are aligned here rather than by rich's Table: a 3,000-layer report must print in a fraction
of a second, and a table of numbers must never be squeezed or cut to ellipses. Given a width (a
terminal's), the report fits in it; without one it is printed whole, with exact counts."""

from __future__ import annotations

from cnnc.render.layers import fitted_layer_table, layer_table
from cnnc.render.styled import StyledText
from cnnc.render.table import Column, aligned, column_widths, packed
from cnnc.render.units import count, short, size
from cnnc.report import Report

# Column and aligned: for the other tables; the rows and the sentence: for the HTML report
__all__ = ["Column", "aligned", "assumptions_text", "render_report", "totals_rows", "totals_table"]


def wrapped(text: str, width: int | None) -> str:
    """Prose in lines of at most ``width`` characters, broken between words (as it is without a width)."""
    if width is None or len(text) <= width:
        return text
    return "\n".join(packed(text.split(" "), width))


def totals_rows(report: Report) -> list[tuple[str, str, str]]:
    """(figure, value, what it counts) for each total."""
    totals, assumptions = report.totals, report.assumptions
    return [
        ("Parameters", count(totals.params), short(totals.params)),
        ("Buffers", count(totals.buffers), "batch-norm running mean and variance"),
        ("MACs", count(totals.macs), f"{short(totals.macs)} multiply-accumulates per image (conv, fc)"),
        ("FLOPs", count(totals.flops), "2 x MACs"),
        ("Activations", count(totals.activations), "elements of every layer output, per image"),
        ("Weights", size(totals.weights_bytes), "parameters and buffers"),
        ("Forward memory", size(totals.forward_bytes), "per image: the input and every layer output"),
        ("Inference memory", size(totals.inference_bytes), "per image: weights + the peak of live tensors"),
        ("Training memory", size(totals.training_bytes),
         f"batch {assumptions.batch}: activations and their gradients, weights, gradients, "
         f"{assumptions.optimizer} state ({assumptions.optimizer_states} per parameter)"),
    ]


def totals_table(report: Report, width: int | None = None) -> StyledText:
    rows = totals_rows(report)
    columns = (Column("", style="bold"), Column("", right=True), Column("", style="dim"))
    if width is not None:  # the explanations fold between words
        label, figure, _ = column_widths(columns, rows)
        room = max(width - label - figure - 4, 1)
        rows = [(name, value, wrapped(note, room)) for name, value, note in rows]
    return StyledText("\n").append_text(aligned(columns, rows, header=False))


def render_report(report: Report, width: int | None = None) -> list[StyledText]:
    """The report's parts, to print one after another without wrapping: whole, or within ``width``
    columns (see cnnc.render.layers for how the layer table fits)."""
    header = StyledText()
    header.append(report.network, style="bold")
    header.append(f"  {report.input} -> {report.output if report.output else '?'}\n", style="cyan")
    if width is None:
        parts = [header, layer_table(report)]
    else:
        fitted = fitted_layer_table(report, width)
        parts = [header, fitted.table]
        if fitted.note:
            parts.append(StyledText(wrapped(fitted.note, width) + "\n", style="dim"))
    if report.totals is not None:
        parts.append(totals_table(report, width))
        parts.append(StyledText(wrapped(assumptions_text(report), width) + "\n", style="dim"))
    return parts


def assumptions_text(report: Report) -> str:
    """What the memory figures assume, in a sentence."""
    in_place = "activations and dropout in place" if report.assumptions.inplace_activations else "no in-place layers"
    return (f"Assumes {report.assumptions.dtype} ({report.assumptions.bytes_per_value} bytes a value), {in_place}; "
            f"flatten is a view. See docs/language.md, 'Memory'.")
