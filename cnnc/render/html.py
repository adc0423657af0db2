"""The report as HTML for notebooks (``_repr_html_`` of Network, Report and Model): the layer table and
the totals of ``cnnc check``, every cell escaped."""

from __future__ import annotations

from html import escape

from cnnc.render.layers import LAYER_COLUMNS, layer_rows
from cnnc.render.text import assumptions_text, totals_rows
from cnnc.report import Report

RIGHT = ' style="text-align: right"'


def _cell(tag: str, text: str, right: bool) -> str:
    """One cell, escaped; the leading spaces that indent a block's layers kept as non-breaking ones."""
    indent = len(text) - len(text.lstrip(" "))
    return f"<{tag}{RIGHT if right else ''}>{'&nbsp;' * indent}{escape(text[indent:])}</{tag}>"


def report_html(report: Report, heading: str | None = None) -> str:
    """A ``<div>`` holding a heading (by default the network's name, input and output), the layer table
    and the totals; ``heading`` replaces the first line (a model's says what it was trained with)."""
    title = heading if heading is not None else f"{report.network}: {report.input} -> {report.output or '?'}"
    parts = [f'<div class="cnnc-report"><p><strong>{escape(title)}</strong></p>', "<table>", "<thead><tr>"]
    parts += [_cell("th", column.header, column.right) for column in LAYER_COLUMNS]
    parts.append("</tr></thead><tbody>")
    for row in layer_rows(report):
        parts.append("<tr>" + "".join(_cell("td", cell, column.right) for cell, column in zip(row, LAYER_COLUMNS))
                     + "</tr>")
    parts.append("</tbody></table>")
    if report.totals is not None:
        parts.append("<table><tbody>")
        for name, value, meaning in totals_rows(report):
            parts.append(f"<tr>{_cell('th', name, False)}{_cell('td', value, True)}{_cell('td', meaning, False)}</tr>")
        parts.append(f"</tbody></table><p><small>{escape(assumptions_text(report))}</small></p>")
    parts.append("</div>")
    return "\n".join(parts)
