"""Architecture lint: design checks that run on a spec without errors, after the analysis.

``lint(checked, settings)`` runs the selected rules of the registry, applies severity overrides and
`# noqa` comments, and returns the findings as diagnostics."""

from __future__ import annotations


from cnnc.collector import collector_paused
from cnnc.diagnostics import Diagnostic, Note, call_site_notes, merge_repeats
from cnnc.lint import budgets, head, inputs, noqa, sequence, windows  # noqa: F401 - registers the rules
from cnnc.lint.context import Budgets, Finding, LintContext, LintSettings
from cnnc.lint.registry import RULES, Rule, code_name, rule_named

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:  # `cnnc rule` reads the registry without loading the parser
    from cnnc.api import Checked

ALL_CODES = frozenset(RULES)


def default_settings() -> LintSettings:
    """Every rule at its own severity, no budgets."""
    return LintSettings(enabled=ALL_CODES)


def _call_sites(finding: Finding) -> tuple[Note, ...]:
    return call_site_notes(finding.node.origin if finding.node is not None else ())


def lint(checked: Checked, settings: LintSettings | None = None) -> tuple[Diagnostic, ...]:
    """The findings of the enabled rules on a spec, sorted by position. Nothing for a spec with
    errors: lint reads the analysis, which is incomplete then."""
    settings = settings or default_settings()
    if not checked.ok or checked.network is None or checked.report is None or checked.report.totals is None:
        return ()
    with collector_paused():
        return _lint(checked, settings)


def _lint(checked: Checked, settings: LintSettings) -> tuple[Diagnostic, ...]:
    context = LintContext(checked.source, checked.network, checked.report, settings.budgets)
    comments = noqa.directives(checked.source)
    found: list[Diagnostic] = []
    for code, rule in RULES.items():
        if code not in settings.enabled:
            continue
        severity = settings.severities.get(code, rule.severity)
        for finding in rule.check(context):
            call_sites = _call_sites(finding)
            span = finding.location
            lines = [span.line] if span else []
            if noqa.suppressed(comments, code, lines + [note.span.line for note in call_sites]):
                continue
            found.append(Diagnostic(code, severity, finding.message, span, finding.help,
                                    finding.notes + call_sites))
    found.sort(key=lambda d: (d.span.line, d.span.column, d.code) if d.span else (0, 0, d.code))
    return merge_repeats(found)


__all__ = ["ALL_CODES", "Budgets", "Finding", "LintContext", "LintSettings", "RULES", "Rule", "code_name",
           "default_settings", "lint", "rule_named"]
