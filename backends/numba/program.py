"""Lowering for the Numba backend: NumPy's lowering with compiled kernels swapped in, then ReLUs fused, then
max pools into the convolution and ReLU before them."""

from __future__ import annotations

from functools import singledispatch

from cnnc import ir
from cnnc.backends.numba import direct
from cnnc.backends.numba.layers import Convolution, MaxPool, ReluAfter, ReluPoolAfter
from cnnc.backends.numpy.fused import fuse_pairs, fuse_relus
from cnnc.backends.numpy.kernel import Kernel
from cnnc.backends.numpy.layers import Dense
from cnnc.backends.numpy.program import Sequence, lower_layer
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
    """The network as one sequence of kernels, each conv/fc followed by a plain ReLU fused with it, and each
    such convolution followed by a max pooling of windows apart fused with that too."""
    root = lower_with(network, report, lower_layer_numba)
    fuse_relus(root, _relu_after)
    fuse_pairs(root, _pool_after)
    return root


def _relu_after(step: Kernel, relu: Kernel) -> Kernel | None:
    """A direct convolution applies the ReLU itself; another convolution or a fully connected layer with
    its ReLU becomes one ``ReluAfter``."""
    if isinstance(step, direct.DirectConvolution) and not step.relu:
        step.fuse_relu(relu)
        return step
    if isinstance(step, (Convolution, Dense)):
        return ReluAfter(step, relu)
    return None


def _pool_after(step: Kernel, following: Kernel) -> Kernel | None:
    """A convolution with its ReLU (fused: ``ReluAfter``, or a direct convolution that applies it) and the max
    pooling after it, when that pool's windows do not overlap."""
    with_relu = ((isinstance(step, ReluAfter) and isinstance(step.layer, Convolution))
                 or (isinstance(step, direct.DirectConvolution) and step.relu))
    if with_relu and isinstance(following, MaxPool) and following.windows_apart:
        return ReluPoolAfter(step, following)
    return None
