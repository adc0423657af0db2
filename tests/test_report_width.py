"""`cnnc check` on a terminal: the report fits its width; piped or --wide, it is whole and exact."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

import cnnc
from cnnc.cli import main
from cnnc.render.layers import (
    HIDDEN_FIRST,
    fitted_layer_table,
    fold_layer,
    fold_settings,
)
from cnnc.render.text import render_report
from cnnc.render.units import rounded

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.cnn"))
RESNET18 = next(path for path in EXAMPLES if path.name == "resnet18.cnn")
VGG16 = next(path for path in EXAMPLES if path.name == "vgg16.cnn")
DIAGNOSTIC = re.compile(r"^\S+\.cnn:\d+:\d+: (error|warning|info)\[")


def check_output(*argv: str, width: int = 80, terminal: bool = True) -> tuple[int, str]:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=terminal, color_system=None)
    code = main(["check", *argv], console, Console(file=io.StringIO(), width=width))
    return code, out.getvalue()


def report_lines(output: str) -> list[str]:
    """The report's lines: everything before the first diagnostic (diagnostics are one line each, as ruff's)."""
    lines = output.splitlines()
    end = next((i for i, line in enumerate(lines) if DIAGNOSTIC.match(line)), len(lines))
    return lines[:end]


def report_text(path: Path, width: int | None) -> str:
    return "".join(part.plain for part in render_report(cnnc.load(path).report, width))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_every_example_fits_80_columns_on_a_terminal(example):
    code, output = check_output(str(example), width=80)
    lines = report_lines(output)
    assert code == 0 and len(lines) > 10
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    assert not any(line.startswith("Wider than") for line in lines)
    assert max(map(len, report_text(example, None).splitlines())) > 80  # every example needed fitting


@pytest.mark.parametrize("example", [RESNET18, VGG16], ids=lambda path: path.stem)
@pytest.mark.parametrize("width", [80, 100, 120])
def test_resnet18_and_vgg16_fit_80_100_and_120_columns(example, width):
    text = report_text(example, width)
    assert max(map(len, text.splitlines())) <= width
    for layer in cnnc.load(example).report.layers:  # no row is lost
        assert re.search(rf"\b{layer.name}\b", text)


@pytest.mark.parametrize("example, width, header, note", [
    (VGG16, 80, "Line  Layer           Settings                  Output  Params    MACs       RF",
     "Hidden to fit 80 columns: Activations; --wide shows all"),
    (VGG16, 100, "Line  Layer           Settings                  Output  Params    MACs  Activations       RF",
     "Counts rounded to fit 100 columns; --wide shows them exact"),
    (RESNET18, 80, "Layer                       Settings                     Output  Params    MACs",
     "Hidden to fit 80 columns: Activations, RF, Line; --wide shows all"),
    (RESNET18, 100, None, "Hidden to fit 100 columns: Activations; --wide shows all"),
    (RESNET18, 120, None, "Counts rounded to fit 120 columns; --wide shows them exact"),
])
def test_what_is_given_up_to_fit_is_said_under_the_table(example, width, header, note):
    lines = report_text(example, width).splitlines()
    if header:
        assert lines[1] == header
    notes = [line for line in lines if "--wide" in line]
    assert notes == [note]
    assert lines[lines.index(note) + 1] == ""  # the line under the table, before the totals


def test_counts_are_rounded_on_a_terminal_and_exact_when_piped():
    fitted = report_text(VGG16, 80)
    whole = report_text(VGG16, None)
    fc1 = [line for line in fitted.splitlines() if " fc1 " in line]
    assert fc1 and "102.8M" in fc1[0] and "102,764,544" not in fitted.split("\nParameters")[0]
    assert re.search(r"fc1 +fc 4096 +4096 +102,764,544 +102,760,448 +4,096 +404x404", whole)
    assert "Parameters           138,357,544  138.4M" in fitted  # the totals stay exact
    _, piped = check_output(str(VGG16), width=80, terminal=False)
    assert report_lines(piped) == whole.splitlines()
    assert max(map(len, report_lines(piped))) == 129  # never wrapped to the console's 80 columns
    _, wide = check_output(str(VGG16), "--wide", width=80, terminal=True)
    assert report_lines(wide) == whole.splitlines()


def test_the_terminal_width_comes_from_columns(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: stdout counts as a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["check", str(RESNET18)]) == 0
    lines = report_lines(capsys.readouterr().out)
    assert max(map(len, lines)) == 100
    assert "Hidden to fit 100 columns: Activations; --wide shows all" in lines


def test_too_narrow_a_terminal_is_said_and_nothing_is_lost():
    text = report_text(RESNET18, 40)
    assert f"Wider than 40 columns even with {', '.join(HIDDEN_FIRST)} hidden; --wide shows all" in " ".join(
        text.split())
    assert "conv 64 7x7," in text and "bias" in text


@pytest.mark.parametrize("width", range(20, 141, 6))
def test_any_width_fits_or_says_it_does_not(width):
    report = cnnc.load(RESNET18).report
    fitted = fitted_layer_table(report, width)
    longest = max(map(len, fitted.table.plain.splitlines()))
    assert longest <= width or fitted.note.startswith("Wider than")


@pytest.mark.parametrize("value, text", [
    (0, "0"), (999, "999"), (1000, "1.0K"), (9408, "9.4K"), (999_949, "999.9K"), (999_950, "1.0M"),
    (102_764_544, "102.8M"), (1_849_688_064, "1.8G"), (3 * 10**12, "3.0T"), (999_950 * 10**9, "1.0e15"),
    (996 * 10**13, "1.0e16"), (10**100, "1.0e100"), (-12_345, "-12.3K"),
])
def test_rounded_counts_keep_one_decimal(value, text):
    assert rounded(value) == text


def test_settings_fold_at_commas_then_between_words():
    assert fold_settings("conv 128 3x3, stride 2, pad 1, no bias", 20) == "conv 128 3x3,\nstride 2, pad 1,\nno bias"
    assert fold_settings("conv 128 3x3, stride 2", 40) == "conv 128 3x3, stride 2"
    assert fold_settings("residual add projection shortcut", 24) == "residual add projection\nshortcut"
    assert fold_layer("  conv6 (basic_down)", 10) == "  conv6\n  (basic_down)"
    assert fold_layer("  conv6 (basic_down)", 30) == "  conv6 (basic_down)"


def test_the_docs_show_what_the_command_beside_it_prints():
    page = (Path(__file__).resolve().parent.parent / "docs" / "ci.md").read_text(encoding="utf-8")
    block = re.search(r"\$ COLUMNS=80 TTY_COMPATIBLE=1 NO_COLOR=1 cnnc check examples/vgg16\.cnn "
                      r"\| sed -n '1,5p;/Hidden/p'\n(.*?)\n```", page, re.DOTALL)
    _, output = check_output(str(VGG16), width=80)
    lines = output.splitlines()
    assert block.group(1).splitlines() == lines[:5] + [line for line in lines if "Hidden" in line]
