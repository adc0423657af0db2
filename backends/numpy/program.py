"""Lowering the IR to kernels, and running them: sequences, residual, concat, add and multiply blocks."""

from __future__ import annotations

from collections.abc import Callable
from functools import singledispatch

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.adaptive import AdaptiveAvgPool, AdaptiveMaxPool
from cnnc.backends.numpy.channels import Shuffle, Slice
from cnnc.backends.numpy.conv import Convolution
from cnnc.backends.numpy.init import following_activations, relu_slope
from cnnc.backends.numpy.kernel import Kernel, Params, Pass, UnsupportedLayer
from cnnc.backends.numpy.layers import Activation, BatchNorm, Dense, Dropout, Flatten, PReLU
from cnnc.backends.numpy.merges import AddBlock, MultiplyBlock
from cnnc.backends.numpy.norms import DropPath, LayerScale, LocalResponseNorm, Normalization
from cnnc.backends.numpy.pool import AvgPool, GlobalAvgPool, MaxPool
from cnnc.backends.numpy.resample import Deconvolution, PixelShuffle, Upsample
from cnnc.report import LayerReport, Report


class Sequence:
    """Kernels run one after another; empty, it is the identity."""

    def __init__(self, steps: list[Kernel]) -> None:
        self.steps = steps

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, list | None]:
        """The output and each step's cache; without a backward pass to follow (``run.for_backward``
        false), ``infer``'s output and no caches (the blocks' branches then infer too)."""
        if not run.for_backward:
            return self.infer(x, params, run), None
        caches = []
        for step in self.steps:
            x, cache = step.forward(x, params, run)
            caches.append(cache)
        return x, caches

    def infer(self, x: np.ndarray, params: Params, run: Pass) -> np.ndarray:
        for step in self.steps:
            x = step.infer(x, params, run)
        return x

    def backward(self, dout: np.ndarray, caches: list, params: Params, need_dx: bool,
                 grads: Params) -> np.ndarray | None:
        """Gradients of every step's parameters go into ``grads``; returns the input's gradient
        (None when ``need_dx`` is false: the first layer then skips computing it)."""
        for index in range(len(self.steps) - 1, -1, -1):
            dout, found = self.steps[index].backward(dout, caches[index], params, need_dx or index > 0)
            grads.update(found)
        return dout if need_dx else None

    def kernels(self):
        """Every kernel, blocks' kernels included, in execution order."""
        for step in self.steps:
            if isinstance(step, (ResidualBlock, ConcatBlock, AddBlock, MultiplyBlock)):
                yield from step.kernels()
            else:
                yield step


class ResidualBlock(Kernel):
    """body(x) + shortcut(x); an empty shortcut is the identity."""

    def __init__(self, node: ir.Residual, body: Sequence, shortcut: Sequence) -> None:
        self.name = node.name
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        body, body_cache = self.body.forward(x, params, run)
        shortcut, shortcut_cache = self.shortcut.forward(x, params, run)
        return body + shortcut, (body_cache, shortcut_cache)

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        grads: Params = {}
        dbody = self.body.backward(dout, cache[0], params, need_dx, grads)
        dshortcut = self.shortcut.backward(dout, cache[1], params, need_dx, grads)
        return (dbody + dshortcut if need_dx else None), grads

    def kernels(self):
        yield from self.body.kernels()
        yield from self.shortcut.kernels()


class ConcatBlock(Kernel):
    """Every branch on the same input, outputs joined along the channel axis."""

    def __init__(self, node: ir.Concat, branches: list[Sequence]) -> None:
        self.name = node.name
        self.branches = branches

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        outputs, caches = zip(*(branch.forward(x, params, run) for branch in self.branches))
        bounds = np.cumsum([0] + [out.shape[-1] for out in outputs])
        return np.concatenate(outputs, axis=-1), (caches, bounds)

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        caches, bounds = cache
        grads: Params = {}
        dx = None
        for branch, branch_cache, start, stop in zip(self.branches, caches, bounds[:-1], bounds[1:]):
            dbranch = branch.backward(dout[..., start:stop], branch_cache, params, need_dx, grads)
            if need_dx:
                dx = dbranch if dx is None else dx + dbranch
        return dx, grads

    def kernels(self):
        for branch in self.branches:
            yield from branch.kernels()


class _Lowering:
    def __init__(self, network: ir.Network, report: Report, lower_one: Callable | None) -> None:
        self.layers: dict[str, LayerReport] = {layer.name: layer for layer in report.layers}
        self.activations = following_activations(network.layers)
        self.lower_one = lower_one or lower_layer

    def sequence(self, nodes: tuple[ir.Node, ...]) -> Sequence:
        return Sequence([self.node(node) for node in nodes])

    def node(self, node: ir.Node) -> Kernel:
        if isinstance(node, ir.Residual):
            return ResidualBlock(node, self.sequence(node.body), self.sequence(node.shortcut))
        if isinstance(node, ir.Concat):
            return ConcatBlock(node, [self.sequence(branch) for branch in node.branches])
        if isinstance(node, (ir.Add, ir.Multiply)):
            block = AddBlock if isinstance(node, ir.Add) else MultiplyBlock
            return block(node, self.layers[node.name], [self.sequence(branch) for branch in node.branches])
        return self.lower_one(node, self.layers[node.name], relu_slope(self.activations.get(node.name)))


@singledispatch
def lower_layer(node: ir.Node, layer: LayerReport, slope: float | None) -> Kernel:
    """The kernel for one IR layer; ``slope`` is the ReLU slope that follows it (for He init)."""
    raise UnsupportedLayer(node, "numpy")


lower_layer.register(ir.Conv, lambda node, layer, slope: Convolution(node, layer, slope))
lower_layer.register(ir.Dense, lambda node, layer, slope: Dense(node, layer, slope))
for _kind, _kernel in ((ir.Flatten, Flatten), (ir.Activation, Activation), (ir.Dropout, Dropout),
                       (ir.BatchNorm, BatchNorm), (ir.GlobalAvgPool, GlobalAvgPool),
                       (ir.LayerNorm, Normalization), (ir.GroupNorm, Normalization), (ir.InstanceNorm, Normalization),
                       (ir.LocalResponseNorm, LocalResponseNorm), (ir.LayerScale, LayerScale),
                       (ir.DropPath, DropPath), (ir.GlobalMaxPool, AdaptiveMaxPool), (ir.PReLU, PReLU)):
    lower_layer.register(_kind, lambda node, layer, slope, _kernel=_kernel: _kernel(node, layer))
lower_layer.register(ir.Pool, lambda node, layer, slope: (MaxPool if node.mode == "max" else AvgPool)(node, layer))
lower_layer.register(ir.AdaptivePool, lambda node, layer, slope:
                     (AdaptiveMaxPool if node.mode == "max" else AdaptiveAvgPool)(node, layer))
lower_layer.register(ir.Deconv, lambda node, layer, slope: Deconvolution(node, layer, slope))
for _kind, _kernel in ((ir.Upsample, Upsample), (ir.PixelShuffle, PixelShuffle), (ir.Slice, Slice),
                       (ir.Shuffle, Shuffle)):
    lower_layer.register(_kind, lambda node, layer, slope, _kernel=_kernel: _kernel(node, layer))


def lower(network: ir.Network, report: Report, lower_one: Callable | None = None) -> Sequence:
    """The network as one sequence of kernels; raises UnsupportedLayer for a layer with none.
    ``lower_one(node, layer, slope)`` lowers each layer (default: ``lower_layer``, NumPy's kernels);
    another backend passes its own, falling back to NumPy's where it has none."""
    return _Lowering(network, report, lower_one).sequence(network.layers)
