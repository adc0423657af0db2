"""The report as HTML: the layer table and the totals of ``cnnc check``, every cell escaped. Notebooks show
``report_html`` (``_repr_html_`` of Network, Report and Model); ``cnnc check --format html`` builds its page from
the same pieces (cnnc.render.html_report)."""

from __future__ import annotations

from html import escape

from cnnc.render.layers import LAYER_COLUMNS, layer_rows
from cnnc.render.styled import StyledText
from cnnc.render.text import assumptions_text, totals_rows
from cnnc.report import Report

RIGHT = ' style="text-align: right"'


def _cell(tag: str, text: str, right: bool) -> str:
    """One cell, escaped; the leading spaces that indent a block's layers kept as non-breaking ones."""
    indent = len(text) - len(text.lstrip(" "))
    return f"<{tag}{RIGHT if right else ''}>{'&nbsp;' * indent}{escape(text[indent:])}</{tag}>"


def layer_table_html(report: Report) -> str:
    """The per-layer table (``class="cnnc-layers"``), the input's row first."""
    parts = ['<table class="cnnc-layers">', "<thead><tr>"]
    parts += [_cell("th", column.header, column.right) for column in LAYER_COLUMNS]
    parts.append("</tr></thead><tbody>")
    for row in layer_rows(report):
        parts.append("<tr>" + "".join(_cell("td", cell, column.right) for cell, column in zip(row, LAYER_COLUMNS))
                     + "</tr>")
    parts.append("</tbody></table>")
    return "\n".join(parts)


def totals_html(report: Report) -> str:
    """The totals (``class="cnnc-totals"``) and the sentence saying what the memory figures assume; ''
    when the report has no totals (a spec whose analysis stopped at an error)."""
    if report.totals is None:
        return ""
    parts = ['<table class="cnnc-totals"><tbody>']
    for name, value, meaning in totals_rows(report):
        parts.append(f"<tr>{_cell('th', name, False)}{_cell('td', value, True)}{_cell('td', meaning, False)}</tr>")
    parts.append(f'</tbody></table><p class="cnnc-assumptions"><small>{escape(assumptions_text(report))}</small></p>')
    return "\n".join(parts)


def report_html(report: Report, heading: str | None = None) -> str:
    """A ``<div>`` holding a heading (by default the network's name, input and output), the layer table
    and the totals; ``heading`` replaces the first line (a model's says what it was trained with)."""
    title = heading if heading is not None else f"{report.network}: {report.input} -> {report.output or '?'}"
    parts = [f'<div class="cnnc-report"><p><strong>{escape(title)}</strong></p>', layer_table_html(report)]
    totals = totals_html(report)
    if totals:
        parts.append(totals)
    parts.append("</div>")
    return "\n".join(parts)


def styled_html(text: StyledText) -> str:
    """Styled text (a diagnostic as the terminal shows it) as escaped HTML: each run of characters with
    the same styles in a ``<span>`` whose classes name them (``bold red`` -> ``s-bold s-red``)."""
    plain = text.plain
    spans = ([(0, len(plain), text.style)] if text.style else []) + list(text.spans)
    cuts = sorted({0, len(plain), *(start for start, _, _ in spans), *(end for _, end, _ in spans)})
    parts = []
    for start, end in zip(cuts, cuts[1:]):
        words = sorted({word for first, last, style in spans if first <= start and end <= last
                        for word in style.split()})
        piece = escape(plain[start:end], quote=False)
        parts.append(f'<span class="{" ".join("s-" + word for word in words)}">{piece}</span>' if words else piece)
    return "".join(parts)
