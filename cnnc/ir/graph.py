"""The IR's containers (residual and the merges), the network, and the walk over its nodes."""

from __future__ import annotations


from cnnc.frozen import field, frozen
from cnnc.ir.base import Layer, Shape
from cnnc.ir.layers import (
    Activation,
    AdaptivePool,
    BatchNorm,
    Conv,
    Deconv,
    Dense,
    Dropout,
    DropPath,
    Flatten,
    GlobalAvgPool,
    GlobalMaxPool,
    GroupNorm,
    InstanceNorm,
    LayerNorm,
    LayerScale,
    LocalResponseNorm,
    PixelShuffle,
    Pool,
    PReLU,
    Shuffle,
    Slice,
    Upsample,
)
from cnnc.source import Span


@frozen
class Residual(Layer):
    """``body(x) + shortcut(x)``; an empty shortcut is the identity."""

    body: tuple[Node, ...]
    shortcut: tuple[Node, ...] = ()

    kind = "residual"

    def describe(self) -> str:
        return "projection shortcut" if self.shortcut else "identity shortcut"


@frozen
class Concat(Layer):
    """Branches run on the same input; their outputs join along channels."""

    branches: tuple[tuple[Node, ...], ...]

    kind = "concat"

    def describe(self) -> str:
        return f"{len(self.branches)} branches"


@frozen
class Add(Layer):
    """Branches run on the same input; their outputs, all of one shape, are summed."""

    branches: tuple[tuple[Node, ...], ...]

    kind = "add"

    def describe(self) -> str:
        return f"{len(self.branches)} branches"


@frozen
class Multiply(Layer):
    """Branches run on the same input; their outputs are multiplied elementwise, a size of 1
    broadcasting against any other (a flat vector of C values as 1x..x1xC)."""

    branches: tuple[tuple[Node, ...], ...]

    kind = "multiply"

    def describe(self) -> str:
        return f"{len(self.branches)} branches"


MERGES = (Concat, Add, Multiply)
"""The containers whose branches all run on the same input (each has ``branches``)."""

Node = (Conv | Pool | GlobalAvgPool | GlobalMaxPool | AdaptivePool | Dense | Flatten | Activation | PReLU | Dropout
        | BatchNorm | LayerNorm | GroupNorm | InstanceNorm | LocalResponseNorm | LayerScale | DropPath | Upsample | Deconv
        | PixelShuffle | Slice | Shuffle | Residual | Concat | Add | Multiply)


@frozen
class TrainRecipe:
    """The ``train { }`` section: how the spec trains unless the command line says otherwise."""

    settings: dict[str, object] = field(default_factory=dict)
    span: Span | None = None


@frozen
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
