"""Diagnostics as text: ``file:line:col``, the source line, a caret under the span, the hint."""

from __future__ import annotations

from cnnc.diagnostics import Diagnostic, Severity
from cnnc.render.styled import StyledText
from cnnc.source import Source, Span

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}
TAB_WIDTH = 4
MAX_SHOWN = 160  # characters of a source line shown; a longer line is cut around the span
CONTEXT = 40  # characters shown before the span in a cut line


def _snippet(source: Source, span: Span, style: str) -> StyledText:
    """The span's first line with a gutter and carets under the span (to the line's end if it spans more)."""
    raw = source.line_text(span.line)
    number = str(span.line)
    gutter = " " * len(number)
    start = max(span.column - 1, 0)
    end = span.end_column - 1 if span.end_line == span.line else len(raw)
    end = max(end, start + 1)
    raw, start, end = _window(raw, start, end)
    before = raw[:start].expandtabs(TAB_WIDTH)
    marked = raw[start:end].expandtabs(TAB_WIDTH)
    text = StyledText()
    text.append(f"{gutter} |\n", style="blue")
    text.append(f"{number} | ", style="blue")
    text.append(raw.expandtabs(TAB_WIDTH) + "\n")
    text.append(f"{gutter} | ", style="blue")
    text.append(" " * len(before) + "^" * max(len(marked), 1), style=style)
    text.append("\n")
    return text


def _window(line: str, start: int, end: int) -> tuple[str, int, int]:
    """A long line cut to the part around the span, with `...` where text was left out, and the
    span's start and end in the cut line."""
    if len(line) <= MAX_SHOWN:
        return line, start, end
    first = max(0, min(start - CONTEXT, len(line) - MAX_SHOWN))
    last = min(len(line), first + MAX_SHOWN)
    before = "..." if first else ""
    after = "..." if last < len(line) else ""
    offset = len(before) - first
    return before + line[first:last] + after, start + offset, min(end, last) + offset


def render_diagnostic(diagnostic: Diagnostic, source: Source) -> StyledText:
    style = SEVERITY_STYLE[diagnostic.severity]
    text = StyledText()
    span = diagnostic.span
    where = f"{source.path}:{span.line}:{span.column}" if span else source.path
    text.append(f"{where}: ", style="bold")
    text.append(f"{diagnostic.severity.value}[{diagnostic.code}]", style=style)
    text.append(f" {diagnostic.message}\n", style="bold")
    if span:
        text.append_text(_snippet(source, span, style))
    if diagnostic.help:
        gutter = " " * len(str(span.line)) if span else ""
        text.append(f"{gutter} = ", style="blue")
        text.append("help", style="bold")
        text.append(f": {diagnostic.help}\n")
    for note in diagnostic.notes:
        text.append(f"{source.path}:{note.span.line}:{note.span.column}: ", style="bold")
        text.append("note", style="bold green")
        text.append(f": {note.message}\n")
        text.append_text(_snippet(source, note.span, "bold green"))
    return text


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
