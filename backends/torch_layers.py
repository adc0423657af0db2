"""Each layer of the IR as PyTorch source (its ``nn`` module and the call in ``forward``), and its
NumPy-backend arrays in that module's layout: one registry entry per kind of layer.

The generated code is channels-first, as torch users write it, with the NumPy backend's exact
semantics: padding torch's modules cannot take (asymmetric `same`, a ceil-mode window past the
padding, pooling padding above half the kernel) is an ``F.pad`` before the module; a flattened
channels-first volume has its features in (C, *spatial) order, so the `fc` that reads it (and any
per-feature layer on the way) gets its arrays permuted from cnnc's (*spatial, C) order."""

from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatch

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.windows import Geometry, geometry
from cnnc.report import LayerReport
from cnnc.shapes import per_dimension


@dataclass(frozen=True)
class Code:
    """One layer in the generated file: ``module`` is the constructor its attribute holds (None for a
    layer written as plain code), ``call`` the expression of its output, with ``{x}`` for its input
    and ``{self}`` for its attribute (``self.conv1``)."""

    module: str | None
    call: str = "{self}({x})"
    support: str | None = None  # a class of the generated file that the module needs


ACTIVATIONS = {
    "relu": lambda node: "nn.ReLU()", "sigmoid": lambda node: "nn.Sigmoid()", "tanh": lambda node: "nn.Tanh()",
    "leakyrelu": lambda node: f"nn.LeakyReLU({_real(node.slope)})", "softmax": lambda node: "nn.Softmax(dim=1)",
    "relu6": lambda node: "nn.ReLU6()", "silu": lambda node: "nn.SiLU()", "hardswish": lambda node: "nn.Hardswish()",
    "hardsigmoid": lambda node: "nn.Hardsigmoid()", "mish": lambda node: "nn.Mish()", "selu": lambda node: "nn.SELU()",
    "gelu": lambda node: "nn.GELU()" if node.approximate == "none" else f'nn.GELU(approximate="{node.approximate}")',
    "elu": lambda node: "nn.ELU()" if node.alpha == 1.0 else f"nn.ELU({_real(node.alpha)})",
}
"""The torch module of each activation function, as source."""

_LINEAR_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _real(value: float) -> str:
    return repr(float(value))


def _sizes(values: tuple[int, ...]) -> str:
    """One number when every dimension has it, else a tuple: torch's modules take both."""
    return str(values[0]) if len(set(values)) == 1 else f"({', '.join(map(str, values))})"


def _options(**options: object) -> str:
    """``, key=value`` for every option given (None: left at torch's default)."""
    return "".join(f", {key}={value}" for key, value in options.items() if value is not None)


def _pad(pads: tuple[tuple[int, int], ...], value: str | None = None) -> str:
    """``F.pad``'s amounts for (before, after) per spatial dimension: the last dimension first."""
    amounts = ", ".join(str(amount) for pair in reversed(pads) for amount in pair)
    return f"F.pad({{x}}, ({amounts}){'' if value is None else f', value={value}'})"


def _symmetric(geo: Geometry) -> tuple[int, ...] | None:
    """The padding per dimension when torch's own option can take it (the same before and after)."""
    if any(before != after for before, after in geo.pads):
        return None
    return tuple(before for before, _ in geo.pads)


@singledispatch
def layer_code(node: ir.Node, layer: LayerReport, torch_order: bool) -> Code:
    """``node`` as source. ``torch_order``: a `flatten` whose features the next `fc` reads in torch's
    (C, *spatial) order (its weight permuted to match)."""
    raise NotImplementedError(f"no torch source for `{node.kind}` layer `{node.name}` (line {node.span.line})")


@layer_code.register
def _conv(node: ir.Conv, layer: LayerReport, torch_order: bool) -> Code:
    geo = geometry(node, layer)
    padding = _symmetric(geo)
    explicit = padding is None or any(geo.extra)
    module = (f"nn.Conv{geo.rank}d({layer.input.channels}, {node.filters}, {_sizes(geo.kernel)}" + _options(
        stride=_sizes(geo.stride) if any(s != 1 for s in geo.stride) else None,
        padding=_sizes(padding) if not explicit and any(padding) else None,
        dilation=_sizes(geo.dilation) if any(d != 1 for d in geo.dilation) else None,
        groups=node.groups if node.groups != 1 else None, bias=None if node.bias else False) + ")")
    if not explicit:
        return Code(module)
    pads = tuple((before, after + extra) for (before, after), extra in zip(geo.pads, geo.extra))
    return Code(module, "{self}(" + _pad(pads) + ")")


def _torch_pool_output(size: int, kernel: int, stride: int, ceil_mode: bool) -> int:
    """The output size torch's pooling gives on ``size`` positions without padding."""
    if not ceil_mode:
        return (size - kernel) // stride + 1
    output = -(-(size - kernel) // stride) + 1
    return output - 1 if (output - 1) * stride >= size else output


@layer_code.register
def _pool(node: ir.Pool, layer: LayerReport, torch_order: bool) -> Code:
    geo = geometry(node, layer)
    kind = f"nn.{'Max' if node.mode == 'max' else 'Avg'}Pool{geo.rank}d"
    padding = _symmetric(geo)
    if padding is not None and all(p <= k // 2 and n >= k for p, k, n in zip(padding, geo.kernel, geo.input)):
        return Code(f"{kind}({_sizes(geo.kernel)}" + _options(
            stride=_sizes(geo.stride) if geo.stride != geo.kernel else None,
            padding=_sizes(padding) if any(padding) else None, ceil_mode=True if node.ceil_mode else None) + ")")
    if node.mode == "max":  # -inf padding, the ceil-mode window written out as more of it
        pads = tuple((before, after + extra) for (before, after), extra in zip(geo.pads, geo.extra))
        module = f"{kind}({_sizes(geo.kernel)}" + _options(
            stride=_sizes(geo.stride) if geo.stride != geo.kernel else None) + ")"
        return Code(module, "{self}(" + _pad(pads, 'float("-inf")') + ")")
    # Average: zeros padded explicitly, torch's ceil mode divides an overhanging window by its part
    # inside the padded input (as cnnc); a window wider than the whole padded input is that input.
    padded = tuple(n + before + after for n, (before, after) in zip(geo.input, geo.pads))
    kernel = tuple(min(k, n) for k, n in zip(geo.kernel, padded))
    module = f"{kind}({_sizes(kernel)}" + _options(
        stride=_sizes(geo.stride) if geo.stride != kernel else None,
        ceil_mode=True if node.ceil_mode else None) + ")"
    call = "{self}(" + (_pad(geo.pads) if any(b or a for b, a in geo.pads) else "{x}") + ")"
    found = tuple(_torch_pool_output(n, k, s, node.ceil_mode) for n, k, s in zip(padded, kernel, geo.stride))
    if found != geo.output:  # torch keeps a last window that starts in the right padding; cnnc drops it
        call += f"[:, :, {', '.join(f':{o}' for o in geo.output)}]"
    return Code(module, call)


@layer_code.register
def _global_avg(node: ir.GlobalAvgPool, layer: LayerReport, torch_order: bool) -> Code:
    return Code(f"nn.AdaptiveAvgPool{layer.input.rank}d(1)")


@layer_code.register
def _global_max(node: ir.GlobalMaxPool, layer: LayerReport, torch_order: bool) -> Code:
    return Code(f"nn.AdaptiveMaxPool{layer.input.rank}d(1)")


@layer_code.register
def _adaptive(node: ir.AdaptivePool, layer: LayerReport, torch_order: bool) -> Code:
    kind = "Max" if node.mode == "max" else "Avg"
    return Code(f"nn.Adaptive{kind}Pool{layer.input.rank}d({_sizes(layer.output.spatial)})")


@layer_code.register
def _dense(node: ir.Dense, layer: LayerReport, torch_order: bool) -> Code:
    module = f"nn.Linear({layer.input.size}, {node.units}" + _options(bias=None if node.bias else False) + ")"
    return Code(module, "{self}(torch.flatten({x}, 1))" if layer.input.rank else "{self}({x})")


@layer_code.register
def _flatten(node: ir.Flatten, layer: LayerReport, torch_order: bool) -> Code:
    if torch_order or layer.input.rank == 0 or 1 in (layer.input.channels, layer.input.size // layer.input.channels):
        return Code("nn.Flatten()")
    return Code(None, "{x}.movedim(1, -1).flatten(1)")  # cnnc's order: what follows needs it


@layer_code.register
def _activation(node: ir.Activation, layer: LayerReport, torch_order: bool) -> Code:
    return Code(ACTIVATIONS[node.function](node))


@layer_code.register
def _prelu(node: ir.PReLU, layer: LayerReport, torch_order: bool) -> Code:
    return Code("nn.PReLU()" if node.shared else f"nn.PReLU({layer.input.channels})")


@layer_code.register
def _dropout(node: ir.Dropout, layer: LayerReport, torch_order: bool) -> Code:
    return Code(f"nn.Dropout({_real(node.p)})")


@layer_code.register
def _droppath(node: ir.DropPath, layer: LayerReport, torch_order: bool) -> Code:
    return Code(f"DropPath({_real(node.p)})", support="DropPath")


@layer_code.register
def _batchnorm(node: ir.BatchNorm, layer: LayerReport, torch_order: bool) -> Code:
    return Code(f"nn.BatchNorm{max(layer.input.rank, 1)}d({layer.input.channels}" + _options(
        eps=_real(node.eps) if node.eps != 1e-5 else None,
        momentum=_real(node.momentum) if node.momentum != 0.1 else None) + ")")


def _norm_options(node: ir.LayerNorm | ir.GroupNorm | ir.InstanceNorm, affine: str, default: bool) -> str:
    return _options(eps=_real(node.eps) if node.eps != 1e-5 else None,
                    **{affine: None if node.affine == default else node.affine})


@layer_code.register
def _layernorm(node: ir.LayerNorm, layer: LayerReport, torch_order: bool) -> Code:
    module = f"nn.LayerNorm({layer.input.channels}" + _norm_options(node, "elementwise_affine", True) + ")"
    if not layer.input.rank:
        return Code(module)
    return Code(module, "{self}({x}.movedim(1, -1)).movedim(-1, 1)")  # over the channels at each position


@layer_code.register
def _groupnorm(node: ir.GroupNorm, layer: LayerReport, torch_order: bool) -> Code:
    return Code(f"nn.GroupNorm({node.groups}, {layer.input.channels}" + _norm_options(node, "affine", True) + ")")


@layer_code.register
def _instancenorm(node: ir.InstanceNorm, layer: LayerReport, torch_order: bool) -> Code:
    return Code(f"nn.InstanceNorm{layer.input.rank}d({layer.input.channels}"
                + _norm_options(node, "affine", False) + ")")


@layer_code.register
def _lrn(node: ir.LocalResponseNorm, layer: LayerReport, torch_order: bool) -> Code:
    return Code(f"nn.LocalResponseNorm({node.size}, alpha={_real(node.alpha)}, beta={_real(node.beta)}, "
                f"k={_real(node.k)})")


@layer_code.register
def _layerscale(node: ir.LayerScale, layer: LayerReport, torch_order: bool) -> Code:
    return Code(f"LayerScale({layer.input.channels}, {_real(node.init)})", support="LayerScale")


@layer_code.register
def _upsample(node: ir.Upsample, layer: LayerReport, torch_order: bool) -> Code:
    """A factor (torch then scales by 1/factor, as cnnc) or the size."""
    rank = layer.input.rank
    if node.factor is not None:
        factors = per_dimension(node.factor, rank)
        target = "scale_factor=" + (_real(factors[0]) if len(set(factors)) == 1
                                    else f"({', '.join(_real(f) for f in factors)})")
    else:
        target = f"size={_sizes(layer.output.spatial)}"
    if node.mode == "nearest":
        return Code(f"nn.Upsample({target})")
    return Code(f'nn.Upsample({target}, mode="{_LINEAR_MODES[rank]}", align_corners={node.align_corners})')


@layer_code.register
def _deconv(node: ir.Deconv, layer: LayerReport, torch_order: bool) -> Code:
    rank = layer.input.rank
    kernel, stride, pad, output_pad, dilation = (per_dimension(v, rank) for v in (
        node.kernel, node.stride, node.pad, node.output_pad, node.dilation))
    return Code(f"nn.ConvTranspose{rank}d({layer.input.channels}, {node.filters}, {_sizes(kernel)}" + _options(
        stride=_sizes(stride) if any(s != 1 for s in stride) else None,
        padding=_sizes(pad) if any(pad) else None,
        output_padding=_sizes(output_pad) if any(output_pad) else None,
        groups=node.groups if node.groups != 1 else None, bias=None if node.bias else False,
        dilation=_sizes(dilation) if any(d != 1 for d in dilation) else None) + ")")


@layer_code.register
def _pixelshuffle(node: ir.PixelShuffle, layer: LayerReport, torch_order: bool) -> Code:
    rank, r = layer.input.rank, node.factor
    if rank == 2:
        return Code(f"nn.PixelShuffle({r})")
    # nn.PixelShuffle's order at any rank: (N, C, r.., *spatial) -> (N, C, S1, r1, S2, r2, ..) -> merged
    order = (0, 1, *(axis for d in range(rank) for axis in (2 + rank + d, 2 + d)))
    merges = "".join(f".flatten({2 + 2 * d}, {3 + 2 * d})" for d in reversed(range(rank)))
    permute = f".permute{order}" if rank > 1 else ".transpose(2, 3)"
    return Code(None, f"{{x}}.unflatten(1, (-1, {', '.join([str(r)] * rank)})){permute}{merges}")


@layer_code.register
def _slice(node: ir.Slice, layer: LayerReport, torch_order: bool) -> Code:
    return Code(None, f"{{x}}[:, {node.start}:{node.stop}]")


@layer_code.register
def _shuffle(node: ir.Shuffle, layer: LayerReport, torch_order: bool) -> Code:
    """(N, C, ..) viewed as (N, G, C/G, ..), the two swapped, merged back."""
    return Code(None, f"{{x}}.unflatten(1, ({node.groups}, -1)).transpose(1, 2).flatten(1, 2)")


# The arrays --------------------------------------------------------------------------------------

def feature_order(shape: ir.Shape) -> np.ndarray | None:
    """Where torch's flattening of a channels-first ``shape`` takes each feature from cnnc's
    channels-last one: ``torch_features = cnnc_features[:, order]``; None when the two agree."""
    positions = shape.size // shape.channels
    if shape.rank == 0 or positions == 1 or shape.channels == 1:
        return None
    return np.arange(shape.size).reshape(positions, shape.channels).T.reshape(-1)


def layer_arrays(node: ir.Node, arrays: dict[str, np.ndarray], order: np.ndarray | None) -> dict[str, np.ndarray]:
    """``node``'s parameters and buffers (cnnc's names and layouts) in the generated module's layout,
    under the same names. ``order``: the feature order of a flat input read in torch's order."""
    prefix = f"{node.name}."
    found = {key: value for key, value in arrays.items() if key.startswith(prefix)}
    converted = {}
    for key, value in found.items():
        what = key[len(prefix):]
        if isinstance(node, (ir.Conv, ir.Deconv)) and what == "weight":
            value = np.moveaxis(value, (-1, -2), (0, 1))  # (*kernel, in, out) -> (out, in, *kernel)
        elif isinstance(node, ir.Dense) and what == "weight":
            value = (value if order is None else value[order]).T  # (features, units) -> (units, features)
        elif order is not None and value.size > 1 and not isinstance(node, ir.Dense):
            value = value[order]  # one value per feature
        converted[key] = np.ascontiguousarray(value)
    if isinstance(node, ir.BatchNorm):
        converted[f"{prefix}num_batches_tracked"] = np.zeros((), dtype=np.int64)  # torch's step counter
    return converted
