"""`cnnc draw --style volumes`: which maps are drawn, their sides on the logarithmic scale, kernels on the
map they read, sizes written, and no two volumes' bounding boxes overlapping."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from cnnc.api import check
from cnnc.draw import draw_svg
from cnnc.draw.svg import FONT_SIZE, text_width
from cnnc.reading import read_source
from cnnc.source import Source
from drawing_geometry import SVG, overlapping, parse

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.cnn"))


def volumes(root) -> dict:
    return {g.get("id"): g for g in root.iter(f"{SVG}g") if "volume" in g.get("class", "").split()}


def polygon_points(element) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"(-?[0-9.]+),(-?[0-9.]+)", element.get("points"))]


def bounds(group) -> tuple[float, float, float, float]:
    """The bounding box of a volume: its polygons and its texts (at the widest the fonts draw them)."""
    xs, ys = [], []
    for polygon in group.iter(f"{SVG}polygon"):
        for x, y in polygon_points(polygon):
            xs.append(x)
            ys.append(y)
    for text in group.iter(f"{SVG}text"):
        x, y = float(text.get("x")), float(text.get("y"))
        width = text_width(text.text, FONT_SIZE)
        anchor = text.get("text-anchor")
        left = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
        xs += [left, left + width]
        ys += [y - FONT_SIZE, y + 4]
    return min(xs), min(ys), max(xs), max(ys)


def check_volumes(svg: str):
    root = parse(svg)
    ids = [element.get("id") for element in root.iter() if element.get("id") is not None]
    assert len(ids) == len(set(ids))
    found = volumes(root)
    assert overlapping({name: bounds(group) for name, group in found.items()}) == []
    return root, found


def front_face(group) -> tuple[float, float]:
    """The width and height of a volume's front face (its first polygon)."""
    points = polygon_points(group.find(f"{SVG}polygon"))
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return max(xs) - min(xs), max(ys) - min(ys)


def test_alexnet_maps_kernels_and_sizes():
    result = check(read_source(str(EXAMPLES[0].parent / "alexnet.cnn")))
    root, found = check_volumes(draw_svg(result, style="volumes"))
    assert list(found) == ["input", "conv1", "maxpool1", "conv2", "maxpool2", "conv3", "conv4", "conv5",
                           "maxpool3", "flatten1", "fc1", "fc2", "fc3"]  # no relu, lrn or dropout: same shape
    sizes = [t.text for t in found["conv1"].iter(f"{SVG}text") if t.get("class") == "size"]
    assert sizes == ["55", "55", "96"]
    # logarithmic sides: height 12 + 13.5 log2(H), channels 12 + 7.4 log2(C)
    width, height = front_face(found["conv1"])
    assert height == pytest.approx(12 + 13.5 * math.log2(55), abs=0.2)
    assert width == pytest.approx(12 + 7.4 * math.log2(96), abs=0.2)
    kernels = [g for g in root.iter(f"{SVG}g") if g.get("class") == "kernel"]
    assert len(kernels) == 8  # 5 convolutions and 3 poolings
    input_box = bounds(found["input"])
    for x, y in polygon_points(kernels[0].find(f"{SVG}polygon")):
        assert input_box[0] <= x <= input_box[2] and input_box[1] <= y <= input_box[3]


def test_branches_are_drawn_as_their_output():
    result = check(read_source(str(EXAMPLES[0].parent / "inception_mini.cnn")))
    _, found = check_volumes(draw_svg(result, style="volumes"))
    concats = [name for name in found if name.startswith("concat")]
    assert len(concats) == 10
    assert [t.text for t in found["concat3"].iter(f"{SVG}text")][:3] == ["14", "14", "160"]


def test_shape_error_and_flags():
    result = check(Source("input 8x8x3\nconv 4 3x3\nconv 4 9x9\nrelu\n", "net.cnn"))
    root, found = check_volumes(draw_svg(result, style="volumes"))
    assert list(found) == ["input", "conv1"]  # the analysis stopped at conv2
    footer = [t.text for g in root.iter(f"{SVG}g") if g.get("class") == "totals" for t in g.iter(f"{SVG}text")]
    assert any(line.startswith("error[E101] `conv2` output size is not positive") for line in footer)
    result = check(Source("input 32x32x3\nconv 8 3x3 stride=4\nrelu\nfc 10\n", "net.cnn"))
    from cnnc.lint import lint
    result = type(result)(result.source, result.network, result.report, result.diagnostics + lint(result))
    _, found = check_volumes(draw_svg(result, style="volumes"))
    flagged = [name for name, g in found.items() if "flagged" in g.get("class").split()]
    assert flagged == ["conv1", "fc1"]
    assert "W202" in found["conv1"].find(f"{SVG}title").text


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_draws_as_volumes(path):
    result = check(read_source(str(path)))
    svg = draw_svg(result, style="volumes")
    assert svg == draw_svg(result, style="volumes")
    root, found = check_volumes(svg)
    assert len(found) >= 3
    assert [g for g in root.iter(f"{SVG}g") if g.get("class") == "totals"]


def test_3000_layers_draw_as_volumes():
    text = "input 32x32x16\n" + "conv 16 3x3 pad=1\nrelu\n" * 1500
    _, found = check_volumes(draw_svg(check(Source(text, "big.cnn")), style="volumes"))
    assert len(found) == 1501
