"""Diagnostics as text: ``file:line:col``, the source line, a caret under the span, the hint."""

from __future__ import annotations

from cnnc.diagnostics import Diagnostic, Severity
from cnnc.render.styled import StyledText
from cnnc.source import Source, Span

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}
TAB_WIDTH = 4
MAX_SHOWN = 160  # characters of a source line shown; a longer line is cut around the span
CONTEXT = 40  # characters shown before the span in a cut line


def _snippet(source: Source, span: Span, style: str, highlight: bool = False) -> StyledText:
    """The span's first line with a gutter and carets under the span (to the line's end if it spans more)."""
    line = source.line_text(span.line)
    number = str(span.line)
    gutter = " " * len(number)
    start = max(span.column - 1, 0)
    end = span.end_column - 1 if span.end_line == span.line else len(line)
    end = max(end, start + 1)
    first, last = _window(len(line), start)
    cut_before = "..." if first else ""
    offset = len(cut_before) - first  # from an index in the line to one in the shown text
    raw = cut_before + line[first:last] + ("..." if last < len(line) else "")
    start, end = start + offset, min(end, last) + offset
    styles = []
    if highlight:
        from cnnc.render.highlight import line_styles  # Pygments: only where colour is on

        styles = [(begin + offset, stop + offset, name) for begin, stop, name in line_styles(line, first, last)]
    before = raw[:start].expandtabs(TAB_WIDTH)
    marked = raw[start:end].expandtabs(TAB_WIDTH)
    text = StyledText()
    text.append(f"{gutter} |\n", style="blue")
    text.append(f"{number} | ", style="blue")
    text.append_text(_source_line(raw, styles))
    text.append("\n")
    text.append(f"{gutter} | ", style="blue")
    text.append(" " * len(before) + "^" * max(len(marked), 1), style=style)
    text.append("\n")
    return text


def _window(length: int, start: int) -> tuple[int, int]:
    """The part of a line of ``length`` characters that is shown: all of it, or for a long line
    MAX_SHOWN characters around a span starting at ``start``."""
    if length <= MAX_SHOWN:
        return 0, length
    first = max(0, min(start - CONTEXT, length - MAX_SHOWN))
    return first, min(length, first + MAX_SHOWN)


def _source_line(raw: str, styles: list[tuple[int, int, str]]) -> StyledText:
    """``raw`` with its tabs expanded, the characters of each style's span (indices in ``raw``) styled."""
    shown = raw.expandtabs(TAB_WIDTH)
    text = StyledText()
    position = 0
    for begin, end, style in styles:  # a tab's width depends only on what precedes it
        begin, end = len(raw[:begin].expandtabs(TAB_WIDTH)), len(raw[:end].expandtabs(TAB_WIDTH))
        text.append(shown[position:begin])
        text.append(shown[begin:end], style=style)
        position = end
    return text.append(shown[position:])


def render_diagnostic(diagnostic: Diagnostic, source: Source, highlight: bool = False) -> StyledText:
    """The diagnostic as text; ``highlight`` colours the source lines' tokens (for a console with colour)."""
    style = SEVERITY_STYLE[diagnostic.severity]
    text = StyledText()
    span = diagnostic.span
    where = f"{source.path}:{span.line}:{span.column}" if span else source.path
    text.append(f"{where}: ", style="bold")
    text.append(f"{diagnostic.severity.value}[{diagnostic.code}]", style=style)
    text.append(f" {diagnostic.message}\n", style="bold")
    if span:
        text.append_text(_snippet(source, span, style, highlight))
    if diagnostic.help:
        gutter = " " * len(str(span.line)) if span else ""
        text.append(f"{gutter} = ", style="blue")
        text.append("help", style="bold")
        text.append(f": {diagnostic.help}\n")
    for note in diagnostic.notes:
        text.append(f"{source.path}:{note.span.line}:{note.span.column}: ", style="bold")
        text.append("note", style="bold green")
        text.append(f": {note.message}\n")
        text.append_text(_snippet(source, note.span, "bold green", highlight))
    return text


def in_colour(console) -> bool:
    """Whether ``console`` (a rich Console or a PlainConsole) prints colours, so that highlighting shows."""
    return console.color_system is not None and not console.no_color


def summary_line(diagnostics: list[Diagnostic]) -> StyledText | None:
    """``Found 2 errors and 1 warning.``, or None when there is nothing."""
    counts = {severity: sum(d.severity is severity for d in diagnostics) for severity in Severity}
    parts = [f"{count} {severity.value}{'s' if count != 1 else ''}"
             for severity, count in counts.items() if count]
    if not parts:
        return None
    style = SEVERITY_STYLE[next(s for s in Severity if counts[s])]
    return StyledText(f"Found {', '.join(parts)}.", style=style)


def code_name(code: str) -> str:
    """The kebab-case name of an error code or a lint rule's code ('' when unknown)."""
    from cnnc.lint.registry import code_name as registered_name  # the lint package imports the pipeline

    return registered_name(code)
