"""`cnnc compile` end to end: a trained checkpoint's weights in the ONNX model and in the torch
target's files, and every bad input (a spec with errors, a checkpoint that does not fit, an unknown
target, an output that cannot be written, a missing optional package) as a diagnostic or a one-line
reason with its exit code."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnc
from cnnc.checkpoint import load_model
from cnnc.commands.compile import TARGETS
from command_runner import run

SMALL = """network small
input 12x12x1
conv 8 3x3 pad=1; batchnorm; relu
maxpool 2
conv 8 3x3 pad=1; relu
dropout 0.25
fc 4
softmax
train { optimizer=momentum lr=0.05 momentum=0.9 epochs=2 batch=32 seed=3 }
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "small.cnn"
    path.write_text(SMALL, encoding="utf-8")
    return path


@pytest.fixture
def trained(spec: Path, tmp_path: Path) -> Path:
    checkpoint = tmp_path / "small.npz"
    code, _, err = run("train", str(spec), "--data", "synthetic:n=320,test=64,classes=4,seed=1",
                       "--out", str(checkpoint))
    assert code == 0, err
    return checkpoint


def onnx_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    """ONNX Runtime's outputs for channels-last ``x``."""
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": np.ascontiguousarray(np.moveaxis(x, -1, 1))})[0]


def test_a_trained_checkpoint_compiles_with_its_weights(spec, trained, tmp_path):
    pytest.importorskip("onnx")
    out_path = tmp_path / "small.onnx"
    code, out, err = run("compile", str(spec), "--to", "onnx", "-o", str(out_path), "--weights", str(trained))
    assert (code, err) == (0, "")
    assert out == f"small: wrote {out_path} (ONNX opset 18: input `input` (batch, 1, 12, 12), output `output` " \
                  "(batch, 4))\n"
    assert out_path.is_file() and not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary
    x = np.random.default_rng(0).random((5, 12, 12, 1), dtype=np.float32)
    expected = load_model(trained).predict(x)
    theirs = onnx_outputs(out_path, x)
    np.testing.assert_allclose(theirs, expected, rtol=1e-4, atol=1e-6)
    untrained = cnnc.load(spec).compile(seed=3).predict(x)
    assert np.abs(untrained - expected).max() > 1e-3  # the checkpoint's weights, not the seed's


def test_without_weights_the_seed_initialises_as_compile_does(spec, tmp_path):
    pytest.importorskip("onnx")
    x = np.random.default_rng(1).random((2, 12, 12, 1), dtype=np.float32)
    for seed in ("0", "7"):
        out_path = tmp_path / f"seed{seed}.onnx"
        assert run("compile", str(spec), "--to", "onnx", "-o", str(out_path), "--seed", seed)[0] == 0
        expected = cnnc.load(spec).compile(seed=int(seed)).predict(x)
        np.testing.assert_allclose(onnx_outputs(out_path, x), expected, rtol=1e-4, atol=1e-6)


def test_a_spec_with_errors_gives_its_diagnostics_and_exit_1(tmp_path):
    bad = tmp_path / "bad.cnn"
    bad.write_text("input 8x8x1\nconv 4 9\n", encoding="utf-8")
    code, out, _ = run("compile", str(bad), "--to", "onnx", "-o", str(tmp_path / "bad.onnx"))
    assert code == 1
    assert out.startswith(f"{bad}:2:1: error[E101] `conv1` output size is not positive")
    assert "2 | conv 4 9\n  | ^^^^^^^^\n" in out and "Found 1 error." in out
    assert not (tmp_path / "bad.onnx").exists()


def test_a_checkpoint_that_does_not_fit_the_spec_is_exit_2(spec, trained, tmp_path):
    other = tmp_path / "other.cnn"
    other.write_text(SMALL.replace("conv 8 3x3 pad=1; relu", "conv 8 5x5 pad=2; relu"), encoding="utf-8")
    code, out, err = run("compile", str(other), "--to", "onnx", "-o", str(tmp_path / "o.onnx"), "--weights",
                         str(trained))
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == f"cnnc: error: {trained} does not fit {other}: `conv2.weight` is 3x3x8x8 in the " \
                                  "checkpoint, 5x5x8x8 in the spec"
    fewer = tmp_path / "fewer.cnn"
    fewer.write_text(SMALL.replace("conv 8 3x3 pad=1; batchnorm; relu", "conv 8 3x3 pad=1; relu"), encoding="utf-8")
    code, _, err = run("compile", str(fewer), "--to", "onnx", "-o", str(tmp_path / "o.onnx"), "--weights",
                       str(trained))
    assert code == 2
    assert err.splitlines()[0] == f"cnnc: error: {trained} does not fit {fewer}: it has a parameter " \
                                  "`batchnorm1.bias` (and 1 more) that the spec lacks"
    assert not (tmp_path / "o.onnx").exists()


def test_a_file_that_is_no_checkpoint_is_exit_2(spec, tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    code, _, err = run("compile", str(spec), "--to", "onnx", "-o", str(tmp_path / "o.onnx"), "--weights", str(junk))
    assert code == 2 and err.startswith(f"cnnc: error: {junk}: not a cnnc model file")


def test_an_unknown_target_is_exit_2_with_the_known_ones(spec, tmp_path):
    code, out, err = run("compile", str(spec), "--to", "tflite", "-o", str(tmp_path / "x"))
    assert (code, out) == (2, "")
    assert err == f"cnnc: error: unknown target 'tflite'\n  help: known targets: {', '.join(TARGETS)}\n"


USAGE_ERRORS = {
    "negative-seed": (["--to", "onnx", "--seed=-1"],
                      "cnnc compile: argument --seed: expected a whole number of at least 0, got '-1'"),
    "seed-and-weights": (["--to", "onnx", "--seed", "1", "--weights", "m.npz"],
                         "cnnc compile: argument --weights: not allowed with argument --seed"),
    "no-target": ([], "cnnc compile: the following arguments are required: --to"),
}


@pytest.mark.parametrize("arguments, message", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_errors_are_exit_2(spec, arguments, message):
    code, out, err = run("compile", str(spec), "-o", "x.onnx", *arguments)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == message


def test_an_output_that_cannot_be_written_is_exit_2(spec, tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    for target, reason in ((plain / "m.onnx", f"no folder {plain}"), (tmp_path, "it is a folder")):
        code, out, err = run("compile", str(spec), "--to", "onnx", "-o", str(target))
        assert (code, out) == (2, "")
        assert err.splitlines()[0] == f"cnnc: error: cannot write {target}: {reason}"

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    code, _, err = run("compile", str(spec), "--to", "onnx", "-o", str(tmp_path / "m.onnx"))
    assert code == 2
    assert err == f"cnnc: error: cannot write {tmp_path / 'm.onnx'}: Permission denied\n"


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    from cnnc.export import write_atomically

    path = tmp_path / "model.onnx"
    path.write_bytes(b"previous")

    def fail_halfway(file) -> None:
        file.write(b"half a model")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomically(path, fail_halfway)
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    write_atomically(path, lambda file: file.write(b"new"))
    assert path.read_bytes() == b"new" and path.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


MISSING_ONNX = """
import sys
sys.modules["onnx"] = None  # as if the package were not installed
from cnnc.checkpoint import load_model
from cnnc.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_missing_onnx_package_names_the_extra_to_install(spec, tmp_path):
    result = subprocess.run([sys.executable, "-c", MISSING_ONNX, "compile", str(spec), "--to", "onnx", "-o",
                             str(tmp_path / "m.onnx")], check=False, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("cnnc: error: `cnnc compile --to onnx` needs the `onnx` package, which is not installed\n"
                             "  help: pip install 'cnnc[onnx]'\n")
    assert not (tmp_path / "m.onnx").exists()


def test_the_python_api_raises_an_import_error_naming_the_extra(spec, tmp_path, monkeypatch):
    from cnnc.export import MissingExtra, to_onnx

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install 'cnnc\[onnx\]'|needs the `onnx` package") as raised:
        to_onnx(cnnc.load(spec).compile(), tmp_path / "m.onnx")
    assert isinstance(raised.value, MissingExtra) and raised.value.help == "pip install 'cnnc[onnx]'"
    with pytest.raises(TypeError, match="model must be a cnnc.model.Model"):
        to_onnx(cnnc.load(spec), tmp_path / "m.onnx")


def test_the_torch_target_writes_the_source_and_with_weights_its_state_dict(spec, trained, tmp_path):
    source = tmp_path / "small.py"
    code, out, err = run("compile", str(spec), "--to", "torch", "-o", str(source))
    assert (code, out, err) == (0, f"small: wrote {source} (PyTorch source: class Small)\n", "")
    text = source.read_text()
    compile(text, str(source), "exec")
    assert "class Small(nn.Module):" in text and "import cnnc" not in text and "from cnnc" not in text
    assert not source.with_suffix(".pt").exists()

    torch = pytest.importorskip("torch")
    code, out, err = run("compile", str(spec), "--to", "torch", "-o", str(source), "--weights", str(trained))
    weights = source.with_suffix(".pt")
    assert (code, out, err) == (0, (f"small: wrote {source}, {weights} (PyTorch source: class Small, weights as "
                                    "a state_dict)\n"), "")
    loader = importlib.util.spec_from_file_location("small", source)
    generated = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(generated)  # as `from small import Small` would
    module = generated.Small()
    module.load_state_dict(torch.load(weights, weights_only=True))
    x = np.random.default_rng(2).random((3, 12, 12, 1), dtype=np.float32)
    with torch.no_grad():
        theirs = module.eval()(torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))).numpy()
    np.testing.assert_allclose(theirs, load_model(trained).predict(x), rtol=1e-4, atol=1e-6)


MISSING_TORCH = MISSING_ONNX.replace('sys.modules["onnx"]', 'sys.modules["torch"]')


def test_torch_weights_without_torch_name_the_extra_to_install(spec, trained, tmp_path):
    result = subprocess.run([sys.executable, "-c", MISSING_TORCH, "compile", str(spec), "--to", "torch", "-o",
                             str(tmp_path / "m.py"), "--weights", str(trained)],
                            check=False, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("cnnc: error: writing the weights needs PyTorch\n"
                             "  help: pip install 'cnnc[torch]', or compile without --weights\n")
    assert not (tmp_path / "m.py").exists()
