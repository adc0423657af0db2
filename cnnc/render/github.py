"""Diagnostics as GitHub Actions workflow commands: ``::warning file=...,line=...,col=...,title=W201::...``,
which GitHub shows as annotations on the pull request's diff."""

from __future__ import annotations

from cnnc.diagnostics import Diagnostic, Severity
from cnnc.source import Source

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_command(diagnostic: Diagnostic, source: Source) -> str:
    """One workflow command line; the hint and the notes follow the message on lines of their own."""
    properties = [("file", source.path)]
    if diagnostic.span is not None:
        properties += [("line", diagnostic.span.line), ("col", diagnostic.span.column)]
    properties.append(("title", diagnostic.code))
    lines = [diagnostic.message]
    if diagnostic.help:
        lines.append(f"help: {diagnostic.help}")
    lines += [f"note: {note.message} (line {note.span.line})" for note in diagnostic.notes]
    fields = ",".join(f"{key}={_escape_property(str(value))}" for key, value in properties)
    return f"::{COMMANDS[diagnostic.severity]} {fields}::{_escape_data(chr(10).join(lines))}"
