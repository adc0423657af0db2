"""The IR's shapes and sizes, and the fields every node has."""

from __future__ import annotations

from functools import cached_property
from math import prod

from cnnc.frozen import field, frozen
from cnnc.source import Span

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

Sizes = tuple[int, ...]
"""Per spatial dimension; a single value applies to every dimension (``5`` against ``1x7``)."""


@frozen
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


@frozen
class Frame:
    """A block call that a layer was expanded from. ``call`` numbers the calls of the whole expansion,
    so that two iterations of a `repeat` calling one block tell apart; frames compare by block and span."""

    block: str
    span: Span
    call: int = field(default=0, compare=False)


@frozen
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


def sizes_text(values: Sizes) -> str:
    return "x".join(str(v) for v in values)


def same_sizes(a: Sizes, b: Sizes) -> bool:
    """Equal once a single value is read as one per dimension."""
    if len(a) == len(b):
        return a == b
    return len(set(a)) == 1 and len(set(b)) == 1 and a[0] == b[0]


def padding_text(pad: Padding) -> str:
    return pad if isinstance(pad, str) else sizes_text(pad)


if TYPE_CHECKING:
    from typing import Literal

    Padding = Sizes | Literal["same"]
else:  # typing is not imported at run time (start-up)
    Padding = Sizes | str
