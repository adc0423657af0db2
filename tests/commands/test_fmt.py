"""`cnnc fmt`: files rewritten in place, `--check` and `--diff` as ruff format has them, stdin, syntax
errors (reported, the file untouched, the others formatted), exit codes, and writes that are atomic."""

from __future__ import annotations

import io
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from cnnc import formatter
from cnnc.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
UGLY = "input  8x8x3\nconv 8 3 pad=1   stride=2# first\nrelu;relu"
PRETTY = "input 8x8x3\nconv 8 3 stride=2 pad=1  # first\nrelu; relu\n"
BROKEN = "input 8x8x3\nconv 8 3, 3\n"


def run(*argv: str, stdin: bytes | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Console(file=out, width=200, color_system=None),
                Console(file=err, width=200, color_system=None))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def specs(tmp_path):
    """Three specs: one to reformat, one already formatted, one with a syntax error."""
    (tmp_path / "ugly.cnn").write_bytes(UGLY.encode())
    (tmp_path / "pretty.cnn").write_bytes(PRETTY.encode())
    (tmp_path / "broken.cnn").write_bytes(BROKEN.encode())
    return tmp_path


def test_fmt_rewrites_files_in_place_and_says_how_many(specs):
    code, out, err = run("fmt", str(specs / "ugly.cnn"), str(specs / "pretty.cnn"))
    assert (code, out, err) == (0, "1 file reformatted, 1 file left unchanged\n", "")
    assert (specs / "ugly.cnn").read_text() == PRETTY
    assert run("fmt", str(specs / "ugly.cnn")) == (0, "1 file left unchanged\n", "")


def test_check_lists_the_files_it_would_reformat_and_writes_nothing(specs):
    ugly = specs / "ugly.cnn"
    code, out, err = run("fmt", "--check", str(ugly), str(specs / "pretty.cnn"))
    assert (code, err) == (1, "")
    assert out == f"Would reformat: {ugly}\n1 file would be reformatted, 1 file already formatted\n"
    assert ugly.read_bytes() == UGLY.encode()
    assert run("fmt", "--check", str(specs / "pretty.cnn")) == (0, "1 file already formatted\n", "")


def test_diff_prints_a_unified_diff_and_the_summary_on_stderr(specs):
    ugly = specs / "ugly.cnn"
    code, out, err = run("fmt", "--diff", str(ugly), str(specs / "pretty.cnn"))
    assert code == 1
    assert out == (f"--- {ugly}\n+++ {ugly}\n@@ -1,3 +1,3 @@\n-input  8x8x3\n-conv 8 3 pad=1   stride=2# first\n"
                   "-relu;relu\n\\ No newline at end of file\n+input 8x8x3\n+conv 8 3 stride=2 pad=1  # first\n"
                   "+relu; relu\n")
    assert err == "1 file would be reformatted, 1 file already formatted\n"
    assert ugly.read_bytes() == UGLY.encode()


def test_a_diff_applies_with_patch(specs, tmp_path):
    """The diff is one `patch` accepts: applied to the file, it gives the formatted file."""
    patch = shutil.which("patch")
    if patch is None:
        pytest.skip("no patch program")
    ugly = specs / "ugly.cnn"
    _, diff, _ = run("fmt", "--diff", str(ugly))
    subprocess.run([patch, "-s", str(ugly)], input=diff, text=True, check=True)
    assert ugly.read_text() == PRETTY


def test_a_syntax_error_is_reported_and_the_other_files_are_still_formatted(specs):
    """As ruff format: the diagnostic, exit 2, the broken file untouched, the others written."""
    broken = specs / "broken.cnn"
    code, out, err = run("fmt", str(broken), str(specs / "ugly.cnn"))
    assert code == 2
    assert out == "1 file reformatted\n"
    assert err.splitlines() == [
        f"{broken}:2:9: error[E001] unexpected `,`; expected a value, the end of the line or `{{`",
        "  |", "2 | conv 8 3, 3", "  |         ^",
        "  = help: sizes are one word, like `3x3` or `224x224x3`; options follow after spaces: `stride=2` (no commas)"]
    assert broken.read_bytes() == BROKEN.encode() and (specs / "ugly.cnn").read_text() == PRETTY


@pytest.mark.parametrize("mode", ["--check", "--diff"])
def test_a_syntax_error_wins_over_files_to_reformat_in_check_and_diff(specs, mode):
    code, _, err = run("fmt", mode, str(specs))
    assert code == 2 and "broken.cnn:2:9: error[E001]" in err


def test_a_directory_means_its_cnn_files(specs):
    (specs / "notes.txt").write_text("conv  8")
    code, out, _ = run("fmt", "--check", str(specs))
    assert code == 2 and out == f"Would reformat: {specs / 'ugly.cnn'}\n1 file would be reformatted, " \
                                 "1 file already formatted\n"


def test_the_examples_are_formatted():
    assert run("fmt", "--check", str(EXAMPLES)) == (0, "17 files already formatted\n", "")


def test_stdin_is_formatted_to_stdout(monkeypatch):
    assert run("fmt", "-", stdin=UGLY.encode(), monkeypatch=monkeypatch) == (0, PRETTY, "")
    assert run("fmt", "--check", "-", stdin=UGLY.encode(), monkeypatch=monkeypatch) == \
        (1, "Would reformat: <stdin>\n", "")
    assert run("fmt", "--check", "-", stdin=PRETTY.encode(), monkeypatch=monkeypatch) == (0, "", "")
    code, out, err = run("fmt", "-", stdin=BROKEN.encode(), monkeypatch=monkeypatch)
    assert (code, out) == (2, "") and err.startswith("<stdin>:2:9: error[E001]")


def test_windows_line_endings_survive_the_round_trip(tmp_path):
    spec = tmp_path / "windows.cnn"
    spec.write_bytes(b"input 8x8x3\r\nrepeat 2 {\r\nrelu\r\n}\r\n")
    assert run("fmt", str(spec))[0] == 0
    assert spec.read_bytes() == b"input 8x8x3\r\nrepeat 2 {\r\n    relu\r\n}\r\n"


def test_a_file_that_cannot_be_read_is_one_line_and_exit_2(tmp_path, specs):
    code, out, err = run("fmt", str(tmp_path / "missing.cnn"), str(specs / "ugly.cnn"))
    assert (code, out) == (2, "1 file reformatted\n")
    assert err == f"cnnc: error: cannot read {tmp_path / 'missing.cnn'}: No such file or directory\n"


def test_bytes_that_are_not_utf8_are_reported_and_left_alone(tmp_path):
    spec = tmp_path / "latin1.cnn"
    spec.write_bytes(b"input 8x8x3\nrelu  # caf\xe9\n")
    code, _, err = run("fmt", str(spec))
    assert code == 2 and err.startswith(f"{spec}:2:12: error[E001] the file is not UTF-8 text")
    assert spec.read_bytes() == b"input 8x8x3\nrelu  # caf\xe9\n"


def test_a_write_keeps_the_permissions_follows_links_and_leaves_no_temporary_file(specs):
    ugly = specs / "ugly.cnn"
    ugly.chmod(0o640)
    link = specs / "link.cnn"
    link.symlink_to(ugly)
    assert run("fmt", str(link))[0] == 0
    assert link.is_symlink() and ugly.read_text() == PRETTY
    assert stat.S_IMODE(ugly.stat().st_mode) == 0o640
    assert sorted(path.name for path in specs.iterdir()) == ["broken.cnn", "link.cnn", "pretty.cnn", "ugly.cnn"]


def test_a_failed_write_leaves_the_file_as_it_was(specs, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("cnnc.commands.fmt.os.replace", refuse)
    ugly = specs / "ugly.cnn"
    code, out, err = run("fmt", str(ugly))
    assert (code, out, err) == (2, "", f"cnnc: error: cannot write {ugly}: Permission denied\n")
    assert ugly.read_bytes() == UGLY.encode()
    assert sorted(path.name for path in specs.iterdir()) == ["broken.cnn", "pretty.cnn", "ugly.cnn"]


def test_a_formatter_bug_leaves_the_file_alone_and_says_so(specs, monkeypatch):
    monkeypatch.setattr(formatter, "layout", lambda tree, comments, lines: ("input 8x8x3\n", [1]))
    ugly = specs / "ugly.cnn"
    code, _, err = run("fmt", str(ugly))
    assert code == 2 and ugly.read_bytes() == UGLY.encode()
    assert err == (f"cnnc: error: {ugly}: the formatted spec would not mean what the original means; the file is "
                   "left as it is. This is a bug in cnnc: please report it.\n")


def test_help_describes_the_layout_and_the_exit_codes(capsys):
    assert main(["fmt", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "four spaces per block level" in text and "in the order of the layer table" in text
    assert "1 when --check or --diff finds a file to reformat, 2 when a file has a syntax error" in text


def test_the_docs_example_is_what_cnnc_fmt_does(tmp_path):
    page = (EXAMPLES.parent / "docs" / "formatting.md").read_text(encoding="utf-8")
    example = re.search(r"\$ cat messy\.cnn\n(.*?)\$ cnnc fmt messy\.cnn\n(.*?)\n\$ cat messy\.cnn\n(.*?)```", page,
                        re.DOTALL)
    before, summary, after = example.groups()
    spec = tmp_path / "messy.cnn"
    spec.write_text(before, encoding="utf-8")
    assert run("fmt", str(spec)) == (0, summary + "\n", "")
    assert spec.read_text(encoding="utf-8") == after
    count = len(list(EXAMPLES.glob("*.cnn")))
    assert f"`cnnc fmt --check examples/` prints\n`{count} files already formatted`" in page
