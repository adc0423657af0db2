"""``cnnc rules`` lists the lint rules; ``cnnc rule CODE`` prints one rule's documentation."""

from __future__ import annotations

import argparse

from rich import box
from rich.console import Console
from rich.table import Table

from cnnc.commands.common import EXIT_FAILURE, EXIT_OK, write_json, write_text
from cnnc.lint import rule_named
from cnnc.lint.docs import rule_text, rules_markdown
from cnnc.lint.registry import ordered_rules


def register(commands) -> None:
    rules_parser = commands.add_parser("rules", help="list the lint rules",
                                       description="List every lint rule with its code, name and severity.")
    rules_parser.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                              help="markdown is docs/rules.md")
    rules_parser.set_defaults(run=run_rules)
    rule_parser = commands.add_parser("rule", help="explain one lint rule",
                                      description="Print a rule's documentation.")
    rule_parser.add_argument("code", metavar="CODE", help="a code such as W201, or a name such as stride-drops-input")
    rule_parser.set_defaults(run=run_rule)


def run_rules(args: argparse.Namespace, out: Console, err: Console) -> int:
    ordered = ordered_rules()
    if args.format == "markdown":
        write_text(out, rules_markdown())
    elif args.format == "json":
        write_json(out, [{"code": r.code, "name": r.name, "severity": r.severity.value, "summary": r.summary,
                           "doc": r.doc} for r in ordered])
    else:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in ("Code", "Name", "Severity", "What it flags"):
            table.add_column(column, no_wrap=column != "What it flags")
        for rule in ordered:
            table.add_row(rule.code, rule.name, rule.severity.value, rule.summary)
        out.print(table)
    return EXIT_OK


def run_rule(args: argparse.Namespace, out: Console, err: Console) -> int:
    found = rule_named(args.code)
    if found is None:
        err.print(f"cnnc: no rule `{args.code}`; `cnnc rules` lists them", markup=False, highlight=False)
        return EXIT_FAILURE
    out.print(rule_text(found), markup=False, highlight=False, emoji=False, soft_wrap=True, end="")
    return EXIT_OK
