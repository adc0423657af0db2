"""Diagnostics as a SARIF 2.1.0 log, the format GitHub code scanning uploads: one run, a rule
descriptor (with its documentation as help) for every lint rule and error code, and a result with
a physical location for every diagnostic."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable
from urllib.parse import quote

from cnnc.diagnostics import ERROR_CODES, Diagnostic, Severity
from cnnc.lint.registry import GROUPS, RULES
from cnnc.source import Source, Span

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _descriptors() -> list[dict]:
    """Every code cnnc can report: the lint rules with their documentation, then the errors."""
    descriptors = []
    for code, rule in RULES.items():
        what = rule.section("What it does") or rule.summary
        descriptors.append({
            "id": code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": what},
            "help": {"text": rule.doc, "markdown": rule.doc},
            "defaultConfiguration": {"level": LEVELS[rule.severity]},
            "properties": {"tags": [GROUPS[code[0]].split(":")[0].lower()]},
        })
    for code, name in ERROR_CODES.items():
        text = f"cnnc error {code} ({name}): the spec is invalid; the message says where and why."
        descriptors.append({"id": code, "name": name, "shortDescription": {"text": name.replace("-", " ")},
                            "help": {"text": text}, "defaultConfiguration": {"level": "error"},
                            "properties": {"tags": ["error"]}})
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
