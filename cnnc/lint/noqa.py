"""Suppression comments: a trailing `# noqa: W201` (or a bare `# noqa`) on a spec line, and S501."""

from __future__ import annotations

import re

from cnnc.diagnostics import ERROR_CODES, Severity
from cnnc.frozen import frozen
from cnnc.lint.context import Finding, LintContext
from cnnc.lint.registry import RETIRED, RULES, closest_code, rule
from cnnc.source import Source, Span

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Iterable, Iterator

_DIRECTIVE = r"#\s*noqa\b(?P<colon>\s*:\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*)?)?"
_CODE = r"[A-Z]+[0-9]+"


@frozen
class Directive:
    """One `# noqa` comment. ``codes`` is None for a bare `# noqa`, which suppresses every code."""

    span: Span
    codes: tuple[tuple[str, Span], ...] | None

    def covers(self, code: str) -> bool:
        return self.codes is None or any(found == code for found, _ in self.codes)


def directives(source: Source) -> dict[int, Directive]:
    """The `# noqa` comment of each line that has one. The language has no strings, so a line's
    comment starts at its first `#`."""
    found: dict[int, Directive] = {}
    for number, text in enumerate(source.lines, start=1):
        start = text.find("#")
        if start < 0 or "noqa" not in text[start:].lower():  # the pattern is compiled only where it may match
            continue
        match = re.compile(_DIRECTIVE, re.IGNORECASE).search(text, start)
        if match is None:
            continue
        span = Span(number, match.start() + 1, number, match.end() + 1)
        if match.group("colon") is None:
            found[number] = Directive(span, None)
            continue
        each_code = re.compile(_CODE, re.IGNORECASE).finditer(text, match.start("codes"), match.end("codes"))
        codes = tuple((code.group().upper(), Span(number, code.start() + 1, number, code.end() + 1))
                      for code in each_code) if match.group("codes") else ()
        found[number] = Directive(span, codes)
    return found


def suppressed(found: dict[int, Directive], code: str, lines: Iterable[int]) -> bool:
    """Whether a `# noqa` on any of ``lines`` covers ``code``. Errors of the front end and the
    analyzer (E0xx, E1xx) are never suppressed."""
    if code in ERROR_CODES:
        return False
    return any(line in found and found[line].covers(code) for line in lines)


@rule("S501", "invalid-noqa", Severity.WARNING)
def invalid_noqa(context: LintContext) -> Iterator[Finding]:
    """A `# noqa` comment that names a code that does not exist or cannot be suppressed.

    ## What it does
    Checks every `# noqa: CODE, ...` comment: each code must be a lint rule's (`cnnc rules` lists
    them), and errors (E0xx, E1xx) cannot be suppressed at all. `# noqa:` with no code after the
    colon is reported too.

    ## Why is this bad?
    A mistyped code suppresses nothing, so the finding it was meant for still fails the build, or
    worse, a later finding of the mistyped code is silenced by accident. A comment that tries to
    hide an error hides nothing: the spec is still invalid.

    ## Example
    ```cnn
    input 224x224x3
    conv 96 11x11 stride=4  # noqa: W102
    ```

    ## Use instead
    ```cnn
    input 224x224x3
    conv 96 11x11 stride=4  # noqa: W201
    ```
    """
    for directive in directives(context.source).values():
        if directive.codes == ():
            yield Finding("`# noqa:` names no code", span=directive.span,
                          help="list the codes, as in `# noqa: W201`, or write `# noqa` to suppress every finding "
                               "on the line")
        for code, span in directive.codes or ():
            if code in ERROR_CODES:
                yield Finding(f"`{code}` is an error and cannot be suppressed", span=span,
                              help="errors mean the spec is invalid: fix the spec instead")
            elif code not in RULES and code not in RETIRED:
                close = closest_code(code)
                hint = f"did you mean `{close}`? " if close else ""
                yield Finding(f"`{code}` is not a cnnc rule", span=span,
                              help=f"{hint}`cnnc rules` lists every code")
