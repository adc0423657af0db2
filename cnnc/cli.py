"""The command line: ``cnnc check``, ``cnnc rules``, ``cnnc rule CODE``. ``main(argv)`` returns the
exit code; only ``run`` exits.

Exit codes (as ruff): 0 no errors (warnings alone pass unless ``--strict``), 1 a spec has errors or
exceeds a budget, 2 cnnc could not do its job (usage, I/O, configuration)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from cnnc import ir
from cnnc.api import Checked, Options, check
from cnnc.config import Config, ConfigError, ConfigFinder, Selection, check_selectors, lint_settings, parse_bytes, \
    parse_count
from cnnc.diagnostics import Severity, error
from cnnc.lint import Budgets, LintSettings, lint, rule_named
from cnnc.lint.registry import ordered_rules
from cnnc.lint.docs import rule_text, rules_markdown
from cnnc.report import DTYPE_BYTES, OPTIMIZER_STATES
from cnnc.render.diagnostics import render_diagnostic, summary_line
from cnnc.render.github import github_command
from cnnc.render.json import report_json
from cnnc.render.sarif import sarif_log
from cnnc.render.text import render_report
from cnnc.source import Source, Span

EXIT_OK, EXIT_ERRORS, EXIT_FAILURE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line usage: exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would call sys.exit
        raise UsageError(f"{self.prog}: {message}")


def _version() -> str:
    try:
        return version("cnnc")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _shape(text: str) -> ir.Shape:
    if not re.fullmatch(r"[1-9][0-9]*(x[1-9][0-9]*)*", text):
        raise argparse.ArgumentTypeError(f"expected sizes like 32x32x3 (spatial sizes, then channels), got {text!r}")
    dims = tuple(int(part) for part in text.split("x"))
    return ir.Shape(dims[:-1], dims[-1])


def _positive(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _quantity(parse):
    def convert(text: str) -> int:
        try:
            return parse(text)
        except ValueError as problem:
            raise argparse.ArgumentTypeError(str(problem)) from None
    return convert


def _selectors(values: list[str] | None) -> tuple[str, ...] | None:
    """``--select W2,I301 --select B`` -> ("W2", "I301", "B")."""
    if values is None:
        return None
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _add_lint_options(parser: argparse.ArgumentParser) -> None:
    lint = parser.add_argument_group("lint", "design checks on specs without errors (see `cnnc rules`)")
    lint.add_argument("--select", action="append", metavar="CODES",
                      help="rules to run, by code, prefix or name (W2,I301,B,ALL); replaces the config's selection")
    lint.add_argument("--ignore", action="append", metavar="CODES",
                      help="rules to skip, from what the config (or --select) selects")
    lint.add_argument("--max-params", type=_quantity(parse_count), metavar="N",
                      help="fail (B401) above this many parameters, e.g. 5M")
    lint.add_argument("--max-macs", type=_quantity(parse_count), metavar="N",
                      help="fail (B402) above this many multiply-accumulates per image, e.g. 600M")
    lint.add_argument("--max-memory", type=_quantity(parse_bytes), metavar="BYTES",
                      help="fail (B403) when training memory exceeds this, e.g. 2GB or 8GiB")
    lint.add_argument("--min-receptive-field", type=_quantity(parse_count), metavar="N",
                      help="fail (B404) when the features reaching the head see less than this")
    lint.add_argument("--strict", action="store_true", help="warnings fail the check too (exit 1)")
    lint.add_argument("--exit-zero", action="store_true", help="exit 0 even with errors (report only)")
    lint.add_argument("--config", metavar="FILE", help="use this cnnc.toml or pyproject.toml instead of the one "
                      "found by walking up from each spec")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnnc", description="A compiler for convolutional networks written as text.")
    parser.add_argument("--version", action="version", version=f"cnnc {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    check_parser = commands.add_parser(
        "check", help="report sizes, parameters and costs; report errors",
        description="Analyze .cnn specs: per-layer output sizes, parameters, MACs, memory and receptive "
                    "fields. Exit 0 when no spec has errors, 1 when one has, 2 when cnnc could not run.")
    check_parser.add_argument("files", nargs="+", metavar="FILE",
                              help="specs to check; a directory means every .cnn file in it; - reads stdin")
    check_parser.add_argument("--format", choices=("text", "json", "sarif", "github"), default="text",
                              help="output format: text for people, json, sarif for code scanning, github for "
                                   "workflow annotations")
    check_parser.add_argument("--batch", type=_positive, help="batch size for training memory "
                              "(default: the spec's train batch, else 32)")
    check_parser.add_argument("--dtype", choices=tuple(DTYPE_BYTES), help="value type for memory (default float32)")
    check_parser.add_argument("--optimizer", choices=tuple(OPTIMIZER_STATES),
                              help="optimizer state in training memory (default: the spec's, else momentum)")
    check_parser.add_argument("--input", type=_shape, metavar="SIZE", help="override the spec's input, e.g. 32x32x3")
    check_parser.add_argument("-q", "--quiet", action="store_true", help="print diagnostics only, no report")
    _add_lint_options(check_parser)
    rules_parser = commands.add_parser("rules", help="list the lint rules",
                                       description="List every lint rule with its code, name and severity.")
    rules_parser.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                              help="markdown is docs/rules.md")
    rule_parser = commands.add_parser("rule", help="explain one lint rule",
                                      description="Print a rule's documentation.")
    rule_parser.add_argument("code", metavar="CODE", help="a code such as W201, or a name such as stride-drops-input")
    return parser


def _expand(paths: list[str]) -> list[str]:
    """Files to check: directories expand to their .cnn files, sorted."""
    found: list[str] = []
    for name in paths:
        path = Path(name)
        if name != "-" and path.is_dir():
            found += sorted(str(p) for p in path.rglob("*.cnn"))
        else:
            found.append(name)
    return found


def _read(name: str) -> Source:
    """A spec's text; OSError when it cannot be read. Undecodable bytes become an E001 later."""
    data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    return Source(data.decode("utf-8", errors="surrogateescape"), "<stdin>" if name == "-" else name)


def _not_utf8(source: Source) -> Checked | None:
    """An E001 at the first byte that is not UTF-8, if any."""
    for number, line in enumerate(source.text.split("\n"), start=1):
        for column, char in enumerate(line, start=1):
            if "\udc80" <= char <= "\udcff":
                diagnostic = error("E001", "the file is not UTF-8 text", Span.point(number, column),
                                   "is this a binary file? cnnc reads `.cnn` text encoded as UTF-8")
                shown = Source(source.text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
                               source.path)
                return Checked(shown, None, None, (diagnostic,))
    return None


def _check_one(source: Source, args: argparse.Namespace, config: Config, settings: LintSettings) -> Checked:
    """Check one spec with the command line's options over the config's defaults, then lint it. A
    batch size in the config is a default below the spec's own `train { batch= }`."""
    invalid = _not_utf8(source)
    if invalid is not None:
        return invalid
    options = Options(batch=args.batch, dtype=args.dtype or config.dtype, optimizer=args.optimizer,
                      input=args.input)
    checked = check(source, options)
    network = checked.network
    if (config.batch and args.batch is None and network is not None
            and "batch" not in (network.train.settings if network.train else {})):
        checked = check(source, replace(options, batch=config.batch))
    return replace(checked, diagnostics=checked.diagnostics + lint(checked, settings))


def _print_results(results: list[Checked], args: argparse.Namespace, out: Console) -> None:
    if args.format == "json":
        documents = [report_json(r.source, r.report, r.diagnostics,
                                 r.network.name if r.network else r.source.stem) for r in results]
        print(json.dumps(documents[0] if len(documents) == 1 and len(args.files) == 1 else documents, indent=2))
    elif args.format == "sarif":
        print(json.dumps(sarif_log([(r.source, r.diagnostics) for r in results], _version()), indent=2))
    elif args.format == "github":
        for result in results:
            for diagnostic in result.diagnostics:
                print(github_command(diagnostic, result.source))
    else:
        for result in results:
            if result.report is not None and not args.quiet:
                for part in render_report(result.report):
                    out.print(part, end="", soft_wrap=True)  # never wrapped: a terminal wraps long lines
            for diagnostic in result.diagnostics:
                out.print(render_diagnostic(diagnostic, result.source), end="", soft_wrap=True)
        summary = summary_line([d for r in results for d in r.diagnostics])
        if summary is not None:
            out.print(summary)


def _exit_code(results: list[Checked], args: argparse.Namespace) -> int:
    if args.exit_zero:
        return EXIT_OK
    failing = {Severity.ERROR, Severity.WARNING} if args.strict else {Severity.ERROR}
    return EXIT_ERRORS if any(d.severity in failing for r in results for d in r.diagnostics) else EXIT_OK


def command_check(args: argparse.Namespace, out: Console, err: Console) -> int:
    command_line = Selection(_selectors(args.select), _selectors(args.ignore) or ())
    budgets = Budgets(args.max_params, args.max_macs, args.max_memory, args.min_receptive_field)
    try:
        check_selectors(command_line.select or (), "--select")
        check_selectors(command_line.ignore, "--ignore")
    except ValueError as problem:
        err.print(f"cnnc: {problem}", markup=False, highlight=False)
        return EXIT_FAILURE
    results: list[Checked] = []
    failed = False
    try:
        configs = ConfigFinder(Path(args.config) if args.config else None)
        for name in _expand(args.files):
            try:
                source = _read(name)
            except OSError as exc:
                err.print(f"cnnc: cannot read {name}: {exc.strerror or exc}", markup=False, highlight=False)
                failed = True
                continue
            config = configs.for_spec(name)
            results.append(_check_one(source, args, config, lint_settings(config, command_line, budgets)))
    except ConfigError as problem:
        err.print(f"cnnc: {problem}", markup=False, highlight=False)
        return EXIT_FAILURE
    _print_results(results, args, out)
    return EXIT_FAILURE if failed else _exit_code(results, args)


def command_rules(args: argparse.Namespace, out: Console, err: Console) -> int:
    ordered = ordered_rules()
    if args.format == "markdown":
        sys.stdout.write(rules_markdown())
    elif args.format == "json":
        print(json.dumps([{"code": r.code, "name": r.name, "severity": r.severity.value, "summary": r.summary,
                           "doc": r.doc} for r in ordered], indent=2))
    else:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in ("Code", "Name", "Severity", "What it flags"):
            table.add_column(column, no_wrap=column != "What it flags")
        for rule in ordered:
            table.add_row(rule.code, rule.name, rule.severity.value, rule.summary)
        out.print(table)
    return EXIT_OK


def command_rule(args: argparse.Namespace, out: Console, err: Console) -> int:
    found = rule_named(args.code)
    if found is None:
        err.print(f"cnnc: no rule `{args.code}`; `cnnc rules` lists them", markup=False, highlight=False)
        return EXIT_FAILURE
    out.print(rule_text(found), markup=False, highlight=False, emoji=False, soft_wrap=True, end="")
    return EXIT_OK


COMMANDS = {"check": command_check, "rules": command_rules, "rule": command_rule}


def main(argv: list[str] | None = None, out: Console | None = None, err: Console | None = None) -> int:
    out = out or Console(highlight=False)
    err = err or Console(stderr=True, highlight=False)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as problem:
        err.print(parser.format_usage().rstrip(), markup=False)
        err.print(str(problem), markup=False, highlight=False)
        return EXIT_FAILURE
    except SystemExit as exit_:  # --help and --version
        return int(exit_.code or 0)
    if args.command is None:
        err.print(parser.format_help(), markup=False)
        return EXIT_FAILURE
    try:
        return COMMANDS[args.command](args, out, err)
    except KeyboardInterrupt:
        err.print("cnnc: interrupted")
        return 130
    except Exception as exc:  # the last line of defence: a bug must not print a traceback
        if os.environ.get("CNNC_DEBUG"):
            raise
        err.print(f"cnnc: internal error: {type(exc).__name__}: {exc}\n"
                  "This is a bug in cnnc; set CNNC_DEBUG=1 to see the traceback.", markup=False, highlight=False)
        return EXIT_FAILURE


def run() -> None:
    """The console script's entry point."""
    sys.exit(main())
