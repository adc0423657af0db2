"""Activations that exporters write as several elementwise nodes are recognised whatever the order
and arrangement of the arithmetic, and imported weights of each predict as ONNX Runtime does."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import helper, numpy_helper  # noqa: E402

import onnx_graphs  # noqa: E402
from cnnc.importer import import_onnx  # noqa: E402
from cnnc.importer.weights import check_spec, fill_model  # noqa: E402


def scalar(name: str, value: float):
    return numpy_helper.from_array(np.array(value, dtype=np.float32), name)


def node(op: str, inputs: list[str], output: str, **attributes):
    return helper.make_node(op, inputs, [output], name=output, **attributes)


FORMS = {  # the nodes after `input`, ending in `out`; their constants; the statement expected
    "silu as Sigmoid(x) * x": ([node("Sigmoid", ["input"], "s"), node("Mul", ["s", "input"], "out")], [], "silu"),
    "hardswish as x * HardSigmoid(x)": (
        [node("HardSigmoid", ["input"], "h", alpha=1 / 6), node("Mul", ["input", "h"], "out")], [], "hardswish"),
    "hardswish as x * relu6(x + 3) / 6": (
        [node("Add", ["input", "three"], "a"), node("Clip", ["a", "zero", "six"], "c"),
         node("Mul", ["input", "c"], "m"), node("Div", ["m", "six"], "out")],
        [scalar("three", 3), scalar("zero", 0), scalar("six", 6)], "hardswish"),
    "gelu as PyTorch writes it": (
        [node("Div", ["input", "root2"], "d"), node("Erf", ["d"], "e"), node("Add", ["e", "one"], "a"),
         node("Mul", ["input", "a"], "m"), node("Mul", ["m", "half"], "out")],
        [scalar("root2", math.sqrt(2)), scalar("one", 1), scalar("half", 0.5)], "gelu"),
    "mish": ([node("Softplus", ["input"], "p"), node("Tanh", ["p"], "t"), node("Mul", ["t", "input"], "out")], [],
             "mish"),
    "x * x is a product, not an activation": ([node("Mul", ["input", "input"], "out")], [],
                                             "multiply {\n    branch { }\n    branch { }\n}"),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_written_out_activations_are_recognised(form: str, tmp_path: Path) -> None:
    nodes, constants, expected = FORMS[form]
    path = onnx_graphs.save(tmp_path / "form.onnx", nodes, constants, "out", output_dims=(1, 2, 4, 4))
    imported = import_onnx(str(path))
    assert imported.text.split("\n\n", 1)[1].strip() == expected
    model = fill_model(check_spec(imported.text, "form.cnn"), imported.layers)
    x = np.random.default_rng(0).standard_normal((1, 4, 4, 2)).astype(np.float32) * 4
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {"input": np.moveaxis(x, -1, 1)})
    np.testing.assert_allclose(np.moveaxis(model.predict(x), -1, 1), theirs, rtol=1e-4, atol=1e-5)
