"""``cnnc rules`` lists every code cnnc prints, errors and lint rules; ``cnnc rule CODE`` explains one."""

from __future__ import annotations

import argparse

from cnnc.commands.common import EXIT_FAILURE, EXIT_OK, write_json, write_text

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:  # the registry and rich load when the command runs, not when the CLI starts
    from rich.console import Console

    from cnnc.render.text import Column

NARROWEST_SUMMARY = 24
"""In a terminal the summaries fold to fit its width, but never narrower than this."""


def register(commands) -> None:
    rules_parser = commands.add_parser("rules", help="list every error code and lint rule",
                                       description="List every code cnnc prints, errors and lint rules, with its "
                                                   "name, severity and what it flags.")
    rules_parser.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                              help="markdown is docs/rules.md")
    rules_parser.set_defaults(run=run_rules, plain_output=True)  # without colour, printed without rich
    rule_parser = commands.add_parser("rule", help="explain an error code or lint rule",
                                      description="Print what a code means, an example that triggers it and how "
                                                  "to fix it.")
    rule_parser.add_argument("code", metavar="CODE",
                             help="a code such as E101 or W201, or a name such as stride-drops-input")
    rule_parser.set_defaults(run=run_rule, plain_output=True)


def rule_columns() -> tuple[Column, ...]:
    """The table's columns (``cnnc.render.text`` loads the report's renderers: only when a table is made)."""
    from cnnc.render.text import Column

    return Column("Code", style="bold"), Column("Name"), Column("Severity", style="dim"), Column("What it flags")


def rules_table(width: int | None) -> list[tuple[str, ...]]:
    """The rows of `cnnc rules`: every summary on one line, or folded to fit ``width`` columns."""
    from textwrap import wrap

    from cnnc.lint import docs

    entries = docs.documented()
    rows = [(e.code, e.name, e.severity.value, e.summary) for e in entries]
    if width is None:
        return rows
    gap = 2
    before = sum(max(len(c.header), *(len(row[i]) for row in rows)) + gap for i, c in enumerate(rule_columns()[:3]))
    room = max(NARROWEST_SUMMARY, width - before)
    folded: list[tuple[str, ...]] = []
    for code, name, severity, summary in rows:
        lines = wrap(summary, room, break_on_hyphens=False) or [""]
        folded.append((code, name, severity, lines[0]))
        folded += [("", "", "", line) for line in lines[1:]]
    return folded


def run_rules(args: argparse.Namespace, out: Console, err: Console) -> int:
    from cnnc.lint import docs
    from cnnc.render.text import aligned

    if args.format == "markdown":
        write_text(out, docs.rules_markdown())
    elif args.format == "json":
        write_json(out, [{"code": e.code, "name": e.name, "severity": e.severity.value, "summary": e.summary,
                          "doc": e.doc} for e in docs.documented()])
    else:
        # one line a code when piped; folded to the width of a terminal, where long lines would wrap
        table = aligned(rule_columns(), rules_table(out.width if out.is_terminal else None))
        if out.color_system is None or out.no_color:
            out.file.write(table.plain)
        else:
            out.print(table, end="", soft_wrap=True)
    return EXIT_OK


def run_rule(args: argparse.Namespace, out: Console, err: Console) -> int:
    from cnnc.lint import docs

    found = docs.explained(args.code)
    if found is None:
        close = docs.closest_documented(args.code)
        hint = f"; did you mean `{close}`?" if close else ";"
        err.print(f"cnnc: error: no rule `{args.code}`{hint} `cnnc rules` lists every code", markup=False,
                  highlight=False, soft_wrap=True)
        return EXIT_FAILURE
    out.print(docs.rule_text(found), markup=False, highlight=False, emoji=False, soft_wrap=True, end="")
    return EXIT_OK
