"""The IR: what a spec means. Typed, frozen layer nodes with blocks expanded and expressions
evaluated; each node keeps the span it was written at and the block calls it was expanded from."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from math import prod
from typing import Literal, Union

from cnnc.source import Span

Sizes = tuple[int, ...]
"""Per spatial dimension; a single value applies to every dimension (``5`` against ``1x7``)."""


@dataclass(frozen=True)
class Shape:
    """A tensor shape per example: spatial sizes, then channels. A flat vector has no spatial sizes."""

    spatial: tuple[int, ...]
    channels: int

    @cached_property  # frozen, so computed once (the analyzer and the lint ask for sizes often)
    def dims(self) -> tuple[int, ...]:
        return (*self.spatial, self.channels)

    @property
    def rank(self) -> int:
        return len(self.spatial)

    @cached_property
    def size(self) -> int:
        return prod(self.dims)

    def __str__(self) -> str:
        return "x".join(str(d) for d in self.dims)


@dataclass(frozen=True)
class Frame:
    """A block call that a layer was expanded from."""

    block: str
    span: Span


@dataclass(frozen=True)
class Layer:
    """Fields every node has: a unique, stable name (``conv3``), where it was written, and the
    block calls it came from (outermost first)."""

    name: str
    span: Span
    origin: tuple[Frame, ...]

    kind = "layer"

    def describe(self) -> str:
        """The settings, as a short human summary."""
        return ""


def _sizes(values: Sizes) -> str:
    return "x".join(str(v) for v in values)


def _same_sizes(a: Sizes, b: Sizes) -> bool:
    """Equal once a single value is read as one per dimension."""
    if len(a) == len(b):
        return a == b
    return len(set(a)) == 1 and len(set(b)) == 1 and a[0] == b[0]


def _padding(pad: Padding) -> str:
    return pad if isinstance(pad, str) else _sizes(pad)


Padding = Union[Sizes, Literal["same"]]


@dataclass(frozen=True)
class Conv(Layer):
    filters: int
    kernel: Sizes
    stride: Sizes = (1,)
    pad: Padding = (0,)
    dilation: Sizes = (1,)
    groups: int = 1
    bias: bool = True
    ceil_mode: bool = False

    kind = "conv"

    def describe(self) -> str:
        parts = [f"{self.filters} {_sizes(self.kernel)}"]
        if self.stride != (1,):
            parts.append(f"stride {_sizes(self.stride)}")
        if self.pad != (0,):
            parts.append(f"pad {_padding(self.pad)}")
        if self.dilation != (1,):
            parts.append(f"dilation {_sizes(self.dilation)}")
        if self.groups != 1:
            parts.append(f"groups {self.groups}")
        if not self.bias:
            parts.append("no bias")
        if self.ceil_mode:
            parts.append("ceil")
        return ", ".join(parts)


@dataclass(frozen=True)
class Pool(Layer):
    mode: Literal["max", "avg"]
    kernel: Sizes
    stride: Sizes | None = None  # None: the kernel
    pad: Padding = (0,)
    ceil_mode: bool = False

    @property
    def kind(self) -> str:  # type: ignore[override]
        return f"{self.mode}pool"

    @property
    def strides(self) -> Sizes:
        return self.kernel if self.stride is None else self.stride

    def describe(self) -> str:
        parts = [_sizes(self.kernel)]
        if not _same_sizes(self.strides, self.kernel):
            parts.append(f"stride {_sizes(self.strides)}")
        if self.pad != (0,):
            parts.append(f"pad {_padding(self.pad)}")
        if self.ceil_mode:
            parts.append("ceil")
        return ", ".join(parts)


@dataclass(frozen=True)
class GlobalAvgPool(Layer):
    kind = "globalavgpool"


@dataclass(frozen=True)
class GlobalMaxPool(Layer):
    kind = "globalmaxpool"


@dataclass(frozen=True)
class AdaptivePool(Layer):
    """PyTorch's adaptive pooling: output i of n inputs to o outputs reads [floor(i n/o), ceil((i+1) n/o))."""

    mode: Literal["max", "avg"]
    size: Sizes

    @property
    def kind(self) -> str:  # type: ignore[override]
        return f"adaptive{self.mode}pool"

    def describe(self) -> str:
        return _sizes(self.size)


@dataclass(frozen=True)
class Dense(Layer):
    units: int
    bias: bool = True

    kind = "fc"

    def describe(self) -> str:
        return f"{self.units}" + ("" if self.bias else ", no bias")


@dataclass(frozen=True)
class Flatten(Layer):
    kind = "flatten"


ActivationFunction = Literal["relu", "leakyrelu", "sigmoid", "tanh", "softmax", "relu6", "silu", "hardswish",
                             "hardsigmoid", "mish", "selu", "gelu", "elu"]


@dataclass(frozen=True)
class Activation(Layer):
    """A parameter-free elementwise function (softmax: over the channels)."""

    function: ActivationFunction
    slope: float = 0.01  # leakyrelu only
    alpha: float = 1.0  # elu only
    approximate: Literal["none", "tanh"] = "none"  # gelu only

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.function

    def describe(self) -> str:
        if self.function == "leakyrelu":
            return f"{self.slope:g}"
        if self.function == "elu" and self.alpha != 1.0:
            return f"alpha {self.alpha:g}"
        if self.function == "gelu" and self.approximate != "none":
            return f"{self.approximate} approximation"
        return ""


@dataclass(frozen=True)
class PReLU(Layer):
    """x for x > 0, a * x otherwise, with a learned slope per channel (one if ``shared``)."""

    shared: bool = False

    kind = "prelu"

    def describe(self) -> str:
        return "shared slope" if self.shared else ""


@dataclass(frozen=True)
class Dropout(Layer):
    p: float

    kind = "dropout"

    def describe(self) -> str:
        return f"{self.p:g}"


@dataclass(frozen=True)
class BatchNorm(Layer):
    eps: float = 1e-5
    momentum: float = 0.1

    kind = "batchnorm"


@dataclass(frozen=True)
class LayerNorm(Layer):
    """Normalise the channels at every position (ConvNeXt's LayerNorm2d; a flat vector's features)."""

    eps: float = 1e-5
    affine: bool = True

    kind = "layernorm"

    def describe(self) -> str:
        return "" if self.affine else "no affine"


@dataclass(frozen=True)
class GroupNorm(Layer):
    """Normalise each group of channels over its channels and every position, per example."""

    groups: int
    eps: float = 1e-5
    affine: bool = True

    kind = "groupnorm"

    def describe(self) -> str:
        return f"{self.groups} groups" + ("" if self.affine else ", no affine")


@dataclass(frozen=True)
class InstanceNorm(Layer):
    """Normalise each channel over the positions, per example; no running statistics."""

    eps: float = 1e-5
    affine: bool = False

    kind = "instancenorm"

    def describe(self) -> str:
        return "affine" if self.affine else ""


@dataclass(frozen=True)
class LocalResponseNorm(Layer):
    """PyTorch's LocalResponseNorm: x / (k + alpha/size * sum of x^2 over a window of channels)^beta."""

    size: int
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    kind = "lrn"

    def describe(self) -> str:
        return f"{self.size}"


@dataclass(frozen=True)
class LayerScale(Layer):
    """A learned multiplier per channel (ConvNeXt's gamma)."""

    init: float = 1e-6

    kind = "layerscale"


@dataclass(frozen=True)
class DropPath(Layer):
    """Stochastic depth: in training, zero each example with probability p and scale the rest by
    1 / (1 - p); the identity in evaluation."""

    p: float

    kind = "droppath"

    def describe(self) -> str:
        return f"{self.p:g}"


@dataclass(frozen=True)
class Upsample(Layer):
    """Nearest or (bi/tri)linear upsampling by a factor per dimension, or to a given size."""

    factor: Sizes | None = None  # exactly one of factor and size
    size: Sizes | None = None
    mode: Literal["nearest", "linear"] = "nearest"
    align_corners: bool = False  # linear only

    kind = "upsample"

    def describe(self) -> str:
        parts = [f"x{_sizes(self.factor)}" if self.factor is not None else f"to {_sizes(self.size)}"]
        if self.mode != "nearest":
            parts.append(self.mode + (", align corners" if self.align_corners else ""))
        return ", ".join(parts)


@dataclass(frozen=True)
class Deconv(Layer):
    """Transposed convolution, as PyTorch's ConvTranspose."""

    filters: int
    kernel: Sizes
    stride: Sizes = (1,)
    pad: Sizes = (0,)
    output_pad: Sizes = (0,)
    dilation: Sizes = (1,)
    groups: int = 1
    bias: bool = True

    kind = "deconv"

    def describe(self) -> str:
        parts = [f"{self.filters} {_sizes(self.kernel)}"]
        for what, values, default in (("stride", self.stride, (1,)), ("pad", self.pad, (0,)),
                                      ("output pad", self.output_pad, (0,))):
            if values != default:
                parts.append(f"{what} {_sizes(values)}")
        if self.dilation != (1,):
            parts.append(f"dilation {_sizes(self.dilation)}")
        if self.groups != 1:
            parts.append(f"groups {self.groups}")
        if not self.bias:
            parts.append("no bias")
        return ", ".join(parts)


@dataclass(frozen=True)
class PixelShuffle(Layer):
    """(*spatial, C) -> (*spatial * R, C / R**rank), as PyTorch's PixelShuffle."""

    factor: int

    kind = "pixelshuffle"

    def describe(self) -> str:
        return f"{self.factor}"


@dataclass(frozen=True)
class Slice(Layer):
    """Channels [start, stop): a view."""

    start: int
    stop: int

    kind = "slice"

    def describe(self) -> str:
        return f"{self.start}:{self.stop}"


@dataclass(frozen=True)
class Shuffle(Layer):
    """ShuffleNet's channel shuffle: channels seen as G x C/G, transposed, flattened."""

    groups: int

    kind = "shuffle"

    def describe(self) -> str:
        return f"{self.groups} groups"


@dataclass(frozen=True)
class Residual(Layer):
    """``body(x) + shortcut(x)``; an empty shortcut is the identity."""

    body: tuple[Node, ...]
    shortcut: tuple[Node, ...] = ()

    kind = "residual"

    def describe(self) -> str:
        return "projection shortcut" if self.shortcut else "identity shortcut"


@dataclass(frozen=True)
class Concat(Layer):
    """Branches run on the same input; their outputs join along channels."""

    branches: tuple[tuple[Node, ...], ...]

    kind = "concat"

    def describe(self) -> str:
        return f"{len(self.branches)} branches"


@dataclass(frozen=True)
class Add(Layer):
    """Branches run on the same input; their outputs, all of one shape, are summed."""

    branches: tuple[tuple[Node, ...], ...]

    kind = "add"

    def describe(self) -> str:
        return f"{len(self.branches)} branches"


@dataclass(frozen=True)
class Multiply(Layer):
    """Branches run on the same input; their outputs are multiplied elementwise, a size of 1
    broadcasting against any other (a flat vector of C values as 1x..x1xC)."""

    branches: tuple[tuple[Node, ...], ...]

    kind = "multiply"

    def describe(self) -> str:
        return f"{len(self.branches)} branches"


MERGES = (Concat, Add, Multiply)
"""The containers whose branches all run on the same input (each has ``branches``)."""

Node = Union[Conv, Pool, GlobalAvgPool, GlobalMaxPool, AdaptivePool, Dense, Flatten, Activation, PReLU, Dropout,
             BatchNorm, LayerNorm, GroupNorm, InstanceNorm, LocalResponseNorm, LayerScale, DropPath, Upsample, Deconv,
             PixelShuffle, Slice, Shuffle, Residual, Concat, Add, Multiply]


@dataclass(frozen=True)
class TrainRecipe:
    """The ``train { }`` section: how the spec trains unless the command line says otherwise."""

    settings: dict[str, object] = field(default_factory=dict)
    span: Span | None = None


@dataclass(frozen=True)
class Network:
    name: str
    input: Shape | None
    layers: tuple[Node, ...]
    input_span: Span | None = None
    train: TrainRecipe | None = None


def walk(layers: tuple[Node, ...]):
    """Every node in execution order: a container's children before the container itself."""
    for layer in layers:
        if isinstance(layer, Residual):
            yield from walk(layer.body)
            yield from walk(layer.shortcut)
        elif isinstance(layer, MERGES):
            for branch in layer.branches:
                yield from walk(branch)
        yield layer
