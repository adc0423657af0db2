"""Lowering for the Numba backend: NumPy's lowering with compiled kernels swapped in, then ReLUs fused."""

from __future__ import annotations

from functools import singledispatch

from cnnc import ir
from cnnc.backends.numba import direct
from cnnc.backends.numba.layers import Convolution, MaxPool, ReluAfter
from cnnc.backends.numpy.kernel import Kernel
from cnnc.backends.numpy.layers import Activation, Dense
from cnnc.backends.numpy.program import ConcatBlock, ResidualBlock, Sequence, lower_layer
from cnnc.backends.numpy.program import lower as lower_with
from cnnc.report import LayerReport, Report


@singledispatch
def lower_layer_numba(node: ir.Node, layer: LayerReport, slope: float | None) -> Kernel:
    """The Numba kernel for one IR layer, or NumPy's where there is none (same parameters)."""
    return lower_layer(node, layer, slope)


@lower_layer_numba.register
def _(node: ir.Pool, layer: LayerReport, slope: float | None) -> Kernel:
    if node.mode == "max" and layer.input.rank in (1, 2):
        return MaxPool(node, layer)
    return lower_layer(node, layer, slope)


@lower_layer_numba.register
def _(node: ir.Conv, layer: LayerReport, slope: float | None) -> Kernel:
    if direct.chosen(node, layer):
        return direct.DirectConvolution(node, layer, slope)
    return Convolution(node, layer, slope)


def lower(network: ir.Network, report: Report) -> Sequence:
    """The network as one sequence of kernels, each conv/fc followed by a plain ReLU fused with it."""
    root = lower_with(network, report, lower_layer_numba)
    _fuse(root)
    return root


def _fuse(sequence: Sequence) -> None:
    """Replace (conv or fc, relu) pairs in ``sequence`` and every block inside it by one ``ReluAfter``
    (a direct convolution applies the ReLU itself)."""
    steps: list[Kernel] = []
    for step in sequence.steps:
        for inner in _sequences_in(step):
            _fuse(inner)
        if steps and _is_relu(step) and isinstance(steps[-1], direct.DirectConvolution) and not steps[-1].relu:
            steps[-1].fuse_relu(step)
        elif steps and _is_relu(step) and isinstance(steps[-1], (Convolution, Dense)):
            steps[-1] = ReluAfter(steps[-1], step)
        else:
            steps.append(step)
    sequence.steps = steps


def _sequences_in(step: Kernel) -> list[Sequence]:
    if isinstance(step, ResidualBlock):
        return [step.body, step.shortcut]
    if isinstance(step, ConcatBlock) or hasattr(step, "branches"):
        return list(step.branches)
    return []


def _is_relu(step: Kernel) -> bool:
    return isinstance(step, Activation) and step.node.function == "relu"
