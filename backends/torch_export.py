"""The PyTorch exporter: an IR and its report lowered to a ``torch.nn.Module`` with the weights of
a NumPy-backend model copied in.

The exported module takes and returns cnnc's channels-last arrays (N, *spatial, C) and moves the
channels to torch's axis 1 inside. Every layer uses torch's own option where torch has one (padding,
``ceil_mode``, ``count_include_pad``); only what torch cannot express is written out: asymmetric
`same` padding, pooling padding above half the kernel (or around an input smaller than the kernel),
and a conv's ``round=ceil`` become an explicit ``F.pad`` first. An fc after a spatial input gets
its weight permuted from cnnc's (*spatial, C) flattening order to torch's (C, *spatial); cnnc's
`flatten` keeps cnnc's order, so whatever follows it sees the same vector. `layernorm` is torch's
LayerNorm applied with the channels moved last (ConvNeXt's LayerNorm2d); `layerscale` and `droppath`
are small modules of their own (ConvNeXt's gamma, timm's DropPath); `globalmaxpool` is
AdaptiveMaxPool(1); the other norms and adaptive pools are torch's own modules. A deconv's weight (*kernel, F/G, C)
becomes ConvTranspose's (C, F/G, *kernel) by the same axis move as a conv's; `upsample` is nn.Upsample with
the factor or the size; `pixelshuffle` is nn.PixelShuffle in 2-D and the same channel order written out in
1-D and 3-D (torch's module is 2-D only); `slice` and `shuffle` are small modules of their own.

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
from cnnc.shapes import per_dimension

if TYPE_CHECKING:
    from cnnc.model import Model

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_MAXPOOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
_AVGPOOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
_GLOBAL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
_BATCHNORM = {0: nn.BatchNorm1d, 1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_INSTANCENORM = {1: nn.InstanceNorm1d, 2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}
_ADAPTIVE_AVG = _GLOBAL
_ADAPTIVE_MAX = {1: nn.AdaptiveMaxPool1d, 2: nn.AdaptiveMaxPool2d, 3: nn.AdaptiveMaxPool3d}

ACTIVATIONS = {
    "relu": lambda node: nn.ReLU(), "sigmoid": lambda node: nn.Sigmoid(), "tanh": lambda node: nn.Tanh(),
    "leakyrelu": lambda node: nn.LeakyReLU(node.slope), "softmax": lambda node: nn.Softmax(dim=1),
    "relu6": lambda node: nn.ReLU6(), "silu": lambda node: nn.SiLU(), "hardswish": lambda node: nn.Hardswish(),
    "hardsigmoid": lambda node: nn.Hardsigmoid(), "mish": lambda node: nn.Mish(), "selu": lambda node: nn.SELU(),
    "gelu": lambda node: nn.GELU(approximate=node.approximate), "elu": lambda node: nn.ELU(node.alpha),
}
"""The torch module of each activation function, made from its IR node."""

_DECONV = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_LINEAR_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


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


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels at every position (ConvNeXt's LayerNorm2d): torch's LayerNorm
    normalises the last axis, so the channels move there and back."""

    def forward(self, x):
        return super().forward(x.movedim(1, -1)).movedim(-1, 1) if x.dim() > 2 else super().forward(x)


class LayerScale(nn.Module):
    """ConvNeXt's gamma: one learned multiplier per channel."""

    def __init__(self, channels: int, init: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), init))

    def forward(self, x):
        return x * self.gamma.reshape(-1, *(1,) * (x.dim() - 2))


class DropPath(nn.Module):
    """Stochastic depth (timm's DropPath): in training, each example kept with probability 1 - p
    and scaled by 1 / (1 - p); the identity in evaluation."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class PixelShuffle(nn.Module):
    """nn.PixelShuffle's channel order at any rank: channel ``c * r**rank + offset`` moves to channel c
    at the position whose per-dimension offsets, read as base-r digits (first dimension most
    significant), are ``offset``. In 2-D it equals nn.PixelShuffle (used there)."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x):
        batch, channels, *spatial = x.shape
        rank, r = len(spatial), self.factor
        split = x.reshape(batch, channels // r ** rank, *(r,) * rank, *spatial)
        order = (0, 1, *(axis for d in range(rank) for axis in (2 + rank + d, 2 + d)))
        return split.permute(order).reshape(batch, channels // r ** rank, *(n * r for n in spatial))


class Slice(nn.Module):
    """cnnc's `slice`: channels [start, stop)."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x):
        return x[:, self.start:self.stop]


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle: channels viewed as (groups, C/groups), transposed, flattened."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x):
        batch, channels, *spatial = x.shape
        split = x.reshape(batch, self.groups, channels // self.groups, *spatial)
        return split.transpose(1, 2).reshape(x.shape)


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
        return ACTIVATIONS[node.function](node)
    if isinstance(node, ir.PReLU):
        prelu = nn.PReLU(1 if node.shared else layer.input.channels, init=0.25).double()
        with torch.no_grad():
            prelu.weight.copy_(_tensor(arrays[f"{node.name}.weight"]))
        return prelu
    if isinstance(node, ir.Dropout):
        return nn.Dropout(node.p)
    if isinstance(node, (ir.LayerNorm, ir.GroupNorm, ir.InstanceNorm, ir.LocalResponseNorm, ir.LayerScale,
                         ir.DropPath, ir.GlobalMaxPool, ir.AdaptivePool)):
        return _v2_module(node, layer, arrays)
    if isinstance(node, ir.BatchNorm):
        norm = _BATCHNORM[rank](layer.input.channels, eps=node.eps, momentum=node.momentum).double()
        with torch.no_grad():
            for what in ("weight", "bias", "running_mean", "running_var"):
                getattr(norm, what).copy_(_tensor(arrays[f"{node.name}.{what}"]))
        return norm
    if isinstance(node, ir.Upsample):
        return _upsample(node, layer)
    if isinstance(node, ir.Deconv):
        return _deconv(node, layer, arrays)
    if isinstance(node, ir.PixelShuffle):
        return nn.PixelShuffle(node.factor) if rank == 2 else PixelShuffle(node.factor)
    if isinstance(node, ir.Slice):
        return Slice(node.start, node.stop)
    if isinstance(node, ir.Shuffle):
        return ChannelShuffle(node.groups)
    raise NotImplementedError(f"no torch export for `{node.kind}` layer `{node.name}`")


def _v2_module(node: ir.Node, layer: LayerReport, arrays: dict) -> nn.Module:
    """Normalisations, layer scale, drop path and the adaptive and global max pools."""
    rank, channels = layer.input.rank, layer.input.channels
    if isinstance(node, ir.GlobalMaxPool):
        return _ADAPTIVE_MAX[rank](1)
    if isinstance(node, ir.AdaptivePool):
        return (_ADAPTIVE_MAX if node.mode == "max" else _ADAPTIVE_AVG)[rank](layer.output.spatial)
    if isinstance(node, ir.LocalResponseNorm):
        return nn.LocalResponseNorm(node.size, alpha=node.alpha, beta=node.beta, k=node.k)
    if isinstance(node, ir.DropPath):
        return DropPath(node.p)
    if isinstance(node, ir.LayerScale):
        module: nn.Module = LayerScale(channels, node.init).double()
        names = ("gamma",)
    elif isinstance(node, ir.LayerNorm):
        module = ChannelLayerNorm(channels, eps=node.eps, elementwise_affine=node.affine).double()
        names = ("weight", "bias") if node.affine else ()
    elif isinstance(node, ir.GroupNorm):
        module = nn.GroupNorm(node.groups, channels, eps=node.eps, affine=node.affine).double()
        names = ("weight", "bias") if node.affine else ()
    else:
        module = _INSTANCENORM[rank](channels, eps=node.eps, affine=node.affine).double()
        names = ("weight", "bias") if node.affine else ()
    with torch.no_grad():
        for what in names:
            getattr(module, what).copy_(_tensor(arrays[f"{node.name}.{what}"]))
    return module


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


def _upsample(node: ir.Upsample, layer: LayerReport) -> nn.Module:
    """nn.Upsample with the factor (torch then scales by 1/factor, as cnnc) or the size."""
    rank = layer.input.rank
    mode = "nearest" if node.mode == "nearest" else _LINEAR_MODES[rank]
    corners = None if node.mode == "nearest" else node.align_corners
    if node.factor is not None:
        factor = per_dimension(node.factor, rank)
        return nn.Upsample(scale_factor=tuple(float(f) for f in factor), mode=mode, align_corners=corners)
    return nn.Upsample(size=layer.output.spatial, mode=mode, align_corners=corners)


def _deconv(node: ir.Deconv, layer: LayerReport, arrays: dict) -> nn.Module:
    rank = layer.input.rank
    kernel, stride, pad, output_pad, dilation = (per_dimension(v, rank) for v in (
        node.kernel, node.stride, node.pad, node.output_pad, node.dilation))
    deconv = _DECONV[rank](layer.input.channels, node.filters, kernel, stride=stride, padding=pad,
                           output_padding=output_pad, groups=node.groups, bias=node.bias,
                           dilation=dilation).double()
    weight = arrays[f"{node.name}.weight"]  # (*kernel, F/G, C) -> (C, F/G, *kernel), as a conv's
    with torch.no_grad():
        deconv.weight.copy_(_tensor(np.moveaxis(weight, (-1, -2), (0, 1))))
        if node.bias:
            deconv.bias.copy_(_tensor(arrays[f"{node.name}.bias"]))
    return deconv
