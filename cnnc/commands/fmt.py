"""``cnnc fmt PATH...``: rewrite specs in the canonical layout; ``--check`` and ``--diff`` for CI, as ruff format."""

from __future__ import annotations

import argparse
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from cnnc.commands.common import EXIT_ERRORS, EXIT_FAILURE, EXIT_OK, write_text

if TYPE_CHECKING:
    from rich.console import Console

DESCRIPTION = (
    "Rewrite .cnn specs in one canonical layout, as `ruff format` does for Python: four spaces per block level; "
    "one space between a layer's arguments; options as key=value, in the order of the layer table "
    "(docs/language.md); spaces around + - * / // and after commas, none inside parentheses; statements "
    "that share a line joined by `; `; a block stays on one line (`{ a; b }`) or on several as written; at most "
    "one blank line. Comments stay where they are (a comment after code keeps its column while the code ends "
    "two spaces before it), numbers keep their spelling, and the result is checked to parse to the same "
    "statements. A spec with a syntax error is not rewritten: its diagnostic is printed and the other files are "
    "still formatted.")
EPILOG = ("Exit status: 0 when every file was formatted (or, with --check/--diff, already is), 1 when --check or "
          "--diff finds a file to reformat, 2 when a file has a syntax error or cannot be read or written.")
_LINES = r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+"  # a line with its ending (compiled on first use: re caches it)


def register(commands) -> None:
    parser = commands.add_parser("fmt", help="rewrite specs in one canonical layout (--check for CI)",
                                 description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("files", nargs="+", metavar="PATH",
                        help="specs to format; a directory means every .cnn file under it; - formats stdin to stdout")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; list the files that would be reformatted and exit 1 if there are any")
    parser.add_argument("--diff", action="store_true",
                        help="write nothing; print a unified diff of the changes and exit 1 if there are any")
    parser.set_defaults(run=run)


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, emoji=False, highlight=False, soft_wrap=True)


def _spec_paths(names: list[str], err: Console) -> list[str]:
    """Files to format: a directory stands for its .cnn files, sorted."""
    found: list[str] = []
    for name in names:
        if name != "-" and Path(name).is_dir():
            specs = sorted(str(path) for path in Path(name).rglob("*.cnn"))
            if not specs:
                _say(err, f"cnnc: warning: no .cnn files under {name}")
            found += specs
        else:
            found.append(name)
    return found


def _plural(count: int) -> str:
    return f"{count} file{'s' if count != 1 else ''}"


def _unified_diff(before: str, after: str, path: str) -> str:
    """A unified diff as `diff -u` writes it, `\\ No newline at end of file` included."""
    import difflib  # here, not at the top: every command's module is imported when cnnc starts

    written = []
    for line in difflib.unified_diff(re.findall(_LINES, before), re.findall(_LINES, after), path, path):
        written.append(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n")
    return "".join(written)


def write_atomically(path: str, text: str) -> None:
    """Replace a file's content in one step (a temporary file beside it, then a rename), keeping its
    permissions; through a symbolic link, the file it points to."""
    import tempfile

    target = Path(os.path.realpath(path))
    mode = stat.S_IMODE(target.stat().st_mode)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(text.encode("utf-8"))
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from cnnc.formatter import FormatterBug, format_source
    from cnnc.reading import read_source
    from cnnc.render.diagnostics import in_colour, render_diagnostic

    reformatted = unchanged = 0
    failed = False
    for name in _spec_paths(args.files, err):
        try:
            source = read_source(name)
            formatted = format_source(source)
        except OSError as problem:
            _say(err, f"cnnc: error: cannot read {name}: {problem.strerror or problem}")
            from cnnc.near_names import did_you_mean  # difflib: only on this error
            if hint := did_you_mean(name):
                _say(err, f"  help: {hint}")
            failed = True
            continue
        except FormatterBug as bug:
            _say(err, f"cnnc: error: {bug}; the file is left as it is. This is a bug in cnnc: please report it.")
            failed = True
            continue
        if formatted.text is None:
            for diagnostic in formatted.diagnostics:
                _print_text(err, render_diagnostic(diagnostic, formatted.source, in_colour(err)))
            failed = True
            continue
        if args.diff:
            write_text(out, _unified_diff(source.text, formatted.text, source.path))
        elif name == "-" and not args.check:
            write_text(out, formatted.text)
        if not formatted.changed:
            unchanged += 1
            continue
        reformatted += 1
        if args.check and not args.diff:
            _say(out, f"Would reformat: {source.path}")
        elif not args.check and not args.diff and name != "-":
            try:
                write_atomically(name, formatted.text)
            except OSError as problem:
                _say(err, f"cnnc: error: cannot write {name}: {problem.strerror or problem}")
                failed = True
                reformatted -= 1
    if args.files != ["-"]:
        _summary(out, err, args, reformatted, unchanged)
    if failed:
        return EXIT_FAILURE
    return EXIT_ERRORS if (args.check or args.diff) and reformatted else EXIT_OK


def _summary(out: Console, err: Console, args: argparse.Namespace, reformatted: int, unchanged: int) -> None:
    """`2 files reformatted, 15 files left unchanged`, as ruff format says it (after a diff: on stderr)."""
    if args.check or args.diff:
        parts = [f"{_plural(reformatted)} would be reformatted" if reformatted else "",
                 f"{_plural(unchanged)} already formatted" if unchanged else ""]
    else:
        parts = [f"{_plural(reformatted)} reformatted" if reformatted else "",
                 f"{_plural(unchanged)} left unchanged" if unchanged else ""]
    summary = ", ".join(part for part in parts if part)
    if summary:
        _say(err if args.diff else out, summary)


def _print_text(console: Console, text) -> None:
    """A rendered diagnostic as it is, never wrapped; plain where the console has no colours."""
    if console.color_system is None or console.no_color:
        console.file.write(text.plain)
    else:
        console.print(text, end="", soft_wrap=True)
