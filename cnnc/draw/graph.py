"""``cnnc draw --style graph``: one box per layer, top to bottom, branches side by side and rejoined.

Block calls and repeats are collapsed into one box each unless ``expand``; the input and output shapes
sit at the ends and the totals in a footer; a layer with a diagnostic is outlined and carries the
diagnostic as its tooltip (``<title>``)."""

from __future__ import annotations

from dataclasses import dataclass

from cnnc import ir
from cnnc.draw.groups import GroupKey, Paths, repeat_spans, runs
from cnnc.draw.layout import Box, Branches, Item, Sequence, boxes, edges, measure, place
from cnnc.draw.marks import Marks, diagnostic_text, totals_lines
from cnnc.draw.svg import (
    ASCENT,
    LINE_HEIGHT,
    Ids,
    clean,
    document,
    escape,
    number,
    shortened,
    text_element,
    text_width,
    wrapped,
)
from cnnc.render.units import short
from cnnc.report import LayerReport

PADDING = 7  # px between a box's border and its text
TEXT_WIDTH = 264  # px: the widest line of a box (about 35 characters); longer settings wrap
MIN_BOX_WIDTH = 96
MARGIN = 16
FOOTER_WIDTH = 440  # px: the footer wraps at the drawing's width, or this if the drawing is narrower

FILLS = {
    "conv": "#dbeafe", "deconv": "#dbeafe", "fc": "#fde68a", "flatten": "#e0f2fe", "upsample": "#e0f2fe",
    "pixelshuffle": "#e0f2fe", "slice": "#e0f2fe", "shuffle": "#e0f2fe", "dropout": "#f3f4f6",
    "droppath": "#f3f4f6", "batchnorm": "#ede9fe", "layernorm": "#ede9fe", "groupnorm": "#ede9fe",
    "instancenorm": "#ede9fe", "lrn": "#ede9fe", "layerscale": "#ede9fe", "residual": "#fef9c3",
    "concat": "#fef9c3", "add": "#fef9c3", "multiply": "#fef9c3", "block": "#ccfbf1", "repeat": "#ccfbf1",
    "io": "#ffffff",
}
POOL_FILL = "#dcfce7"
ACTIVATION_FILL = "#fee2e2"
JOIN_NAMES = {"residual": "residual add", "concat": "concat join", "add": "add join", "multiply": "multiply join"}


def fill_of(kind: str) -> str:
    if kind in FILLS:
        return FILLS[kind]
    return POOL_FILL if kind.endswith("pool") else ACTIVATION_FILL


@dataclass
class Content:
    """What a box shows: its kind (a CSS class), title line and other lines, and its diagnostics."""

    kind: str
    lines: list[str]
    flags: list[str]
    warning_only: bool = True


def _containers(node: ir.Node) -> list[tuple[ir.Node, ...]]:
    if isinstance(node, ir.Residual):
        return [node.body, node.shortcut]
    if isinstance(node, ir.MERGES):
        return list(node.branches)
    return []


class GraphDrawing:
    """The layout of one checked spec (boxes sized from their text), then its SVG."""

    def __init__(self, checked, expand: bool) -> None:
        self.checked = checked
        self.network: ir.Network = checked.network
        self.report = checked.report
        self.expand = expand
        self.rows: dict[str, LayerReport] = {row.name: row for row in self.report.layers} if self.report else {}
        self.marks = Marks(checked)
        self.paths = None if expand else Paths(repeat_spans(checked.source))
        self.ids = Ids()
        self.contents: dict[str, Content] = {}
        self.group_counts: dict[str, int] = {}

    # Building the layout ------------------------------------------------------------------

    def sequence(self, nodes: tuple[ir.Node, ...], depth: int) -> Sequence:
        if self.paths is None:
            return Sequence([self.node_item(node, depth) for node in nodes])
        items: list[Item] = []
        for key, run in runs(nodes, depth, self.paths):
            items.append(self.node_item(run[0], depth) if key is None else self.group_box(key, run))
        return Sequence(items)

    def node_item(self, node: ir.Node, depth: int) -> Item:
        branches = _containers(node)
        box = self.layer_box(node, bool(branches))
        if not branches:
            return box
        inner = len(self.paths.path(node)) if self.paths is not None else depth
        return Branches([self.sequence(branch, inner) for branch in branches], box)

    def box(self, name: str, content: Content) -> Box:
        box_id = self.ids.make(name)
        self.contents[box_id] = content
        widest = max(text_width(line) for line in content.lines)
        width = max(MIN_BOX_WIDTH, widest + 2 * PADDING)
        return Box(box_id, float(int(width + 0.999)), 2 * PADDING + LINE_HEIGHT * len(content.lines))

    def layer_box(self, node: ir.Node, join: bool) -> Box:
        row = self.rows.get(node.name)
        settings = node.describe()
        kind = JOIN_NAMES.get(node.kind, node.kind) if join else node.kind
        lines = [shortened(clean(node.name), TEXT_WIDTH)]
        lines += wrapped(clean(f"{kind}{', ' if join else ' '}{settings}" if settings else kind), TEXT_WIDTH)
        lines.append(f"out {row.output}" if row else "out ?")
        if row and (row.params or row.macs):
            lines.append(", ".join(part for part in (f"{row.params:,} params" if row.params else "",
                                                     f"{short(row.macs)} MACs" if row.macs else "") if part))
        flags, warning_only = self.marks.of([node])
        return self.box(node.name, Content(node.kind, lines, flags, warning_only))

    def group_box(self, key: GroupKey, run: list[ir.Node]) -> Box:
        """One box for a run of layers from one block call or `repeat`."""
        layers = [node for top in run for node in ir.walk((top,)) if not _containers(node)]
        kind = key[0]
        label = "repeat" if kind == "repeat" else key[1]
        self.group_counts[label] = self.group_counts.get(label, 0) + 1
        call = self.call_text(key[1] if kind == "repeat" else key[2])
        if kind == "repeat" and "{" in call:
            header, body = call.split("{", 1)
            lines = [shortened(header.strip(), TEXT_WIDTH), shortened("{" + body, TEXT_WIDTH)]
        else:
            lines = [shortened(call, TEXT_WIDTH), f"block {shortened(clean(label), TEXT_WIDTH - 60)}"]
        params = sum(self.rows[node.name].params for node in layers if node.name in self.rows)
        lines.append(f"{len(layers):,} layers" + (f", {params:,} params" if params else ""))
        last = self.rows.get(run[-1].name)
        lines.append(f"out {last.output}" if last else "out ?")
        flags, warning_only = self.marks.of(layers)
        content = Content(kind, lines, flags, warning_only)
        return self.box(f"{label}.{self.group_counts[label]}", content)

    def call_text(self, span) -> str:
        """The source text of a call (comments left out), as one line."""
        lines = self.checked.source.lines
        parts = []
        for number_ in range(span.line, span.end_line + 1):
            text = lines[number_ - 1] if number_ <= len(lines) else ""
            start = span.column - 1 if number_ == span.line else 0
            end = span.end_column - 1 if number_ == span.end_line else len(text)
            parts.append(text[start:end].split("#")[0])
        return clean(" ".join(parts))

    def io_box(self, name: str, shape: ir.Shape | None) -> Box:
        flags, warning_only = self.marks.of_input() if name == "input" else ([], True)
        return self.box(name, Content("io", [name, str(shape) if shape is not None else "?"], flags, warning_only))

    # Drawing ------------------------------------------------------------------------------

    def svg(self) -> str:
        top = Sequence([self.io_box("input", self.network.input)])
        body = self.sequence(self.network.layers, 0)
        top.items += body.items
        top.items.append(self.io_box("output", self.report.output if self.report else None))
        measure(top)
        footer_width = max(top.width, FOOTER_WIDTH)
        place(top, MARGIN, MARGIN, footer_width)  # centred above a wider footer
        footer = [part for line in totals_lines(self.checked) + [diagnostic_text(d) for d in self.marks.unplaced()]
                  for part in wrapped(line, footer_width)]
        footer_top = top.y + top.height + 2 * LINE_HEIGHT
        width = footer_width + 2 * MARGIN
        height = footer_top + LINE_HEIGHT * len(footer) + MARGIN
        parts = [self.box_svg(box) for box in boxes(top)]
        for edge in edges(top):
            d = "M" + " L".join(f"{number(x)},{number(y)}" for x, y in edge.points)
            parts.append(f'<path class="edge" data-from="{edge.source.id}" data-to="{edge.target.id}" d="{d}" '
                         f'marker-end="url(#cnnc-arrow)"/>')
        parts.append('<g class="totals">')
        parts += [text_element(MARGIN, footer_top + index * LINE_HEIGHT + ASCENT, line)
                  for index, line in enumerate(footer)]
        parts.append("</g>")
        return document(width, height, parts, f"{self.network.name}: cnnc draw")

    def box_svg(self, box: Box) -> str:
        content = self.contents[box.id]
        classes = f"layer {content.kind}"
        if content.flags:
            classes += " flagged" + (" warning" if content.warning_only else "")
        out = [f'<g class="{classes}" id="{box.id}">']
        if content.flags:
            out.append(f"<title>{escape(chr(10).join(content.flags))}</title>")
        stroke = ' stroke-dasharray="5 3"' if content.kind in ("block", "repeat") else ""
        out.append(f'<rect class="box" x="{number(box.x)}" y="{number(box.y)}" width="{number(box.width)}" '
                   f'height="{number(box.height)}" rx="4" fill="{fill_of(content.kind)}"{stroke}/>')
        for index, line in enumerate(content.lines):
            out.append(text_element(box.x + PADDING, box.y + PADDING + index * LINE_HEIGHT + ASCENT, line,
                                    "title" if index == 0 else None))
        out.append("</g>")
        return "".join(out)


def draw_graph(checked, expand: bool = False) -> str:
    return GraphDrawing(checked, expand).svg()

