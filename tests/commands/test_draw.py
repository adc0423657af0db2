"""`cnnc draw`: the file it writes, its exit codes and messages."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from command_runner import run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SVG = "{http://www.w3.org/2000/svg}"


def test_draws_an_example(tmp_path):
    out = tmp_path / "resnet18.svg"
    code, stdout, stderr = run("draw", str(EXAMPLES / "resnet18.cnn"), "-o", str(out))
    assert (code, stderr) == (0, "")
    assert stdout == f"resnet18: wrote {out} (graph)\n"
    root = ET.parse(out).getroot()
    assert root.tag == f"{SVG}svg"
    assert root.find(f".//{SVG}g[@id='repeat.1']") is not None


def test_expand(tmp_path):
    collapsed, expanded = tmp_path / "c.svg", tmp_path / "e.svg"
    assert run("draw", str(EXAMPLES / "resnet18.cnn"), "-o", str(collapsed))[0] == 0
    assert run("draw", str(EXAMPLES / "resnet18.cnn"), "-o", str(expanded), "--expand")[0] == 0
    count = lambda path: len(ET.parse(path).getroot().findall(f".//{SVG}rect[@class='box']"))
    assert (count(collapsed), count(expanded)) == (16, 71)  # 14 + input and output; 69 report rows + 2


def test_warnings_are_drawn_and_counted(tmp_path):
    spec = tmp_path / "net.cnn"
    spec.write_text("input 32x32x3\nconv 8 3x3 stride=4\nrelu\nfc 10\n")
    code, stdout, _ = run("draw", str(spec), "-o", str(tmp_path / "net.svg"))
    assert code == 0 and stdout.startswith("net: wrote") and "warnings marked)" in stdout
    flagged = [g for g in ET.parse(tmp_path / "net.svg").getroot().iter(f"{SVG}g")
               if "flagged" in g.get("class", "").split()]
    assert [g.get("id") for g in flagged] == ["conv1", "fc1"]


def test_a_spec_with_errors_prints_its_diagnostics_and_writes_nothing(tmp_path):
    spec = tmp_path / "bad.cnn"
    spec.write_text("input 5x5x64\nconv 128 7x7\n")
    code, stdout, stderr = run("draw", str(spec), "-o", str(tmp_path / "bad.svg"))
    assert code == 1 and stderr == ""
    assert f"{spec}:2:1: error[E101] `conv1` output size is not positive" in stdout
    assert stdout.endswith("Found 1 error.\n")
    assert not (tmp_path / "bad.svg").exists()
    spec.write_text("input 5x5x64\nconv 128 7x7 strude=2\n")
    code, stdout, _ = run("draw", str(spec), "-o", str(tmp_path / "bad.svg"))
    assert code == 1 and "did you mean `stride`?" in stdout


@pytest.mark.parametrize("target, message", [
    ("missing/out.svg", "cnnc: error: cannot write {target}: no folder missing\n"),
    (".", "cnnc: error: cannot write {target}: it is a folder\n"),
])
def test_an_output_that_cannot_be_written_is_one_line_and_exit_2(tmp_path, target, message):
    code, stdout, stderr = run("draw", str(EXAMPLES / "lenet5.cnn"), "-o", target, cwd=tmp_path)
    assert (code, stdout, stderr) == (2, "", message.format(target=target))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a folder the user cannot write")
def test_a_read_only_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, stdout, stderr = run("draw", str(EXAMPLES / "lenet5.cnn"), "-o", str(folder / "x.svg"))
    finally:
        folder.chmod(0o700)
    assert (code, stdout) == (2, "")
    assert stderr == f"cnnc: error: cannot write {folder / 'x.svg'}: Permission denied\n"


def test_missing_spec_and_bad_style(tmp_path):
    code, _, stderr = run("draw", str(tmp_path / "none.cnn"), "-o", str(tmp_path / "x.svg"))
    assert code == 2 and stderr == f"cnnc: error: cannot read {tmp_path / 'none.cnn'}: No such file or directory\n"
    code, _, stderr = run("draw", str(EXAMPLES / "lenet5.cnn"), "-o", str(tmp_path / "x.svg"), "--style", "pie")
    assert code == 2 and "invalid choice: 'pie'" in stderr


def test_volumes(tmp_path):
    out = tmp_path / "alexnet.svg"
    code, stdout, _ = run("draw", str(EXAMPLES / "alexnet.cnn"), "-o", str(out), "--style", "volumes")
    assert code == 0 and stdout.startswith(f"alexnet: wrote {out} (volumes")
    ids = [g.get("id") for g in ET.parse(out).getroot().iter(f"{SVG}g") if g.get("class", "").startswith("volume")]
    assert ids[:3] == ["input", "conv1", "maxpool1"] and ids[-1] == "fc3"
