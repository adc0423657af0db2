"""The rule registry: every lint rule with its stable code, kebab-case name, severity and documentation.

A code is never reused: a retired rule keeps its entry in ``RETIRED``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from cnnc.diagnostics import ERROR_CODES, Severity
from cnnc.frozen import frozen
from cnnc.lint.context import Finding, LintContext

Check = Callable[[LintContext], Iterable[Finding]]

HEADINGS = ("What it does", "Why is this bad?", "Example", "Use instead")
"""The sections every rule's docstring has, in this order, as ``## `` headings."""

GROUPS = {"W": "Warnings: legal but wrong or wasteful designs",
          "I": "Information: worth knowing, never a failure",
          "B": "Budgets: errors when a limit you set is exceeded",
          "S": "Suppression comments"}

RETIRED: dict[str, str] = {}
"""Codes of rules that were removed, with their names: never to be given to another rule."""


class Documented:
    """What `cnnc rule CODE` explains, a lint rule or an error code: its documentation's summary
    (the first line) and its ``## `` sections."""

    code: str
    name: str
    severity: Severity
    doc: str

    @property
    def summary(self) -> str:
        """The documentation's first line."""
        return self.doc.split("\n", 1)[0].strip()

    def section(self, heading: str) -> str | None:
        """The text under a ``## `` heading; None when the documentation lacks it."""
        match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", self.doc, re.MULTILINE | re.DOTALL)
        return match.group(1).strip() if match else None


@frozen
class Rule(Documented):
    code: str
    name: str
    severity: Severity
    check: Check

    @property
    def doc(self) -> str:
        import inspect  # here: a check never reads a rule's docs, and inspect costs every start ~2 ms

        return inspect.cleandoc(self.check.__doc__ or "")


RULES: dict[str, Rule] = {}


def rule(code: str, name: str, severity: Severity) -> Callable[[Check], Check]:
    """Register a rule: ``@rule("W201", "stride-drops-input", Severity.WARNING)`` over its check."""

    def register(check: Check) -> Check:
        assert re.fullmatch(r"[WIBS][0-9]{3}", code), code
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", name), name
        assert code not in RULES and code not in ERROR_CODES and code not in RETIRED, f"{code} is taken"
        assert all(r.name != name for r in RULES.values()), f"{name} is taken"
        RULES[code] = Rule(code, name, severity, check)
        return check

    return register


def ordered_rules() -> list[Rule]:
    """Every rule, warnings first, then information, budgets and suppression; by code within each."""
    series = list(GROUPS)
    return sorted(RULES.values(), key=lambda r: (series.index(r.code[0]), r.code))


def rule_named(text: str) -> Rule | None:
    """A rule by code (any case) or by name."""
    found = RULES.get(text.upper())
    return found or next((r for r in RULES.values() if r.name == text.lower()), None)


_DIGIT_LOOKALIKES = str.maketrans("OIL", "011")


def closest_code(text: str, codes: Iterable[str] | None = None) -> str | None:
    """The code a mistyped one most likely meant, among ``codes`` (the rules' by default): a letter
    typed for the digit it looks like (W2O1) first, then the same characters in another order (W210
    for W201), then the most similar."""
    known = sorted(RULES if codes is None else codes)
    text = text.upper()
    lookalike = text[:1] + text[1:].translate(_DIGIT_LOOKALIKES)
    if lookalike in known:
        return lookalike
    anagrams = [code for code in known if sorted(code) == sorted(text)]
    if anagrams:
        return anagrams[0]
    # on a miss only: difflib would cost every start about 1 ms
    from difflib import SequenceMatcher, get_close_matches

    close = get_close_matches(text, known, n=len(known), cutoff=0.6)
    if not close:
        return None
    best = SequenceMatcher(None, text, close[0]).ratio()
    tied = [code for code in close if SequenceMatcher(None, text, code).ratio() == best]
    return max(tied, key=lambda code: sum(a == b for a, b in zip(text, code)))  # W2O1: W201, not W210


def code_name(code: str) -> str:
    """The kebab-case name of any code, error or rule ('' when unknown)."""
    if code in RULES:
        return RULES[code].name
    return ERROR_CODES.get(code) or RETIRED.get(code, "")
