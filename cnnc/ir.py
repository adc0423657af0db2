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
class Dense(Layer):
    units: int
    bias: bool = True

    kind = "fc"

    def describe(self) -> str:
        return f"{self.units}" + ("" if self.bias else ", no bias")


@dataclass(frozen=True)
class Flatten(Layer):
    kind = "flatten"


ActivationFunction = Literal["relu", "leakyrelu", "sigmoid", "tanh", "softmax"]


@dataclass(frozen=True)
class Activation(Layer):
    function: ActivationFunction
    slope: float = 0.01  # leakyrelu only

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.function

    def describe(self) -> str:
        return f"{self.slope:g}" if self.function == "leakyrelu" else ""


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

Node = Union[Conv, Pool, GlobalAvgPool, Dense, Flatten, Activation, Dropout, BatchNorm, Residual, Concat, Add,
             Multiply]


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
