"""ONNX nodes for pooling (windowed, global, adaptive), resampling and channel rearrangements.

Each emitter follows ``layers.emit``'s contract: channels-first values, the layer's name on its last
node and its output. Pools use ONNX's own operators wherever their semantics are cnnc's (PyTorch's);
what ONNX cannot say is written out with static constants computed here."""

from __future__ import annotations

from math import prod

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.adaptive import adaptive_bounds
from cnnc.backends.numpy.resample import interpolation_matrix
from cnnc.backends.numpy.windows import Geometry, geometry
from cnnc.backends.onnx.graph import Graph, reshape
from cnnc.backends.onnx.layers import emit
from cnnc.report import LayerReport
from cnnc.shapes import per_dimension


def _pad(graph: Graph, x: str, geo: Geometry, value: float, name: str) -> str:
    """``x`` padded with ``value``: the resolved padding, plus the ceil-mode window's reach past it."""
    begins = [0, 0, *(before for before, _ in geo.pads)]
    ends = [0, 0, *(after + extra for (_, after), extra in zip(geo.pads, geo.extra))]
    pads = graph.constant(f"{name}/pads", begins + ends, np.int64)
    return graph.op("Pad", [x, pads, graph.constant(f"{name}/value", value)], f"{name}/pad", mode="constant")


def _native(geo: Geometry) -> bool:
    """Whether ONNX's own pool padding says it: no ceil-mode window past the padding, and (as ONNX
    Runtime requires) each pad below the kernel."""
    return not any(geo.extra) and all(before < k and after < k for (before, after), k in zip(geo.pads, geo.kernel))


def window_counts(geo: Geometry) -> np.ndarray:
    """(*output): how many positions of input and padding each average-pool window covers; a
    ceil-mode window hanging past the right padding counts only what lies inside (PyTorch's divisor)."""
    counts = []
    for n, o, k, s, (before, after) in zip(geo.input, geo.output, geo.kernel, geo.stride, geo.pads):
        starts = np.arange(o) * s - before
        counts.append(np.minimum(starts + k, n + after) - starts)
    total = counts[0]
    for count in counts[1:]:
        total = np.multiply.outer(total, count)
    return np.asarray(total, dtype=np.float64)


@emit.register
def _(node: ir.Pool, layer: LayerReport, graph: Graph, x: str) -> str:
    geo = geometry(node, layer)
    window = {"kernel_shape": list(geo.kernel), "strides": list(geo.stride)}
    op = "MaxPool" if node.mode == "max" else "AveragePool"
    if node.mode == "avg":
        window["count_include_pad"] = 1
    if _native(geo):
        return graph.op(op, [x], node.name, pads=[b for b, _ in geo.pads] + [a for _, a in geo.pads], **window)
    padded = _pad(graph, x, geo, float("-inf") if node.mode == "max" else 0.0, node.name)
    counts = window_counts(geo)
    if node.mode == "max" or np.all(counts == geo.taps):
        return graph.op(op, [padded], node.name, **window)
    # AveragePool divides by the whole kernel; cnnc by the window's part inside input and padding
    pooled = graph.op(op, [padded], f"{node.name}/pooled", **window)
    return graph.op("Mul", [pooled, graph.constant(f"{node.name}/divisor_correction", geo.taps / counts)], node.name)


emit.register(ir.GlobalAvgPool, lambda node, layer, graph, x: graph.op("GlobalAveragePool", [x], node.name))
emit.register(ir.GlobalMaxPool, lambda node, layer, graph, x: graph.op("GlobalMaxPool", [x], node.name))


@emit.register
def _(node: ir.AdaptivePool, layer: LayerReport, graph: Graph, x: str) -> str:
    """PyTorch's adaptive windows [floor(i n/o), ceil((i+1) n/o)). When every output divides its
    input they are a plain pool (kernel = stride = n/o); otherwise they are separable: one axis at a
    time, an averaging matrix (MatMul) or a maximum per output window (Slice, ReduceMax, Concat)."""
    sizes, outputs = layer.input.spatial, layer.output.spatial
    if all(n % o == 0 for n, o in zip(sizes, outputs)):
        kernel = [n // o for n, o in zip(sizes, outputs)]
        op = "MaxPool" if node.mode == "max" else "AveragePool"
        return graph.op(op, [x], node.name, kernel_shape=kernel, strides=kernel)
    axes = [axis for axis, (n, o) in enumerate(zip(sizes, outputs)) if n != o]
    current = list(sizes)
    for index, axis in enumerate(axes):
        name = node.name if index == len(axes) - 1 else f"{node.name}/axis{axis}"
        bounds = adaptive_bounds(current[axis], outputs[axis])
        if node.mode == "avg":
            matrix = np.zeros((outputs[axis], current[axis]))
            for row, (start, end) in enumerate(bounds):
                matrix[row, start:end] = 1 / (end - start)
            x = _along_axis(graph, x, layer.input.channels, current, axis, matrix, name)
        else:
            x = _max_along_axis(graph, x, axis, bounds, name)
        current[axis] = outputs[axis]
    return x


def _along_axis(graph: Graph, x: str, channels: int, sizes: list[int], axis: int, matrix: np.ndarray,
                name: str) -> str:
    """``matrix`` (out, in) applied along one spatial axis of (N, C, *sizes): the value seen as
    (N, C * before, in, after) so that MatMul(matrix, value) mixes that axis alone."""
    before, after = channels * prod(sizes[:axis]), prod(sizes[axis + 1:])
    view = reshape(graph, x, [before, sizes[axis], after], f"{name}/view")
    mixed = graph.op("MatMul", [graph.constant(f"{name}/matrix", matrix), view], f"{name}/mixed")
    result = list(sizes)
    result[axis] = matrix.shape[0]
    return reshape(graph, mixed, [channels, *result], name)


def _max_along_axis(graph: Graph, x: str, axis: int, bounds: list[tuple[int, int]], name: str) -> str:
    """The maximum of each window along one spatial axis, windows joined in order."""
    onnx_axis = axis + 2
    parts = []
    for index, (start, end) in enumerate(bounds):
        part = f"{name}/window{index}"
        sliced = graph.op("Slice", [x, graph.constant(f"{part}/starts", [start], np.int64),
                                    graph.constant(f"{part}/ends", [end], np.int64),
                                    graph.constant(f"{part}/axes", [onnx_axis], np.int64)], f"{part}/slice")
        axes = graph.constant(f"{part}/axes_reduced", [onnx_axis], np.int64)
        parts.append(graph.op("ReduceMax", [sliced, axes], part, keepdims=1))
    return graph.op("Concat", parts, name, axis=onnx_axis)


@emit.register
def _(node: ir.Upsample, layer: LayerReport, graph: Graph, x: str) -> str:
    """ONNX's Resize when every output size is a whole multiple of its input (always so with a
    factor): nearest as PyTorch (asymmetric coordinates, floor), linear with PyTorch's half-pixel or
    align-corners coordinates. Other sizes get cnnc's own interpolation, one axis at a time: a Gather
    of the nearest positions or a MatMul of the linear weights (exact, where Resize would compute the
    scale in floating point)."""
    rank, sizes, outputs = layer.input.rank, layer.input.spatial, layer.output.spatial
    factors = per_dimension(node.factor, rank) if node.factor is not None else (None,) * rank
    linear = node.mode == "linear"
    if all(n and o % n == 0 for n, o in zip(sizes, outputs)):
        scales = graph.constant(f"{node.name}/scales", [o / n for n, o in zip(sizes, outputs)])
        coordinates = ("align_corners" if node.align_corners else "pytorch_half_pixel") if linear else "asymmetric"
        options = {"nearest_mode": "floor"} if not linear else {}
        resized = graph.op("Resize", [x, "", scales], node.name, mode="linear" if linear else "nearest",
                           axes=list(range(2, rank + 2)), coordinate_transformation_mode=coordinates, **options)
        graph.declare(resized, [layer.output.channels, *outputs])
        return resized
    axes = [axis for axis, (n, o) in enumerate(zip(sizes, outputs)) if n != o or linear]
    current = list(sizes)
    for index, axis in enumerate(axes):
        name = node.name if index == len(axes) - 1 else f"{node.name}/axis{axis}"
        matrix = interpolation_matrix(sizes[axis], outputs[axis], node.mode, node.align_corners, factors[axis])
        if linear:
            x = _along_axis(graph, x, layer.input.channels, current, axis, matrix, name)
        else:
            x = graph.op("Gather", [x, graph.constant(f"{name}/positions", matrix.argmax(axis=1), np.int64)], name,
                         axis=axis + 2)
        current[axis] = outputs[axis]
    if not axes:  # the same size: nearest copies
        return graph.op("Identity", [x], node.name)
    return x


@emit.register
def _(node: ir.PixelShuffle, layer: LayerReport, graph: Graph, x: str) -> str:
    """ONNX's DepthToSpace in CRD mode (PyTorch's PixelShuffle) in 2-D; the same channel order written
    out as Reshape, Transpose, Reshape at other ranks."""
    rank, r = layer.input.rank, node.factor
    if rank == 2:
        return graph.op("DepthToSpace", [x], node.name, blocksize=r, mode="CRD")
    spatial, channels = list(layer.input.spatial), layer.output.channels
    split = reshape(graph, x, [channels, *(r,) * rank, *spatial], f"{node.name}/split")
    # (N, C, r1..rk, S1..Sk) -> (N, C, S1, r1, ..., Sk, rk)
    order = [0, 1, *(axis for d in range(rank) for axis in (2 + rank + d, 2 + d))]
    moved = graph.op("Transpose", [split], f"{node.name}/interleaved", perm=order)
    return reshape(graph, moved, [channels, *(n * r for n in spatial)], node.name)


@emit.register
def _(node: ir.Slice, layer: LayerReport, graph: Graph, x: str) -> str:
    return graph.op("Slice", [x, graph.constant(f"{node.name}/starts", [node.start], np.int64),
                              graph.constant(f"{node.name}/ends", [node.stop], np.int64),
                              graph.constant(f"{node.name}/axes", [1], np.int64)], node.name)


@emit.register
def _(node: ir.Shuffle, layer: LayerReport, graph: Graph, x: str) -> str:
    """Channels seen as (G, C/G), transposed, flattened."""
    shape, groups = layer.input, node.groups
    split = reshape(graph, x, [groups, shape.channels // groups, *shape.spatial], f"{node.name}/split")
    swapped = graph.op("Transpose", [split], f"{node.name}/swapped",
                       perm=[0, 2, 1, *range(3, shape.rank + 3)])
    return reshape(graph, swapped, [shape.channels, *shape.spatial], node.name)
