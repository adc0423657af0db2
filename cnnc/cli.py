"""The command line: ``cnnc check``. ``main(argv)`` returns the exit code; only ``run`` exits.

Exit codes (as ruff): 0 no errors, 1 a spec has errors, 2 cnnc could not do its job (usage, I/O)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from rich.console import Console

from cnnc import ir
from cnnc.api import Checked, Options, check
from cnnc.diagnostics import error
from cnnc.report import DTYPE_BYTES, OPTIMIZER_STATES
from cnnc.render.diagnostics import render_diagnostic, summary_line
from cnnc.render.json import report_json
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
    check_parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    check_parser.add_argument("--batch", type=_positive, help="batch size for training memory "
                              "(default: the spec's train batch, else 32)")
    check_parser.add_argument("--dtype", choices=tuple(DTYPE_BYTES), help="value type for memory (default float32)")
    check_parser.add_argument("--optimizer", choices=tuple(OPTIMIZER_STATES),
                              help="optimizer state in training memory (default: the spec's, else momentum)")
    check_parser.add_argument("--input", type=_shape, metavar="SIZE", help="override the spec's input, e.g. 32x32x3")
    check_parser.add_argument("-q", "--quiet", action="store_true", help="print diagnostics only, no report")
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


def _print_unsqueezed(console: Console, renderable) -> None:
    """Print at the renderable's natural width even when the terminal is narrower: a table of numbers
    must never be cut to ellipses."""
    needed = console.measure(renderable, options=console.options.update_width(10_000)).maximum
    width = console.width
    console.width = max(width, needed)
    try:
        console.print(renderable)
    finally:
        console.width = width


def command_check(args: argparse.Namespace, out: Console, err: Console) -> int:
    options = Options(batch=args.batch, dtype=args.dtype, optimizer=args.optimizer, input=args.input)
    results: list[Checked] = []
    failed = False
    for name in _expand(args.files):
        try:
            source = _read(name)
        except OSError as exc:
            err.print(f"cnnc: cannot read {name}: {exc.strerror or exc}", markup=False, highlight=False)
            failed = True
            continue
        results.append(_not_utf8(source) or check(source, options))
    if args.format == "json":
        documents = [report_json(r.source, r.report, r.diagnostics,
                                 r.network.name if r.network else r.source.stem) for r in results]
        print(json.dumps(documents[0] if len(documents) == 1 and len(args.files) == 1 else documents, indent=2))
    else:
        for result in results:
            if result.report is not None and not args.quiet:
                for part in render_report(result.report):
                    _print_unsqueezed(out, part)
            for diagnostic in result.diagnostics:
                out.print(render_diagnostic(diagnostic, result.source), end="")
        summary = summary_line([d for r in results for d in r.diagnostics])
        if summary is not None:
            out.print(summary)
    if failed:
        return EXIT_FAILURE
    return EXIT_ERRORS if any(not r.ok for r in results) else EXIT_OK


COMMANDS = {"check": command_check}


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
