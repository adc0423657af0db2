"""The ONNX target: a checked network and its weights as an ONNX model (opset 18, float32).

The model's input ``input`` is (batch, C, *spatial), channels first as ONNX and PyTorch lay images
out (NCW, NCHW, NCDHW), with a dynamic batch dimension named ``batch``; its output ``output`` is
(batch, C, *spatial), or (batch, C) for a flat output. Each layer's nodes are named after the
report's layer (``conv1``, ``conv1/pad``), and so is the layer's output value; weights keep cnnc's
names (``conv1.weight``) in PyTorch's layouts. The model computes the NumPy backend's evaluation pass."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import TensorProto, helper

from cnnc import ir
from cnnc.backends.onnx import windows  # noqa: F401 - registers the pooling and resampling emitters
from cnnc.backends.onnx.graph import BATCH, Graph, dims
from cnnc.backends.onnx.layers import NotExportable, emit
from cnnc.report import LayerReport, Report

if TYPE_CHECKING:
    from cnnc.model import Model

__all__ = ["INPUT", "OPSET", "OUTPUT", "NotExportable", "build", "model_proto"]

OPSET = 18  # Resize with `axes`: scales for the spatial dimensions only
IR_VERSION = 8  # readable by every ONNX Runtime since 1.12; opset 18 needs ONNX Runtime 1.14 or later
INPUT, OUTPUT = "input", "output"


def model_proto(model: Model) -> onnx.ModelProto:
    """``model`` (what ``Network.compile()`` returns, or a loaded checkpoint) as an ONNX model."""
    network = model.network
    return build(network.ir, network.report, {**model.params, **model.buffers}, network.source.path)


def build(network: ir.Network, report: Report, arrays: dict[str, np.ndarray],
          source: str | None = None) -> onnx.ModelProto:
    """An ONNX model of ``network`` holding ``arrays`` (cnnc's parameters and buffers by name, in
    cnnc's layouts), cast to float32."""
    proto = onnx.ModelProto(ir_version=IR_VERSION, producer_name="cnnc", producer_version=_cnnc_version(),
                             opset_import=[helper.make_opsetid("", OPSET)],
                             doc_string=f"{network.name}, compiled by cnnc from {source or 'a spec'}")
    graph = Graph(arrays, proto.graph)
    graph.names.add(INPUT)
    result = _sequence(network.layers, {layer.name: layer for layer in report.layers}, graph, INPUT)
    graph.op("Identity", [result], OUTPUT)
    proto.graph.name = network.name
    proto.graph.input.append(helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [BATCH, *dims(report.input)]))
    proto.graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [BATCH, *dims(report.output)]))
    return proto


def _sequence(nodes: tuple[ir.Node, ...], layers: dict[str, LayerReport], graph: Graph, x: str) -> str:
    for node in nodes:
        x = _node(node, layers, graph, x)
    return x


def _node(node: ir.Node, layers: dict[str, LayerReport], graph: Graph, x: str) -> str:
    """One layer or block; a block's output is named after the block (``residual1``)."""
    if isinstance(node, ir.Residual):
        body = _sequence(node.body, layers, graph, x)
        shortcut = _sequence(node.shortcut, layers, graph, x)
        return graph.op("Add", [body, shortcut], node.name)
    if isinstance(node, ir.MERGES):
        outputs = [_sequence(branch, layers, graph, x) for branch in node.branches]
        if isinstance(node, ir.Concat):
            return graph.op("Concat", outputs, node.name, axis=1)
        if isinstance(node, ir.Add):
            return graph.op("Sum", outputs, node.name)
        return _multiply(node, layers[node.name], graph, outputs, layers)
    return emit(node, layers[node.name], graph, x)


def _multiply(node: ir.Multiply, layer: LayerReport, graph: Graph, outputs: list[str],
              layers: dict[str, LayerReport]) -> str:
    """The product of the branches, broadcast per dimension; a flat (N, C) output stands for
    (N, C, 1, .., 1) against spatial ones."""
    rank = layer.output.rank
    shaped = []
    for index, (branch, value) in enumerate(zip(node.branches, outputs)):
        branch_rank = layers[branch[-1].name].output.rank if branch else layer.input.rank
        if rank and not branch_rank:
            axes = graph.constant(f"{node.name}/branch{index}/axes", list(range(2, rank + 2)), np.int64)
            value = graph.op("Unsqueeze", [value, axes], f"{node.name}/branch{index}")
        shaped.append(value)
    if len(shaped) == 1:
        return graph.op("Identity", shaped, node.name)
    product = shaped[0]
    for index, value in enumerate(shaped[1:], start=1):
        product = graph.op("Mul", [product, value], node.name if index == len(shaped) - 1 else f"{node.name}/mul{index}")
    return product


def _cnnc_version() -> str:
    try:
        return version("cnnc")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"
