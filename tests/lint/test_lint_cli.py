"""The command line of the lint: exit codes, `cnnc rules`, `cnnc rule CODE`."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from lint_support import FIXTURES
from rich.console import Console

from cnnc.cli import main
from cnnc.diagnostics import ERROR_CODES
from cnnc.lint import RULES
from cnnc.lint.error_codes import ERRORS

WARNS = "input 224x224x3\nconv 96 11x11 stride=4 pad=2\nconv 8 3x3\nrelu\n"  # W204 only
CLEAN = "input 32x32x3\nconv 8 3x3 pad=1\nrelu\n"
BROKEN = "input 8x8x3\nconv 4 9x9\n"


def _spec(tmp_path, text: str, name: str = "net.cnn") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _run(args: list[str]) -> tuple[int, str, str]:
    out = Console(file=io.StringIO(), width=120, color_system=None, highlight=False)
    err = Console(file=io.StringIO(), width=120, color_system=None, highlight=False)
    code = main(args, out=out, err=err)
    return code, out.file.getvalue(), err.file.getvalue()


@pytest.mark.parametrize("text, options, expected", [
    (CLEAN, [], 0),
    (WARNS, [], 0),  # warnings alone pass
    (WARNS, ["--strict"], 1),
    (WARNS, ["--strict", "--ignore", "W204"], 0),
    (BROKEN, [], 1),
    (BROKEN, ["--exit-zero"], 0),
    (CLEAN, ["--max-params", "100"], 1),  # B401: 224 parameters
    (CLEAN, ["--max-params", "224"], 0),
    (CLEAN, ["--max-macs", "100K"], 1),  # B402: 221,184 MACs
    (CLEAN, ["--max-memory", "4MB"], 1),  # B403: 32 x 2 x (3,072 + 2 x 8,192) x 4 bytes + 2,688 = 4.98 MB
    (CLEAN, ["--max-memory", "5MB"], 0),
    (CLEAN, ["--max-params", "100", "--exit-zero"], 0),
])
def test_exit_codes(tmp_path, text, options, expected):
    code, _, _ = _run(["check", _spec(tmp_path, text), "--quiet", *options])
    assert code == expected


def test_memory_budget_boundary_is_the_reported_figure(tmp_path, capsys):
    spec = _spec(tmp_path, CLEAN)
    main(["check", spec, "--format", "json"])
    training = json.loads(capsys.readouterr().out)["totals"]["training_bytes"]
    assert _run(["check", spec, "--max-memory", str(training)])[0] == 0
    assert _run(["check", spec, "--max-memory", str(training - 1)])[0] == 1


def test_tool_failures_exit_2_even_with_exit_zero(tmp_path):
    code, _, err = _run(["check", str(tmp_path / "missing.cnn"), "--exit-zero"])
    assert code == 2 and "cannot read" in err
    assert _run(["check", _spec(tmp_path, CLEAN), "--max-params", "lots"])[0] == 2
    assert _run(["check", _spec(tmp_path, CLEAN), "--format", "xml"])[0] == 2


def test_lint_runs_only_on_specs_without_errors(tmp_path):
    code, output, _ = _run(["check", _spec(tmp_path, BROKEN + "conv 8 3x3\nconv 8 3x3\n"), "--quiet"])
    assert code == 1 and "E101" in output and "W204" not in output


def test_rules_lists_every_rule_and_error_code():
    code, output, _ = _run(["rules"])
    assert code == 0
    for entry in [*RULES.values(), *ERRORS.values()]:
        assert f"{entry.code}  {entry.name}" in output
    assert (output.index("E001") < output.index("E101") < output.index("W201") < output.index("I301")
            < output.index("B401") < output.index("S501"))


def test_rules_as_json(capsys):
    assert main(["rules", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {r["code"]: r["name"] for r in listed} == {**ERROR_CODES, **{c: r.name for c, r in RULES.items()}}
    assert all("## What it does" in r["doc"] for r in listed if r["code"] in RULES)
    assert all("## What it means" in r["doc"] and r["severity"] == "error" for r in listed if r["code"] in ERRORS)


def _rules_text(console: Console) -> str:
    assert main(["rules"], out=console, err=console) == 0
    return console.file.getvalue()


def test_rules_is_plain_ascii_like_the_check_table_and_one_line_a_code_when_piped():
    output = _rules_text(Console(file=io.StringIO(), width=40, color_system=None))  # a pipe: never wrapped
    lines = output.splitlines()
    assert lines[0].split() == ["Code", "Name", "Severity", "What", "it", "flags"]
    assert set(lines[1]) == {"-"} and output.isascii()
    assert len(lines) == 2 + len(RULES) + len(ERRORS)
    assert f"W201  stride-drops-input      warning   {RULES['W201'].summary}" in lines


def test_rules_folds_its_summaries_to_fit_a_terminal():
    output = _rules_text(Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None))
    lines = output.splitlines()
    assert max(len(line) for line in lines) <= 80 and len(lines) > 2 + len(RULES) + len(ERRORS)
    column = lines[0].index("What it flags")
    summaries, current = {}, None
    for line in lines[2:]:
        current = line.split()[0] if line[:column].strip() else current
        summaries[current] = (summaries.get(current, "") + " " + line[column:]).strip()
    assert summaries == {e.code: e.summary for e in [*RULES.values(), *ERRORS.values()]}


@pytest.mark.parametrize("name", ["W201", "w201", "stride-drops-input"])
def test_rule_prints_its_documentation(name):
    code, output, _ = _run(["rule", name])
    assert code == 0
    assert output.startswith("W201 stride-drops-input (warning)\n\n")
    assert output.rstrip("\n").endswith(RULES["W201"].doc.rstrip("\n"))


def test_unknown_rule_exits_2():
    code, _, err = _run(["rule", "W999"])
    assert code == 2 and "no rule `W999`" in err
    code, _, err = _run(["rule", "E1O1"])
    assert code == 2 and "did you mean `E101`?" in err


@pytest.mark.parametrize("name", ["E101", "e101", "size-not-positive"])
def test_rule_explains_error_codes(name):
    code, output, _ = _run(["rule", name])
    assert code == 0
    assert output.startswith("E101 size-not-positive (error)\n\nA layer whose output would have a size of 0 or less.")
    assert "## What it means" in output and "## Example" in output and "## Use instead" in output


def test_console_script_runs_the_lint():
    spec = str(FIXTURES / "W201.cnn")
    result = subprocess.run([sys.executable, "-m", "cnnc", "check", spec, "--format", "github", "--select", "W201"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"::warning file={spec},line=3,col=1,title=W201::")
