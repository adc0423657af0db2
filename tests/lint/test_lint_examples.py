"""The examples stay clean: no errors and no warnings, unless a `# noqa` says why the warning is the
point of the example."""

from __future__ import annotations

import pytest
from lint_support import REPOSITORY

from cnnc.api import Options, check
from cnnc.diagnostics import Severity
from cnnc.lint import lint
from cnnc.source import Source

EXAMPLES = sorted((REPOSITORY / "examples").glob("*.cnn"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_has_no_warnings(path):
    checked = check(Source(path.read_text(encoding="utf-8"), str(path)), Options())
    findings = checked.diagnostics + lint(checked)
    assert [f"{d.span.line}: {d.code} {d.message}" for d in findings
            if d.severity in (Severity.ERROR, Severity.WARNING)] == []


def test_every_noqa_in_the_examples_says_why():
    for path in EXAMPLES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if "noqa" in line.lower():
                explanation = line.lower().split("noqa", 1)[1].lstrip(": ").split(" ", 1)
                assert len(explanation) == 2 and len(explanation[1].strip()) > 10, f"{path.name}:{number}"
