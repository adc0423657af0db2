"""Reading a drawing back from its SVG text: the layer boxes, the arrows, the texts, and the checks the
conventions ask for (docs/drawing.md), on the numbers written in the file."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from cnnc.draw.svg import FONT_SIZE, text_width

SVG = "{http://www.w3.org/2000/svg}"

Rect = tuple[float, float, float, float]  # left, top, right, bottom


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == f"{SVG}svg" and root.get("version") == "1.1"
    return root


def layers(root: ET.Element) -> dict[str, ET.Element]:
    """The layer groups by id."""
    return {g.get("id"): g for g in root.iter(f"{SVG}g") if "layer" in g.get("class", "").split()}


def box_of(group: ET.Element) -> Rect:
    rect = group.find(f"{SVG}rect")
    assert rect is not None and rect.get("class") == "box"
    x, y, w, h = (float(rect.get(a)) for a in ("x", "y", "width", "height"))
    return x, y, x + w, y + h


def points_of(path: ET.Element) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"(-?[0-9.]+),(-?[0-9.]+)", path.get("d"))]


def on_border(point: tuple[float, float], rect: Rect, tolerance: float = 1.0) -> bool:
    x, y = point
    left, top, right, bottom = rect
    inside = left - tolerance <= x <= right + tolerance and top - tolerance <= y <= bottom + tolerance
    near = min(abs(x - left), abs(x - right), abs(y - top), abs(y - bottom)) <= tolerance
    return inside and near


def overlapping(rects: dict[str, Rect]) -> list[tuple[str, str]]:
    """Pairs of rects whose interiors meet (a sweep over their tops)."""
    found = []
    ordered = sorted(rects.items(), key=lambda item: item[1][1])
    active: list[tuple[str, Rect]] = []
    for name, rect in ordered:
        active = [(n, r) for n, r in active if r[3] > rect[1]]
        for other_name, other in active:
            if rect[0] < other[2] and other[0] < rect[2] and rect[1] < other[3] and other[1] < rect[3]:
                found.append((other_name, name))
        active.append((name, rect))
    return found


def crosses(segment: tuple[tuple[float, float], tuple[float, float]], rect: Rect) -> bool:
    """Whether a segment passes through the inside of ``rect`` (1 px in from its border)."""
    (x0, y0), (x1, y1) = segment
    left, top, right, bottom = rect[0] + 1, rect[1] + 1, rect[2] - 1, rect[3] - 1
    if max(x0, x1) < left or min(x0, x1) > right or max(y0, y1) < top or min(y0, y1) > bottom:
        return False
    steps = max(2, int(max(abs(x1 - x0), abs(y1 - y0))))
    for step in range(steps + 1):
        x, y = x0 + (x1 - x0) * step / steps, y0 + (y1 - y0) * step / steps
        if left < x < right and top < y < bottom:
            return True
    return False


def text_problems(root: ET.Element) -> list[str]:
    """Texts of a layer that do not fit its box, by the widest the style's fonts draw them."""
    problems = []
    for name, group in layers(root).items():
        left, top, right, bottom = box_of(group)
        for text in group.iter(f"{SVG}text"):
            x, y = float(text.get("x")), float(text.get("y"))
            width = text_width(text.text or "", FONT_SIZE)
            if not (left < x and x + width < right and top < y - FONT_SIZE and y + 0.3 * FONT_SIZE < bottom):
                problems.append(f"{name}: {text.text!r}")
    return problems


def check_drawing(svg: str) -> ET.Element:
    """Every rule of the conventions that the numbers in the file show; returns the parsed root."""
    root = parse(svg)
    ids = [element.get("id") for element in root.iter() if element.get("id") is not None]
    assert len(ids) == len(set(ids)), "ids are not unique"
    groups = layers(root)
    assert "input" in groups and "output" in groups
    rects = {name: box_of(group) for name, group in groups.items()}
    assert overlapping(rects) == []
    assert text_problems(root) == []
    paths = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    assert paths, "no arrows"
    by_top = sorted(rects.items(), key=lambda item: item[1][1])
    for path in paths:
        source, target = path.get("data-from"), path.get("data-to")
        points = points_of(path)
        assert on_border(points[0], rects[source]), (source, points[0], rects[source])
        assert on_border(points[-1], rects[target]), (target, points[-1], rects[target])
        for segment in zip(points, points[1:]):
            low, high = min(segment[0][1], segment[1][1]), max(segment[0][1], segment[1][1])
            for name, rect in by_top:
                if rect[1] > high:
                    break
                if rect[3] >= low and name not in (source, target):
                    assert not crosses(segment, rect), f"{source}->{target} crosses {name}"
    return root
