"""``cnnc draw SPEC -o OUT.svg``: a drawing of a spec as SVG, a graph of its layers or its feature maps
as volumes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cnnc.commands.common import EXIT_ERRORS, EXIT_OK
from cnnc.errors import CannotRun

if TYPE_CHECKING:
    from rich.console import Console

DESCRIPTION = (
    "Draw a spec as SVG. --style graph (the default): one box per layer, top to bottom, with its settings, "
    "output shape and parameters, branches side by side and rejoined, block calls and repeats collapsed into one "
    "box each (--expand opens them), the totals below; a layer with a diagnostic is outlined in red (an error) "
    "or orange (a warning) and shows it on hover. --style volumes: each feature map of the main path as a 3-D "
    "box, the kernels as small boxes, the sizes on the edges. See docs/drawing.md.")
EPILOG = ("Exit status: 0 when the drawing was written (warnings do not stop it), 1 when the spec has errors "
          "(printed as `cnnc check` prints them; nothing is written), 2 when cnnc could not run (a file that "
          "cannot be read or written, a bad option).")


def register(commands) -> None:
    parser = commands.add_parser("draw", help="draw a spec as SVG: a graph of its layers, or volumes",
                                 description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("spec", metavar="SPEC", help="the .cnn file; - reads stdin")
    parser.add_argument("-o", "--out", metavar="OUT.svg", required=True, help="the SVG file to write")
    parser.add_argument("--style", choices=("graph", "volumes"), default="graph",
                        help="graph: boxes and arrows (default); volumes: feature maps as 3-D boxes")
    parser.add_argument("--expand", action="store_true",
                        help="graph style: draw every layer of block calls and repeats instead of one box each")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from dataclasses import replace
    from pathlib import Path

    from cnnc.api import Options, check
    from cnnc.atomic import write_atomically
    from cnnc.draw import draw_svg
    from cnnc.lint import lint
    from cnnc.reading import not_utf8, read_source
    from cnnc.render.diagnostics import render_diagnostic, summary_line

    destination = Path(args.out)
    if destination.is_dir():
        raise CannotRun(f"cannot write {args.out}: it is a folder")
    if not destination.parent.is_dir():
        raise CannotRun(f"cannot write {args.out}: no folder {destination.parent}")
    try:
        source = read_source(args.spec)
    except OSError as problem:
        from cnnc.near_names import did_you_mean  # difflib: only on this error
        raise CannotRun(f"cannot read {args.spec}: {problem.strerror or problem}", did_you_mean(args.spec)) from None
    checked = not_utf8(source) or check(source, Options())
    if not checked.ok:
        for diagnostic in checked.diagnostics:
            out.print(render_diagnostic(diagnostic, checked.source), end="", soft_wrap=True)
        out.print(summary_line(list(checked.diagnostics)), soft_wrap=True)
        return EXIT_ERRORS
    checked = replace(checked, diagnostics=checked.diagnostics + lint(checked))
    svg = draw_svg(checked, style=args.style, expand=args.expand).encode("utf-8")
    try:
        write_atomically(destination, lambda file: file.write(svg))
    except OSError as problem:
        raise CannotRun(f"cannot write {args.out}: {problem.strerror or problem}") from None
    warnings = sum(1 for d in checked.diagnostics if not d.is_error)
    marked = f", {warnings} warning{'s' if warnings != 1 else ''} marked" if warnings else ""
    out.print(f"{checked.network.name}: wrote {args.out} ({args.style}{marked})", markup=False, highlight=False,
              soft_wrap=True)
    return EXIT_OK
