"""The one type every problem is reported as: syntax errors, shape errors, lint findings, budgets."""

from __future__ import annotations

import re
from enum import Enum

from cnnc.frozen import field, frozen, replace
from cnnc.source import Span


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@frozen
class Note:
    """A secondary location, such as the call site of the block a layer was expanded from."""

    message: str
    span: Span


@frozen
class Diagnostic:
    code: str
    severity: Severity
    message: str
    span: Span | None
    help: str | None = None
    notes: tuple[Note, ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


# Error codes of the front end and the analyzer. A code is never reused: a retired code keeps its entry.
ERROR_CODES: dict[str, str] = {
    "E001": "syntax-error",
    "E002": "unknown-name",
    "E003": "bad-argument",
    "E004": "recursive-block",
    "E005": "misplaced-statement",
    "E006": "limit-exceeded",
    "E101": "size-not-positive",
    "E102": "shape-mismatch",
    "E103": "rank-mismatch",
    "E104": "groups-mismatch",
    "E105": "no-input",
    "E106": "window-in-padding",
}


def error(code: str, message: str, span: Span | None, help: str | None = None,
          notes: tuple[Note, ...] = ()) -> Diagnostic:
    """An error diagnostic with one of the codes in ``ERROR_CODES``."""
    assert code in ERROR_CODES, code
    return Diagnostic(code, Severity.ERROR, message, span, help, notes)


def call_site_notes(origin) -> tuple[Note, ...]:
    """A note at each block call a layer was expanded from (``ir.Frame``s, outermost first), the
    innermost call first."""
    return tuple(Note(f"in block `{frame.block}`, called here", frame.span) for frame in reversed(origin))


def did_you_mean(name: str, candidates) -> str | None:
    """``did you mean `stride`?`` for the closest candidate, if one is close enough."""
    from difflib import get_close_matches

    close = get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


_QUOTED = re.compile(r"`[^`]*`")


def repeated(diagnostic: Diagnostic, times: int) -> Diagnostic:
    """``diagnostic`` standing for ``times`` identical findings: one per iteration of a repeat."""
    if times == 1:
        return diagnostic
    return replace(diagnostic, message=f"{diagnostic.message} (in all {times:,} iterations)")


def merge_repeats(diagnostics) -> tuple[Diagnostic, ...]:
    """One diagnostic per finding and location: a `repeat` expands one line into many layers, and
    the same finding on each of them is reported once, with the count. The first one's message and
    notes are kept. Findings are the same when their code, span, the spans of their notes (the call
    sites of blocks: one block called from two places still gives two diagnostics) and their
    messages but for the quoted layer names (`conv2` follows `conv1`) are."""
    first: dict[tuple, int] = {}
    merged: list[Diagnostic] = []
    counts: list[int] = []
    for diagnostic in diagnostics:
        key = (diagnostic.code, diagnostic.severity, diagnostic.span, tuple(n.span for n in diagnostic.notes),
               _QUOTED.sub("``", diagnostic.message))
        if key in first:
            counts[first[key]] += 1
            continue
        first[key] = len(merged)
        merged.append(diagnostic)
        counts.append(1)
    return tuple(repeated(d, n) for d, n in zip(merged, counts))


def has_errors(diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> bool:
    return any(d.is_error for d in diagnostics)


class SpecError(Exception):
    """Raised by the Python API when a spec has errors; carries every diagnostic."""

    def __init__(self, diagnostics: list[Diagnostic], source: object = None) -> None:
        self.diagnostics = list(diagnostics)
        self.source = source
        first = next((d for d in self.diagnostics if d.is_error), None)
        path = getattr(source, "path", "<string>")
        where = f"{path}:{first.span.line}:{first.span.column}: " if first and first.span else f"{path}: "
        count = sum(d.is_error for d in self.diagnostics)
        more = f" (and {count - 1} more error{'s' if count > 2 else ''})" if count > 1 else ""
        super().__init__(f"{where}{first.code} {first.message}{more}" if first else "invalid spec")
