"""What the recogniser makes of ONNX nodes: layers (a statement and its weights) and merges."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnnc.importer.read import Node


@dataclass
class Layer:
    """One statement: ``op args key=value``; ``weights`` by cnnc's suffix (``weight``, ``running_mean``)."""

    op: str
    args: tuple = ()
    options: dict = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    def text(self) -> str:
        return " ".join([self.op, *map(str, self.args), *(f"{key}={value}" for key, value in self.options.items())])


@dataclass
class Unit:
    """A layer reading one value, or a merge (``add``, ``multiply``, ``concat``) of several."""

    inputs: list[str]
    output: str
    node: Node
    layer: Layer | None = None
    merge: str | None = None


def number(value: float) -> str:
    """A float32 attribute as a person writes it: ``1e-5``, ``0.001``, ``0.2``."""
    value = float(f"{float(value):.6g}")
    if value == int(value) and abs(value) < 1e6:
        return str(int(value)) if abs(value) >= 1 or value == 0 else str(value)
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa.removesuffix('.0')}e{int(exponent)}"
    return text
