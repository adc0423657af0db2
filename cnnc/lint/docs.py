"""The rules' documentation, from their docstrings: `cnnc rule W201` and docs/rules.md."""

from __future__ import annotations

import re

from cnnc.lint.registry import GROUPS, RULES, Rule, ordered_rules


def rule_text(rule: Rule) -> str:
    """What `cnnc rule CODE` prints: the code, name and severity, then the docstring."""
    return f"{rule.code} {rule.name} ({rule.severity.value})\n\n{rule.doc}\n"


def _demoted(doc: str) -> str:
    """The docstring's `## ` headings one level down, to nest under the rule's own heading."""
    return re.sub(r"^## ", "#### ", doc, flags=re.MULTILINE)


def rules_markdown() -> str:
    """docs/rules.md: a table of every rule, then each rule's documentation, grouped by series."""
    lines = ["# Lint rules", "",
             "<!-- Generated from the rules' docstrings by `cnnc rules --format markdown > docs/rules.md`;",
             "     tests/lint/test_lint_docs.py fails when it is out of date. Do not edit by hand. -->", "",
             "`cnnc check` runs these after the analysis of every spec without errors. Select and ignore them",
             "with `--select`/`--ignore` or in the configuration, silence one line with `# noqa: CODE`",
             "(see [ci.md](ci.md)), and read one with `cnnc rule CODE`.", "",
             "| Code | Name | Severity | What it flags |", "| --- | --- | --- | --- |"]
    lines += [f"| [{r.code}](#{r.code.lower()}-{r.name}) | `{r.name}` | {r.severity.value} | {r.summary} |"
              for r in ordered_rules()]
    for prefix, title in GROUPS.items():
        members = sorted((r for r in RULES.values() if r.code.startswith(prefix)), key=lambda r: r.code)
        if not members:
            continue
        lines += ["", f"## {title}"]
        for rule in members:
            summary, _, body = rule.doc.partition("\n")
            lines += ["", f"### {rule.code} {rule.name}", "", f"Default severity: {rule.severity.value}.", "",
                      summary, _demoted(body.rstrip())]
    return "\n".join(lines) + "\n"
