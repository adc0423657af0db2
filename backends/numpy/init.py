"""Weight initialisation: He (normal) before ReLU-family activations, Glorot (uniform) otherwise.

The ReLU family, and the negative slope ``a`` of He's N(0, 2 / ((1 + a^2) fan_in)): relu, relu6,
and the smooth ReLU-like functions (silu, gelu, mish, hardswish, elu: what torchvision's
EfficientNet and MobileNetV3 and timm's ConvNeXt init with kaiming_normal) with a = 0; leakyrelu
with its slope; prelu with its initial slope 0.25 (He et al. 2015 derived the rule for PReLU);
selu with a = 1, which is LeCun's N(0, 1 / fan_in) that self-normalising networks need (Klambauer et
al. 2017). Glorot after sigmoid, tanh, hardsigmoid and softmax, and when no activation follows."""

from __future__ import annotations

import math
from typing import Callable, Union

import numpy as np

from cnnc import ir


def weights(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int,
            relu_slope: float | None) -> np.ndarray:
    """He et al. 2015: N(0, 2 / ((1 + a^2) fan_in)) for a ReLU with negative slope ``a``;
    Glorot & Bengio 2010: U(-l, l) with l = sqrt(6 / (fan_in + fan_out)) otherwise."""
    if relu_slope is not None:
        std = math.sqrt(2.0 / ((1.0 + relu_slope ** 2) * fan_in))
        return rng.normal(0.0, std, size=shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


_PASS_THROUGH = (ir.BatchNorm, ir.Dropout, ir.Pool, ir.GlobalAvgPool, ir.Flatten, ir.LayerNorm, ir.GroupNorm,
                 ir.InstanceNorm, ir.DropPath, ir.GlobalMaxPool, ir.AdaptivePool)


Nonlinearity = Union[ir.Activation, ir.PReLU]


def following_activations(layers: tuple[ir.Node, ...], after: Nonlinearity | None = None,
                          found: dict[str, Nonlinearity | None] | None = None) -> dict[str, Nonlinearity | None]:
    """For every conv and fc, the activation that its output reaches before the next weighted layer
    (looking through batchnorm, dropout, pooling and flatten, and out of enclosing blocks)."""
    found = {} if found is None else found
    for index, node in enumerate(layers):
        rest = layers[index + 1:]
        following = _next_activation(rest, after)
        if isinstance(node, (ir.Conv, ir.Dense)):
            found[node.name] = following
        elif isinstance(node, ir.Residual):
            following_activations(node.body, following, found)
            following_activations(node.shortcut, following, found)
        elif isinstance(node, ir.MERGES):
            for branch in node.branches:
                following_activations(branch, following, found)
    return found


def _next_activation(rest: tuple[ir.Node, ...], after: Nonlinearity | None) -> Nonlinearity | None:
    for node in rest:
        if isinstance(node, (ir.Activation, ir.PReLU)):
            return node
        if not isinstance(node, _PASS_THROUGH):
            return None
    return after


HE_SLOPES: dict[str, Callable[[Nonlinearity], float]] = {
    "relu": lambda node: 0.0, "relu6": lambda node: 0.0, "silu": lambda node: 0.0, "gelu": lambda node: 0.0,
    "mish": lambda node: 0.0, "hardswish": lambda node: 0.0, "elu": lambda node: 0.0,
    "leakyrelu": lambda node: node.slope, "prelu": lambda node: 0.25, "selu": lambda node: 1.0,
}
"""The He slope ``a`` for each activation that gets He's initialisation (by its kind)."""


def relu_slope(activation: Nonlinearity | None) -> float | None:
    """The negative slope of a ReLU-family activation (0 for ReLU); None for anything else."""
    if activation is None or activation.kind not in HE_SLOPES:
        return None
    return HE_SLOPES[activation.kind](activation)
