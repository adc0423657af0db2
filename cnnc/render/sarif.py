"""Diagnostics as a SARIF 2.1.0 log, the format GitHub code scanning uploads: one run, a rule
descriptor (with its documentation as help) for every lint rule and error code, and a result with
a physical location for every diagnostic."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from cnnc.diagnostics import Diagnostic, Severity
from cnnc.lint.registry import GROUPS, RULES
from cnnc.source import Source, Span

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _descriptors() -> list[dict]:
    """Every code cnnc can report, the lint rules then the errors, each with its documentation."""
    from cnnc.lint.error_codes import ERRORS

    descriptors = []
    for code, entry in [*RULES.items(), *ERRORS.items()]:
        what = entry.section("What it does") or entry.section("What it means") or entry.summary
        tag = "error" if code in ERRORS else GROUPS[code[0]].split(":")[0].lower()
        descriptors.append({
            "id": code,
            "name": entry.name,
            "shortDescription": {"text": entry.summary},
            "fullDescription": {"text": what},
            "help": {"text": entry.doc, "markdown": entry.doc},
            "defaultConfiguration": {"level": LEVELS[entry.severity]},
            "properties": {"tags": [tag]},
        })
    return descriptors


def _uri(path: str) -> str:
    """A URI reference for a spec path: relative paths stay relative (to the repository root)."""
    candidate = Path(path)
    if candidate.is_absolute():
        return candidate.as_uri()
    return quote(candidate.as_posix(), safe="/")


def _region(span: Span | None) -> dict:
    if span is None:
        return {"startLine": 1}
    return {"startLine": span.line, "startColumn": span.column, "endLine": span.end_line,
            "endColumn": span.end_column}


def _location(source: Source, span: Span | None, message: str | None = None, id: int | None = None) -> dict:
    location: dict = {"physicalLocation": {"artifactLocation": {"uri": _uri(source.path)}, "region": _region(span)}}
    if id is not None:
        location["id"] = id
    if message is not None:
        location["message"] = {"text": message}
    return location


def _result(diagnostic: Diagnostic, source: Source, index: dict[str, int]) -> dict:
    text = diagnostic.message + (f"\nhelp: {diagnostic.help}" if diagnostic.help else "")
    result = {"ruleId": diagnostic.code, "level": LEVELS[diagnostic.severity], "message": {"text": text},
              "locations": [_location(source, diagnostic.span)]}
    if diagnostic.code in index:
        result["ruleIndex"] = index[diagnostic.code]
    if diagnostic.notes:
        result["relatedLocations"] = [_location(source, note.span, note.message, number)
                                      for number, note in enumerate(diagnostic.notes, start=1)]
    return result


def sarif_log(results: Iterable[tuple[Source, Iterable[Diagnostic]]], version: str) -> dict:
    """The SARIF document for the diagnostics of every spec checked."""
    rules = _descriptors()
    index = {rule["id"]: number for number, rule in enumerate(rules)}
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "cnnc", "version": version, "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "results": [_result(d, source, index) for source, diagnostics in results for d in diagnostics],
        }],
    }
