"""Configuration errors: one line each, located at the offending key; the renamed `batch` setting."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from cnnc.cli import main

CLEAN = "input 32x32x3\nconv 16 3x3 pad=1\nrelu\nglobalavgpool\nfc 10\n"


def run(*argv: str, width: int = 200) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Console(file=out, width=width, color_system=None),
                Console(file=err, width=width, color_system=None, soft_wrap=True))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A folder with a spec; write its pyproject.toml (or another file) and run `cnnc check` in it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.cnn").write_text(CLEAN, encoding="utf-8")

    def check(text: str, name: str = "pyproject.toml", *options: str) -> tuple[int, str, str]:
        (tmp_path / name).write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        return run("check", "net.cnn", "--format", "json", *options)
    return check


PREAMBLE = '[project]\nname = "demo"\ndescription = "max-params = 1 is not a key here"\n\n'


@pytest.mark.parametrize("text, message", [
    (PREAMBLE + '[tool.cnnc]\nselect = ["W2"]\nmax-params = "lots"\n',
     "pyproject.toml:7:1: `max-params`: expected a count such as 5M or 600M, got 'lots'"),
    (PREAMBLE + '[tool.cnnc]\nselct = ["W2"]\n',
     ("pyproject.toml:6:1: unknown setting `selct` (did you mean `select`?); the settings are select, ignore, "
      "severity, max-params, max-macs, max-memory, min-receptive-field, dtype, batch-size, inplace-activations")),
    ('[tool.cnnc]\n"dtype" = "int8"\n',
     "pyproject.toml:2:1: `dtype` must be one of float16, bfloat16, float32, float64, not 'int8'"),
    ("[tool.cnnc]\n  'batch-size' = 0\n", "pyproject.toml:2:3: `batch-size` must be a whole number of at least 1, not 0"),
    ('[tool.cnnc]\nselect = ["W2"]\n\n[tool.cnnc.severity]\n# the one below is wrong\nW201 = "fatal"\n',
     "pyproject.toml:6:1: `severity.W201` must be \"error\", \"warning\" or \"info\", not 'fatal'"),
    ('[tool.cnnc]\nseverity = { W201 = "error", X9 = "info" }\n',
     "pyproject.toml:2:30: unknown rule `X9` in `severity`; `cnnc rules` lists them"),
    ('[tool]\ncnnc.severity."W201" = "loud"\n',
     "pyproject.toml:2:15: `severity.W201` must be \"error\", \"warning\" or \"info\", not 'loud'"),
    ('[tool.cnnc]\nignore = [\n  "W201",  # fine\n  "E101",\n]\ninplace-activations = "yes"\n',
     "pyproject.toml:2:1: `E101` in `ignore` is an error code: errors are always reported"),
    ('[tool.cnnc]\nignore = [\n  "W201",\n]\ninplace-activations = "yes"\n',
     "pyproject.toml:5:1: `inplace-activations` must be true or false, not 'yes'"),
    ("[tool.cnnc\nselect = []\n", "pyproject.toml:1:11: not valid TOML: Expected ']' at the end of a table declaration"),
    (b'[tool.cnnc]\ndtype = "\xff"\n', "pyproject.toml:2:10: not valid TOML: not UTF-8 (byte 0xff)"),
])
def test_a_bad_setting_is_one_located_line(project, text, message):
    code, out, err = project(text)
    assert code == 2 and out == ""
    assert err == f"cnnc: error: {message}\n"


def test_a_cnnc_toml_is_located_too(project):
    code, _, err = project('select = ["W2"]\n\n[severity]\nW201 = "fatal"\n', "cnnc.toml")
    assert code == 2 and err.startswith("cnnc: error: cnnc.toml:4:1: `severity.W201` must be")


def test_a_config_outside_the_working_folder_keeps_its_full_path(tmp_path, monkeypatch):
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "cnnc.toml").write_text("dtype = 3\n", encoding="utf-8")
    (tmp_path / "project" / "net.cnn").write_text(CLEAN, encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, _, err = run("check", str(tmp_path / "project" / "net.cnn"))
    assert code == 2 and err.startswith(f"cnnc: error: {tmp_path / 'project' / 'cnnc.toml'}:1:1: `dtype` must be")


def test_config_errors_never_wrap_on_a_narrow_terminal(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, value in (("COLUMNS", "40"), ("TTY_COMPATIBLE", "1"), ("NO_COLOR", "1")):
        monkeypatch.setenv(name, value)
    (tmp_path / "net.cnn").write_text(CLEAN, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("[tool.cnnc]\nmax-macs = \"a great many\"\n", encoding="utf-8")
    assert main(["check", "net.cnn"]) == 2
    err = capsys.readouterr().err
    assert err == "cnnc: error: pyproject.toml:2:1: `max-macs`: expected a count such as 5M or 600M, got 'a great many'\n"


def test_batch_size_is_the_one_name_and_the_old_ones_still_work_with_a_warning(project):
    code, out, err = project("[tool.cnnc]\nbatch-size = 12\n")
    assert code == 0 and err == "" and json.loads(out)["assumptions"]["batch"] == 12
    code, out, err = project("[tool.cnnc]\nbatch = 12\n")
    assert code == 0 and json.loads(out)["assumptions"]["batch"] == 12
    assert err == "cnnc: warning: pyproject.toml:2:1: `batch` is deprecated: rename it `batch-size`\n"
    code, out, err = project("[tool.cnnc]\nbatch-size = 12\n", "pyproject.toml", "--batch", "5")
    assert code == 0 and json.loads(out)["assumptions"]["batch"] == 5
    assert err == "cnnc: warning: `--batch` is deprecated: use `--batch-size`\n"
    code, out, err = project("[tool.cnnc]\nbatch-size = 12\n", "pyproject.toml", "--batch-size", "6", "--batch", "5")
    assert json.loads(out)["assumptions"]["batch"] == 6  # the new name wins
    code, _, err = project("[tool.cnnc]\nbatch = 1\nbatch-size = 2\n")
    assert code == 2 and err == "cnnc: error: pyproject.toml:2:1: `batch` is the old name of `batch-size`: keep only " \
                                "`batch-size`\n"


def test_the_old_flag_is_hidden_from_help(capsys):
    code, _, _ = run("check", "--help")
    out = capsys.readouterr().out  # argparse prints help itself
    assert code == 0 and "--batch-size N" in out and "--batch " not in out and "--batch\n" not in out


def test_the_docs_show_a_message_cnnc_prints(project):
    page = (Path(__file__).resolve().parents[2] / "docs" / "ci.md").read_text(encoding="utf-8")
    _, _, err = project(PREAMBLE + '[tool.cnnc]\nselect = ["W2"]\nmax-params = "lots"\n')
    assert f"```\n{err}```" in page
