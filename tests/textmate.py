"""A small TextMate grammar interpreter, enough for grammar/cnnc.tmLanguage.json: `match` rules with
`name` and `captures`, `begin`/`end` regions with `name` and `patterns`, `include` of the repository.

It scans as VS Code's vscode-textmate does: line by line (each with its `\\n`), at each position the
rule whose regex matches earliest wins, the first listed on a tie, and an open region's `end` before
its patterns. The regexes run with Python's `re`, which the grammar keeps to (Oniguruma's syntax
beyond it would fail to compile here)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Rule:
    regex: re.Pattern
    name: str | None
    captures: dict[int, str]
    end: re.Pattern | None = None  # a region's end; its patterns are ``inner``
    inner: list[Rule] = field(default_factory=list)


class Grammar:
    def __init__(self, document: dict) -> None:
        self.repository = document.get("repository", {})
        self.rules = self._rules(document["patterns"])

    def _rules(self, patterns: list[dict]) -> list[Rule]:
        rules: list[Rule] = []
        for pattern in patterns:
            if "include" in pattern:
                rules += self._rules([self.repository[pattern["include"].removeprefix("#")]])
            elif "match" in pattern:
                rules.append(Rule(re.compile(pattern["match"]), pattern.get("name"), _captures(pattern, "captures")))
            elif "begin" in pattern:
                rules.append(Rule(re.compile(pattern["begin"]), pattern.get("name"),
                                  _captures(pattern, "beginCaptures"), re.compile(pattern["end"]),
                                  self._rules(pattern.get("patterns", []))))
            else:
                rules += self._rules(pattern["patterns"])
        return rules

    def scopes(self, text: str) -> list[list[str]]:
        """The scopes of each character of ``text``, outermost first (without the grammar's own)."""
        found: list[list[str]] = [[] for _ in text]
        regions: list[tuple[Rule, int]] = []  # open regions and where each began
        offset = 0
        for line in re.findall(r"[^\n]*\n|[^\n]+$", text):  # lines as an editor splits them (not at U+2028)
            position = 0
            while position < len(line):
                rule, match = self._next(line, position, regions[-1][0] if regions else None)
                if match is None:
                    break
                if rule is None:  # the innermost region ends
                    region, start = regions.pop()
                    if region.name:
                        for index in range(start, offset + match.end()):
                            found[index].insert(0, region.name)
                    position = match.end()
                    continue
                assert match.end() > match.start() or rule.end is not None, f"empty match of {rule.regex.pattern}"
                for index in range(offset + match.start(), offset + match.end()):
                    if rule.name and rule.end is None:
                        found[index].append(rule.name)
                for group, name in rule.captures.items():
                    if match.start(group) >= 0:
                        for index in range(offset + match.start(group), offset + match.end(group)):
                            found[index].append(name)
                if rule.end is not None:
                    regions.append((rule, offset + match.start()))
                position = match.end()
            offset += len(line)
        for region, start in regions:  # still open at the end of the text
            for index in range(start, len(text)):
                found[index].insert(0, region.name)
        return found

    def _next(self, line: str, position: int, region: Rule | None) -> tuple[Rule | None, re.Match | None]:
        """The rule that applies next on ``line`` from ``position`` (None: the region's end) and its match."""
        best: tuple[Rule | None, re.Match | None] = (None, None)
        if region is not None:
            best = (None, region.end.search(line, position))
        for rule in region.inner if region is not None else self.rules:
            match = rule.regex.search(line, position)
            if match is not None and (best[1] is None or match.start() < best[1].start()):
                best = (rule, match)
        return best


def _captures(pattern: dict, key: str) -> dict[int, str]:
    return {int(group): capture["name"] for group, capture in pattern.get(key, {}).items()}
