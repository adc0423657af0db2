"""What `cnnc import` cannot say: one line naming the node (its name, op type and position), exit 1
and nothing written; `--partial` writes the part before it, which checks. Damaged files and a
missing onnx package are refused in one line, never with a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx")
import onnx_graphs  # noqa: E402
from command_runner import run  # noqa: E402

LENET = Path(__file__).resolve().parents[2] / "examples" / "lenet5.cnn"


def refused(model: Path, tmp_path: Path) -> str:
    """The one line of stderr for a model that cannot be imported; no spec written."""
    out = tmp_path / "out.cnn"
    code, stdout, stderr = run("import", str(model), "-o", str(out))
    assert (code, stdout, out.exists()) == (1, "", False)
    lines = stderr.splitlines()
    assert len(lines) == 1 or len(lines) == 2 and lines[1].startswith("  help: ")
    assert "Traceback" not in stderr
    return lines[0]


def test_an_unsupported_op_is_named_with_its_type_and_position(tmp_path):
    model = onnx_graphs.unsupported_op(tmp_path / "cos.onnx")
    assert refused(model, tmp_path) == ("cnnc: error: node 'cos' (Cos, #2): the Cos operator has no layer in the "
                                        "language")


def test_partial_writes_the_layers_before_the_unsupported_op_and_says_where_it_stops(tmp_path):
    model = onnx_graphs.unsupported_op(tmp_path / "cos.onnx")
    out = tmp_path / "cos.cnn"
    code, _, stderr = run("import", str(model), "-o", str(out), "--partial")
    assert code == 1 and "stopped early" in stderr
    text = out.read_text()
    assert text.splitlines()[1:] == [
        "network cos", "input 4x4x2", "", "conv 3 1 bias=false",
        "# cnnc import stopped here (--partial): node 'cos' (Cos, #2): the Cos operator has no layer in the language"]
    assert run("check", str(out))[0] == 0


def test_a_graph_that_is_not_series_parallel_names_the_merge(tmp_path):
    model = onnx_graphs.bridge(tmp_path / "bridge.onnx")
    assert refused(model, tmp_path) == ("cnnc: error: node 'out' (Add, #5): the graph is not series-parallel there "
                                        "(a value forks and its paths do not join at one merge)")


def test_partial_keeps_the_series_parallel_prefix(tmp_path):
    out = tmp_path / "bridge.cnn"
    code, _, _ = run("import", str(onnx_graphs.bridge(tmp_path / "bridge.onnx")), "-o", str(out), "--partial")
    assert code == 1
    statements = [line for line in out.read_text().splitlines()[4:] if not line.startswith("#")]
    assert statements == ["relu"]
    assert run("check", str(out))[0] == 0


def test_partial_stops_before_a_block_with_an_unsupported_path(tmp_path):
    out = tmp_path / "branch.cnn"
    model = onnx_graphs.unsupported_in_a_branch(tmp_path / "branch.onnx")
    assert run("import", str(model), "-o", str(out), "--partial")[0] == 1
    assert out.read_text().splitlines()[4:] == [
        "relu", "# cnnc import stopped here (--partial): node 'cos' (Cos, #3): the Cos operator has no layer in the "
        "language"]


def test_dynamic_input_sizes_are_refused(tmp_path):
    message = refused(onnx_graphs.dynamic(tmp_path / "dynamic.onnx"), tmp_path)
    assert message.startswith("cnnc: error: ") and "input 'input' has dynamic or unknown dimensions (batch, 3, "\
        "height, width); only the batch may be dynamic" in message


@pytest.mark.parametrize("damage", ["empty", "text", "truncated", "random"])
def test_a_damaged_file_is_refused_in_one_line(damage, tmp_path):
    good = tmp_path / "lenet5.onnx"
    assert run("compile", str(LENET), "--to", "onnx", "-o", str(good))[0] == 0
    data = good.read_bytes()
    broken = {"empty": b"", "text": b"conv 8 3\nrelu\n", "truncated": data[:len(data) // 2],
              "random": bytes(range(256)) * 8}[damage]
    path = tmp_path / "broken.onnx"
    path.write_bytes(broken)
    message = refused(path, tmp_path)
    assert message.startswith(f"cnnc: error: {path}: not a ") and "ONNX model" in message


def test_a_missing_file_is_exit_2(tmp_path):
    code, _, stderr = run("import", str(tmp_path / "none.onnx"))
    assert (code, stderr.strip()) == (2, f"cnnc: error: cannot read {tmp_path / 'none.onnx'}: no such file")


MISSING_ONNX = """
import sys
sys.modules["onnx"] = None  # as if the package were not installed
from cnnc.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_missing_onnx_package_names_the_extra(tmp_path):
    result = subprocess.run([sys.executable, "-c", MISSING_ONNX, "import", "model.onnx", "-o", str(tmp_path / "m.cnn")],
                            check=False, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("cnnc: error: `cnnc import` needs the `onnx` package, which is not installed\n"
                             "  help: pip install 'cnnc[onnx]'\n")


def test_a_max_pool_window_of_padding_alone_is_the_models_not_cnncs(tmp_path):
    """Refused at the node, exit 1, where the written spec used to fail its own check as "a bug in cnnc import"."""
    model = onnx_graphs.pool_of_padding(tmp_path / "pool.onnx")
    assert refused(model, tmp_path) == ("cnnc: error: node 'pool' (MaxPool, #1): a MaxPool window that reads only "
                                        "padding, with no value to take the maximum of (the language refuses it: "
                                        "E106)")
