"""The command line. ``main(argv)`` parses the arguments, runs one subcommand and returns its exit
code; only ``run``, the console script's entry point, exits.

Exit codes (as ruff): 0 success (warnings alone pass unless ``--strict``), 1 a spec has errors or
exceeds a budget (or a training run failed), 2 cnnc could not do its job (usage, I/O, configuration)."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from functools import cached_property

from cnnc import malloc_tuning
from cnnc.commands.common import EXIT_FAILURE, Parser, UsageError, package_version, silence_stdout
from cnnc.errors import CannotRun

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:
    from rich.console import Console

# The modules of `cnnc.commands` that register the subcommands, in the order `cnnc --help` lists them,
# with the names each registers.
COMMANDS = (("check", ("check",)), ("fmt", ("fmt",)), ("train", ("train",)), ("evaluate", ("eval",)),
            ("predict", ("predict",)), ("compile", ("compile",)), ("import_", ("import",)), ("draw", ("draw",)),
            ("rules", ("rules", "rule")))


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser. When ``argv`` starts with a subcommand's name, only that subcommand is
    registered (its module alone imported): the others' modules and arguments would cost every start
    some milliseconds, and nothing that command prints names them. `cnnc --version` registers none (argparse
    prints the version as soon as it reads the option). Otherwise (`--help`, a mistyped command) every
    subcommand is there."""
    parser = Parser(prog="cnnc", description="A compiler for convolutional networks written as text.")
    parser.add_argument("--version", action="version", version=f"cnnc {package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    first = argv[0] if argv else None
    if first == "--version":
        return parser
    modules = [module for module, names in COMMANDS if first in names] or [module for module, _ in COMMANDS]
    for module in modules:
        __import__(f"cnnc.commands.{module}")  # not importlib.import_module: importlib/__init__ imports warnings
        sys.modules[f"cnnc.commands.{module}"].register(commands)
    return parser


def _say(console: Console, text: str) -> None:
    """A message as it is: never markup, emoji codes or highlighting, never wrapped mid-sentence."""
    console.print(text, markup=False, emoji=False, highlight=False, soft_wrap=True)


class _Consoles:
    """The output and error consoles, made on first use: `cnnc --version` and `--help` never load rich."""

    def __init__(self, out: Console | None, err: Console | None) -> None:
        if out is not None:
            self.out = out
        if err is not None:
            self.err = err

    # Set for a command that can print through a PlainConsole: without colour (a pipe, a file), its
    # output is written without loading rich at all.
    plain_capable = False

    @cached_property
    def out(self) -> Console:
        # File names, spec text and messages are the user's: never read as rich markup or :emoji: codes.
        return self._console(stderr=False, highlight=False, markup=False, emoji=False)

    @cached_property
    def err(self) -> Console:
        # Messages on stderr are never wrapped mid-sentence: one line each, however narrow the terminal.
        return self._console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)

    def _console(self, stderr: bool, **options) -> Console:
        if self.plain_capable:
            from cnnc.render.plain import PlainConsole, prints_plain

            if prints_plain(sys.stderr if stderr else sys.stdout):
                return PlainConsole(stderr=stderr, **options)  # type: ignore[return-value]
        from rich.console import Console

        return Console(stderr=stderr, **options)


def main(argv: list[str] | None = None, out: Console | None = None, err: Console | None = None) -> int:
    consoles = _Consoles(out, err)
    try:
        return _dispatch(argv, consoles)
    except UsageError as problem:  # found after parsing, e.g. a bad --lr
        _say(consoles.err, str(problem))
        return EXIT_FAILURE
    except CannotRun as failure:
        _say(consoles.err, f"cnnc: error: {failure.message}")
        if failure.help:
            _say(consoles.err, f"  help: {failure.help}")
        return EXIT_FAILURE
    except BrokenPipeError:
        silence_stdout()
        return EXIT_FAILURE
    except KeyboardInterrupt:
        _say(consoles.err, "cnnc: interrupted")
        return 130
    except Exception as exc:  # the last line of defence: a bug must not print a traceback
        if os.environ.get("CNNC_DEBUG"):
            raise
        _say(consoles.err, f"cnnc: internal error: {type(exc).__name__}: {exc}\n"
                           "This is a bug in cnnc; set CNNC_DEBUG=1 to see the traceback.")
        return EXIT_FAILURE


def _dispatch(argv: list[str] | None, consoles: _Consoles) -> int:
    """Parse the arguments and run the subcommand (inside ``main``'s handlers, argument types included)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except UsageError as problem:
        _say(consoles.err, problem.usage or parser.format_usage().rstrip())
        _say(consoles.err, str(problem))
        return EXIT_FAILURE
    except SystemExit as exit_:  # --help and --version
        return int(exit_.code or 0)
    if args.command is None:
        _say(consoles.err, parser.format_help())
        return EXIT_FAILURE
    consoles.plain_capable = getattr(args, "plain_output", False)
    return args.run(args, consoles.out, consoles.err)


def run() -> None:
    """The console script's entry point. Before the interpreter exits, every object left is moved out
    of the cyclic collector's sight (``gc.freeze``): its final collection would otherwise walk all of
    them, modules, classes and the parser's tables, only to find nothing to free (about 15 ms of a
    `cnnc check`, measured against ``sys.exit(main())`` alone). Exit handlers still run, and the
    objects are still freed as the interpreter tears its modules down.

    First, `cnnc train` restarts once with glibc's malloc tuned for training where it can be
    (``cnnc/malloc_tuning.py``)."""
    malloc_tuning.restart_if_useful(sys.argv[1:])
    code = main()
    gc.freeze()
    sys.exit(code)
