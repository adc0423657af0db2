"""Small ONNX graphs built node by node (onnx.helper), for what no exporter of ours writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def conv(name: str, source: str, channels: int, filters: int, seed: int = 0) -> tuple[onnx.NodeProto, onnx.TensorProto]:
    weight = np.random.default_rng(seed).standard_normal((filters, channels, 1, 1)).astype(np.float32)
    return (helper.make_node("Conv", [source, f"{name}.weight"], [name], name=name, kernel_shape=[1, 1]),
            numpy_helper.from_array(weight, f"{name}.weight"))


def save(path: Path, nodes: list, initializers: list, output: str, input_dims=(1, 2, 4, 4),
         output_dims=None) -> Path:
    """A model of ``nodes`` from ``input`` to ``output`` written to ``path``."""
    source = helper.make_tensor_value_info("input", TensorProto.FLOAT, list(input_dims))
    result = helper.make_tensor_value_info(output, TensorProto.FLOAT, output_dims)
    graph = helper.make_graph(nodes, "net", [source], [result], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="hand")
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def unsupported_op(path: Path) -> Path:
    """conv, then Cos (no layer of the language), then relu."""
    first, weight = conv("conv", "input", 2, 3)
    nodes = [first, helper.make_node("Cos", ["conv"], ["cos"], name="cos"),
             helper.make_node("Relu", ["cos"], ["relu"], name="relu")]
    return save(path, nodes, [weight], "relu", output_dims=(1, 3, 4, 4))


def bridge(path: Path) -> Path:
    """a = conv(x), b = conv(x), c = a + b, out = a + c: `a` feeds two merges (not series-parallel)."""
    a, wa = conv("a", "relu", 2, 2, 1)
    b, wb = conv("b", "relu", 2, 2, 2)
    nodes = [helper.make_node("Relu", ["input"], ["relu"], name="relu"), a, b,
             helper.make_node("Add", ["a", "b"], ["c"], name="c"), helper.make_node("Add", ["a", "c"], ["out"],
                                                                                     name="out")]
    return save(path, nodes, [wa, wb], "out", output_dims=(1, 2, 4, 4))


def dynamic(path: Path) -> Path:
    """A relu on an input of dynamic height and width."""
    return save(path, [helper.make_node("Relu", ["input"], ["relu"], name="relu")], [], "relu",
                input_dims=("batch", 3, "height", "width"), output_dims=("batch", 3, "height", "width"))


def unsupported_in_a_branch(path: Path) -> Path:
    """relu, then conv(relu) + Cos(relu): the unsupported op on one path of a residual."""
    a, weight = conv("a", "relu", 2, 2, 1)
    nodes = [helper.make_node("Relu", ["input"], ["relu"], name="relu"), a,
             helper.make_node("Cos", ["relu"], ["cos"], name="cos"), helper.make_node("Add", ["a", "cos"], ["out"],
                                                                                     name="out")]
    return save(path, nodes, [weight], "out", output_dims=(1, 2, 4, 4))


def pool_of_padding(path: Path) -> Path:
    """A MaxPool whose windows at the border read only its padding (kernel 1, pads 1), which PyTorch never
    writes and the language refuses (E106)."""
    nodes = [helper.make_node("MaxPool", ["input"], ["pool"], name="pool", kernel_shape=[1, 1], pads=[1, 1, 1, 1])]
    return save(path, nodes, [], "pool", output_dims=(1, 2, 6, 6))
