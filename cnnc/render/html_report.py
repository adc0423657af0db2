"""``cnnc check --format html``: one self-contained page (inline style sheet, script and SVG; nothing fetched)
with a section for each spec: its diagram, its sortable layer table, totals and memory assumptions, and its
diagnostics with their source lines and carets. Everything the user wrote is escaped."""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING

from cnnc.render.html import layer_table_html, styled_html, totals_html
from cnnc.render.html_assets import SORT_SCRIPT, STYLE

if TYPE_CHECKING:
    from cnnc.api import Checked

_REFERENCES = re.compile(r'(\s(?:id|data-from|data-to)=")|(url\(#)|(href="#)')


def _diagram(result: Checked, prefix: str) -> str:
    """The spec's graph drawing as inline SVG, its ids prefixed so that several drawings on one page keep
    theirs apart."""
    from cnnc.draw import draw_svg

    svg = re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", draw_svg(result))  # no XML declaration inside HTML
    if prefix:
        svg = prefixed_ids(svg, prefix)
    return f'<h3>Diagram</h3>\n<div class="cnnc-diagram">\n{svg.strip()}\n</div>'


def prefixed_ids(svg: str, prefix: str) -> str:
    """``svg`` with every id, every ``data-from``/``data-to`` and every ``url(#..)``/``href="#..`` reference
    starting with ``prefix``."""
    return _REFERENCES.sub(lambda match: match.group(0) + prefix, svg)


def _diagnostics(result: Checked) -> str:
    from cnnc.render.diagnostics import render_diagnostic

    if not result.diagnostics:
        return '<h3>Diagnostics</h3>\n<p class="cnnc-none">No findings.</p>'
    parts = ["<h3>Diagnostics</h3>"]
    for diagnostic in result.diagnostics:
        text = styled_html(render_diagnostic(diagnostic, result.source)).rstrip("\n")
        parts.append(f'<pre class="cnnc-diagnostic {diagnostic.severity.value}">{text}</pre>')
    return "\n".join(parts)


def _counts(result: Checked) -> str:
    from cnnc.render.diagnostics import summary_line

    summary = summary_line(list(result.diagnostics))
    return summary.plain.removeprefix("Found ").rstrip(".") if summary is not None else "no findings"


def _section(result: Checked, index: int, several: bool, quiet: bool) -> str:
    report = result.report
    parts = [f'<section class="cnnc-spec" id="spec-{index}">',
             f"<h2><code>{escape(result.source.path)}</code></h2>"]
    if report is None:
        name = result.network.name if result.network else result.source.stem
        parts.append(f'<p class="cnnc-headline">{escape(name)}: not analyzed (the spec has errors); '
                     f"{escape(_counts(result))}</p>")
    else:
        parts.append(f'<p class="cnnc-headline">{escape(report.headline)}; {escape(_counts(result))}</p>')
        if not quiet:
            parts += [_diagram(result, f"s{index}-" if several else ""), "<h3>Layers</h3>",
                      layer_table_html(report)]
            totals = totals_html(report)
            if totals:
                parts += ["<h3>Totals</h3>", totals]
    parts.append(_diagnostics(result))
    parts.append("</section>")
    return "\n".join(part for part in parts if part)


def html_report(results: list[Checked], version: str, quiet: bool = False) -> str:
    """The whole page for ``results`` (one section each, in order), as a string ending in a newline; ``quiet``
    (``cnnc check -q``) leaves out the drawings and the tables, keeping the findings."""
    from cnnc.render.diagnostics import summary_line

    summary = summary_line([d for result in results for d in result.diagnostics])
    names = ", ".join(result.source.path for result in results)
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>cnnc check: {escape(names)}</title>", f"<style>{STYLE}</style>", "</head>",
             '<body class="cnnc-page">', "<header>", "<h1>cnnc check</h1>",
             f'<p class="cnnc-summary">{escape(summary.plain if summary else "All checks passed!")}</p>',
             f'<p class="cnnc-headline">{len(results)} spec{"s" if len(results) != 1 else ""}, '
             f"cnnc {escape(version)}</p>"]
    several = len(results) > 1
    if several:
        parts.append('<ol class="cnnc-contents">')
        parts += [f'<li><a href="#spec-{index}"><code>{escape(result.source.path)}</code></a></li>'
                  for index, result in enumerate(results, 1)]
        parts.append("</ol>")
    parts.append("</header>")
    parts += [_section(result, index, several, quiet) for index, result in enumerate(results, 1)]
    parts += [f"<script>{SORT_SCRIPT}</script>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"
