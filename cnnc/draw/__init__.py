"""Drawings of a checked spec as SVG: ``draw_svg(checked, style="graph" | "volumes", expand=False)``.

The conventions (class names, ids, what an arrow touches) are shared with the HTML report and its
browser tests; see docs/drawing.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnnc.api import Checked

STYLES = ("graph", "volumes")


def draw_svg(result: Checked, *, style: str = "graph", expand: bool = False) -> str:
    """The SVG text of a drawing of ``result`` (what ``cnnc.api.check`` returns). A spec whose
    elaboration failed has no layers to draw: ValueError. Layers past a shape error are drawn without
    their shapes, and every diagnostic is marked on its layer."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    if result.network is None or result.network.input is None or (not result.ok and result.report is None):
        raise ValueError("the spec has errors that leave nothing to draw; check it first")
    if style == "graph":
        from cnnc.draw.graph import draw_graph

        return draw_graph(result, expand)
    from cnnc.draw.volumes import draw_volumes

    return draw_volumes(result)
