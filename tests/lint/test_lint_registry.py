"""One walk over the rule registry: every rule has a fixture whose expected findings it produces
exactly, documentation with the four headings, and examples that show what they say."""

from __future__ import annotations

import re

import pytest
from lint_support import FIXTURES, codes, expectations, lint_text

from cnnc.diagnostics import ERROR_CODES, Severity
from cnnc.lint import RULES
from cnnc.lint.registry import HEADINGS, RETIRED

RULE_CODES = sorted(RULES)


def _code_blocks(section: str) -> list[str]:
    return re.findall(r"```cnn\n(.*?)```", section, re.DOTALL)


def test_registry_holds_every_rule_of_the_issue():
    expected = {"W201": "stride-drops-input", "W202": "pool-gaps", "W203": "even-kernel-same",
                "W204": "linear-stack", "W205": "bias-before-batchnorm", "W206": "softmax-not-last",
                "W207": "small-receptive-field", "W208": "kernel-exceeds-input", "W209": "softmax-single-channel",
                "I301": "dominant-layer",
                "I302": "stacked-maxpool", "I303": "implicit-flatten", "B401": "params-budget",
                "B402": "macs-budget", "B403": "memory-budget", "B404": "receptive-field-budget"}
    assert {code: RULES[code].name for code in expected} == expected
    assert {RULES[c].severity for c in expected if c[0] == "W"} == {Severity.WARNING}
    assert {RULES[c].severity for c in expected if c[0] == "I"} == {Severity.INFO}
    assert {RULES[c].severity for c in expected if c[0] == "B"} == {Severity.ERROR}


def test_deconv_checkerboard_rule_is_registered():
    assert (RULES["W210"].name, RULES["W210"].severity) == ("deconv-checkerboard", Severity.WARNING)


def test_codes_are_never_shared():
    assert not set(RULES) & set(ERROR_CODES)
    assert not set(RULES) & set(RETIRED)
    assert len({rule.name for rule in RULES.values()}) == len(RULES)


@pytest.mark.parametrize("code", RULE_CODES)
def test_rule_has_documented_headings(code):
    rule = RULES[code]
    assert rule.summary and rule.summary.endswith("."), "the docstring starts with a one-line summary"
    positions = [rule.doc.find(f"\n## {heading}\n") for heading in HEADINGS]
    assert -1 not in positions, f"{code} lacks one of the headings {HEADINGS}"
    assert positions == sorted(positions), f"{code}'s headings are out of order"
    for heading in HEADINGS:
        assert rule.section(heading), f"{code}: `## {heading}` is empty"
    assert len(_code_blocks(rule.section("Example"))) == 1
    assert len(_code_blocks(rule.section("Use instead"))) == 1


@pytest.mark.parametrize("code", RULE_CODES)
def test_rule_fixture_finds_exactly_the_expected_lines(code):
    path = FIXTURES / f"{code}.cnn"
    assert path.is_file(), f"rule {code} has no fixture {path}"
    text = path.read_text(encoding="utf-8")
    expected = expectations(text)
    assert any(found == code for _, found in expected), f"{path} expects no {code}"
    checked_codes = {code} | {found for _, found in expected}
    found = {(d.span.line, d.code) for d in lint_text(text, str(path)) if d.code in checked_codes}
    assert found == expected


@pytest.mark.parametrize("code", RULE_CODES)
def test_rule_documentation_examples_show_what_they_say(code):
    rule = RULES[code]
    (example,) = _code_blocks(rule.section("Example"))
    (instead,) = _code_blocks(rule.section("Use instead"))
    assert code in codes(lint_text(example)), f"{code}'s Example does not trigger it"
    assert code not in codes(lint_text(instead)), f"{code}'s Use instead still triggers it"
