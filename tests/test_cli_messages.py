"""What `cnnc check` ends with (ruff's "All checks passed!"), and messages that never wrap."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from cnnc.cli import main

CLEAN = "input 32x32x3\nconv 16 3x3 pad=1\nrelu\nmaxpool 2\nconv 32 3x3 pad=1\nrelu\nmaxpool 2\n" \
        "conv 64 3x3 pad=1  # noqa: I301\nrelu\nglobalavgpool\nfc 10\n"
FINDING = "input 32x32x3\nconv 16 3x3 pad=1\nconv 16 3x3 pad=1\nrelu\nglobalavgpool\nfc 10\n"  # I301, W204, W207


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Console(file=out, width=200, color_system=None),
                Console(file=err, width=200, color_system=None, soft_wrap=True))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def specs(tmp_path):
    def write(**texts: str) -> list[str]:
        paths = []
        for name, text in texts.items():
            (tmp_path / f"{name}.cnn").write_text(text, encoding="utf-8")
            paths.append(str(tmp_path / f"{name}.cnn"))
        return paths
    return write


def test_quiet_on_clean_files_says_all_checks_passed_once(specs):
    assert run("check", "-q", *specs(a=CLEAN)) == (0, "All checks passed!\n", "")
    assert run("check", "-q", *specs(a=CLEAN, b=CLEAN)) == (0, "All checks passed!\n", "")


def test_the_report_also_ends_with_it(specs):
    code, out, _ = run("check", *specs(a=CLEAN))
    assert code == 0 and out.startswith("a  32x32x3 -> 10\n") and out.endswith("'Memory'.\nAll checks passed!\n")


def test_findings_end_with_their_count_over_every_file_instead(specs):
    code, out, _ = run("check", "-q", *specs(a=CLEAN, b=FINDING))
    assert code == 0 and "All checks passed!" not in out
    assert "b.cnn:3:1: warning[W204]" in out and out.endswith("\nFound 2 warnings, 1 info.\n")


def test_nothing_passed_when_a_file_could_not_be_read_or_none_was_found(specs, tmp_path):
    code, out, err = run("check", "-q", *specs(a=CLEAN), str(tmp_path / "missing.cnn"))
    assert (code, out) == (2, "") and "cannot read" in err
    (tmp_path / "empty").mkdir()
    assert run("check", "-q", str(tmp_path / "empty"))[:2] == (0, "")


def test_machine_formats_stay_machine_readable(specs):
    code, out, _ = run("check", "--format", "json", *specs(a=CLEAN))
    assert code == 0 and json.loads(out)["diagnostics"] == []
    assert run("check", "--format", "github", *specs(a=CLEAN)) == (0, "", "")


@pytest.mark.parametrize("argv, message", [
    (["check", "--select", "W201,W2O1", "x.cnn"],
     "cnnc: error: unknown rule `W2O1` in --select (did you mean `W201`?); `cnnc rules` lists them"),
    (["check", "/no/such/folder/with/a/long/name/net.cnn"],
     "cnnc: error: cannot read /no/such/folder/with/a/long/name/net.cnn: No such file or directory"),
    (["train", "/no/such/folder/with/a/long/name/net.cnn"],
     "cnnc: error: cannot read /no/such/folder/with/a/long/name/net.cnn: No such file or directory"),
    (["check", "--batch-size", "0", "x.cnn"],
     "cnnc check: argument --batch-size: expected a whole number from 1 to 1,000,000,000, got '0'"),
    (["predict", "/no/such/model/file/with/a/long/name.npz", "x.png"],
     "cnnc: error: /no/such/model/file/with/a/long/name.npz: no such file"),
])
def test_errors_stay_on_one_line_in_40_columns(argv, message, monkeypatch, capsys):
    for name, value in (("COLUMNS", "40"), ("TTY_COMPATIBLE", "1"), ("NO_COLOR", "1")):
        monkeypatch.setenv(name, value)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err.splitlines() and len(message) > 40


def test_no_message_on_stderr_is_wrapped_to_the_terminal(monkeypatch, capsys):
    """Whatever `cnnc rule` says of an unknown code, rich must not cut it at 40 columns."""
    for name, value in (("COLUMNS", "40"), ("TTY_COMPATIBLE", "1"), ("NO_COLOR", "1")):
        monkeypatch.setenv(name, value)
    assert main(["rule", "W2999999999999999999999999999999"]) == 2
    assert max(map(len, capsys.readouterr().err.splitlines())) > 40


@pytest.mark.parametrize("command", [("check",), ("fmt",), ("draw", "-o", "out.svg"), ("train", "--data", "synthetic")])
def test_a_misspelt_spec_gets_the_nearest_name_beside_it(command, specs, tmp_path):
    specs(lenet5=CLEAN)
    (tmp_path / "lenet5.npz").write_bytes(b"")  # another extension: never offered for a .cnn
    code, _, err = run(command[0], str(tmp_path / "lenett5.cnn"), *command[1:])
    assert code == 2 and f"cannot read {tmp_path / 'lenett5.cnn'}" in err
    assert f"  help: did you mean {tmp_path / 'lenet5.cnn'}?" in err


def test_a_misspelt_model_or_onnx_file_too_and_nothing_when_no_name_is_near(tmp_path):
    (tmp_path / "lenet5.npz").write_bytes(b"")
    (tmp_path / "lenet5.cnn").write_text(CLEAN, encoding="utf-8")
    code, _, err = run("eval", str(tmp_path / "lenet.npz"))
    assert code == 2 and err.endswith(f"  help: did you mean {tmp_path / 'lenet5.npz'}?\n")
    code, _, err = run("eval", str(tmp_path / "lenet5.nzp"))  # a misspelt extension is near too
    assert code == 2 and err.endswith(f"  help: did you mean {tmp_path / 'lenet5.npz'}?\n")
    code, _, err = run("import", str(tmp_path / "lenet.onnx"))  # no .onnx beside it
    assert code == 2 and "no such file" in err and "did you mean" not in err
    code, _, err = run("check", str(tmp_path / "cifar10.cnn"))  # too far from lenet5.cnn
    assert code == 2 and "did you mean" not in err


@pytest.mark.parametrize(("argv", "usage", "message", "hint"), [
    (["train", "net.cnn", "--epohcs", "3"], "usage: cnnc train ", "cnnc train: unrecognized arguments: --epohcs 3",
     "  help: did you mean --epochs?"),
    (["train", "net.cnn", "--lr=0.1", "--bach-size=3"], "usage: cnnc train ",
     "cnnc train: unrecognized arguments: --bach-size=3", "  help: did you mean --batch-size?"),
    (["train", "net.cnn", "-epochs", "3"], "usage: cnnc train ", "cnnc train: unrecognized arguments: -epochs 3",
     "  help: did you mean --epochs?"),
    (["check", "net.cnn", "--fromat", "json"], "usage: cnnc check ", "cnnc check: unrecognized arguments: --fromat "
     "json", "  help: did you mean --format?"),
    (["chek", "net.cnn"], "usage: cnnc [options] COMMAND ...", "cnnc: argument COMMAND: invalid choice: 'chek'",
     "  help: did you mean check?"),
    (["check", "net.cnn", "--format", "jsn"], "usage: cnnc check ", "cnnc check: argument --format: invalid choice: "
     "'jsn'", "  help: did you mean json?"),
    (["train", "net.cnn", "--backend", "tourch"], "usage: cnnc train ", "cnnc train: argument --backend: invalid "
     "choice: 'tourch'", "  help: did you mean torch?"),
])
def test_a_misspelt_option_command_or_choice_gets_the_usage_of_its_command_and_the_nearest_name(
        argv, usage, message, hint):
    code, out, err = run(*argv)
    lines = err.splitlines()
    assert code == 2 and out == "" and len(lines) == 3  # the usage on one line, the message, the help
    assert lines[0].startswith(usage)
    assert lines[1].startswith(message) and lines[2] == hint


@pytest.mark.parametrize("argv", [["train", "net.cnn", "--fast"], ["train", "net.cnn", "--gpu"],
                                  ["compile", "net.cnn", "--to", "tensorflow"]])
def test_nothing_near_enough_gets_no_guess(argv):
    code, _, err = run(*argv)
    assert code == 2 and "help:" not in err and err.splitlines()[0].startswith(f"usage: cnnc {argv[0]} [options] ")


def test_the_usage_line_names_required_options_and_positionals():
    assert run("draw", "net.cnn")[2].splitlines() == [
        "usage: cnnc draw [options] -o OUT.svg SPEC", "cnnc draw: the following arguments are required: -o/--out"]
    assert run("check")[2].splitlines()[0] == "usage: cnnc check [options] FILE [FILE ...]"
