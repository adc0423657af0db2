"""The human report: a rich table of the layers, then totals and the assumptions behind them."""

from __future__ import annotations

from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cnnc.report import LayerReport, Report
from cnnc.render.units import count, short, size


def _line(layer: LayerReport) -> str:
    """The line in the top-level program: a block's layers show the line of the outermost call."""
    return str(layer.node.origin[0].span.line if layer.node.origin else layer.span.line)


def _layer_cell(layer: LayerReport) -> Text:
    text = Text("  " * layer.depth + layer.name)
    if layer.node.origin:
        text.append(f" in {layer.node.origin[-1].block}", style="dim")
    return text


def _settings_cell(layer: LayerReport) -> str:
    kind = {"residual": "residual add", "concat": "concat join"}.get(layer.kind, layer.kind)
    settings = layer.node.describe()
    return escape(f"{kind} {settings}" if settings else kind)


def layer_table(report: Report) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=None, show_edge=False, pad_edge=False)
    table.add_column("Line", justify="right", style="dim", no_wrap=True)
    table.add_column("Layer", no_wrap=True)
    table.add_column("Layer settings", no_wrap=True)
    table.add_column("Output", justify="right", no_wrap=True)
    table.add_column("Params", justify="right", no_wrap=True)
    table.add_column("MACs", justify="right", no_wrap=True)
    table.add_column("Activations", justify="right", no_wrap=True)
    table.add_column("RF", justify="right", no_wrap=True)
    table.add_row("", "input", "", str(report.input), "", "", count(report.input.size), "1")
    for layer in report.layers:
        rf = "x".join(str(r) for r in layer.receptive_field) or "-"
        table.add_row(_line(layer), _layer_cell(layer), _settings_cell(layer),
                      str(layer.output), count(layer.params) if layer.params else "",
                      count(layer.macs) if layer.macs else "", count(layer.activations), rf)
    return table


def totals_table(report: Report) -> Table:
    totals, assumptions = report.totals, report.assumptions
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right", no_wrap=True)
    table.add_column(style="dim")
    table.add_row("Parameters", count(totals.params), short(totals.params))
    table.add_row("Buffers", count(totals.buffers), "batch-norm running mean and variance")
    table.add_row("MACs", count(totals.macs), f"{short(totals.macs)} multiply-accumulates per image (conv, fc)")
    table.add_row("FLOPs", count(totals.flops), "2 x MACs")
    table.add_row("Activations", count(totals.activations), "elements of every layer output, per image")
    table.add_row("Weights", size(totals.weights_bytes), "parameters and buffers")
    table.add_row("Forward memory", size(totals.forward_bytes), "per image: input and every layer output")
    table.add_row("Inference memory", size(totals.inference_bytes),
                  "per image: weights + peak of live tensors")
    table.add_row("Training memory", size(totals.training_bytes),
                  f"batch {assumptions.batch}: activations and gradients, weights, gradients, "
                  f"{assumptions.optimizer} state ({assumptions.optimizer_states} per parameter)")
    return table


def render_report(report: Report) -> list:
    """The report's parts, to print one after another."""
    header = Text()
    header.append(report.network, style="bold")
    header.append(f"  {report.input} -> {report.output if report.output else '?'}", style="cyan")
    parts = [header, layer_table(report)]
    if report.totals is not None:
        parts.append(totals_table(report))
        parts.append(Text(f"Assumes {report.assumptions.dtype} ({report.assumptions.bytes_per_value} bytes a value), "
                          "no in-place layers; flatten is a view. See docs/language.md, 'Counting'.",
                          style="dim"))
    return parts
