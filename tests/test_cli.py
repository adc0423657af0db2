"""`cnnc check`: exit codes, human diagnostics, the JSON report against its schema, options, stdin."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest
from rich.console import Console

from cnnc.cli import main

jsonschema = pytest.importorskip("jsonschema")

TESTS = Path(__file__).resolve().parent
SCHEMA = json.loads((TESTS / "schemas" / "report.schema.json").read_text(encoding="utf-8"))
VGG16 = TESTS / "fixtures" / "issue_vgg16.cnn"
SAMPLE = TESTS / "fixtures" / "issue_sample.cnn"

TINY = "input 4x4x1\nconv 2 3 pad=1\nbatchnorm\nrelu\nflatten\nfc 3\n"
# params 123 (conv 20, batchnorm 4, fc 99), buffers 4, stored elements 115, live peak 64 (see test_analyze)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cnnc(capsys, monkeypatch):
    """Run ``cnnc ARGS`` in-process; stdout gathers the console and plain prints (JSON, --version)."""
    def run(*argv: str, stdin: bytes | None = None) -> Result:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), Console(file=out, width=200, color_system=None),
                    Console(file=err, width=200, color_system=None))
        captured = capsys.readouterr()
        return Result(code, out.getvalue() + captured.out, err.getvalue() + captured.err)
    return run


@pytest.fixture
def spec(tmp_path):
    """Write a spec file and return its path as a string."""
    def write(text: str, name: str = "net.cnn") -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return str(path)
    return write


def validate(document) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(document)


def errors(document) -> list[dict]:
    """The error diagnostics of a document (`check` also reports lint warnings and notes)."""
    return [d for d in document["diagnostics"] if d["severity"] == "error"]


def test_the_schema_is_valid_and_strict_enough():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        validate({"network": "n"})  # missing fields
    with pytest.raises(jsonschema.ValidationError):
        validate({"file": "f", "network": "n", "input": [0], "output": None, "layers": [], "totals": None,
                  "assumptions": None, "diagnostics": []})  # a size of 0


# Exit codes -----------------------------------------------------------------------------------

def test_exit_0_for_a_good_spec(cnnc):
    result = cnnc("check", str(VGG16))
    assert result.code == 0, result.err
    assert "224x224x3 -> 1000" in result.out
    assert "138,357,544" in result.out  # VGG-16's parameters
    assert "error" not in result.out and result.err == ""


def test_exit_1_for_a_spec_with_errors(cnnc, spec):
    assert cnnc("check", spec("input 4x4x1\nconv 8 5\n")).code == 1
    assert cnnc("check", spec("input 4x4x1\nconv 8 @\n")).code == 1
    assert cnnc("check", str(SAMPLE)).code == 1  # line 24 uses `c` outside a block


def test_exit_2_for_a_missing_file(cnnc, spec):
    result = cnnc("check", "/nonexistent/net.cnn")
    assert result.code == 2
    assert "cannot read /nonexistent/net.cnn" in result.err
    assert "Traceback" not in result.err + result.out
    # the other files are still checked, and the exit code says cnnc could not do all of its job
    result = cnnc("check", spec(TINY), "/nonexistent/net.cnn")
    assert result.code == 2
    assert "4x4x1 -> 3" in result.out


def test_exit_2_for_an_unreadable_path(cnnc, spec, tmp_path):
    inside_a_file = spec(TINY) + "/other.cnn"
    result = cnnc("check", inside_a_file)
    assert result.code == 2 and f"cannot read {inside_a_file}" in result.err
    (tmp_path / "dangling.cnn").symlink_to(tmp_path / "nowhere.cnn")
    assert cnnc("check", str(tmp_path / "dangling.cnn")).code == 2


def test_a_directory_without_specs(cnnc, tmp_path):
    empty = tmp_path / "dir.cnn"  # a directory, even one named like a spec, means the .cnn files in it
    empty.mkdir()
    assert cnnc("check", str(empty), "--format", "json").json() == []


@pytest.mark.parametrize("argv", [
    ["check", "--format", "xml", "x.cnn"],
    ["check", "--batch-size", "0", "x.cnn"],
    ["check", "--batch-size", "many", "x.cnn"],
    ["check", "--batch-size", "-3", "x.cnn"],
    ["check", "--dtype", "float8", "x.cnn"],
    ["check", "--optimizer", "lbfgs", "x.cnn"],
    ["check", "--input", "3xx", "x.cnn"],
    ["check", "--input", "32x32x", "x.cnn"],
    ["check", "--input", "0x32x3", "x.cnn"],
    ["check", "--input", "32 32 3", "x.cnn"],
    ["check", "--input", "", "x.cnn"],
    ["check", "--no-such-option", "x.cnn"],
    ["check"],
    ["frobnicate", "x.cnn"],
    [],
])
def test_exit_2_for_bad_usage(cnnc, argv):
    result = cnnc(*argv)
    assert result.code == 2
    assert "usage" in result.err.lower()
    assert "Traceback" not in result.err


def test_input_garbage_is_explained(cnnc, spec):
    result = cnnc("check", "--input", "32x32x3x", spec(TINY))
    assert "expected sizes like 32x32x3" in result.err


def test_help_and_version(cnnc):
    result = cnnc("--help")
    assert result.code == 0 and "check" in result.out and "usage" in result.out.lower()
    result = cnnc("check", "--help")
    assert result.code == 0 and "--format" in result.out and "--input" in result.out
    result = cnnc("--version")
    assert result.code == 0 and result.out.strip() == f"cnnc {version('cnnc')}"


# Human output ---------------------------------------------------------------------------------

def caret_column(out: str, source_line: str) -> tuple[int, int]:
    """(column under the first caret, caret count) for the snippet that shows ``source_line``."""
    lines = out.splitlines()
    index = next(i for i, line in enumerate(lines) if line.endswith("| " + source_line))
    shown, carets = lines[index], lines[index + 1]
    gutter = shown.index("| ") + 2
    assert carets[:gutter].strip() == "|"
    marks = carets[gutter:]
    assert set(marks.strip()) == {"^"}
    return len(marks) - len(marks.lstrip()) + 1, len(marks.strip())


def test_human_diagnostic_has_location_source_caret_and_help(cnnc, spec):
    path = spec("input 8x8x3\nconv 8 3x3 strid=2\n")
    result = cnnc("check", path)
    assert result.code == 1
    assert f"{path}:2:12: error[E002]" in result.out
    assert "`conv` has no option `strid`" in result.out
    assert caret_column(result.out, "conv 8 3x3 strid=2") == (12, 5)
    assert "help: did you mean `stride`?" in result.out
    assert "Found 1 error." in result.out


def test_human_syntax_error_caret(cnnc, spec):
    path = spec("input 8x8x3\n\nconv 64 3x3 @\n")
    result = cnnc("check", path)
    assert f"{path}:3:13: error[E001]" in result.out
    assert caret_column(result.out, "conv 64 3x3 @") == (13, 1)
    assert "help:" in result.out


def test_caret_is_aligned_under_tabs(cnnc, spec):
    result = cnnc("check", spec("input 8x8x3\n\tconv 8 0\n"))
    assert ":2:9: error[E003]" in result.out
    column, width = caret_column(result.out, "    conv 8 0")  # a tab shows as four spaces
    assert "    conv 8 0"[column - 1] == "0" and width == 1


def test_caret_with_a_byte_order_mark_and_crlf(cnnc, tmp_path):
    path = tmp_path / "bom.cnn"
    path.write_bytes(b"\xef\xbb\xbfinput 8x8x3 @\r\n")
    result = cnnc("check", str(path))
    assert ":1:13: error[E001]" in result.out
    assert caret_column(result.out, "input 8x8x3 @") == (13, 1)


def test_errors_in_blocks_show_the_call_site(cnnc, spec):
    path = spec("input 8x8x3\ndef b(c) {\n  conv c 9\n}\nb 4\n")
    result = cnnc("check", path)
    assert f"{path}:3:3: error[E101]" in result.out
    assert "floor((8 - 9 + 2*0) / 1) + 1 = 0" in result.out
    assert f"{path}:5:1: note: in block `b`, called here" in result.out


def test_every_error_of_a_file_is_shown(cnnc, spec):
    result = cnnc("check", str(SAMPLE))
    assert result.out.count("error[E002] unknown name `c`") == 2
    assert "Found 2 errors." in result.out


def test_quiet_prints_only_diagnostics(cnnc, spec):
    result = cnnc("check", "-q", spec(TINY))
    assert result.code == 0
    assert "Parameters" not in result.out and "conv1 " not in result.out and "error" not in result.out
    result = cnnc("check", "-q", spec("input 4x4x1\nconv 8 5\n"))
    assert "error[E101]" in result.out and "Parameters" not in result.out


def test_human_report_figures(cnnc, spec):
    result = cnnc("check", spec(TINY))
    assert "4x4x1 -> 3" in result.out
    for name in ("conv1", "batchnorm1", "relu1", "flatten1", "fc1"):
        assert name in result.out
    assert "123" in result.out  # parameters


def test_several_files_in_human_output(cnnc, spec):
    good, bad = spec(TINY, "a.cnn"), spec("input 4x4x1\nconv 8 5\n", "b.cnn")
    result = cnnc("check", good, bad)
    assert result.code == 1
    assert f"{bad}:2:1: error[E101]" in result.out and "4x4x1 -> 3" in result.out


# JSON ---------------------------------------------------------------------------------------------

def test_json_single_file_is_one_document(cnnc):
    result = cnnc("check", str(VGG16), "--format", "json")
    assert result.code == 0
    document = result.json()
    validate(document)
    assert isinstance(document, dict)
    assert document["network"] == "issue_vgg16"
    assert document["input"] == [224, 224, 3]
    assert document["output"] == [1000]
    assert errors(document) == []
    assert document["totals"]["params"] == 138_357_544
    assert document["totals"]["flops"] == 2 * document["totals"]["macs"]
    names = [layer["name"] for layer in document["layers"]]
    assert names[:3] == ["conv1", "relu1", "conv2"] and names[-1] == "softmax1"
    pool = document["layers"][names.index("maxpool5")]
    assert pool["output"] == [7, 7, 512]
    assert pool["receptive_field"] == [212, 212]
    assert pool["line"] == 12 and pool["kind"] == "maxpool"
    conv = document["layers"][0]
    assert (conv["params"], conv["macs"], conv["activations"]) == (1792, 224 * 224 * 64 * 27, 224 * 224 * 64)
    assert "\x1b" not in result.out


def test_json_output_of_a_volume(cnnc, spec):
    document = cnnc("check", spec("input 14x14x512\nmaxpool 2\n"), "--format", "json").json()
    assert document["output"] == [7, 7, 512]


def test_json_flattens_blocks_in_execution_order(cnnc, spec):
    path = spec("input 8x8x4\ndef unit() {\n  residual { conv 4 3 pad=1 }\n}\nunit\nconcat {\n"
                "  branch { conv 2 1 }\n  branch { relu }\n}\n")
    document = cnnc("check", path, "--format", "json").json()
    validate(document)
    assert [(x["name"], x["kind"], x["line"]) for x in document["layers"]] == [
        ("conv1", "conv", 3), ("residual1", "residual", 3), ("conv2", "conv", 7), ("relu1", "relu", 8),
        ("concat1", "concat", 6)]
    assert document["layers"][0]["called_from"] == [{"block": "unit", "line": 5, "column": 1}]
    assert document["output"] == [8, 8, 6]


def test_json_and_text_show_add_and_multiply_rows(cnnc, spec):
    path = spec("input 8x8x4\nadd {\n  branch { conv 4 1 }\n  branch { }\n}\n"
                "multiply {\n  branch { }\n  branch { globalavgpool; sigmoid }\n}\n")
    document = cnnc("check", path, "--format", "json").json()
    validate(document)
    assert [(x["name"], x["kind"], x["line"], x["output"]) for x in document["layers"]] == [
        ("conv1", "conv", 3, [8, 8, 4]), ("add1", "add", 2, [8, 8, 4]), ("globalavgpool1", "globalavgpool", 8, [1, 1, 4]),
        ("sigmoid1", "sigmoid", 8, [1, 1, 4]), ("multiply1", "multiply", 6, [8, 8, 4])]
    text = cnnc("check", path).out
    assert "add join 2 branches" in text and "multiply join 2 branches" in text


def test_json_with_errors(cnnc, spec):
    result = cnnc("check", spec("input 8x8x3\ndropout 1.5\n"), "--format", "json")
    assert result.code == 1
    document = result.json()
    validate(document)
    (diagnostic,) = document["diagnostics"]
    assert {k: diagnostic[k] for k in ("code", "severity", "line", "column")} == {
        "code": "E003", "severity": "error", "line": 2, "column": 9}
    assert diagnostic["message"] == "expected a drop probability in [0, 1), got 1.5"
    assert "help" in diagnostic
    assert document["layers"] == [] and document["totals"] is None


def test_json_shape_error_keeps_the_layers_before_it(cnnc, spec):
    document = cnnc("check", spec("input 4x4x1\nconv 2 3\nconv 2 3\n"), "--format", "json").json()
    validate(document)
    assert [x["name"] for x in document["layers"]] == ["conv1"]
    assert document["diagnostics"][0]["code"] == "E101"
    assert document["diagnostics"][0]["notes"] == []


def test_json_syntax_error_document(cnnc, spec):
    document = cnnc("check", spec("input 8x8x3\nconv 64 3x3 @\n", "broken.cnn"), "--format", "json").json()
    validate(document)
    assert document["network"] == "broken"
    assert document["input"] is None and document["output"] is None
    assert [(d["code"], d["line"], d["column"]) for d in document["diagnostics"]] == [("E001", 2, 13)]


def test_json_several_files_is_a_list(cnnc, spec):
    first, second = spec(TINY, "a.cnn"), spec("input 4x4x1\nconv 8 5\n", "b.cnn")
    result = cnnc("check", first, second, "--format", "json")
    assert result.code == 1
    documents = result.json()
    validate(documents)
    assert isinstance(documents, list)
    assert [d["file"] for d in documents] == [first, second]
    assert [len(errors(d)) for d in documents] == [0, 1]


def test_a_directory_expands_to_its_cnn_files(cnnc, spec, tmp_path):
    spec(TINY, "b.cnn")
    spec(TINY, "a.cnn")
    spec(TINY, "nested/c.cnn")
    spec("not a spec", "notes.txt")
    result = cnnc("check", str(tmp_path), "--format", "json")
    assert result.code == 0
    documents = result.json()
    validate(documents)
    assert [Path(d["file"]).relative_to(tmp_path).as_posix() for d in documents] == ["a.cnn", "b.cnn", "nested/c.cnn"]


def test_a_directory_with_a_bad_spec_exits_1(cnnc, spec, tmp_path):
    spec(TINY, "a.cnn")
    spec("input 8x8x3\nrelu }\n", "b.cnn")
    assert cnnc("check", str(tmp_path)).code == 1


# Options change the figures ----------------------------------------------------------------------

def totals(cnnc, *argv: str) -> tuple[dict, dict]:
    result = cnnc("check", *argv, "--format", "json")
    assert result.code == 0, result.out
    document = result.json()
    validate(document)
    return document["totals"], document["assumptions"]


def test_defaults(cnnc, spec):
    figures, assumptions = totals(cnnc, spec(TINY))
    assert assumptions == {"batch": 32, "dtype": "float32", "bytes_per_value": 4, "optimizer": "momentum",
                           "optimizer_states_per_param": 1, "inplace_activations": False}
    assert figures == {"params": 123, "buffers": 4, "macs": 16 * 2 * 9 + 32 * 3, "flops": 2 * (288 + 96),
                       "activations": 131, "weights_bytes": 127 * 4, "forward_bytes_per_image": 115 * 4,
                       "inference_bytes_per_image": (127 + 64) * 4,
                       "training_bytes": 32 * 115 * 2 * 4 + 123 * 4 * 3 + 4 * 4}


@pytest.mark.parametrize("dtype, width", [("float32", 4), ("float16", 2), ("bfloat16", 2), ("float64", 8)])
def test_dtype(cnnc, spec, dtype, width):
    figures, assumptions = totals(cnnc, spec(TINY), "--dtype", dtype)
    assert assumptions["bytes_per_value"] == width
    assert figures["weights_bytes"] == 127 * width
    assert figures["forward_bytes_per_image"] == 115 * width
    assert figures["training_bytes"] == 32 * 115 * 2 * width + 123 * width * 3 + 4 * width
    assert figures["params"] == 123  # counts do not depend on the dtype


def test_batch_and_optimizer(cnnc, spec):
    figures, assumptions = totals(cnnc, spec(TINY), "--batch-size", "7", "--optimizer", "adam")
    assert (assumptions["batch"], assumptions["optimizer"]) == (7, "adam")
    assert figures["training_bytes"] == 7 * 115 * 2 * 4 + 123 * 4 * 4 + 4 * 4
    assert figures["forward_bytes_per_image"] == 115 * 4  # per image: not scaled by the batch


def test_the_spec_train_section_and_the_command_line(cnnc, spec):
    path = spec(TINY + "train { optimizer=sgd batch=16 lr=0.1 }\n")
    figures, assumptions = totals(cnnc, path)
    assert (assumptions["batch"], assumptions["optimizer"]) == (16, "sgd")
    assert figures["training_bytes"] == 16 * 115 * 2 * 4 + 123 * 4 * 2 + 4 * 4
    figures, assumptions = totals(cnnc, path, "--batch-size", "2")  # the command line wins
    assert (assumptions["batch"], assumptions["optimizer"]) == (2, "sgd")


def test_input_override(cnnc, spec):
    result = cnnc("check", spec(TINY), "--input", "8x8x1", "--format", "json")
    document = result.json()
    assert document["input"] == [8, 8, 1]
    assert document["layers"][0]["output"] == [8, 8, 2]
    assert document["totals"]["params"] == 20 + 4 + (128 * 3 + 3)  # fc now sees 8*8*2 features


def test_input_override_supplies_a_missing_input(cnnc, spec):
    path = spec("conv 8 3\nfc 2\n")
    assert cnnc("check", path).code == 1  # E105
    document = cnnc("check", path, "--input", "5x5x3", "--format", "json").json()
    assert document["output"] == [2] and errors(document) == []
    document = cnnc("check", path, "--input", "5x5x3x2", "--format", "json").json()  # 3-D: a 3 is 3x3x3
    assert document["layers"][0]["output"] == [3, 3, 1, 8]
    document = cnnc("check", path, "--input", "75", "--format", "json").json()
    assert [d["code"] for d in errors(document)] == ["E103"]  # a conv on a flat vector


def test_input_override_changes_the_rank(cnnc, spec):
    document = cnnc("check", spec("input 8x8x3\nconv 4 3\n"), "--input", "10x3", "--format", "json").json()
    assert document["output"] == [8, 4]
    assert document["layers"][0]["receptive_field"] == [3]


# stdin ---------------------------------------------------------------------------------------------

def test_stdin(cnnc):
    result = cnnc("check", "-", "--format", "json", stdin=TINY.encode())
    assert result.code == 0
    document = result.json()
    validate(document)
    assert (document["file"], document["network"], document["output"]) == ("<stdin>", "network", [3])


def test_stdin_with_errors(cnnc):
    result = cnnc("check", "-", stdin=b"input 8x8x3\nconv 8 3 strid=1\n")
    assert result.code == 1
    assert "<stdin>:2:10: error[E002]" in result.out


def test_stdin_and_a_file(cnnc, spec):
    result = cnnc("check", spec(TINY), "-", "--format", "json", stdin=b"network piped\ninput 3\nfc 1\n")
    documents = result.json()
    assert [d["network"] for d in documents] == ["net", "piped"]
