"""`cnnc draw --style graph` from Python: the layout's geometry (no overlaps, arrows on their boxes'
borders, texts inside their boxes), ids, collapsing and expanding, diagnostics, determinism."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnnc.api import check
from cnnc.draw import draw_svg
from cnnc.draw.layout import Box, Branches, Sequence, boxes, edges, lay_out
from cnnc.lint import lint
from cnnc.reading import read_source
from cnnc.source import Source
from drawing_geometry import SVG, box_of, check_drawing, layers, on_border, overlapping

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.cnn"))


def checked(text: str, name: str = "net.cnn"):
    return check(Source(text, name))


def example(name: str):
    return check(read_source(str(EXAMPLES[0].parent / f"{name}.cnn")))


def test_layout_numbers_nested_branches():
    """A branch group inside a branch, an empty branch beside it: every arrow starts on the bottom border of
    its source and ends on the top border of its target, and no boxes overlap."""
    def box(name, width=60, height=30):
        return Box(name, width, height)

    inner = Branches([Sequence([box("a1"), box("a2", 120)]), Sequence([])], box("join_inner", 80))
    outer = Branches([Sequence([inner, box("after")]), Sequence([box("b1", 200)]), Sequence([])], box("join"))
    top = Sequence([box("input"), outer, box("output")])
    lay_out(top)
    found = {(edge.source.id, edge.target.id): edge.points for edge in edges(top)}
    assert sorted(found) == sorted([
        ("input", "a1"), ("input", "join_inner"), ("input", "b1"), ("input", "join"), ("a1", "a2"),
        ("a2", "join_inner"), ("join_inner", "after"), ("after", "join"), ("b1", "join"), ("join", "output")])
    by_id = {b.id: b for b in boxes(top)}
    for (source, target), points in found.items():
        s, t = by_id[source], by_id[target]
        assert points[0] == (s.center_x, s.bottom)
        assert points[-1] == (t.center_x, t.y)
    rects = {b.id: (b.x, b.y, b.x + b.width, b.y + b.height) for b in boxes(top)}
    assert overlapping(rects) == []
    # the join sits below the tallest branch, centred under the group
    assert by_id["join"].y == max(by_id["after"].bottom, by_id["b1"].bottom) + 28
    # side by side: the first branch as wide as its inner group (120 + 18 + an empty 24), 200, an empty 24
    assert top.width == (120 + 18 + 24) + 18 + 200 + 18 + 24


def test_resnet18_collapsed_and_expanded():
    result = example("resnet18")
    collapsed = check_drawing(draw_svg(result))
    expanded = check_drawing(draw_svg(result, expand=True))
    names = {row.name for row in result.report.layers}
    expanded_ids = set(layers(expanded)) - {"input", "output"}
    assert expanded_ids == names  # every layer and join, by its report name
    collapsed_ids = set(layers(collapsed)) - {"input", "output"}
    assert collapsed_ids == {"conv1", "batchnorm1", "relu1", "maxpool1", "repeat.1", "basic_down.1", "basic.1",
                             "basic_down.2", "basic.2", "basic_down.3", "basic.3", "globalavgpool1", "fc1",
                             "softmax1"}
    group = layers(collapsed)["repeat.1"]
    texts = [t.text for t in group.iter(f"{SVG}text")]
    assert texts == ["repeat 2", "{ basic 64 }", "12 layers, 147,968 params", "out 56x56x64"]
    assert group.get("class") == "layer repeat"
    assert layers(collapsed)["basic_down.1"].get("class") == "layer block"


def test_group_params_add_up_to_the_total():
    result = example("resnet50")
    root = check_drawing(draw_svg(result))
    total = 0
    for name, group in layers(root).items():
        lines = [t.text for t in group.iter(f"{SVG}text")]
        for line in lines:
            total += sum(int(count.replace(",", "")) for count in re.findall(r"([0-9,]+) params", line))
    assert total == result.report.totals.params == 25_557_032


def test_expand_adds_boxes():
    result = example("googlenet")
    collapsed = layers(check_drawing(draw_svg(result)))
    expanded = layers(check_drawing(draw_svg(result, expand=True)))
    assert len(expanded) > len(collapsed)
    assert len(expanded) == len(result.report.layers) + 2


def test_repeat_inside_block_and_nested_repeats():
    text = ("input 16x16x4\n"
            "def stage(c, n) {\n    repeat n { conv c 3x3 pad=1; relu }\n    maxpool 2\n}\n"
            "stage 8 2\nstage 16 3\nrepeat 2 { repeat 2 { conv 4 1x1 } }\nfc 10\n")
    result = checked(text)
    root = check_drawing(draw_svg(result))
    assert sorted(set(layers(root)) - {"input", "output"}) == ["fc1", "repeat.1", "stage.1", "stage.2"]
    assert [t.text for t in layers(root)["stage.2"].iter(f"{SVG}text")][:3] == [
        "stage 16 3", "block stage", "7 layers, 5,808 params"]  # 8*16*9+16 + 2*(16*16*9+16)
    # a block call inside a residual is collapsed inside the drawn residual
    result = checked("input 8x8x4\ndef unit(c) { conv c 3x3 pad=1; relu }\nresidual { unit 4; unit 4 }\n")
    ids = set(layers(check_drawing(draw_svg(result))))
    assert ids == {"input", "output", "residual1", "unit.1", "unit.2"}


def test_diagnostics_are_marked_on_their_layers():
    result = checked("input 32x32x3\ndef c(n) { conv n 3x3 stride=4 }\nc 8\nconv 8 3x3 stride=4\nrelu\nfc 10\n")
    result = type(result)(result.source, result.network, result.report, result.diagnostics + lint(result))
    codes = {d.code for d in result.diagnostics}
    assert "W202" in codes
    expanded = layers(check_drawing(draw_svg(result, expand=True)))
    flagged = {name for name, g in expanded.items() if "flagged" in g.get("class").split()}
    assert {"conv1", "conv2"} <= flagged
    title = expanded["conv2"].find(f"{SVG}title").text
    assert "warning[W202] `conv2` skips 1 of every 4 rows" in title and "W204" in title
    collapsed = layers(check_drawing(draw_svg(result)))
    assert "flagged" in collapsed["c.1"].get("class").split()
    assert collapsed["conv2"].get("class") == expanded["conv2"].get("class")


def test_shape_error_draws_the_layers_before_it():
    result = checked("input 8x8x3\nconv 4 3x3\nconv 4 9x9\nrelu\n")
    assert not result.ok and result.report is not None
    root = check_drawing(draw_svg(result))
    groups = layers(root)
    assert "flagged" in groups["conv2"].get("class").split()
    assert "warning" not in groups["conv2"].get("class").split()
    assert [t.text for t in groups["relu1"].iter(f"{SVG}text")][-1] == "out ?"


def test_nothing_to_draw_raises():
    with pytest.raises(ValueError):
        draw_svg(checked("input 8x8x3\nconv 4 nonsense\n"))
    with pytest.raises(ValueError):
        draw_svg(example("lenet5"), style="pretty")


def test_deterministic_and_ids_are_xml_ids():
    result = example("inception_mini")
    first = draw_svg(result)
    assert first == draw_svg(example("inception_mini"))
    for name in layers(check_drawing(first)):
        assert name[0].isalpha() and all(c.isalnum() or c in "_.-" for c in name)


def test_long_and_wide_text_fits():
    """A block name and arguments far wider than a box, and wide characters in a comment, still fit."""
    name = "a_block_with_an_extremely_long_name_that_goes_on"
    text = (f"input 8x8x3\ndef {name}(filters, kernel=3, stride=1) {{ conv filters kernel stride=stride pad=1 }}\n"
            f"{name} 4 kernel=3 stride=1   # 日本語のコメント\nconv 4 3x3 pad=same dilation=2 groups=2 bias=false\n")
    root = check_drawing(draw_svg(checked(text)))
    assert len(layers(root)) == 4


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_draws_as_a_graph(path):
    result = check(read_source(str(path)))
    for expand in (False, True):
        root = check_drawing(draw_svg(result, expand=expand))
        totals = [g for g in root.iter(f"{SVG}g") if g.get("class") == "totals"]
        assert len(totals) == 1 and f"{result.report.totals.params:,}" in "".join(
            t.text for t in totals[0].iter(f"{SVG}text"))


def test_3000_layers_draw():
    text = "input 32x32x16\n" + "residual { conv 16 3x3 pad=1; batchnorm; relu; conv 16 3x3 pad=1 }\nrelu\n" * 500
    result = checked(text)
    root = check_drawing(draw_svg(result))
    assert len(layers(root)) == len(result.report.layers) + 2 == 3002


def test_edges_of_an_identity_shortcut_run_down_its_own_column():
    result = checked("input 8x8x4\nresidual { conv 4 3x3 pad=1; relu; conv 4 3x3 pad=1 }\n")
    root = check_drawing(draw_svg(result))
    rects = {name: box_of(g) for name, g in layers(root).items()}
    paths = {(p.get("data-from"), p.get("data-to")): p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"}
    assert set(paths) == {("input", "conv1"), ("input", "residual1"), ("conv1", "relu1"), ("relu1", "conv2"),
                          ("conv2", "residual1"), ("residual1", "output")}
    from drawing_geometry import points_of
    shortcut = points_of(paths[("input", "residual1")])
    assert len(shortcut) == 4 and shortcut[1][0] == shortcut[2][0] > rects["conv1"][2]
    assert on_border(shortcut[-1], rects["residual1"])
