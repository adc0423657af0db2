"""The drawings committed under docs/images are what `cnnc draw` writes today: a change to the drawing
code or to an example that leaves one stale fails here. Regenerate them with the command in the failure
message (or run this test with CNNC_UPDATE_DRAWINGS=1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from command_runner import run

ROOT = Path(__file__).resolve().parents[2]
DRAWINGS = {  # committed file -> the arguments of `cnnc draw` after SPEC -o OUT, as README.md and docs show them
    "docs/images/inception_mini.svg": ("examples/inception_mini.cnn", ()),
    "docs/images/alexnet_volumes.svg": ("examples/alexnet.cnn", ("--style", "volumes")),
}


@pytest.mark.parametrize("committed", sorted(DRAWINGS))
def test_committed_drawing_is_current(committed, tmp_path):
    spec, options = DRAWINGS[committed]
    command = f"cnnc draw {spec} -o {committed}" + "".join(f" {option}" for option in options)
    fresh = tmp_path / "fresh.svg"
    code, _, stderr = run("draw", spec, "-o", str(fresh), *options, cwd=ROOT)
    assert (code, stderr) == (0, "")
    if os.environ.get("CNNC_UPDATE_DRAWINGS"):
        (ROOT / committed).write_bytes(fresh.read_bytes())
    assert (ROOT / committed).is_file(), f"{committed} is missing: run `{command}`"
    assert (ROOT / committed).read_bytes() == fresh.read_bytes(), f"{committed} is stale: run `{command}`"


def test_the_commands_are_shown_beside_the_drawings():
    pages = (ROOT / "README.md").read_text(encoding="utf-8") + (ROOT / "docs" / "drawing.md").read_text("utf-8")
    for committed, (spec, options) in DRAWINGS.items():
        command = f"cnnc draw {spec} -o {committed}" + "".join(f" {option}" for option in options)
        assert command in pages, command
        assert committed.removeprefix("docs/") in pages or committed in pages
