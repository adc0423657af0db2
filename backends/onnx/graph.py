"""The ONNX graph being built: nodes, weights and constants, named after the report's layers."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper



BATCH = "batch"  # the name of the dynamic batch dimension


class Graph:
    """An ONNX graph under construction: nodes in execution order and the initializers they read. A layer's last node is named after
    the layer and so is its output (``conv1``); the nodes before it are ``conv1/pad`` and so on.
    Weights keep cnnc's names (``conv1.weight``) in PyTorch's layouts; constants a layer needs are
    named after it (``maxpool1/pads``)."""

    def __init__(self, arrays: dict[str, np.ndarray], proto: onnx.GraphProto) -> None:
        self.arrays = arrays
        self.proto = proto  # the model's own graph: a copy of VGG-16's weights would cost seconds
        self.names: set[str] = set()

    def op(self, op_type: str, inputs: list[str], name: str, **attributes) -> str:
        """A node named ``name`` whose one output has the same name; returns that name."""
        if name in self.names:
            raise ValueError(f"two ONNX values named {name!r}")
        self.names.add(name)
        self.proto.node.append(helper.make_node(op_type, inputs, [name], name=name, **attributes))
        return name

    def declare(self, name: str, shape: list[int]) -> None:
        """State a value's shape (batch, *shape) where ONNX's shape inference would lose the batch's
        name (Resize); strict inference still checks every size against it."""
        self.proto.value_info.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [BATCH, *shape]))

    def weight(self, key: str, array: np.ndarray | None = None) -> str:
        """The parameter or buffer ``key`` (``array``: its value in ONNX's layout, if it differs)."""
        value = self.arrays[key] if array is None else array
        return self._initializer(key, np.asarray(value, dtype=np.float32))

    def constant(self, name: str, values, dtype=np.float32) -> str:
        """A constant that the layout needs (pads, axes, shapes, divisors), not a learned weight."""
        return self._initializer(name, np.asarray(values, dtype=dtype))

    def _initializer(self, name: str, array: np.ndarray) -> str:
        if name in self.names:
            raise ValueError(f"two ONNX values named {name!r}")
        self.names.add(name)
        tensor = self.proto.initializer.add()
        tensor.name = name
        tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
        tensor.dims.extend(array.shape)
        tensor.raw_data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        return name


def per_channel(array: np.ndarray, rank: int) -> np.ndarray:
    """A per-channel vector (C,) shaped (C, 1, .., 1) to broadcast over channels-first (N, C, *spatial)."""
    return np.asarray(array).reshape(-1, *(1,) * rank)


def dims(layer_output) -> list[int]:
    """A cnnc shape (spatial, then channels) as ONNX's dimensions after the batch: channels first."""
    return [layer_output.channels, *layer_output.spatial]


def reshape(graph: Graph, x: str, shape: list[int], name: str) -> str:
    """``x`` reshaped to (N, *shape), the batch kept whatever it is (Reshape's 0)."""
    return graph.op("Reshape", [x, graph.constant(f"{name}/shape", [0, *shape], np.int64)], name)

