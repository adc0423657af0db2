"""The layout of a drawing as the browser laid it out, and the rules of docs' SVG conventions checked on it:
no two layer boxes (or volumes) overlap, every text of a layer lies inside its box, every arrow starts on the
border of its ``data-from`` box and ends on the border of its ``data-to`` box.

Every rectangle is measured in the user units of the drawing's root ``<svg>`` (``getBBox`` mapped through
the element's and the root's screen matrices), so the figures are the drawing's own whatever the page's
zoom or CSS scaling."""

from __future__ import annotations

from dataclasses import dataclass

TOLERANCE = 1.5
"""How far (in the drawing's units) an arrow's end may be from its box's border, and a text from its box:
antialiasing and font rounding, not a visible gap."""

MEASURE = """
(root) => {
  root = root || document.querySelector("svg");
  const toRoot = root.getScreenCTM().inverse();
  function box(element) {
    const b = element.getBBox(), m = toRoot.multiply(element.getScreenCTM());
    const xs = [], ys = [];
    for (const [x, y] of [[b.x, b.y], [b.x + b.width, b.y], [b.x, b.y + b.height], [b.x + b.width, b.y + b.height]]) {
      const p = new DOMPoint(x, y).matrixTransform(m);
      xs.push(p.x); ys.push(p.y);
    }
    return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
  }
  function point(path, length) {
    const p = path.getPointAtLength(length).matrixTransform(toRoot.multiply(path.getScreenCTM()));
    return [p.x, p.y];
  }
  const layers = [...root.querySelectorAll("g.layer")].map(g => {
    const rect = g.querySelector(":scope > rect.box");
    return {id: g.id, classes: g.getAttribute("class"), box: rect ? box(rect) : null,
            texts: [...g.querySelectorAll("text")].map(t => ({text: t.textContent, box: box(t)}))};
  });
  const edges = [...root.querySelectorAll("path.edge")].map(p => ({
    from: p.dataset.from, to: p.dataset.to, start: point(p, 0), end: point(p, p.getTotalLength())}));
  const volumes = [...root.querySelectorAll("g.volume")].map(g => ({id: g.id, box: box(g)}));
  return {layers, edges, volumes, size: [root.width.baseVal.value, root.height.baseVal.value]};
}
"""


@dataclass(frozen=True)
class Rect:
    left: float
    top: float
    right: float
    bottom: float

    def overlaps(self, other: Rect) -> bool:
        """Whether the two share area (touching borders do not count)."""
        return (min(self.right, other.right) - max(self.left, other.left) > 0.01
                and min(self.bottom, other.bottom) - max(self.top, other.top) > 0.01)

    def contains(self, other: Rect, tolerance: float = TOLERANCE) -> bool:
        return (other.left >= self.left - tolerance and other.top >= self.top - tolerance
                and other.right <= self.right + tolerance and other.bottom <= self.bottom + tolerance)

    def border_distance(self, x: float, y: float) -> float:
        """How far the point is from the rectangle's border (0 on it)."""
        dx = max(self.left - x, 0.0, x - self.right)
        dy = max(self.top - y, 0.0, y - self.bottom)
        if dx or dy:
            return (dx * dx + dy * dy) ** 0.5
        return min(x - self.left, self.right - x, y - self.top, self.bottom - y)


def measure(page, root_selector: str | None = None) -> dict:
    """The layout of the page's first ``<svg>`` (or of ``root_selector``'s) as MEASURE returns it."""
    root = page.query_selector(root_selector) if root_selector else None
    return page.evaluate(MEASURE, root)


def overlapping(named_rects: list[tuple[str, Rect]]) -> list[tuple[str, str]]:
    """Every pair of named rectangles that share area (a sweep along x: thousands of boxes stay fast)."""
    pairs = []
    ordered = sorted(named_rects, key=lambda item: item[1].left)
    for index, (name, rect) in enumerate(ordered):
        for other_name, other in ordered[index + 1:]:
            if other.left >= rect.right:
                break
            if rect.overlaps(other):
                pairs.append((name, other_name))
    return pairs


def problems(layout: dict, tolerance: float = TOLERANCE) -> list[str]:
    """Every breach of the conventions in ``layout``, one sentence each ([] for a good drawing)."""
    found = []
    boxes = {}
    for layer in layout["layers"]:
        if layer["box"] is None:
            found.append(f"layer {layer['id']} has no rect.box")
            continue
        box = Rect(*layer["box"])
        boxes[layer["id"]] = box
        for text in layer["texts"]:
            if not box.contains(Rect(*text["box"]), tolerance):
                found.append(f"text {text['text']!r} of {layer['id']} leaves its box: {text['box']} not in {box}")
    found += [f"boxes {a} and {b} overlap" for a, b in overlapping(list(boxes.items()))]
    found += [f"volumes {a} and {b} overlap"
              for a, b in overlapping([(volume["id"], Rect(*volume["box"])) for volume in layout["volumes"]])]
    for edge in layout["edges"]:
        for end, key in (("from", "start"), ("to", "end")):
            name = edge[end]
            if name not in boxes:
                found.append(f"edge {edge['from']}->{edge['to']}: no layer {name!r}")
                continue
            distance = boxes[name].border_distance(*edge[key])
            if distance > tolerance:
                found.append(f"edge {edge['from']}->{edge['to']} {key}s {distance:.1f} from the border of {name}")
    return found
