"""``cnnc draw --style volumes``: the feature maps of the main path as 3-D boxes, as the AlexNet paper and
the CS231n notes draw them.

Each map is a box whose front face is its height by its channels and whose oblique depth is its width,
each side on a logarithmic scale (a 224-pixel side is 2.3 times a 7-pixel one, not 32 times); a flat
vector is a bar. The kernel of a convolution or pooling is a small box on the map it reads, with dashed
lines to the map it makes. Layers that keep the shape (activations, normalisations, dropout) are not
drawn; a residual, concat, add or multiply block is drawn as the map it outputs, labelled with its
branches (the graph style shows them). Maps run left to right and wrap into rows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from cnnc import ir
from cnnc.draw.graph import fill_of
from cnnc.draw.marks import Marks, diagnostic_text, totals_lines
from cnnc.draw.svg import (
    FONT_SIZE,
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

SIZE_FONT = FONT_SIZE - 1
MARGIN = 20
GAP = 36  # px between two volumes' bounding boxes
ROW_WIDTH = 1400  # px: a row wraps past this
LABEL_WIDTH = 170  # px: the widest label line under a volume
SHAPE_KEEPING = (ir.Activation, ir.PReLU, ir.BatchNorm, ir.LayerNorm, ir.GroupNorm, ir.InstanceNorm,
                 ir.LocalResponseNorm, ir.LayerScale, ir.Dropout, ir.DropPath, ir.Shuffle)
CONTAINERS = (ir.Residual, ir.Concat, ir.Add, ir.Multiply)


def side(size: int) -> float:
    """The px of a spatial side: logarithmic, 12 px for 1, 117 px for 224."""
    return 12 + 13.5 * math.log2(max(size, 1))


def thickness(channels: int) -> float:
    """The px of the channel side: 12 px for 1 channel, 93 for 2,048."""
    return 12 + 7.4 * math.log2(max(channels, 1))


@dataclass
class Volume:
    """One feature map: its id, shape, label lines, and its geometry relative to its front face's
    bottom left corner (x grows right, y grows down, so the face spans y from -height to 0)."""

    id: str
    shape: ir.Shape
    labels: list[str]
    kind: str
    node: ir.Node | None = None
    flags: list[str] = field(default_factory=list)
    x: float = 0.0  # the front face's bottom left corner, once placed
    y: float = 0.0

    def __post_init__(self) -> None:
        dims = self.shape.spatial
        if not dims:  # a flat vector: a bar, on the channels' scale
            self.height, self.width, self.depth = thickness(self.shape.channels), 8.0, 0.0
        else:
            self.height = side(dims[-2] if len(dims) >= 2 else dims[0])
            self.width = thickness(self.shape.channels)
            self.depth = 0.5 * side(dims[-1]) if len(dims) >= 2 else 4.0
        self.dx = self.dy = self.depth * 0.7
        self.texts = self._texts()
        left = min([0.0] + [x - w if anchor == "end" else x - w / 2 if anchor == "middle" else x
                            for x, _, w, anchor, _, _ in self.texts])
        right = max([self.width + self.dx] + [x if anchor == "end" else x + w / 2 if anchor == "middle" else x + w
                                             for x, _, w, anchor, _, _ in self.texts])
        top = min([-self.height - self.dy] + [y - FONT_SIZE for _, y, _, _, _, _ in self.texts])
        bottom = max([0.0] + [y + 4 for _, y, _, _, _, _ in self.texts])
        self.extent = (left, top, right, bottom)  # the bounding box around the corner

    def _texts(self) -> list[tuple[float, float, float, str | None, str, str | None]]:
        """(x, baseline y, width, anchor, text, class) of each text, relative to the corner."""
        dims = self.shape.spatial
        texts = []
        if dims:
            height_text = str(dims[-2] if len(dims) >= 2 else dims[0])
            texts.append((-4.0, -self.height / 2 + 4, text_width(height_text, SIZE_FONT), "end", height_text, "size"))
            if len(dims) >= 2:
                width_text = str(dims[-1])
                texts.append((self.dx / 2 - 3, -self.height - self.dy / 2 - 2, text_width(width_text, SIZE_FONT),
                              "end", width_text, "size"))
        channels = str(self.shape.channels)
        texts.append((self.width / 2, 14.0, text_width(channels, SIZE_FONT), "middle", channels, "size"))
        for index, line in enumerate(self.labels):
            texts.append((self.width / 2, 14.0 + LINE_HEIGHT * (index + 1), text_width(line), "middle", line,
                          "title" if index == 0 else None))
        return texts

    def faces(self) -> list[list[tuple[float, float]]]:
        return box_faces(self.x, self.y, self.width, self.height, self.dx, self.dy)


def box_faces(x: float, y: float, w: float, h: float, dx: float, dy: float) -> list[list[tuple[float, float]]]:
    """The visible faces of a box in oblique projection, its front face's bottom left corner at (x, y):
    front, top and right (the front alone when it has no depth)."""
    front = [(x, y - h), (x + w, y - h), (x + w, y), (x, y)]
    if not dx:
        return [front]
    top = [(x, y - h), (x + dx, y - h - dy), (x + w + dx, y - h - dy), (x + w, y - h)]
    right = [(x + w, y - h), (x + w + dx, y - h - dy), (x + w + dx, y - dy), (x + w, y)]
    return [front, top, right]


def _kernel_sizes(node: ir.Node) -> tuple[int, ...] | None:
    kernel = getattr(node, "kernel", None)
    return tuple(kernel) if isinstance(node, (ir.Conv, ir.Deconv, ir.Pool)) and kernel else None


def _polygon(points: list[tuple[float, float]], fill: str, css_class: str = "face") -> str:
    text = " ".join(f"{number(x)},{number(y)}" for x, y in points)
    return f'<polygon class="{css_class}" points="{text}" fill="{fill}" stroke="#374151" stroke-width="0.8"/>'


class VolumesDrawing:
    def __init__(self, checked) -> None:
        self.checked = checked
        self.network: ir.Network = checked.network
        self.report = checked.report
        self.rows = {row.name: row for row in self.report.layers} if self.report else {}
        self.marks = Marks(checked)
        self.ids = Ids()

    def volumes(self) -> list[Volume]:
        """The maps drawn; a layer that keeps the shape adds its diagnostics to the map before it, and
        the diagnostics of layers past a shape error go to ``self.undrawn``."""
        found = [Volume(self.ids.make("input"), self.network.input, ["input"], "io")]
        found[0].flags = self.marks.of_input()[0]
        self.undrawn: list[str] = []
        for position, node in enumerate(self.network.layers):
            row = self.rows.get(node.name)
            if row is None:
                self.undrawn = self.marks.of([n for top in self.network.layers[position:] for n in ir.walk((top,))])[0]
                break
            flags = self.marks.of(list(ir.walk((node,))))[0]
            if isinstance(node, SHAPE_KEEPING) and row.output == row.input:
                found[-1].flags += [flag for flag in flags if flag not in found[-1].flags]
                continue
            settings = node.describe()
            kind = {"residual": "residual add"}.get(node.kind, node.kind)
            labels = [shortened(clean(node.name), LABEL_WIDTH)]
            labels += wrapped(clean(f"{kind}, {settings}" if settings else kind), LABEL_WIDTH, most=2)
            volume = Volume(self.ids.make(node.name), row.output, labels, node.kind, node)
            volume.flags = flags
            found.append(volume)
        return found

    def place(self, volumes: list[Volume]) -> float:
        """Left to right, wrapping into rows; every front face's bottom on its row's line. Returns the width."""
        rows: list[list[Volume]] = [[]]
        x = 0.0
        for volume in volumes:
            width = volume.extent[2] - volume.extent[0]
            if rows[-1] and x + width > ROW_WIDTH:
                rows.append([])
                x = 0.0
            rows[-1].append(volume)
            x += width + GAP
        top = MARGIN
        widest = 0.0
        for row in rows:
            above = max(-v.extent[1] for v in row)
            below = max(v.extent[3] for v in row)
            x = MARGIN
            for volume in row:
                volume.x, volume.y = x - volume.extent[0], top + above
                x += volume.extent[2] - volume.extent[0] + GAP
            widest = max(widest, x - GAP + MARGIN)
            top += above + below + GAP
        self.bottom = top - GAP
        return widest

    def svg(self) -> str:
        volumes = self.volumes()
        width = self.place(volumes)
        parts = [self.volume_svg(v) for v in volumes]
        for before, after in zip(volumes, volumes[1:]):
            parts += self.kernel_svg(before, after)
        footer = totals_lines(self.checked) + self.undrawn + [diagnostic_text(d) for d in self.marks.unplaced()]
        footer.append("main path only: residual, concat, add and multiply blocks are drawn as their output; "
                      "activations, normalisations and dropout keep the shape and are not drawn")
        footer_top = self.bottom + 2 * LINE_HEIGHT
        width = max(width, max(text_width(line) for line in footer) + 2 * MARGIN)
        parts.append('<g class="totals">')
        parts += [text_element(MARGIN, footer_top + i * LINE_HEIGHT + FONT_SIZE, line) for i, line in enumerate(footer)]
        parts.append("</g>")
        height = footer_top + LINE_HEIGHT * len(footer) + MARGIN
        return document(width, height, parts, f"{self.network.name}: cnnc draw --style volumes")

    def volume_svg(self, volume: Volume) -> str:
        classes = "volume flagged" if volume.flags else "volume"
        out = [f'<g class="{classes}" id="{volume.id}">']
        if volume.flags:
            out.append(f"<title>{escape(chr(10).join(volume.flags))}</title>")
        fill = "#f3f4f6" if volume.kind == "io" else fill_of(volume.kind)
        out += [_polygon(face, fill) for face in volume.faces()]
        for x, y, _, anchor, text, css_class in volume.texts:
            out.append(text_element(volume.x + x, volume.y + y, text, css_class, anchor))
        out.append("</g>")
        return "".join(out)

    def kernel_svg(self, before: Volume, after: Volume) -> list[str]:
        """The kernel of the layer that makes ``after``, on ``before``, with lines to ``after``."""
        sizes = _kernel_sizes(after.node) if after.node is not None else None
        if sizes is None or not before.shape.spatial:
            return []
        tall = min(before.height * 0.6, 0.5 * side(sizes[-2] if len(sizes) >= 2 else sizes[0]))
        deep = min(before.depth * 0.6, 0.25 * side(sizes[-1])) * 0.7 if before.depth else 0.0
        wide = max(4.0, before.width * 0.45)
        faces = box_faces(before.x + before.width * 0.3, before.y - before.height * 0.2, wide, tall, deep, deep)
        title = f"{after.node.name}: {after.node.kind} {'x'.join(map(str, sizes))} kernel"
        out = [f'<g class="kernel"><title>{escape(title)}</title>']
        out += [_polygon(face, "#fca5a5", "kernel-face") for face in faces]
        out.append("</g>")
        if abs(after.y - before.y) < 1:  # on the same row: dashed lines to the map it makes
            target = (after.x + after.width * 0.4, after.y - after.height * 0.5)
            for corner in (faces[0][1], faces[0][2]):
                out.append(f'<path class="projection" d="M{number(corner[0])},{number(corner[1])} '
                           f'L{number(target[0])},{number(target[1])}"/>')
        return out


def draw_volumes(checked) -> str:
    return VolumesDrawing(checked).svg()
