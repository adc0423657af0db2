"""The PyTorch exporter: an IR and its report lowered to a ``torch.nn.Module`` with the weights of
a NumPy-backend model copied in.

The exported module takes and returns cnnc's channels-last arrays (N, *spatial, C) and moves the
channels to torch's axis 1 inside. Every layer uses torch's own option where torch has one (padding,
``ceil_mode``, ``count_include_pad``); only what torch cannot express is written out: asymmetric
`same` padding, pooling padding above half the kernel (or around an input smaller than the kernel),
and a conv's ``round=ceil`` become an explicit ``F.pad`` first. An fc after a spatial input gets
its weight permuted from cnnc's (*spatial, C) flattening order to torch's (C, *spatial); cnnc's
`flatten` keeps cnnc's order, so whatever follows it sees the same vector.

Not expressible: an avg pool with ``round=ceil`` whose window exceeds the padded input (an error),
or with asymmetric (`same`) padding whose last ceil-mode window would start inside the right
padding (cnnc drops that window, torch would keep it on the padded input)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cnnc import ir
from cnnc.backends.numpy.windows import Geometry, geometry
from cnnc.report import LayerReport, Report

if TYPE_CHECKING:
    from cnnc.model import Model

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_MAXPOOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
_AVGPOOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
_GLOBAL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
_BATCHNORM = {0: nn.BatchNorm1d, 1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


class Pad(nn.Module):
    """Constant padding given per spatial dimension as (before, after), first dimension first."""

    def __init__(self, pads: tuple[tuple[int, int], ...], value: float) -> None:
        super().__init__()
        self.pads = tuple(amount for pair in reversed(pads) for amount in pair)  # F.pad: last dim first
        self.value = value

    def forward(self, x):
        return F.pad(x, self.pads, value=self.value)


class Residual(nn.Module):
    def __init__(self, body: nn.Module, shortcut: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class Concat(nn.Module):
    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class Add(nn.Module):
    """The sum of the branches (one shape)."""

    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        outputs = [branch(x) for branch in self.branches]
        total = outputs[0]
        for out in outputs[1:]:
            total = total + out
        return total


class Multiply(nn.Module):
    """The elementwise product of the branches, broadcast; a flat (N, C) output stands for
    (N, C, 1, .., 1) against the spatial ones (torch's channels-first layout)."""

    def __init__(self, branches: list[nn.Module], rank: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.rank = rank

    def forward(self, x):
        product = None
        for branch in self.branches:
            out = branch(x)
            if out.dim() == 2 and self.rank:
                out = out.reshape(*out.shape, *(1,) * self.rank)
            product = out if product is None else product * out
        return product


class ChannelsLastFlatten(nn.Module):
    """cnnc's `flatten`: (*spatial, C) order, so what follows sees the same vector as in cnnc."""

    def forward(self, x):
        return x.movedim(1, -1).flatten(1) if x.dim() > 2 else x


class Exported(nn.Module):
    """The network on channels-last tensors, as cnnc: channels move to axis 1 and back."""

    def __init__(self, body: nn.Sequential, input_rank: int, output_rank: int) -> None:
        super().__init__()
        self.body = body
        self.input_rank = input_rank
        self.output_rank = output_rank

    def forward(self, x):
        if self.input_rank:
            x = x.movedim(-1, 1)
        y = self.body(x)
        return y.movedim(1, -1) if self.output_rank else y


def to_torch(model: Model) -> Exported:
    """``model`` as a torch module of the same dtype, with copies of its parameters and buffers."""
    network = model.network
    return export(network.ir, network.report, model.params, model.buffers,
                  torch.float64 if model.dtype == np.float64 else torch.float32)


def export(network: ir.Network, report: Report, params: dict[str, np.ndarray], buffers: dict[str, np.ndarray],
           dtype: torch.dtype = torch.float32) -> Exported:
    """A torch module for ``network`` holding ``params`` and ``buffers`` (cnnc's names and layouts)
    in torch's layouts. Any arrays of the parameters' shapes will do: exporting gradients lays
    them out as torch's ``.grad``."""
    layers = {layer.name: layer for layer in report.layers}
    body = _sequence(network.layers, layers, {**params, **buffers})
    return Exported(body, report.input.rank, report.output.rank).to(dtype)


def _sequence(nodes: tuple[ir.Node, ...], layers: dict[str, LayerReport], arrays: dict) -> nn.Sequential:
    return nn.Sequential(*(_module(node, layers, arrays) for node in nodes))


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, dtype=np.float64))


def _module(node: ir.Node, layers: dict[str, LayerReport], arrays: dict) -> nn.Module:
    if isinstance(node, ir.Residual):
        shortcut = _sequence(node.shortcut, layers, arrays) if node.shortcut else nn.Identity()
        return Residual(_sequence(node.body, layers, arrays), shortcut)
    if isinstance(node, ir.Concat):
        return Concat([_sequence(branch, layers, arrays) for branch in node.branches])
    if isinstance(node, ir.Add):
        return Add([_sequence(branch, layers, arrays) for branch in node.branches])
    if isinstance(node, ir.Multiply):
        return Multiply([_sequence(branch, layers, arrays) for branch in node.branches], layers[node.name].output.rank)
    layer = layers[node.name]
    rank = layer.input.rank
    if isinstance(node, ir.Conv):
        return _conv(node, layer, arrays)
    if isinstance(node, ir.Pool):
        return _pool(node, layer)
    if isinstance(node, ir.GlobalAvgPool):
        return _GLOBAL[rank](1)
    if isinstance(node, ir.Dense):
        return _dense(node, layer, arrays)
    if isinstance(node, ir.Flatten):
        return ChannelsLastFlatten()
    if isinstance(node, ir.Activation):
        return {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
                "leakyrelu": lambda: nn.LeakyReLU(node.slope), "softmax": lambda: nn.Softmax(dim=1)}[node.function]()
    if isinstance(node, ir.Dropout):
        return nn.Dropout(node.p)
    if isinstance(node, ir.BatchNorm):
        norm = _BATCHNORM[rank](layer.input.channels, eps=node.eps, momentum=node.momentum).double()
        with torch.no_grad():
            for what in ("weight", "bias", "running_mean", "running_var"):
                getattr(norm, what).copy_(_tensor(arrays[f"{node.name}.{what}"]))
        return norm
    raise NotImplementedError(f"no torch export for `{node.kind}` layer `{node.name}`")


def _symmetric(geo: Geometry) -> int | None:
    """The one padding torch's own option can take for every dimension, or None."""
    befores = {before for before, _ in geo.pads}
    if any(before != after for before, after in geo.pads) or len(befores) != 1:
        return None
    return befores.pop()


def _conv(node: ir.Conv, layer: LayerReport, arrays: dict) -> nn.Module:
    geo = geometry(node, layer)
    padding = _symmetric(geo)
    explicit = padding is None or any(geo.extra)
    conv = _CONV[geo.rank](layer.input.channels, node.filters, geo.kernel, stride=geo.stride,
                           padding=0 if explicit else padding, dilation=geo.dilation, groups=node.groups,
                           bias=node.bias).double()
    weight = arrays[f"{node.name}.weight"]  # (*kernel, C/G, F) -> (F, C/G, *kernel)
    with torch.no_grad():
        conv.weight.copy_(_tensor(np.moveaxis(weight, (-1, -2), (0, 1))))
        if node.bias:
            conv.bias.copy_(_tensor(arrays[f"{node.name}.bias"]))
    if not explicit:
        return conv
    pads = tuple((before, after + extra) for (before, after), extra in zip(geo.pads, geo.extra))
    return nn.Sequential(Pad(pads, 0.0), conv)


def _pool(node: ir.Pool, layer: LayerReport) -> nn.Module:
    geo = geometry(node, layer)
    padding = _symmetric(geo)
    kinds = _MAXPOOL if node.mode == "max" else _AVGPOOL
    options = {} if node.mode == "max" else {"count_include_pad": True}
    native = all(padding is not None and padding <= k // 2 and n >= k for n, k in zip(geo.input, geo.kernel))
    if native:  # torch's own padding: at most half the kernel, and (3-D avg pool) no input below the kernel
        return kinds[geo.rank](geo.kernel, geo.stride, padding, ceil_mode=node.ceil_mode, **options)
    if node.mode == "max":  # -inf padding, and the ceil-mode window written out as more of it
        pads = tuple((before, after + extra) for (before, after), extra in zip(geo.pads, geo.extra))
        return nn.Sequential(Pad(pads, float("-inf")), kinds[geo.rank](geo.kernel, geo.stride, 0))
    if any(n + before + after < k for n, (before, after), k in zip(geo.input, geo.pads, geo.kernel)):
        raise NotImplementedError(f"torch has no average pooling whose window exceeds its padded input "
                                  f"(`{node.name}`, line {node.span.line})")
    return nn.Sequential(Pad(geo.pads, 0.0),
                         kinds[geo.rank](geo.kernel, geo.stride, 0, ceil_mode=node.ceil_mode, **options))


def _dense(node: ir.Dense, layer: LayerReport, arrays: dict) -> nn.Module:
    weight = arrays[f"{node.name}.weight"]  # (features, units), features in (*spatial, C) order
    shape = layer.input
    if shape.rank:
        spatial = weight.reshape(*shape.spatial, shape.channels, node.units)
        weight = np.moveaxis(spatial, (-1, -2), (0, 1)).reshape(node.units, shape.size)
    else:
        weight = weight.T
    linear = nn.Linear(shape.size, node.units, bias=node.bias).double()
    with torch.no_grad():
        linear.weight.copy_(_tensor(weight))
        if node.bias:
            linear.bias.copy_(_tensor(arrays[f"{node.name}.bias"]))
    return nn.Sequential(nn.Flatten(), linear) if shape.rank else linear
