"""ONNX nodes for convolutions, fully connected layers, activations and normalisations.

``emit(node, layer, graph, x)`` adds the nodes of one IR layer to ``graph`` reading the value ``x``
(channels-first: (N, C, *spatial), or (N, C) for a flat vector) and returns the name of its output,
which is the layer's name. Every layer computes what the NumPy backend computes in evaluation."""

from __future__ import annotations

import math
from functools import singledispatch

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.activations import SELU_ALPHA, SELU_SCALE
from cnnc.backends.numpy.windows import geometry
from cnnc.backends.onnx.graph import Graph, per_channel, reshape
from cnnc.errors import CannotRun
from cnnc.report import LayerReport
from cnnc.shapes import per_dimension


class NotExportable(CannotRun):
    """A layer with no ONNX form (none today: every layer of the language has one)."""


@singledispatch
def emit(node: ir.Node, layer: LayerReport, graph: Graph, x: str) -> str:
    raise NotExportable(f"no ONNX export for `{node.kind}` layer `{node.name}` (line {node.span.line})")


def _torch_kernel_layout(weight: np.ndarray) -> np.ndarray:
    """cnnc's (*kernel, A, B) as (B, A, *kernel): a conv's (*kernel, C/G, F) becomes ONNX Conv's
    (F, C/G, *kernel), a deconv's (*kernel, F/G, C) ConvTranspose's (C, F/G, *kernel)."""
    return np.moveaxis(weight, (-1, -2), (0, 1))


@emit.register
def _(node: ir.Conv, layer: LayerReport, graph: Graph, x: str) -> str:
    geo = geometry(node, layer)
    inputs = [x, graph.weight(f"{node.name}.weight", _torch_kernel_layout(graph.arrays[f"{node.name}.weight"]))]
    if node.bias:
        inputs.append(graph.weight(f"{node.name}.bias"))
    # a ceil-mode last window reaching past the right padding reads zeros there: more padding
    ends = [after + extra for (_, after), extra in zip(geo.pads, geo.extra)]
    return graph.op("Conv", inputs, node.name, kernel_shape=list(geo.kernel), strides=list(geo.stride),
                    dilations=list(geo.dilation), group=node.groups,
                    pads=[before for before, _ in geo.pads] + ends)


@emit.register
def _(node: ir.Deconv, layer: LayerReport, graph: Graph, x: str) -> str:
    rank = layer.input.rank
    kernel, stride, pad, output_pad, dilation = (list(per_dimension(v, rank)) for v in (
        node.kernel, node.stride, node.pad, node.output_pad, node.dilation))
    inputs = [x, graph.weight(f"{node.name}.weight", _torch_kernel_layout(graph.arrays[f"{node.name}.weight"]))]
    # output_pad as less cropping at the end (ONNX Runtime rejects an output_padding not below the
    # stride, which PyTorch allows up to the dilation); past the crop, positions no input reaches,
    # which hold the bias alone: zeros padded on before the bias is added
    ends = [p - min(o, p) for p, o in zip(pad, output_pad)]
    beyond = [max(o - p, 0) for p, o in zip(pad, output_pad)]
    options = {"kernel_shape": kernel, "strides": stride, "pads": pad + ends, "dilations": dilation,
               "group": node.groups}
    if not any(beyond):
        if node.bias:
            inputs.append(graph.weight(f"{node.name}.bias"))
        return graph.op("ConvTranspose", inputs, node.name, **options)
    reached = graph.op("ConvTranspose", inputs, f"{node.name}/reached", **options)
    pads = graph.constant(f"{node.name}/pads", [0] * (rank + 2) + [0, 0, *beyond], np.int64)
    target = f"{node.name}/padded" if node.bias else node.name
    padded = graph.op("Pad", [reached, pads], target, mode="constant")
    if not node.bias:
        return padded
    bias = graph.weight(f"{node.name}.bias", per_channel(graph.arrays[f"{node.name}.bias"], rank))
    return graph.op("Add", [padded, bias], node.name)


@emit.register
def _(node: ir.Dense, layer: LayerReport, graph: Graph, x: str) -> str:
    """Gemm with the weight as (units, features). cnnc flattens a spatial input channels-last, so the
    weight's features are permuted to the channels-first order that ONNX's Flatten gives."""
    weight = graph.arrays[f"{node.name}.weight"]  # (features, units), features in (*spatial, C) order
    shape = layer.input
    if shape.rank:
        by_position = weight.reshape(*shape.spatial, shape.channels, node.units)
        weight = np.moveaxis(by_position, (-1, -2), (0, 1)).reshape(node.units, shape.size)
        x = graph.op("Flatten", [x], f"{node.name}/flatten", axis=1)
    else:
        weight = weight.T
    inputs = [x, graph.weight(f"{node.name}.weight", weight)]
    if node.bias:
        inputs.append(graph.weight(f"{node.name}.bias"))
    return graph.op("Gemm", inputs, node.name, transB=1)


@emit.register
def _(node: ir.Flatten, layer: LayerReport, graph: Graph, x: str) -> str:
    """cnnc's order: (*spatial, C), so the channels move last before flattening."""
    rank = layer.input.rank
    if not rank:
        return graph.op("Identity", [x], node.name)
    moved = graph.op("Transpose", [x], f"{node.name}/channels_last", perm=[0, *range(2, rank + 2), 1])
    return graph.op("Flatten", [moved], node.name, axis=1)


def _scalar(graph: Graph, node: ir.Node, what: str, value: float) -> str:
    return graph.constant(f"{node.name}/{what}", value)


def _gelu(node: ir.Activation, graph: Graph, x: str) -> str:
    """0.5 x (1 + erf(x / sqrt 2)), or with tanh(sqrt(2/pi) (x + 0.044715 x^3)) for erf: the pattern
    that ONNX Runtime fuses into one Gelu kernel (ONNX's own Gelu needs opset 20)."""
    name = node.name
    if node.approximate == "tanh":
        cube = graph.op("Mul", [graph.op("Mul", [x, x], f"{name}/square"), x], f"{name}/cube")
        inner = graph.op("Add", [x, graph.op("Mul", [cube, _scalar(graph, node, "c", 0.044715)], f"{name}/scaled")],
                         f"{name}/inner")
        argument = graph.op("Mul", [inner, _scalar(graph, node, "sqrt_2_over_pi", math.sqrt(2 / math.pi))],
                            f"{name}/argument")
        curve = graph.op("Tanh", [argument], f"{name}/tanh")
    else:
        curve = graph.op("Erf", [graph.op("Div", [x, _scalar(graph, node, "sqrt_2", math.sqrt(2))], f"{name}/scaled")],
                         f"{name}/erf")
    one_plus = graph.op("Add", [curve, _scalar(graph, node, "one", 1.0)], f"{name}/one_plus")
    half_x = graph.op("Mul", [x, _scalar(graph, node, "half", 0.5)], f"{name}/half_x")
    return graph.op("Mul", [half_x, one_plus], name)


def _activation(node: ir.Activation, graph: Graph, x: str) -> str:
    name, function = node.name, node.function
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "hardswish": "HardSwish"}
    if function in simple:
        return graph.op(simple[function], [x], name)
    if function == "softmax":
        return graph.op("Softmax", [x], name, axis=1)
    if function == "leakyrelu":
        return graph.op("LeakyRelu", [x], name, alpha=node.slope)
    if function == "elu":
        return graph.op("Elu", [x], name, alpha=node.alpha)
    if function == "selu":
        return graph.op("Selu", [x], name, alpha=SELU_ALPHA, gamma=SELU_SCALE)
    if function == "relu6":
        return graph.op("Clip", [x, _scalar(graph, node, "min", 0.0), _scalar(graph, node, "max", 6.0)], name)
    if function == "hardsigmoid":
        return graph.op("HardSigmoid", [x], name, alpha=1 / 6, beta=0.5)
    if function == "silu":
        return graph.op("Mul", [x, graph.op("Sigmoid", [x], f"{name}/sigmoid")], name)
    if function == "mish":
        softplus = graph.op("Softplus", [x], f"{name}/softplus")
        return graph.op("Mul", [x, graph.op("Tanh", [softplus], f"{name}/tanh")], name)
    if function == "gelu":
        return _gelu(node, graph, x)
    raise NotExportable(f"no ONNX export for activation `{function}` (`{name}`, line {node.span.line})")


emit.register(ir.Activation, lambda node, layer, graph, x: _activation(node, graph, x))


@emit.register
def _(node: ir.PReLU, layer: LayerReport, graph: Graph, x: str) -> str:
    slope = graph.arrays[f"{node.name}.weight"]
    shaped = slope if node.shared else per_channel(slope, layer.input.rank)
    return graph.op("PRelu", [x, graph.weight(f"{node.name}.weight", shaped)], node.name)


@emit.register
def _(node: ir.Dropout, layer: LayerReport, graph: Graph, x: str) -> str:
    """ONNX's Dropout, the identity in inference: its ratio keeps the spec's p for `cnnc import`."""
    return graph.op("Dropout", [x, _scalar(graph, node, "ratio", node.p)], node.name)


@emit.register
def _(node: ir.DropPath, layer: LayerReport, graph: Graph, x: str) -> str:
    """Drop path is the identity in inference (ONNX has no operator for it)."""
    return graph.op("Identity", [x], node.name)


@emit.register
def _(node: ir.BatchNorm, layer: LayerReport, graph: Graph, x: str) -> str:
    """Inference: the running statistics."""
    inputs = [graph.weight(f"{node.name}.{what}") for what in ("weight", "bias", "running_mean", "running_var")]
    return graph.op("BatchNormalization", [x, *inputs], node.name, epsilon=node.eps)


def _affine(node: ir.Node, layer: LayerReport, graph: Graph, normalized: str) -> str:
    """normalized * weight + bias, per channel; the last node is the layer's."""
    rank = layer.input.rank
    weight = graph.weight(f"{node.name}.weight", per_channel(graph.arrays[f"{node.name}.weight"], rank))
    bias = graph.weight(f"{node.name}.bias", per_channel(graph.arrays[f"{node.name}.bias"], rank))
    return graph.op("Add", [graph.op("Mul", [normalized, weight], f"{node.name}/scaled"), bias], node.name)


@emit.register
def _(node: ir.LayerNorm, layer: LayerReport, graph: Graph, x: str) -> str:
    """ONNX's LayerNormalization over the last axis, with the channels moved there and back
    (ConvNeXt's LayerNorm2d as PyTorch exports it)."""
    rank, channels = layer.input.rank, layer.input.channels
    last = graph.op("Transpose", [x], f"{node.name}/channels_last", perm=[0, *range(2, rank + 2), 1]) if rank else x
    if node.affine:
        inputs = [graph.weight(f"{node.name}.weight"), graph.weight(f"{node.name}.bias")]
    else:
        inputs = [graph.constant(f"{node.name}/ones", np.ones(channels))]
    target = f"{node.name}/normalized" if rank else node.name
    normalized = graph.op("LayerNormalization", [last, *inputs], target, axis=-1, epsilon=node.eps)
    if not rank:
        return normalized
    return graph.op("Transpose", [normalized], node.name, perm=[0, rank + 1, *range(1, rank + 1)])


@emit.register
def _(node: ir.InstanceNorm, layer: LayerReport, graph: Graph, x: str) -> str:
    channels = layer.input.channels
    if node.affine:
        inputs = [graph.weight(f"{node.name}.weight"), graph.weight(f"{node.name}.bias")]
    else:
        inputs = [graph.constant(f"{node.name}/ones", np.ones(channels)),
                  graph.constant(f"{node.name}/zeros", np.zeros(channels))]
    return graph.op("InstanceNormalization", [x, *inputs], node.name, epsilon=node.eps)


@emit.register
def _(node: ir.GroupNorm, layer: LayerReport, graph: Graph, x: str) -> str:
    """Each group of channels (a contiguous run of C/G) with all positions as one instance of
    InstanceNormalization on (N, G, C/G * positions); then the per-channel scale and shift."""
    shape, groups = layer.input, node.groups
    grouped = reshape(graph, x, [groups, shape.size // groups], f"{node.name}/grouped")
    ones, zeros = (graph.constant(f"{node.name}/{what}", fill(groups)) for what, fill in (("ones", np.ones),
                                                                                          ("zeros", np.zeros)))
    target = f"{node.name}/normalized" if node.affine else f"{node.name}/instances"
    normalized = graph.op("InstanceNormalization", [grouped, ones, zeros], target, epsilon=node.eps)
    restored = [shape.channels, *shape.spatial]
    if not node.affine:
        return reshape(graph, normalized, restored, node.name)
    return _affine(node, layer, graph, reshape(graph, normalized, restored, f"{node.name}/ungrouped"))


@emit.register
def _(node: ir.LocalResponseNorm, layer: LayerReport, graph: Graph, x: str) -> str:
    """ONNX's LRN where its window is PyTorch's (an odd size, 4-D data); otherwise written out:
    the squares summed over each channel's window by a band matrix, then x / (k + alpha/size sum)^beta."""
    shape = layer.input
    if node.size % 2 == 1 and shape.rank == 2:
        return graph.op("LRN", [x], node.name, size=node.size, alpha=node.alpha, beta=node.beta, bias=node.k)
    before, after = node.size // 2, (node.size - 1) // 2
    channel = np.arange(shape.channels)
    band = (channel[np.newaxis, :] >= channel[:, np.newaxis] - before) & \
           (channel[np.newaxis, :] <= channel[:, np.newaxis] + after)  # band[c, j]: j in c's window
    positions = shape.size // shape.channels
    squares = reshape(graph, graph.op("Mul", [x, x], f"{node.name}/square"), [shape.channels, positions],
                      f"{node.name}/by_channel")
    sums = graph.op("MatMul", [graph.constant(f"{node.name}/window", band), squares], f"{node.name}/window_sums")
    sums = reshape(graph, sums, [shape.channels, *shape.spatial], f"{node.name}/sums")
    scaled = graph.op("Mul", [sums, _scalar(graph, node, "alpha_over_size", node.alpha / node.size)],
                      f"{node.name}/scaled")
    base = graph.op("Add", [scaled, _scalar(graph, node, "k", node.k)], f"{node.name}/base")
    factor = graph.op("Pow", [base, _scalar(graph, node, "minus_beta", -node.beta)], f"{node.name}/factor")
    return graph.op("Mul", [x, factor], node.name)


@emit.register
def _(node: ir.LayerScale, layer: LayerReport, graph: Graph, x: str) -> str:
    gamma = per_channel(graph.arrays[f"{node.name}.gamma"], layer.input.rank)
    return graph.op("Mul", [x, graph.weight(f"{node.name}.gamma", gamma)], node.name)
