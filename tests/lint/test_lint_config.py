"""Configuration: discovery from the spec upwards, precedence of the command line, validation."""

from __future__ import annotations

import io
import json
import textwrap

import pytest
from rich.console import Console

from cnnc.cli import main
from cnnc.config import ConfigError, Selection, enabled_codes, find_config, load_config, parse_bytes, parse_count
from cnnc.lint import RULES

ALEXNET_224 = "input 224x224x3\nconv 96 11x11 stride=4\nrelu\nglobalavgpool\nfc 10\n"
"""W201 at line 2, I301 (the conv holds 97% of the parameters), W207 at line 4 (the field of one 11x11 layer)."""


def _write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _check(args: list[str], capsys) -> tuple[int, list[dict], str]:
    err, console = Console(file=io.StringIO(), width=200), Console(file=io.StringIO())
    code = main(["check", "--format", "json", *args], out=console, err=err)
    out = console.file.getvalue()
    documents = json.loads(out) if out.strip() else []
    documents = documents if isinstance(documents, list) else [documents]
    return code, [d for doc in documents for d in doc["diagnostics"]], err.file.getvalue()


@pytest.mark.parametrize("text, value", [("5M", 5_000_000), ("600M", 600_000_000), ("1.5K", 1500), ("42", 42),
                                         (7, 7), ("2g", 2_000_000_000), ("1_000", 1000)])
def test_counts_take_si_suffixes(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("text, value", [("2GB", 2 * 10**9), ("2G", 2 * 10**9), ("512MB", 512 * 10**6),
                                         ("8GiB", 8 * 2**30), ("1.5 GiB", 3 * 2**29), ("100", 100)])
def test_sizes_take_si_and_binary_suffixes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["5X", "", "-1", "0", "M", "2GBB", True, 1.5, "5MB"])
def test_bad_counts_are_refused(text):
    with pytest.raises(ValueError):
        parse_count(text)


def test_discovery_walks_up_and_prefers_cnnc_toml(tmp_path):
    _write(tmp_path / "pyproject.toml", "[tool.cnnc]\nignore = [\"W201\"]\n")
    _write(tmp_path / "a" / "pyproject.toml", "[project]\nname = \"unrelated\"\n")  # no [tool.cnnc]: skipped
    _write(tmp_path / "b" / "cnnc.toml", "ignore = [\"W207\"]\n")
    _write(tmp_path / "b" / "pyproject.toml", "[tool.cnnc]\nignore = [\"I301\"]\n")
    assert find_config(tmp_path / "a" / "deep" / "net.cnn") == tmp_path / "pyproject.toml"
    assert find_config(tmp_path / "b" / "net.cnn") == tmp_path / "b" / "cnnc.toml"
    assert load_config(tmp_path / "b" / "cnnc.toml").selection == Selection(None, ("W207",))


def test_config_applies_to_specs_below_it(tmp_path, capsys):
    _write(tmp_path / "pyproject.toml", "[tool.cnnc]\nignore = [\"W201\"]\n")
    spec = _write(tmp_path / "models" / "alexnet.cnn", ALEXNET_224)
    elsewhere = _write(tmp_path.parent / f"{tmp_path.name}-other" / "alexnet.cnn", ALEXNET_224)
    code, found, _ = _check([str(spec), str(elsewhere)], capsys)
    assert code == 0
    assert [(d["file"], d["code"]) for d in found if d["code"] == "W201"] == [(str(elsewhere), "W201")]


def test_command_line_select_and_ignore_win_over_the_config(tmp_path, capsys):
    _write(tmp_path / "cnnc.toml", "select = [\"W\"]\nignore = [\"W201\"]\n")
    spec = _write(tmp_path / "net.cnn", ALEXNET_224)
    assert {d["code"] for d in _check([str(spec)], capsys)[1]} == {"W207"}
    assert {d["code"] for d in _check([str(spec), "--select", "W201"], capsys)[1]} == {"W201"}
    assert {d["code"] for d in _check([str(spec), "--ignore", "W207"], capsys)[1]} == set()
    assert {d["code"] for d in _check([str(spec), "--select", "W2,I", "--ignore", "W207"], capsys)[1]} == {
        "W201", "I301"}


def test_more_specific_selectors_win_within_a_layer():
    assert "W204" not in enabled_codes([Selection(("W",), ("W204",))])
    assert "W201" in enabled_codes([Selection(("W",), ("W204",))])
    assert "W204" in enabled_codes([Selection(("W204",), ("W",))])
    assert enabled_codes([Selection(("ALL",), ("I",))]) == {c for c in RULES if not c.startswith("I")}
    assert enabled_codes([Selection(("linear-stack",))]) == {"W204"}
    assert enabled_codes([Selection(None, ("W201",)), Selection(("W20",))]) >= {"W201", "W208"}


def test_severity_override_turns_a_warning_into_a_failure(tmp_path, capsys):
    _write(tmp_path / "cnnc.toml", "[severity]\nW201 = \"error\"\nsmall-receptive-field = \"info\"\n")
    spec = _write(tmp_path / "net.cnn", ALEXNET_224)
    code, found, _ = _check([str(spec)], capsys)
    assert code == 1
    assert {d["code"]: d["severity"] for d in found if d["code"] in ("W201", "W207")} == {
        "W201": "error", "W207": "info"}


def test_budgets_and_defaults_from_config_with_command_line_override(tmp_path, capsys):
    _write(tmp_path / "pyproject.toml", """\
        [tool.cnnc]
        max-params = "20K"
        max-memory = "1GB"
        dtype = "float16"
        batch-size = 64
        """)
    spec = _write(tmp_path / "net.cnn", "input 224x224x3\nconv 64 3x3 pad=1\nrelu\n")
    code, found, _ = _check([str(spec)], capsys)
    # 2 x (150,528 + 2 x 3,211,264) values x 2 bytes x 64 images: 1.68 GB
    memory = [d for d in found if d["code"] == "B403"]
    assert code == 1 and "for batch 64 in float16" in memory[0]["message"]
    assert not [d for d in found if d["code"] == "B401"]  # 1,792 parameters
    code, found, _ = _check([str(spec), "--batch-size", "16", "--max-params", "1K"], capsys)
    assert {d["code"] for d in found if d["code"].startswith("B")} == {"B401"}  # 16 images: 0.42 GB


def test_the_specs_own_batch_beats_the_configs_default(tmp_path, capsys):
    _write(tmp_path / "cnnc.toml", "batch-size = 64\nmax-memory = \"1GB\"\n")
    spec = _write(tmp_path / "net.cnn", "input 224x224x3\nconv 64 3x3 pad=1\nrelu\ntrain { batch=8 }\n")
    code, found, _ = _check([str(spec)], capsys)
    assert code == 0 and not found


@pytest.mark.parametrize("text, problem", [
    ("select = [\"W999\"]\n", "unknown rule `W999` in `select`"),
    ("ignore = [\"W29\"]\n", "unknown rule `W29` in `ignore`"),
    ("ignore = [\"E101\"]\n", "`E101` in `ignore` is an error code: errors are always reported"),
    ("[severity]\nW201 = \"fatal\"\n", "`severity.W201` must be \"error\", \"warning\" or \"info\""),
    ("[severity]\nX1 = \"error\"\n", "unknown rule `X1` in `severity`"),
    ("max-param = 5\n", "unknown setting `max-param` (did you mean `max-params`?)"),
    ("max-memory = \"2 furlongs\"\n", "expected a size such as 2GB"),
    ("batch-size = 0\n", "`batch-size` must be a whole number of at least 1"),
    ("dtype = \"int8\"\n", "`dtype` must be one of float16, bfloat16, float32, float64"),
    ("select = [\n", "not valid TOML"),
])
def test_bad_config_stops_with_exit_code_2(tmp_path, capsys, text, problem):
    _write(tmp_path / "cnnc.toml", text)
    spec = _write(tmp_path / "net.cnn", ALEXNET_224)
    code, found, err = _check([str(spec)], capsys)
    assert code == 2 and problem in err and str(tmp_path / "cnnc.toml") in err
    with pytest.raises(ConfigError):
        load_config(tmp_path / "cnnc.toml")


def test_unknown_codes_on_the_command_line_stop_with_exit_code_2(tmp_path, capsys):
    spec = _write(tmp_path / "net.cnn", ALEXNET_224)
    code, _, err = _check([str(spec), "--select", "W201,W2O1"], capsys)
    assert code == 2 and "unknown rule `W2O1` in --select (did you mean `W201`?)" in err


def test_explicit_config_replaces_discovery(tmp_path, capsys):
    _write(tmp_path / "cnnc.toml", "ignore = [\"ALL\"]\n")
    explicit = _write(tmp_path / "ci" / "strict.toml", "select = [\"W201\"]\n")
    spec = _write(tmp_path / "net.cnn", ALEXNET_224)
    assert _check([str(spec)], capsys)[1] == []
    assert [d["code"] for d in _check([str(spec), "--config", str(explicit)], capsys)[1]] == ["W201"]

