"""`cnnc import --weights`: the ONNX initializers as a cnnc checkpoint that predicts what ONNX Runtime
predicts (float32, within 1e-4 of the outputs' scale), that `cnnc eval` evaluates and that
`cnnc train --resume` fine-tunes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from command_runner import run  # noqa: E402

from cnnc.checkpoint import load_model  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMALL = """input 12x12x1
conv 4 3 pad=1 bias=false
batchnorm
relu
residual { conv 4 3 pad=1; relu }
maxpool 2
dropout 0.25
fc 3
softmax
"""


def imported_weights(spec: Path, folder: Path, seed: int = 3) -> tuple[Path, Path, Path]:
    model, imported, weights = folder / "m.onnx", folder / "m.cnn", folder / "m.npz"
    assert run("compile", str(spec), "--to", "onnx", "-o", str(model), "--seed", str(seed))[0] == 0
    code, _, stderr = run("import", str(model), "-o", str(imported), "--weights", str(weights))
    assert code == 0, stderr
    return model, imported, weights


@pytest.mark.parametrize("name", ["lenet5", "googlenet", "inception_mini", "mobilenet_v3_small", "shufflenet_v2",
                                  "convnext_tiny", "dcgan_generator", "m5_audio", "unet"])
def test_imported_weights_predict_as_onnx_runtime(name: str, tmp_path: Path) -> None:
    model, _, weights = imported_weights(EXAMPLES / f"{name}.cnn", tmp_path)
    restored = load_model(weights)
    x = np.random.default_rng(0).standard_normal((2, *restored.network.report.input.dims)).astype(np.float32)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(["output"], {"input": np.ascontiguousarray(np.moveaxis(x, -1, 1))})
    ours = restored.predict(x)
    ours = np.moveaxis(ours, -1, 1) if ours.ndim > 2 else ours
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * float(np.abs(theirs).max()))


def test_eval_and_train_resume_take_the_checkpoint(tmp_path: Path) -> None:
    spec = tmp_path / "small.cnn"
    spec.write_text(SMALL)
    _, imported, weights = imported_weights(spec, tmp_path)
    data = "synthetic:n=60,classes=3"
    code, out, _ = run("eval", str(weights), "--data", data)
    assert code == 0 and out.startswith("m on 15 examples of synthetic (test): loss ")
    before = load_model(weights).params["fc1.weight"].copy()
    code, _, stderr = run("train", str(imported), "--resume", str(weights), "--data", data, "--epochs", "1")
    assert code == 0, stderr
    after = load_model(weights)
    assert after.run_state["progress"]["epoch"] == 1
    assert not np.array_equal(after.params["fc1.weight"], before)
