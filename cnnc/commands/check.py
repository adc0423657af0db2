"""``cnnc check FILE...``: analyze and lint specs; print a report or a CI format."""

from __future__ import annotations

import argparse
import os

from cnnc.assumptions import DTYPE_BYTES, OPTIMIZER_STATES
from cnnc.commands.common import EXIT_ERRORS, EXIT_FAILURE, EXIT_OK, package_version, positive, quantity, shape, \
    silence_stdout, write_json, write_text

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:  # the analysis, the lint and rich load when the command runs, not when the CLI starts
    from rich.console import Console

    from cnnc.api import Checked
    from cnnc.config import Config
    from cnnc.lint import LintSettings
    from cnnc.render.styled import StyledText
    from cnnc.source import Source


def register(commands) -> None:
    parser = commands.add_parser(
        "check", help="report sizes, parameters and costs; report errors and design findings",
        description="Analyze .cnn specs: per-layer output sizes, parameters, MACs, memory and receptive "
                    "fields, then lint them. Exit 0 when no spec has errors, 1 when one has (or exceeds a "
                    "budget), 2 when cnnc could not run.")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="specs to check; a directory means every .cnn file under it; - reads stdin")
    parser.add_argument("--format", choices=("text", "json", "sarif", "github", "html"), default="text",
                        help="output format: text for people, json, sarif for code scanning, github for "
                             "workflow annotations, html for one self-contained page (diagram, sortable "
                             "layer table, totals, diagnostics)")
    parser.add_argument("-o", "--out", metavar="FILE", help="write the output to FILE instead of stdout")
    parser.add_argument("--batch-size", type=positive, metavar="N", help="batch size for training memory "
                        "(default: the spec's train batch, else the config's batch-size, else 32)")
    parser.add_argument("--batch", type=positive, dest="old_batch_size", help=argparse.SUPPRESS)  # deprecated
    parser.add_argument("--dtype", choices=tuple(DTYPE_BYTES), help="value type for memory (default float32)")
    parser.add_argument("--optimizer", choices=tuple(OPTIMIZER_STATES),
                        help="optimizer state in training memory (default: the spec's, else momentum)")
    parser.add_argument("--input", type=shape, metavar="SIZE", help="override the spec's input, e.g. 32x32x3")
    parser.add_argument("--inplace-activations", action="store_true",
                        help="count activation functions (not softmax) and dropout as overwriting their input, as "
                             "PyTorch's inplace=True does (default: every layer output is a tensor of its own)")
    parser.add_argument("--wide", action="store_true",
                        help="print the whole layer table with exact counts even on a terminal (by default a "
                             "terminal's table is fitted to its width: counts rounded, settings folded, then "
                             "Activations, RF, Line and MACs hidden as needed; a pipe always gets it whole)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print diagnostics and the summary only, no report")
    lint_options = parser.add_argument_group("lint", "design checks on specs without errors (see `cnnc rules`)")
    lint_options.add_argument("--select", action="append", metavar="CODES",
                              help="rules to run, by code, prefix or name (W2,I301,B,ALL); replaces the config's "
                                   "selection")
    lint_options.add_argument("--ignore", action="append", metavar="CODES",
                              help="rules to skip, from what the config (or --select) selects")
    lint_options.add_argument("--max-params", type=quantity("parse_count"), metavar="N",
                              help="fail (B401) above this many parameters, e.g. 5M")
    lint_options.add_argument("--max-macs", type=quantity("parse_count"), metavar="N",
                              help="fail (B402) above this many multiply-accumulates per image, e.g. 600M")
    lint_options.add_argument("--max-memory", type=quantity("parse_bytes"), metavar="BYTES",
                              help="fail (B403) when training memory exceeds this, e.g. 2GB or 8GiB")
    lint_options.add_argument("--min-receptive-field", type=quantity("parse_count"), metavar="N",
                              help="fail (B404) when the features reaching the head see less than this")
    lint_options.add_argument("--strict", action="store_true", help="warnings fail the check too (exit 1)")
    lint_options.add_argument("--exit-zero", action="store_true", help="exit 0 even with errors (report only)")
    lint_options.add_argument("--config", metavar="FILE", help="use this cnnc.toml or pyproject.toml instead of "
                              "the one found by walking up from each spec")
    parser.set_defaults(run=run, plain_output=True)  # without colour, printed without rich


def _selectors(values: list[str] | None) -> tuple[str, ...] | None:
    """``--select W2,I301 --select B`` -> ("W2", "I301", "B")."""
    if values is None:
        return None
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _expand(paths: list[str], err: Console) -> list[str]:
    """Files to check: directories expand to their .cnn files, sorted."""
    found: list[str] = []
    for name in paths:
        if name != "-" and _is_folder(name):
            from pathlib import Path  # only here: pathlib is a good part of the start-up

            specs = sorted(str(p) for p in Path(name).rglob("*.cnn"))
            if not specs:
                err.print(f"cnnc: warning: no .cnn files under {name}", markup=False, highlight=False, soft_wrap=True)
            found += specs
        else:
            found.append(name)
    return found


def _is_folder(name: str) -> bool:
    """``Path(name).is_dir()`` (where ``''`` is ``.``) without importing pathlib."""
    return os.path.isdir(name or ".")


def _check_one(source: Source, args: argparse.Namespace, config: Config, settings: LintSettings) -> Checked:
    """Check one spec with the command line's options over the config's defaults, then lint it. A
    batch size in the config is a default below the spec's own `train { batch= }`."""
    from cnnc.api import Options, check
    from cnnc.frozen import replace
    from cnnc.lint import lint
    from cnnc.reading import not_utf8

    invalid = not_utf8(source)
    if invalid is not None:
        return invalid
    options = Options(batch=args.batch_size, default_batch=config.batch, dtype=args.dtype or config.dtype,
                      optimizer=args.optimizer, input=args.input,
                      inplace_activations=args.inplace_activations or config.inplace_activations)
    checked = check(source, options)
    return replace(checked, diagnostics=checked.diagnostics + lint(checked, settings))


def _print_results(results: list[Checked], args: argparse.Namespace, one_document: bool, out: Console,
                   all_read: bool = True) -> None:
    """The results in the chosen format. Text ends as ruff's does: ``Found 2 errors.`` over every file,
    or ``All checks passed!`` when every file was read and none has a finding (with or without -q)."""
    if args.format == "json":
        from cnnc.render.json import report_json

        documents = [report_json(r.source, r.report, r.diagnostics,
                                 r.network.name if r.network else r.source.stem) for r in results]
        write_json(out, documents[0] if one_document else documents)
    elif args.format == "sarif":
        from cnnc.render.sarif import sarif_log

        write_json(out, sarif_log([(r.source, r.diagnostics) for r in results], package_version()))
    elif args.format == "html":
        from cnnc.render.html_report import html_report

        write_text(out, html_report(results, package_version(), args.quiet))
    elif args.format == "github":
        from cnnc.render.github import github_command

        for result in results:
            for diagnostic in result.diagnostics:
                write_text(out, github_command(diagnostic, result.source) + "\n")
    else:
        from cnnc.render.diagnostics import in_colour, render_diagnostic, summary_line
        from cnnc.render.styled import StyledText
        from cnnc.render.text import render_report

        width = None if args.wide or not out.is_terminal else out.width
        for result in results:
            if result.report is not None and not args.quiet:
                for part in render_report(result.report, width):
                    print_text(out, part)
            for diagnostic in result.diagnostics:
                print_text(out, render_diagnostic(diagnostic, result.source, in_colour(out)))
        summary = summary_line([d for r in results for d in r.diagnostics])
        if summary is None and all_read and results:
            summary = StyledText("All checks passed!", style="bold green")
        if summary is not None:
            out.print(summary, soft_wrap=True)


def print_text(out: Console, text: StyledText) -> None:
    """Styled text as it is, never wrapped (a terminal wraps long lines itself). Without colours
    (a pipe, a file, NO_COLOR) the plain text is written directly: rich would split a 100,000-line
    report into segments only to drop their styles."""
    if out.color_system is None or out.no_color:
        out.file.write(text.plain)
    else:
        out.print(text, end="", soft_wrap=True)


def _warn(err: Console, message: str) -> None:
    err.print(f"cnnc: warning: {message}", markup=False, highlight=False, soft_wrap=True)


def _exit_code(results: list[Checked], args: argparse.Namespace) -> int:
    from cnnc.diagnostics import Severity

    if args.exit_zero:
        return EXIT_OK
    failing = {Severity.ERROR, Severity.WARNING} if args.strict else {Severity.ERROR}
    return EXIT_ERRORS if any(d.severity in failing for r in results for d in r.diagnostics) else EXIT_OK


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from cnnc.collector import collector_paused
    from cnnc.config import ConfigError, ConfigFinder, Selection, check_selectors, lint_settings
    from cnnc.lint import Budgets
    from cnnc.reading import read_source

    if args.out is not None and _unwritable(args.out):
        err.print(f"cnnc: error: {_unwritable(args.out)}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_FAILURE
    command_line = Selection(_selectors(args.select), _selectors(args.ignore) or ())
    budgets = Budgets(args.max_params, args.max_macs, args.max_memory, args.min_receptive_field)
    try:
        check_selectors(command_line.select or (), "--select")
        check_selectors(command_line.ignore, "--ignore")
    except ValueError as problem:
        err.print(f"cnnc: error: {problem}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_FAILURE
    if args.old_batch_size is not None:
        _warn(err, "`--batch` is deprecated: use `--batch-size`")
        args.batch_size = args.batch_size or args.old_batch_size
    results: list[Checked] = []
    failed = False
    warned: set[str | None] = set()
    try:
        configs = ConfigFinder(args.config or None)
        for name in _expand(args.files, err):
            try:
                source = read_source(name)
            except OSError as exc:
                err.print(f"cnnc: error: cannot read {name}: {exc.strerror or exc}", markup=False, highlight=False,
                          soft_wrap=True)
                from cnnc.near_names import did_you_mean  # difflib: only on this error
                if hint := did_you_mean(name):
                    err.print(f"  help: {hint}", markup=False, highlight=False, soft_wrap=True)
                failed = True
                continue
            config = configs.for_spec(name)
            if config.path not in warned:
                warned.add(config.path)
                for warning in config.warnings:
                    _warn(err, warning)
            results.append(_check_one(source, args, config, lint_settings(config, command_line, budgets)))
    except ConfigError as problem:
        err.print(f"cnnc: error: {problem}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_FAILURE
    code = EXIT_FAILURE if failed else _exit_code(results, args)
    one_document = len(args.files) == 1 and len(results) == 1 and not _is_folder(args.files[0])
    if args.out is not None:
        return _write_out(args, results, one_document, not failed, err) or code
    try:
        with collector_paused():
            _print_results(results, args, one_document, out, all_read=not failed)
    except BrokenPipeError:  # `cnnc check ... | head`: the reader has what it wanted
        silence_stdout()
    return code


def _unwritable(name: str) -> str | None:
    """Why ``-o NAME`` cannot be written (checked before any spec is read), or None."""
    from pathlib import Path

    path = Path(name)
    if path.is_dir():
        return f"cannot write {name}: it is a folder"
    if not path.parent.is_dir():
        return f"cannot write {name}: no folder {path.parent}"
    return None


def _write_out(args: argparse.Namespace, results: list[Checked], one_document: bool, all_read: bool,
               err: Console) -> int | None:
    """The output in ``args.out`` (written whole or not at all, UTF-8); EXIT_FAILURE after a one-line
    message when it cannot be written, else None."""
    import io

    from rich.console import Console

    from cnnc.atomic import write_atomically
    from cnnc.collector import collector_paused

    buffer = io.StringIO()
    with collector_paused():
        _print_results(results, args, one_document, Console(file=buffer, color_system=None, highlight=False,
                       markup=False, emoji=False, soft_wrap=True), all_read)
    try:
        write_atomically(args.out, lambda file: file.write(buffer.getvalue().encode("utf-8")))
    except OSError as problem:
        err.print(f"cnnc: error: cannot write {args.out}: {problem.strerror or problem}", markup=False, highlight=False,
                  soft_wrap=True)
        return EXIT_FAILURE
    return None
