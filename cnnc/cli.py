"""The command line. ``main(argv)`` parses the arguments, runs one subcommand and returns its exit
code; only ``run``, the console script's entry point, exits.

Exit codes (as ruff): 0 success (warnings alone pass unless ``--strict``), 1 a spec has errors or
exceeds a budget (or a training run failed), 2 cnnc could not do its job (usage, I/O, configuration)."""

from __future__ import annotations

import argparse
import os
import sys

from rich.console import Console

from cnnc.commands import check, evaluate, predict, rules, train
from cnnc.commands.common import EXIT_FAILURE, Parser, UsageError, package_version, silence_stdout
from cnnc.errors import CannotRun

COMMANDS = (check, train, evaluate, predict, rules)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="cnnc", description="A compiler for convolutional networks written as text.")
    parser.add_argument("--version", action="version", version=f"cnnc {package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: list[str] | None = None, out: Console | None = None, err: Console | None = None) -> int:
    out = out or Console(highlight=False)
    err = err or Console(stderr=True, highlight=False)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as problem:
        err.print(parser.format_usage().rstrip(), markup=False)
        err.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        return EXIT_FAILURE
    except SystemExit as exit_:  # --help and --version
        return int(exit_.code or 0)
    if args.command is None:
        err.print(parser.format_help(), markup=False)
        return EXIT_FAILURE
    try:
        return args.run(args, out, err)
    except UsageError as problem:  # found after parsing, e.g. a bad --lr
        err.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        return EXIT_FAILURE
    except CannotRun as failure:
        err.print(f"cnnc: error: {failure.message}", markup=False, highlight=False, soft_wrap=True)
        if failure.help:
            err.print(f"  help: {failure.help}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_FAILURE
    except BrokenPipeError:
        silence_stdout()
        return EXIT_FAILURE
    except KeyboardInterrupt:
        err.print("cnnc: interrupted")
        return 130
    except Exception as exc:  # the last line of defence: a bug must not print a traceback
        if os.environ.get("CNNC_DEBUG"):
            raise
        err.print(f"cnnc: internal error: {type(exc).__name__}: {exc}\n"
                  "This is a bug in cnnc; set CNNC_DEBUG=1 to see the traceback.", markup=False, highlight=False,
                  soft_wrap=True)
        return EXIT_FAILURE


def run() -> None:
    """The console script's entry point."""
    sys.exit(main())
