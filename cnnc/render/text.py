"""The human report: a table of the layers, then totals and the assumptions behind them.

The layer table is aligned here rather than by rich's Table: a 3,000-layer report must print in a
fraction of a second, and a table of numbers must never be squeezed or cut to ellipses."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from cnnc.report import LayerReport, Report
from cnnc.render.units import count, short, size


@dataclass(frozen=True)
class Column:
    header: str
    right: bool = False  # numbers are right-aligned
    style: str = ""


LAYER_COLUMNS = (
    Column("Line", right=True, style="dim"), Column("Layer"), Column("Settings"), Column("Output", right=True),
    Column("Params", right=True), Column("MACs", right=True), Column("Activations", right=True),
    Column("RF", right=True),
)


def aligned(columns: tuple[Column, ...], rows: list[tuple[str, ...]], gap: int = 2, header: bool = True) -> Text:
    """Rows of cells aligned in columns (under a header and a rule), as styled text."""
    widths = [max([len(c.header)] + [len(row[i]) for row in rows]) for i, c in enumerate(columns)]
    text = Text()
    spacer = " " * gap

    def add_line(cells: tuple[str, ...], header: bool = False) -> None:
        """One row; neighbouring cells of the same style are appended as one piece (a 100,000-row
        table is 100,000 rows of text, not a million styled fragments)."""
        pieces: list[tuple[str, str]] = []
        for i, (column, cell, width) in enumerate(zip(columns, cells, widths)):
            padded = (spacer if i else "") + (cell.rjust(width) if column.right else cell.ljust(width))
            style = "bold" if header else column.style
            if pieces and pieces[-1][1] == style:
                pieces[-1] = (pieces[-1][0] + padded, style)
            else:
                pieces.append((padded, style))
        last, style = pieces.pop()
        pieces.append((last.rstrip() + "\n", style))
        for piece, style in pieces:
            text.append(piece, style=style)

    if header:
        add_line(tuple(c.header for c in columns), header=True)
        text.append("-" * (sum(widths) + gap * (len(widths) - 1)) + "\n", style="dim")
    for row in rows:
        add_line(row)
    return text


def _line(layer: LayerReport) -> str:
    """The line in the top-level program: a block's layers show the line of the outermost call."""
    return str(layer.node.origin[0].span.line if layer.node.origin else layer.span.line)


def _layer_cell(layer: LayerReport) -> str:
    name = "  " * layer.depth + layer.name
    return f"{name} ({layer.node.origin[-1].block})" if layer.node.origin else name


def _settings_cell(layer: LayerReport) -> str:
    kind = {"residual": "residual add", "concat": "concat join", "add": "add join",
            "multiply": "multiply join"}.get(layer.kind, layer.kind)
    settings = layer.node.describe()
    return f"{kind} {settings}" if settings else kind


def layer_table(report: Report) -> Text:
    rows = [("", "input", "", str(report.input), "", "", count(report.input.size), "1")]
    for layer in report.layers:
        rows.append((_line(layer), _layer_cell(layer), _settings_cell(layer), str(layer.output),
                     count(layer.params) if layer.params else "", count(layer.macs) if layer.macs else "",
                     count(layer.activations), "x".join(str(r) for r in layer.reported_field) or "-"))
    return aligned(LAYER_COLUMNS, rows)


def totals_table(report: Report) -> Text:
    totals, assumptions = report.totals, report.assumptions
    rows = [
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
    columns = (Column("", style="bold"), Column("", right=True), Column("", style="dim"))
    return Text("\n").append_text(aligned(columns, rows, header=False))


def render_report(report: Report) -> list[Text]:
    """The report's parts, to print one after another without wrapping."""
    header = Text()
    header.append(report.network, style="bold")
    header.append(f"  {report.input} -> {report.output if report.output else '?'}\n", style="cyan")
    parts = [header, layer_table(report)]
    if report.totals is not None:
        parts.append(totals_table(report))
        in_place = ("activations and dropout in place" if report.assumptions.inplace_activations
                    else "no in-place layers")
        parts.append(Text(f"Assumes {report.assumptions.dtype} ({report.assumptions.bytes_per_value} bytes a "
                          f"value), {in_place}; flatten is a view. See docs/language.md, 'Memory'.\n",
                          style="dim"))
    return parts
