"""Reading an ONNX file into a small graph: its nodes in order, constants as arrays, every value's
static shape (channels first, batch dropped). What cannot be read is a ``NotImportable`` naming why."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from cnnc.errors import CannotRun


class NotImportable(CannotRun):
    """A model that cannot be written as a spec (exit 1): the message names the node, its op type and
    its position among the graph's nodes."""


@dataclass
class Node:
    """One ONNX node: ``position`` counts from 1 in the file's order."""

    name: str
    op: str
    inputs: list[str]
    outputs: list[str]
    attributes: dict
    position: int

    def where(self) -> str:
        return f"node {self.name or '(unnamed)'!r} ({self.op}, #{self.position})"


@dataclass
class Graph:
    """The model: ``constants`` are initializers and folded constant nodes, ``shapes`` every data
    value's static dimensions after the batch (channels first), ``nodes`` those that compute data."""

    input: str
    output: str
    input_shape: tuple[int, ...]
    nodes: list[Node]
    constants: dict[str, np.ndarray]
    shapes: dict[str, tuple[int, ...]]
    producer: str

    def consumers(self) -> dict[str, list[Node]]:
        found: dict[str, list[Node]] = {}
        for node in self.nodes:
            for value in node.inputs:
                found.setdefault(value, []).append(node)
        return found


def read_model(path: str) -> Graph:
    """The graph of the ONNX file at ``path``; NotImportable for a file that is not a readable,
    static-shaped model with one input and one output. OSError when it cannot be opened."""
    with open(path, "rb") as file:
        data = file.read()
    try:
        model = onnx.load_from_string(data)
    except Exception as problem:  # protobuf's DecodeError, and whatever a damaged file raises
        raise NotImportable(f"{path}: not a readable ONNX model ({_first_line(problem)})") from None
    if not model.graph.node:
        raise NotImportable(f"{path}: not a readable ONNX model (no nodes: an empty or truncated file)")
    del data
    for node in model.graph.node:  # PyTorch writes movedim's Transpose with negative axes, which ONNX forbids
        if node.op_type == "Transpose":
            for attribute in node.attribute:
                if attribute.name == "perm" and min(attribute.ints, default=0) < 0:
                    attribute.ints[:] = [axis % len(attribute.ints) for axis in attribute.ints]
    try:
        constants = _weights_as_inputs(model)
        onnx.checker.check_model(model)
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as problem:
        raise NotImportable(f"{path}: not a valid ONNX model ({_first_line(problem)})") from None
    return _graph(path, inferred, constants)


def _weights_as_inputs(model: onnx.ModelProto, small: int = 64) -> dict[str, np.ndarray]:
    """Every initializer as an array; the large ones leave the model as inputs of their shape, so
    that checking and shape inference (which copy the model) never copy the weights."""
    arrays = {}
    kept = []
    for tensor in model.graph.initializer:
        array = numpy_helper.to_array(tensor)
        arrays[tensor.name] = array
        if array.size > small:
            model.graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(array.shape)))
        else:
            kept.append(tensor)
    small_tensors = [onnx.TensorProto.FromString(t.SerializeToString()) for t in kept]
    del model.graph.initializer[:]
    model.graph.initializer.extend(small_tensors)
    return arrays


def _first_line(problem: Exception) -> str:
    text = str(problem).strip().splitlines()
    return (text[0] if text else type(problem).__name__)[:200]


def _graph(path: str, model: onnx.ModelProto, constants: dict[str, np.ndarray]) -> Graph:
    graph = model.graph
    inputs = [value for value in graph.input if value.name not in constants]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise NotImportable(f"{path}: the graph has {len(inputs)} inputs and {len(graph.output)} outputs; "
                            "a spec has one of each")
    shapes = {value.name: _dims(value) for value in [*graph.value_info, *graph.input, *graph.output]}
    input_dims = shapes[inputs[0].name]
    if input_dims is None or len(input_dims) < 2 or any(not isinstance(d, int) or d < 1 for d in input_dims[1:]):
        raise NotImportable(f"{path}: input {inputs[0].name!r} has dynamic or unknown dimensions "
                            f"{_shown(input_dims)}; only the batch may be dynamic",
                            "export with a fixed input size (torch.onnx.export without dynamic_axes but the batch)")
    nodes = []
    for position, proto in enumerate(graph.node, start=1):
        node = Node(proto.name, proto.op_type, list(proto.input), list(proto.output),
                    {a.name: helper.get_attribute_value(a) for a in proto.attribute}, position)
        if proto.domain not in ("", "ai.onnx"):
            raise NotImportable(f"{node.where()}: operator domain {proto.domain!r} is not ONNX's own")
        if _fold(node, constants):
            continue
        nodes.append(node)
    data_shapes = {}
    for name, dims in shapes.items():
        if dims is not None and dims and all(isinstance(d, int) for d in dims[1:]):
            data_shapes[name] = tuple(dims[1:])
    for node in nodes:
        for value in node.outputs:
            if value and value not in data_shapes:
                raise NotImportable(f"{node.where()}: the shape of its output {value!r} is dynamic or unknown",
                                    "export with a fixed input size")
    producer = " ".join(part for part in (model.producer_name, model.producer_version) if part) or "an unnamed producer"
    return Graph(inputs[0].name, graph.output[0].name, tuple(input_dims[1:]), nodes, constants, data_shapes, producer)


def _dims(value: onnx.ValueInfoProto) -> list | None:
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]


def _shown(dims: list | None) -> str:
    return "unknown" if dims is None else "(" + ", ".join(map(str, dims)) + ")"


def _fold(node: Node, constants: dict[str, np.ndarray]) -> bool:
    """A node that computes a constant (a Constant, or an op on constants alone, as exporters leave
    behind) is evaluated here and its output kept as a constant."""
    if node.op == "Constant":
        attribute, value = next(iter(node.attributes.items()))
        if attribute == "value":
            constants[node.outputs[0]] = numpy_helper.to_array(value)
        else:
            constants[node.outputs[0]] = np.asarray(value)
        return True
    data = [name for name in node.inputs if name]
    if not data or any(name not in constants for name in data):
        return False
    if node.op == "Identity":
        constants[node.outputs[0]] = constants[node.inputs[0]]
        return True
    from onnx.reference import ReferenceEvaluator

    inputs = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(constants[name].dtype), None)
              for name in data]
    outputs = [helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None) for name in node.outputs]
    proto = helper.make_node(node.op, node.inputs, node.outputs, **node.attributes)
    try:
        model = helper.make_model(helper.make_graph([proto], "fold", inputs, outputs))
        results = ReferenceEvaluator(model).run(None, {name: constants[name] for name in data})
    except Exception:  # left in the graph: recognising it will say what it is
        return False
    constants.update(zip(node.outputs, (np.asarray(r) for r in results)))
    return True
