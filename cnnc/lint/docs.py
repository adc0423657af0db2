"""The documentation of every code cnnc prints, errors and lint rules: `cnnc rule CODE`, `cnnc rules`
and docs/rules.md."""

from __future__ import annotations

import re

from cnnc.lint.error_codes import ERROR_GROUPS, ERRORS
from cnnc.lint.registry import GROUPS, RULES, Documented, closest_code, ordered_rules


def documented() -> list[Documented]:
    """Every code, in the order of the pipeline: errors in the text (E0xx), in the shapes (E1xx),
    then the rules (warnings, information, budgets, suppression)."""
    return [ERRORS[code] for code in sorted(ERRORS)] + list(ordered_rules())


def explained(text: str) -> Documented | None:
    """A code's documentation, by code (any case) or by name."""
    found = ERRORS.get(text.upper()) or RULES.get(text.upper())
    return found or next((entry for entry in documented() if entry.name == text.lower()), None)


def closest_documented(text: str) -> str | None:
    """The code a mistyped one most likely meant, among the errors and the rules."""
    return closest_code(text, [*ERRORS, *RULES])


def rule_text(entry: Documented) -> str:
    """What `cnnc rule CODE` prints: the code, name and severity, then the documentation."""
    return f"{entry.code} {entry.name} ({entry.severity.value})\n\n{entry.doc}\n"


def _demoted(doc: str) -> str:
    """The documentation's `## ` headings one level down, to nest under the code's own heading."""
    return re.sub(r"^## ", "#### ", doc, flags=re.MULTILINE)


def _groups() -> list[tuple[str, list[Documented]]]:
    groups = [(title, [ERRORS[code] for code in sorted(ERRORS) if code.startswith(prefix)])
              for prefix, title in ERROR_GROUPS.items()]
    groups += [(title, sorted((r for r in RULES.values() if r.code.startswith(prefix)), key=lambda r: r.code))
               for prefix, title in GROUPS.items()]
    return [(title, members) for title, members in groups if members]


def rules_markdown() -> str:
    """docs/rules.md: a table of every code, then each one's documentation, grouped by series."""
    lines = ["# Errors and lint rules", "",
             "<!-- Generated from the documentation of the codes by `cnnc rules --format markdown > docs/rules.md`;",
             "     tests/lint/test_lint_docs.py fails when it is out of date. Do not edit by hand. -->", "",
             "Every code `cnnc check` prints. Errors (E0xx in the text, E1xx in the shapes) mean the spec is",
             "invalid: they are always reported and cannot be suppressed. The lint rules (W, I, B, S) run after",
             "the analysis of every spec without errors. Select and ignore them with `--select`/`--ignore` or in",
             "the configuration, silence one line with `# noqa: CODE` (see [ci.md](ci.md)), and read any code",
             "with `cnnc rule CODE`.", "",
             "| Code | Name | Severity | What it flags |", "| --- | --- | --- | --- |"]
    lines += [f"| [{e.code}](#{e.code.lower()}-{e.name}) | `{e.name}` | {e.severity.value} | {e.summary} |"
              for e in documented()]
    for title, members in _groups():
        lines += ["", f"## {title}"]
        for entry in members:
            summary, _, body = entry.doc.partition("\n")
            severity = ("Severity: error, always reported." if entry.code in ERRORS
                        else f"Default severity: {entry.severity.value}.")
            lines += ["", f"### {entry.code} {entry.name}", "", severity, "", summary, _demoted(body.rstrip())]
    return "\n".join(lines) + "\n"
