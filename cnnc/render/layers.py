"""The report's per-layer table: exact and full width, or fitted to a terminal's width.

To fit, each step is taken only while the table is still too wide: counts are rounded (``102.8M``);
Settings fold onto more lines at their commas (and between the words of a long clause), down to
``SETTINGS_FLOOR`` columns; columns are hidden in ``HIDDEN_FIRST`` order; a long Layer cell puts its
block's name on a line of its own; Settings fold narrower still. If even that is too wide, the
table says so."""

from __future__ import annotations

from cnnc.frozen import frozen
from cnnc.render.styled import StyledText
from cnnc.render.table import Column, aligned, column_widths, packed, table_width
from cnnc.render.units import count, rounded
from cnnc.report import LayerReport, Report

LAYER_COLUMNS = (
    Column("Line", right=True, style="dim"), Column("Layer"), Column("Settings"), Column("Output", right=True),
    Column("Params", right=True), Column("MACs", right=True), Column("Activations", right=True),
    Column("RF", right=True),
)
HIDDEN_FIRST = ("Activations", "RF", "Line", "MACs")
"""The columns a narrow terminal loses, least needed first: a layer's activations are its output's
size, the receptive field and the source line are in the diagnostics that need them, and MACs go
before the sizes and parameters that torchinfo and Keras show."""
COUNTS = ("Params", "MACs", "Activations")
GAP = 2


@frozen
class Fitted:
    """A layer table and, when it was changed to fit, one line saying how."""

    table: StyledText
    note: str | None = None


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


def layer_rows(report: Report, as_count=count) -> list[tuple[str, ...]]:
    """One row of cells per layer, after the input's, with counts written by ``as_count``."""
    rows = [("", "input", "", str(report.input), "", "", as_count(report.input.size), "1")]
    for layer in report.layers:
        rows.append((_line(layer), _layer_cell(layer), _settings_cell(layer), str(layer.output),
                     as_count(layer.params) if layer.params else "", as_count(layer.macs) if layer.macs else "",
                     as_count(layer.activations), "x".join(str(r) for r in layer.reported_field) or "-"))
    return rows


def layer_table(report: Report) -> StyledText:
    """The full table with exact counts, as a pipe or ``--wide`` prints it."""
    return aligned(LAYER_COLUMNS, layer_rows(report))


# Folding ---------------------------------------------------------------------------------

def _clauses(settings: str) -> list[str]:
    """``conv 64 3x3, pad 1`` -> ``conv 64 3x3,`` and ``pad 1``: the places a setting folds first."""
    parts = settings.split(", ")
    return [part + "," for part in parts[:-1]] + parts[-1:]


def fold_settings(settings: str, width: int) -> str:
    """Settings on lines of at most ``width``, broken after commas, and between the words of a
    clause longer than ``width`` (a word longer than that stands alone)."""
    if len(settings) <= width:
        return settings
    pieces = [piece for clause in _clauses(settings)
              for piece in (clause.split(" ") if len(clause) > width else [clause])]
    return "\n".join(packed(pieces, width))


def fold_layer(cell: str, width: int) -> str:
    """``  conv6 (basic_down)`` longer than ``width``: the block goes on a second line, at the name's indent."""
    name, separator, block = cell.partition(" (")
    if len(cell) <= width or not separator:
        return cell
    indent = len(name) - len(name.lstrip(" "))
    return f"{name}\n{' ' * indent}({block}"


# Fitting ---------------------------------------------------------------------------------

SETTINGS_FLOOR = 20
"""Settings fold to no fewer columns than this before a column is hidden: a narrower fold makes
most rows two or three lines tall."""


@frozen
class _Step:
    rounded: bool = False
    hidden: tuple[str, ...] = ()
    fold: bool = False
    fold_layers: bool = False
    settings_floor: int = SETTINGS_FLOOR


STEPS = (
    _Step(), _Step(rounded=True), _Step(rounded=True, fold=True),
    *(_Step(True, HIDDEN_FIRST[:n], fold=True) for n in range(1, len(HIDDEN_FIRST) + 1)),
    _Step(True, HIDDEN_FIRST, fold=True, fold_layers=True),
    _Step(True, HIDDEN_FIRST, fold=True, fold_layers=True, settings_floor=len("Settings")),
)


def _replace(rows: list[tuple[str, ...]], index: int, change) -> list[tuple[str, ...]]:
    return [row[:index] + (change(row[index]),) + row[index + 1:] for row in rows]


def _laid_out(step: _Step, rows: list[tuple[str, ...]], width: int) -> tuple[tuple[Column, ...], list, bool]:
    """This step's columns and rows, folded to fit ``width`` if they can, and whether they fit."""
    keep = [i for i, column in enumerate(LAYER_COLUMNS) if column.header not in step.hidden]
    columns = tuple(LAYER_COLUMNS[i] for i in keep)
    rows = [tuple(row[i] for i in keep) for row in rows]
    widths = column_widths(columns, rows)
    if table_width(widths, GAP) <= width or not step.fold:
        return columns, rows, table_width(widths, GAP) <= width
    layer, settings = (next(i for i, c in enumerate(columns) if c.header == name) for name in ("Layer", "Settings"))
    room = width - (table_width(widths, GAP) - widths[layer] - widths[settings])  # for Layer and Settings
    if room - widths[layer] < step.settings_floor:
        if not step.fold_layers:
            return columns, rows, False
        rows = _replace(rows, layer, lambda cell: fold_layer(cell, room - step.settings_floor))
        widths = column_widths(columns, rows)
    rows = _replace(rows, settings, lambda cell: fold_settings(cell, max(room - widths[layer], step.settings_floor)))
    return columns, rows, table_width(column_widths(columns, rows), GAP) <= width


def _note(step: _Step, width: int, fits: bool) -> str | None:
    if not fits:
        return f"Wider than {width} columns even with {', '.join(HIDDEN_FIRST)} hidden; --wide shows all"
    if step.hidden:
        return f"Hidden to fit {width} columns: {', '.join(step.hidden)}; --wide shows all"
    if step.rounded:
        return f"Counts rounded to fit {width} columns; --wide shows them exact"
    return None


def fitted_layer_table(report: Report, width: int) -> Fitted:
    """The layer table in at most ``width`` columns if it can be (see the module's docstring); if it
    cannot, the last step but one (the narrowest that keeps settings readable), said to be too wide."""
    exact = layer_rows(report)
    short = layer_rows(report, rounded)
    for step in STEPS:
        columns, rows, fits = _laid_out(step, short if step.rounded else exact, width)
        if fits:
            return Fitted(aligned(columns, rows, GAP), _note(step, width, fits))
    columns, rows, _ = _laid_out(STEPS[-2], short, width)
    return Fitted(aligned(columns, rows, GAP), _note(STEPS[-2], width, fits=False))
