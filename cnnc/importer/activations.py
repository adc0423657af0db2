"""Activations that exporters write out as several elementwise nodes (SiLU as ``x * Sigmoid(x)``,
GELU with ``Erf``, Mish, HardSwish as ``x * HardSigmoid(x)``): the nodes between a value and the
point where its uses join are evaluated on a grid of inputs and compared with the language's
activation functions, so any arrangement of the same arithmetic is recognised."""

from __future__ import annotations

import math

import numpy as np

GRID = np.concatenate([np.linspace(-8.0, 8.0, 161), [-0.37, 0.05, 0.73, 2.9]])
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Pow", "Erf", "Tanh", "Sigmoid", "Relu", "Clip", "Softplus", "Exp",
               "Log", "Neg", "Abs", "Sqrt", "Min", "Max", "HardSigmoid", "HardSwish", "Reciprocal", "Identity"}
_ERF = np.vectorize(math.erf)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x):
    return np.logaddexp(0, x)


def _hardsigmoid(x, alpha=1 / 6, beta=0.5):
    return np.clip(alpha * x + beta, 0, 1)


FUNCTIONS = {  # the language's activations that take no argument, as functions of the grid
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "relu6": lambda x: np.clip(x, 0, 6),
    "silu": lambda x: x * _sigmoid(x),
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "hardswish": lambda x: x * _hardsigmoid(x),
    "hardsigmoid": _hardsigmoid,
    "gelu": lambda x: 0.5 * x * (1 + _ERF(x / math.sqrt(2))),
    "gelu approximate=tanh": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1)),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
}
TABLE = {name: function(GRID) for name, function in FUNCTIONS.items()}


def evaluate(op: str, attributes: dict, operands: list[np.ndarray]) -> np.ndarray | None:
    """One elementwise node on float64 operands (the grid, or scalar constants); None for others."""
    with np.errstate(all="ignore"):
        a = operands[0]
        b = operands[1] if len(operands) > 1 else None
        binary = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Pow": np.power,
                  "Min": np.minimum, "Max": np.maximum}
        unary = {"Erf": _ERF, "Tanh": np.tanh, "Sigmoid": _sigmoid, "Relu": lambda v: np.maximum(v, 0),
                 "Softplus": _softplus, "Exp": np.exp, "Log": np.log, "Neg": np.negative, "Abs": np.abs,
                 "Sqrt": np.sqrt, "Reciprocal": lambda v: 1 / v, "Identity": lambda v: v,
                 "HardSwish": lambda v: v * _hardsigmoid(v)}
        if op in binary and b is not None:
            return binary[op](a, b)
        if op in unary:
            return unary[op](a)
        if op == "HardSigmoid":
            return _hardsigmoid(a, attributes.get("alpha", 0.2), attributes.get("beta", 0.5))
        if op == "Clip":
            low = operands[1] if len(operands) > 1 and operands[1] is not None else -np.inf
            high = operands[2] if len(operands) > 2 and operands[2] is not None else np.inf
            return np.clip(a, low, high)
    return None


RELATIVE, ABSOLUTE = 1e-7, 1e-7
"""How near ``GRID``'s values must be to an activation's: float32 constants in the formula (1/6, the square
root of 2) move them a little (in tests/importer, HardSwish's ``HardSigmoid`` by 4.2e-8 at most, GELU's
``Erf`` form by 5e-9). A tolerance of 1e-4 and 1e-5 took `relu(x) + 1e-6 * x` (a residual of a ReLU and
a one-channel `layerscale` at its initial 1e-6) for `relu`, and 1e-6 took `(1 + 1e-6) * relu(x)`: the
imports lost the layerscale (the random round trip of tests/importer)."""


def identify(values: np.ndarray) -> str | None:
    """The activation whose values on ``GRID`` these are (within ``RELATIVE`` and ``ABSOLUTE``), or None."""
    if not np.all(np.isfinite(values)):
        return None
    for name, expected in TABLE.items():
        if np.allclose(values, expected, rtol=RELATIVE, atol=ABSOLUTE):
            return name
    return None
