"""Shared helpers of the lint tests: checking and linting spec text, reading fixture expectations."""

from __future__ import annotations

import re
from pathlib import Path

from cnnc.api import Options, check
from cnnc.config import parse_bytes, parse_count
from cnnc.diagnostics import Diagnostic
from cnnc.lint import ALL_CODES, Budgets, LintSettings, lint
from cnnc.source import Source

REPOSITORY = Path(__file__).resolve().parents[2]
FIXTURES = REPOSITORY / "tests" / "fixtures" / "lint"

_BUDGET = re.compile(r"--(max-params|max-macs|max-memory|min-receptive-field)\s+(\S+)")
_EXPECT = re.compile(r"#\s*expect:\s*([A-Z][0-9]{3}(?:[\s,]+[A-Z][0-9]{3})*)")


def budgets_in(text: str) -> Budgets:
    """Budgets written as command-line options in the text (`# cnnc check --max-params 1M`)."""
    found = dict(_BUDGET.findall(text))
    return Budgets(
        params=parse_count(found["max-params"]) if "max-params" in found else None,
        macs=parse_count(found["max-macs"]) if "max-macs" in found else None,
        memory=parse_bytes(found["max-memory"]) if "max-memory" in found else None,
        receptive_field=parse_count(found["min-receptive-field"]) if "min-receptive-field" in found else None)


def expectations(text: str) -> set[tuple[int, str]]:
    """(line, code) for every `# expect: CODE` comment."""
    return {(number, code) for number, line in enumerate(text.split("\n"), start=1)
            for match in _EXPECT.finditer(line) for code in re.findall(r"[A-Z][0-9]{3}", match.group(1))}


def lint_text(text: str, path: str = "<string>", budgets: Budgets | None = None,
              enabled: frozenset[str] = ALL_CODES) -> tuple[Diagnostic, ...]:
    """The lint findings for spec text (which must have no errors), budgets from the text by default."""
    checked = check(Source(text, path), Options())
    assert checked.ok, [d.message for d in checked.diagnostics]
    settings = LintSettings(enabled, {}, budgets if budgets is not None else budgets_in(text))
    return lint(checked, settings)


def check_text(text: str) -> list[Diagnostic]:
    """The errors of spec text."""
    return [d for d in check(Source(text), Options()).diagnostics if d.is_error]


def codes(diagnostics) -> list[str]:
    return [d.code for d in diagnostics]
