"""What every subcommand shares: exit codes, argument types, the version, usage errors."""

from __future__ import annotations

import argparse
import os
import re
import sys

from cnnc import __version__
from cnnc.errors import CannotRun

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:
    from rich.console import Console

    from cnnc import ir
    from cnnc.api import Network

EXIT_OK, EXIT_ERRORS, EXIT_FAILURE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line usage: exit code 2. ``usage``: the usage line of the command it concerns, when the
    parser found it (else the caller prints cnnc's)."""

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(message)
        self.usage = usage


DATA_HELP = ("mnist[:DIR], fashion-mnist[:DIR], cifar10[:DIR], synthetic[:n=2000,classes=K,seed=0] (K: the "
             "spec's number of outputs), PATH.npz or a folder of class sub-folders")


def open_model(path: str, backend: str = "numpy", threads: int | None = None):
    """A model saved by ``cnnc train`` or ``Model.save``, on ``backend``, splitting batches across
    ``threads`` (None: the default, ``Model.threads``); CannotRun when it cannot be used."""
    from cnnc.checkpoint import ModelFileError, load_model
    from cnnc.diagnostics import SpecError

    try:
        model = load_model(path, backend)
        model.threads = threads
        return model
    except FileNotFoundError:
        from cnnc.near_names import did_you_mean  # difflib: only on this error
        raise CannotRun(f"{path}: no such file", did_you_mean(path)) from None
    except (ModelFileError, OSError) as problem:
        raise CannotRun(str(problem)) from None
    except SpecError as problem:
        raise CannotRun(f"{path}: the spec saved in the model has errors: {problem}") from None


def require_backend(backend: str) -> None:
    """CannotRun (exit 2, one line naming the extra) if ``backend`` needs a package that is not installed."""
    if backend == "numba":
        from cnnc.backends.numba import NumbaMissing, require_numba

        try:
            require_numba()
        except NumbaMissing as problem:
            raise CannotRun(str(problem)) from None


def add_backend_option(parser) -> None:
    """``--backend numpy|numba`` and ``--threads N`` for the commands that run a model without training it."""
    parser.add_argument("--backend", choices=("numpy", "numba"), default="numpy",
                        help="what does the arithmetic: cnnc's NumPy kernels, or its compiled Numba kernels "
                             "(pip install 'cnnc[numba]')")
    add_threads_option(parser)


def checkpoint_kept(target: object, saved_epoch: int | None, good: str = "") -> str:
    """What a stopped training run leaves: ``the last [good ]checkpoint, TARGET (after epoch N), is intact``, or
    that ``target`` was not written to."""
    if not saved_epoch:
        return f"{target} was not written to"
    return f"the last {good + ' ' if good else ''}checkpoint, {target} (after epoch {saved_epoch}), is intact"


MAX_THREADS = 256


def add_threads_option(parser, training: bool = False) -> None:
    """``--threads N``: the threads a batch is split across (``Model.threads``); in training on Linux, the
    processes (``cnnc.shard_processes``)."""
    across = "N threads (N processes on Linux)" if training else "N threads"
    parser.add_argument("--threads", metavar="N", type=thread_count,
                        help=f"split each batch across {across}, one BLAS thread each (default: the BLAS's "
                             "thread count, OPENBLAS_NUM_THREADS; see docs/training.md)")


def thread_count(text: str) -> int:
    """A whole number of threads from 1 to ``MAX_THREADS``."""
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"expected a whole number of threads from 1 to {MAX_THREADS}, got {text!r}")
    return int(text)


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns`` without importing shutil: ``$COLUMNS`` when it is a
    positive whole number, else the width of the terminal on ``sys.__stdout__``, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter at the width it would choose (the terminal's less 2), found without
    importing shutil, which brings zlib, bz2 and lzma (about 2 ms of every start, `python -X
    importtime`): argparse makes a formatter for every argument it is given."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, terminal_columns() - 2 if width is None else width)


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # argparse would call sys.exit
        """A UsageError with the usage of the command concerned (an unknown option of `cnnc train` is found by
        cnnc's parser, which then has `train`'s alone: ``cli.build_parser``) and, for a misspelt option,
        command or choice, a help line naming the nearest one."""
        concerned = self._subcommand() or self
        hint = near_argument(message, [option for action in concerned._actions for option in action.option_strings
                                       if option.startswith("--")])
        raise UsageError(f"{concerned.prog}: {message}" + (f"\n  help: did you mean {hint}?" if hint else ""),
                         usage=concerned.short_usage())

    def short_usage(self) -> str:
        """One line: ``usage: cnnc train [options] SPEC``, the required options and the positional arguments as
        argparse writes them (a subcommand's whole usage, every option, took 11 lines for `cnnc train`; `--help`
        lists them)."""
        formatter = self._get_formatter()
        formatter.add_usage(None, [action for action in self._actions if action.required or not action.option_strings],
                            [])
        usage = " ".join(formatter.format_help().split())
        prefix = f"usage: {self.prog}"
        return usage.replace(prefix, f"{prefix} [options]", 1) if usage.startswith(prefix + " ") else usage

    def _subcommand(self) -> argparse.ArgumentParser | None:
        """The one subcommand registered, if only one is (aliases count once)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers = list(dict.fromkeys(action.choices.values()))
                return parsers[0] if len(parsers) == 1 else None
        return None


NEAR_ENOUGH = 0.75
"""The least similarity (``difflib``'s ratio) of an option, command or choice taken for the one typed:
`--epohcs` finds `--epochs` (0.88), `chek` finds `check` (0.89), `trian` finds `train` (0.8), `--fromat` finds
`--format` (0.88), `jsn` finds `json` (0.86); among `cnnc train`'s options `--fast` finds nothing (`--data`:
0.67), nor does `--gpu` (`--out`: 0.6)."""


def near_argument(message: str, options: list[str]) -> str | None:
    """The option (among ``options``) nearest the first unrecognised one of argparse's ``message``, or the
    choice nearest an invalid one; None when none is near enough (``NEAR_ENOUGH``)."""
    from difflib import get_close_matches

    unrecognized = re.match(r"unrecognized arguments: (.*)", message)
    if unrecognized:
        typed = next((word.split("=")[0] for word in unrecognized.group(1).split()
                      if word.startswith("-") and not re.fullmatch(r"-[0-9.]+", word)), None)  # -epochs too
        candidates = options
    else:  # argparse quotes the typed value; the choices quoted or not, by Python version
        invalid = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if not invalid:
            return None
        typed = invalid.group(1)
        candidates = [choice.strip().strip("'") for choice in invalid.group(2).split(",")]
    close = get_close_matches(typed, candidates, n=1, cutoff=NEAR_ENOUGH) if typed else []
    return close[0] if close else None


def package_version() -> str:
    """cnnc's version: a literal kept equal to pyproject.toml's by a test, since reading the installed
    metadata (``importlib.metadata``) would cost every start that import and a search of sys.path."""
    return __version__


def shape(text: str) -> ir.Shape:
    """``32x32x3``: spatial sizes, then channels."""
    from cnnc import ir

    if not re.fullmatch(r"[1-9][0-9]{0,8}(x[1-9][0-9]{0,8})*", text):
        raise argparse.ArgumentTypeError(f"expected sizes like 32x32x3 (spatial sizes, then channels), got {text!r}")
    dims = tuple(int(part) for part in text.split("x"))
    return ir.Shape(dims[:-1], dims[-1])


def positive(text: str) -> int:
    """A whole number from 1 to a billion."""
    if not re.fullmatch(r"[0-9]{1,10}", text) or not 1 <= int(text) <= 10**9:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 1,000,000,000, got {text!r}")
    return int(text)


def quantity(parser_name: str):
    """An argument type from one of ``cnnc.config``'s parsers (``parse_count``: 5M, ``parse_bytes``:
    2GB), which raise ValueError; the config module loads only when the option is given."""
    def convert(text: str) -> int:
        from cnnc import config

        try:
            return getattr(config, parser_name)(text)
        except ValueError as problem:
            raise argparse.ArgumentTypeError(str(problem)) from None
    return convert


def silence_stdout() -> None:
    """After a closed pipe (``cnnc check net.cnn | head``), send what is left to /dev/null so that
    Python's final flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass
    finally:
        os.close(devnull)


def write_json(out, document: object) -> None:
    """A machine-readable document on the output console's file: plain JSON, no colour codes."""
    import json

    out.file.write(json.dumps(document, indent=2) + "\n")


def write_json_rows(out, rows: list) -> None:
    """A JSON array with one item a line (compact items, as ``json.dumps`` writes them with its C encoder; an
    indented document goes through its Python one: 3 ms against 1 for 256 predictions)."""
    import json

    out.file.write("[\n" + ",\n".join("  " + json.dumps(row) for row in rows) + "\n]\n" if rows else "[]\n")


def write_text(out, text: str) -> None:
    """Plain text on the output console's file, exactly as given (workflow commands, markdown)."""
    out.file.write(text)


def checked_spec(path: str, out: Console) -> Network | None:
    """The spec at ``path``, checked; None, after printing its diagnostics to ``out``, when it has errors.
    CannotRun when it cannot be read."""
    from cnnc.api import Network, Options, check
    from cnnc.reading import not_utf8, read_source
    from cnnc.render.diagnostics import in_colour, render_diagnostic, summary_line

    try:
        source = read_source(path)
    except OSError as problem:
        from cnnc.near_names import did_you_mean  # difflib: only on this error
        raise CannotRun(f"cannot read {path}: {problem.strerror or problem}", did_you_mean(path)) from None
    checked = not_utf8(source) or check(source, Options())
    if not checked.ok:
        for diagnostic in checked.diagnostics:
            out.print(render_diagnostic(diagnostic, checked.source, in_colour(out)), end="", soft_wrap=True)
        out.print(summary_line(list(checked.diagnostics)), soft_wrap=True)
        return None
    return Network(checked)
