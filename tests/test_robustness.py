"""Never a traceback: odd bytes, deep nesting, absurd sizes, huge repeats, long specs, and fuzzing."""

from __future__ import annotations

import io
import json
import random
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from cnnc.api import check
from cnnc.cli import main
from cnnc.source import Source

DEEP = 10_000


@contextmanager
def memory_guard(extra: int = 2 * 1024**3):
    """Let the block allocate at most ``extra`` more bytes of address space (Linux), so that a bug that
    tries to hold an absurd size in memory fails this test with a MemoryError instead of starving the
    machine."""
    try:
        import resource
        status = Path("/proc/self/status").read_text()
    except (ImportError, OSError):
        yield
        return
    in_use = next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = in_use + extra if hard == resource.RLIM_INFINITY else min(in_use + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run(path: Path, *options: str) -> tuple[int, str, str]:
    """``cnnc check PATH OPTIONS`` in-process, with its outputs (JSON included)."""
    out, err = io.StringIO(), io.StringIO()
    printed = io.StringIO()
    with mock.patch.object(sys, "stdout", printed), memory_guard():
        code = main(["check", str(path), *options], Console(file=out, width=160, color_system=None),
                    Console(file=err, width=160, color_system=None))
    return code, out.getvalue() + printed.getvalue(), err.getvalue()


@pytest.fixture
def checked(tmp_path):
    """Check ``content`` (text or bytes) in both formats; return the exit code and the JSON document,
    after making sure neither format printed a traceback or an internal error."""
    def check_both(content: str | bytes, text: bool = True) -> tuple[int, dict]:
        path = tmp_path / "spec.cnn"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        json_code, json_out, json_err = run(path, "--format", "json")
        outputs = [json_out, json_err]
        if text:
            text_code, text_out, text_err = run(path)
            outputs += [text_out, text_err]
            assert text_code == json_code
        for output in outputs:
            assert "Traceback" not in output and "internal error" not in output, output[-2000:]
        return json_code, json.loads(json_out)
    return check_both


def codes(document: dict) -> list[str]:
    return [d["code"] for d in document["diagnostics"] if d["severity"] == "error"]


# Odd files ------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", ["", "\n", "# only\n# comments\n", "   \t\n;;\n", "\ufeff", "\r\n\r\n"])
def test_empty_files_have_no_input(checked, content):
    code, document = checked(content)
    assert code == 1 and codes(document) == ["E105"]


@pytest.mark.parametrize("content, line, column", [
    (b"\x00", 1, 1),
    (b"input 8x8x3\nconv 8\x00 3\n", 2, 7),
])
def test_nul_bytes(checked, content, line, column):
    code, document = checked(content)
    assert code == 1 and codes(document) == ["E001"]
    assert (document["diagnostics"][0]["line"], document["diagnostics"][0]["column"]) == (line, column)


@pytest.mark.parametrize("content, line, column", [
    (b"input 8x8x3\nconv 8 3 # caf\xe9\n", 2, 15),   # Latin-1, in a comment
    (b"\xff\xfei\x00n\x00", 1, 1),                   # UTF-16
    (b"input 8x8x3\n\xc3\x28\n", 2, 1),              # a broken two-byte sequence
    (bytes(range(256)), 3, 115),                     # 0x80 after line breaks at 0x0a and 0x0d (a lone \r)
])
def test_invalid_utf8(checked, content, line, column):
    code, document = checked(content)
    assert code == 1 and codes(document) == ["E001"]
    diagnostic = document["diagnostics"][0]
    assert (diagnostic["line"], diagnostic["column"]) == (line, column)
    assert "not UTF-8" in diagnostic["message"]


def test_random_binary_files(checked):
    generator = random.Random(20261122)
    for size in (1, 2, 7, 100, 5000):
        code, document = checked(bytes(generator.randrange(256) for _ in range(size)))
        assert code == 1 and codes(document)


def test_valid_utf8_that_is_not_a_spec(checked):
    code, document = checked("ünïcødé ✓ 网络\n")
    assert code == 1 and codes(document) == ["E001"]


# Deep nesting ---------------------------------------------------------------------------------

@pytest.mark.parametrize("opening, closing", [("residual { ", " }"), ("concat {\nbranch {\n", "\n}\n}")])
def test_ten_thousand_nested_blocks(checked, opening, closing):
    code, document = checked("input 8x8x3\n" + opening * DEEP + "relu" + closing * DEEP + "\n")
    assert code == 1 and codes(document) == ["E006"]
    assert "nested more than 100 deep" in document["diagnostics"][0]["message"]


def test_ten_thousand_nested_blocks_in_an_unused_definition(checked):
    code, document = checked("input 8x8x3\ndef deep() { " + "residual { " * DEEP + "relu" + " }" * DEEP + " }\n")
    assert code == 0 and document["layers"] == []


def test_unbalanced_deep_nesting(checked):
    code, document = checked("input 8x8x3\n" + "residual { " * DEEP + "relu\n")
    assert code == 1 and codes(document) == ["E001"]
    assert "opened at line 2" in document["diagnostics"][0]["help"]


def test_ten_thousand_nested_parentheses(checked):
    code, document = checked("input 8x8x3\nconv " + "(" * DEEP + "5" + ")" * DEEP + " 3\n")
    assert code == 0 and document["output"] == [6, 6, 5]
    code, document = checked("input 8x8x3\nconv " + "(" * DEEP + "5\n")
    assert code == 1 and codes(document) == ["E001"]


def test_ten_thousand_term_sums_and_products(checked):
    code, document = checked("input 8x8x3\nconv (" + "1 + " * DEEP + "1) 1\n")
    assert code == 0 and document["output"] == [8, 8, DEEP + 1]
    code, document = checked("input 8x8x3\nconv (" + "1 * " * 100 + "2 - " * 100 + "1) 1\n")
    assert code == 1 and codes(document) == ["E003"]  # 1 * ... * 2 - 2 - ... - 1 = -1 filters
    code, document = checked("input 8x8x3\nconv (" + "2 * " * DEEP + "1) 1\n", text=False)  # 2**10,000
    assert code == 1 and codes(document) == ["E006"]
    code, document = checked("input 8x8x3\nconv (" + "-" * DEEP + "3) 1\n")  # an even number of minus signs
    assert code == 0 and document["output"] == [8, 8, 3]


def test_a_long_chain_of_definitions(checked):
    chain = "".join(f"def b{i}(c) {{ b{i + 1} c }}\n" for i in range(3000)) + "def b3000(c) { conv c 1 }\n"
    code, document = checked("input 8x8x3\n" + chain + "b0 4\n")
    assert code == 1 and codes(document) == ["E006"]  # deeper than 100 calls
    code, document = checked("input 8x8x3\n" + chain)  # defined, never used
    assert code == 0
    short = "".join(f"def b{i}(c) {{ b{i + 1} (c + 1) }}\n" for i in range(90)) + "def b90(c) { conv c 1 }\n"
    code, document = checked("input 8x8x3\n" + short + "b0 4\n")
    assert code == 0 and document["output"] == [8, 8, 94]
    assert len(document["layers"][0]["called_from"]) == 91


def test_a_cycle_through_three_thousand_definitions(checked):
    chain = "".join(f"def b{i}() {{ b{(i + 1) % 3000} }}\n" for i in range(3000))
    code, document = checked("input 8x8x3\n" + chain + "b0\n")
    assert code == 1 and codes(document) == ["E004"]


# Absurd sizes ------------------------------------------------------------------------------------

def test_twenty_digit_sizes_are_counted_exactly(checked):
    n = 99999999999999999999
    code, document = checked(f"input {n}x{n}x3\nconv 8 3\nfc 10\n")
    assert code == 0
    assert document["layers"][0]["output"] == [n - 2, n - 2, 8]
    assert document["totals"]["params"] == (n - 2) ** 2 * 8 * 10 + 10 + 8 * 27 + 8


@pytest.mark.parametrize("spec", [
    "input " + "9" * 5000 + "x3\n",
    "input 8x8x3\nconv " + "9" * 5000 + " 3\n",
    "input 8x8x3\nrepeat " + "9" * 400 + " { relu }\n",
    "input 8x8x3\ndropout 0." + "9" * 5000 + "\n",
    "input " + "x".join(["9" * 90] * 4) + "\n",
    "input 8x8x3\nconv " + "9" * 100 + " 3\nconv " + "9" * 100 + " 3\n",
    "input 8x8x3\nconv 8 3 pad=" + "9" * 100 + "\n",
    "input 3x3x3\nmaxpool " + "9" * 100 + " stride=" + "9" * 100 + " pad=" + "9" * 100 + "\n",
    "input 8x8x3\ntrain { batch=" + "9" * 100 + " }\n",
    "input 8x8x3\nleakyrelu 1e999\n",
    "input 8x8x3\ndropout (1e308 * 10)\n",
    "input 8x8x3\nconv (1e308 // 1e-308) 3\n",
    "input 8x8x3\nconv (" + "9" * 100 + " * 1.5) 3\n",
    "input " + "x".join(["2"] * 2000) + "\nconv 1 1\n",
    "input " + "x".join(["9"] * 2000) + "\nconv 1 1\n",
])
def test_absurd_sizes_end_in_an_answer(checked, spec):
    code, document = checked(spec)
    assert code in (0, 1)


def test_a_googol_is_the_limit(checked):
    code, document = checked("input 8x8x3\nconv 1" + "0" * 101 + " 3\n")
    assert code == 1 and codes(document) == ["E006"]
    code, document = checked("input 8x8x3\nconv 1" + "0" * 90 + " 3\n")
    assert code == 0


@pytest.mark.parametrize("count", ["1000000000000", "(1000000 * 1000000)"])
def test_enormous_repeats_stop_at_the_layer_limit(checked, count):
    started = time.perf_counter()
    code, document = checked(f"input 8x8x3\nrepeat {count} {{ conv 3 3 pad=1 }}\n", text=False)
    assert code == 1 and codes(document) == ["E006"]
    assert time.perf_counter() - started < 10  # a guard, not a benchmark (bench/ measures speed)


def test_nested_repeats_multiply_to_the_limit(checked):
    code, document = checked("input 8x8x3\nrepeat 1000 { repeat 1000 { repeat 1000 { relu } } }\n", text=False)
    assert code == 1 and codes(document) == ["E006"]


# Long specs -----------------------------------------------------------------------------------------

THREE_THOUSAND = "input 32x32x3\n" + "conv 3 3 pad=1 bias=false\nbatchnorm\nrelu\n" * 1000


def test_three_thousand_layers_check_quickly():
    started = time.perf_counter()
    result = check(Source(THREE_THOUSAND))
    elapsed = time.perf_counter() - started
    assert result.ok and len(result.report.layers) == 3000
    assert elapsed < 10, elapsed  # a guard, not a benchmark (bench/ measures speed)


def test_three_thousand_layers_through_the_command_line(tmp_path):
    path = tmp_path / "long.cnn"
    path.write_text(THREE_THOUSAND, encoding="utf-8")
    started = time.perf_counter()
    code, out, err = run(path, "--format", "json")
    elapsed = time.perf_counter() - started
    assert code == 0, err
    assert len(json.loads(out)["layers"]) == 3000
    assert elapsed < 10, elapsed


def test_three_thousand_statements_on_one_line(checked):
    code, document = checked("input 8x8x3; " + "relu; " * 3000 + "\n", text=False)  # text: see bench/
    assert code == 0 and len(document["layers"]) == 3000


def test_a_thousand_errors(checked):
    code, document = checked("input 8x8x3\n" + "cnov 3 3\n" * 1000)
    assert code == 1 and codes(document) == ["E002"] * 1000


# Fuzzing ------------------------------------------------------------------------------------------

TOKENS = ["input", "8x8x3", "16x16", "32", "conv", "8", "3", "3x3", "1x7", "0", "-1", "0.5", "1e-3", "relu",
          "maxpool", "avgpool", "globalavgpool", "fc", "10", "flatten", "dropout", "batchnorm", "leakyrelu",
          "softmax", "stride=2", "pad=1", "pad=same", "round=ceil", "dilation=2", "groups=2", "bias=false",
          "repeat", "residual", "shortcut", "concat", "branch", "def", "f", "g", "(c)", "(c, s=1)", "c", "s",
          "train", "lr=0.1", "optimizer=adam", "network", "n", "{", "}", "{", "}", "(", ")", "+", "-", "*", "//",
          "=", ",", ";", "\n", "\n", "\n", "# note", "\\\n", "\t", "x", "99999999999999999999", "@", "\x00"]


def fuzz_main(text: str, output_format: str) -> None:
    with mock.patch.object(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8", "surrogatepass")))), \
            mock.patch.object(sys, "stdout", io.StringIO()) as printed:
        out, err = io.StringIO(), io.StringIO()
        code = main(["check", "-", "--format", output_format], Console(file=out, width=120),
                    Console(file=err, width=120))
    assert code in (0, 1), err.getvalue()
    assert "internal error" not in err.getvalue()
    if output_format == "json":
        document = json.loads(out.getvalue() + printed.getvalue())
        assert (code == 1) == any(d["severity"] == "error" for d in document["diagnostics"])


FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=300), st.sampled_from(["text", "json"]))
def test_fuzz_random_text(text, output_format):
    fuzz_main(text, output_format)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=60), st.booleans(), st.sampled_from(["text", "json"]))
def test_fuzz_token_soup(tokens, with_input, output_format):
    fuzz_main(("input 16x16x4\n" if with_input else "") + " ".join(tokens), output_format)


@FUZZ
@given(st.lists(st.sampled_from(["conv 4 3", "conv 4 3 pad=same", "conv 8 1 groups=2", "maxpool 2",
                                 "maxpool 3 stride=2 round=ceil", "relu", "batchnorm", "fc 5", "flatten",
                                 "globalavgpool", "residual {", "} shortcut {", "concat {", "branch {", "}",
                                 "repeat 2 {", "dropout 0.5", "avgpool 2 pad=1"]), max_size=40),
       st.sampled_from(["16x16x4", "9x4", "4x6x6x2", "7", "1x1x1"]), st.sampled_from(["text", "json"]))
def test_fuzz_layer_lines(lines, shape, output_format):
    fuzz_main(f"input {shape}\n" + "\n".join(lines), output_format)


def test_an_absurd_batch_on_the_command_line(tmp_path):
    path = tmp_path / "net.cnn"
    path.write_text("input 8x8x3\nconv 4 3\n", encoding="utf-8")
    for options in ((), ("--format", "json")):
        code, out, err = run(path, "--batch-size", "9" * 1000, *options)
        assert code == 2 and "--batch-size" in err and "1,000,000,000" in err
    code, out, err = run(path, "--batch-size", "1000000000", "--format", "json")
    assert code == 0, err
    # stored elements 192 + 144 = 336 per image, x2 for the gradients, 4 bytes each; weights 112 x 4 x 3
    assert json.loads(out)["totals"]["training_bytes"] == 10**9 * 336 * 2 * 4 + 112 * 4 * 3
