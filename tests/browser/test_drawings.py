"""``cnnc draw`` of every example in Chromium, in both styles and with blocks expanded: as the browser lays the
drawing out, no two layer boxes (or volumes) overlap, every text lies inside its box and every arrow starts and
ends on the border of its boxes; the file loads as SVG (an XML document) with no request leaving it. A
screenshot of each is written under the test's tmp dir."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from svg_geometry import measure, problems

from cnnc.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.cnn"))
STYLES = {"graph": (), "expanded": ("--expand",), "volumes": ("--style", "volumes")}


def draw(spec: Path, out: Path, *options: str) -> Path:
    """``cnnc draw SPEC -o OUT OPTIONS`` in this process."""
    printed, err = io.StringIO(), io.StringIO()
    code = main(["draw", str(spec), "-o", str(out), *options], out=Console(file=printed), err=Console(file=err))
    assert code == 0, err.getvalue()
    return out


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_each_drawing_keeps_its_boxes_texts_and_arrows_in_place(page, tmp_path, example, style):
    path = draw(example, tmp_path / f"{example.stem}.{style}.svg", *STYLES[style])
    page.open(path)
    assert page.page.evaluate("document.documentElement.namespaceURI") == "http://www.w3.org/2000/svg"
    assert page.foreign == [] and page.errors == []
    layout = measure(page.page)
    assert problems(layout) == []
    if style == "volumes":
        assert len(layout["volumes"]) >= 2
    else:
        ids = [layer["id"] for layer in layout["layers"]]
        assert ids[0] == "input" and "output" in ids and len(ids) == len(set(ids))
        assert layout["edges"] and all(layer["texts"] for layer in layout["layers"])
        reached = {edge["to"] for edge in layout["edges"]} | {edge["from"] for edge in layout["edges"]}
        assert reached == set(ids)  # every box is joined to the graph
    page.screenshot(tmp_path / f"{example.stem}.{style}.png")


def test_expanding_draws_the_layers_inside_blocks(page, tmp_path):
    spec = ROOT / "examples" / "resnet18.cnn"
    counts = {}
    for style in ("graph", "expanded"):
        page.open(draw(spec, tmp_path / f"{style}.svg", *STYLES[style]))
        counts[style] = len(measure(page.page)["layers"])
    assert counts["expanded"] > counts["graph"]
