"""The geometry checks themselves, proven on a hand-written drawing that follows the SVG conventions and on
copies of it broken in one way each: a check that passed everything would pass these broken ones too."""

from __future__ import annotations

from pathlib import Path

import pytest
from svg_geometry import Rect, measure, overlapping, problems

GOOD = Path(__file__).parent / "fixtures" / "conventions.svg"


def layout_of(page, tmp_path: Path, text: str) -> dict:
    path = tmp_path / "drawing.svg"
    path.write_text(text, encoding="utf-8")
    page.open(path, width=400, height=400)
    return measure(page.page)


def test_the_conventions_fixture_passes_and_is_measured_through_its_transforms(page, tmp_path):
    layout = layout_of(page, tmp_path, GOOD.read_text(encoding="utf-8"))
    assert problems(layout) == []
    boxes = {layer["id"]: layer["box"] for layer in layout["layers"]}
    assert boxes["conv2"] == [190, 90, 340, 130]  # inside translate(190 90): measured where it is drawn
    assert boxes["input"] == [130, 10, 230, 50]
    assert len(layout["edges"]) == 5 and layout["edges"][1]["end"] == pytest.approx([265, 90], abs=0.01)
    assert all(len(layer["texts"]) == 2 for layer in layout["layers"])
    page.screenshot(tmp_path / "conventions.png")
    assert page.foreign == [] and page.errors == []


BROKEN = {
    "overlap": ('<rect class="box" x="20" y="90" width="150"', '<rect class="box" x="20" y="90" width="200"',
                ["boxes conv1 and conv2 overlap"]),
    "text": (">conv 16 3x3<", ">conv 16 3x3, pad 1, stride 2, groups 4<", ["text 'conv 16 3x3, pad 1, stride 2,"]),
    "short_edge": ('d="M180,210 L180,250"', 'd="M180,210 L180,244"', ["edge join1->output ends 6.0 from"]),
    "loose_start": ('d="M150,50 L95,90"', 'd="M150,53 L95,90"', ["edge input->conv1 starts 3.0 from"]),
    "edge_into_box": ('d="M210,50 L265,90"', 'd="M210,50 L265,100"', ["edge input->conv2 ends 10.0 from"]),
    "unknown_layer": ('data-to="output"', 'data-to="nowhere"', ["edge join1->nowhere: no layer 'nowhere'"]),
}


@pytest.mark.parametrize("change", sorted(BROKEN))
def test_each_broken_copy_fails_for_its_reason_only(page, tmp_path, change):
    before, after, expected = BROKEN[change]
    text = GOOD.read_text(encoding="utf-8")
    assert text.count(before) == 1
    found = problems(layout_of(page, tmp_path, text.replace(before, after)))
    assert len(found) == len(expected) and all(f.startswith(e) for f, e in zip(found, expected)), found


def test_rectangles_overlap_only_when_they_share_area():
    a = Rect(0, 0, 10, 10)
    assert not a.overlaps(Rect(10, 0, 20, 10))  # touching
    assert a.overlaps(Rect(9, 9, 20, 20))
    assert overlapping([("a", a), ("b", Rect(10, 0, 20, 10)), ("c", Rect(5, 5, 6, 6)), ("d", Rect(30, 0, 40, 1))]) \
        == [("a", "c")]
    assert a.border_distance(5, 0) == 0 and a.border_distance(5, 3) == 3 and a.border_distance(13, 14) == 5
