"""Weight initialisation: He (normal) before ReLU-family activations, Glorot (uniform) otherwise."""

from __future__ import annotations

import math

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


_PASS_THROUGH = (ir.BatchNorm, ir.Dropout, ir.Pool, ir.GlobalAvgPool, ir.Flatten)


def following_activations(layers: tuple[ir.Node, ...], after: ir.Activation | None = None,
                          found: dict[str, ir.Activation | None] | None = None) -> dict[str, ir.Activation | None]:
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


def _next_activation(rest: tuple[ir.Node, ...], after: ir.Activation | None) -> ir.Activation | None:
    for node in rest:
        if isinstance(node, ir.Activation):
            return node
        if not isinstance(node, _PASS_THROUGH):
            return None
    return after


def relu_slope(activation: ir.Activation | None) -> float | None:
    """The negative slope of a ReLU-family activation (0 for ReLU); None for anything else."""
    if activation is None:
        return None
    if activation.function == "relu":
        return 0.0
    if activation.function == "leakyrelu":
        return activation.slope
    return None
