"""Every code the source can emit, errors and lint rules alike, is explained by `cnnc rule CODE`, listed
by `cnnc rules`, and has an example that really produces it when checked (and a fix that does not)."""

from __future__ import annotations

import io
import re

import pytest
from lint_support import REPOSITORY, budgets_in
from rich.console import Console

from cnnc.api import Options, check
from cnnc.cli import main
from cnnc.lint import ALL_CODES, LintSettings, lint
from cnnc.lint.docs import documented, explained
from cnnc.lint.error_codes import ERROR_HEADINGS, ERRORS
from cnnc.lint.registry import HEADINGS, RULES
from cnnc.source import Source

_CODE_LITERAL = re.compile(r"""["']([EWIBS][0-9]{3})["']""")


def emitted_codes() -> set[str]:
    """Every code written as a string literal in the package's source: what `error("E101", ...)`,
    `_fail("E103", ...)`, `BadValue(..., code="E002")` and `@rule("W201", ...)` can report."""
    sources = [*(REPOSITORY / "cnnc").rglob("*.py"), *(REPOSITORY / "backends").rglob("*.py")]
    return {code for path in sources for code in _CODE_LITERAL.findall(path.read_text(encoding="utf-8"))}


EMITTED = sorted(emitted_codes())


def test_the_source_emits_exactly_the_documented_codes():
    assert len(EMITTED) >= 30  # the walk found the codes (11 errors and 20 rules when written)
    assert set(EMITTED) == {entry.code for entry in documented()}


def _run(args: list[str]) -> tuple[int, str, str]:
    out = Console(file=io.StringIO(), width=120, color_system=None)
    err = Console(file=io.StringIO(), width=120, color_system=None)
    code = main(args, out=out, err=err)
    return code, out.file.getvalue(), err.file.getvalue()


def _code_block(entry, heading: str) -> str:
    (block,) = re.findall(r"```cnn\n(.*?)```", entry.section(heading), re.DOTALL)
    return block


def _codes_found(text: str) -> list[str]:
    """The codes `cnnc check` reports for spec text: its errors, or (without errors) its lint findings,
    with the budgets the text names in a `# cnnc check --max-...` comment."""
    checked = check(Source(text), Options())
    if not checked.ok:
        return [d.code for d in checked.diagnostics]
    return [d.code for d in lint(checked, LintSettings(ALL_CODES, {}, budgets_in(text)))]


@pytest.mark.parametrize("code", EMITTED)
def test_every_code_is_explained_with_its_headings(code):
    exit_code, output, _ = _run(["rule", code])
    assert exit_code == 0
    entry = explained(code)
    assert output.startswith(f"{code} {entry.name} ({entry.severity.value})\n\n{entry.summary}\n")
    headings = ERROR_HEADINGS if code in ERRORS else HEADINGS
    positions = [output.find(f"\n## {heading}\n") for heading in headings]
    assert -1 not in positions and positions == sorted(positions), f"{code} lacks or misorders {headings}"
    assert all(entry.section(heading) for heading in headings)
    assert entry.summary.endswith(".")


@pytest.mark.parametrize("code", EMITTED)
def test_every_code_has_an_example_that_produces_it_and_a_fix_that_does_not(code):
    entry = explained(code)
    assert code in _codes_found(_code_block(entry, "Example")), f"{code}'s Example does not produce it"
    fixed = _codes_found(_code_block(entry, "Use instead"))
    assert code not in fixed, f"{code}'s Use instead still produces it"
    if code in ERRORS:
        assert not any(found in ERRORS for found in fixed), f"{code}'s Use instead has errors: {fixed}"


def test_every_code_is_listed_by_cnnc_rules():
    _, output, _ = _run(["rules"])
    listed = [line.split()[0] for line in output.splitlines()[2:]]
    assert listed == [entry.code for entry in documented()]
    assert set(listed) == set(EMITTED)


def test_error_codes_and_rule_codes_are_distinct():
    assert not set(ERRORS) & set(RULES)
