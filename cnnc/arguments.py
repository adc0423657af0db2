"""Checks of the public API's arguments: a TypeError or ValueError whose message names the argument
and what it accepts (``batch must be a whole number from 1 to 1,000,000,000, got -1``)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable

from cnnc import ir
from cnnc.diagnostics import did_you_mean

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from pathlib import Path

BACKENDS = ("numpy", "numba")
MAX_BATCH = 10**9  # as `cnnc check --batch-size`
_SIZES = re.compile(r"[1-9][0-9]{0,100}(?:x[1-9][0-9]{0,100})*")  # 10**100 at most: no 4,300-digit numbers


def bad_argument(argument: str, accepted: str, value: object) -> str:
    """The message for an argument the API does not accept:
    ``batch must be a whole number from 1 to 1,000,000,000, got -1``."""
    return f"{argument} must be {accepted}, got {_shown(value)}"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"a value of type {type(value).__name__}"


def whole_number(value: object, argument: str, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int: a Python or NumPy integer (not a bool) from ``minimum`` to ``maximum``."""
    accepted = (f"a whole number from {minimum:,} to {maximum:,}" if maximum is not None
                else f"a whole number of at least {minimum:,}")
    if isinstance(value, bool) or not isinstance(value, _numbers().Integral):
        raise TypeError(bad_argument(argument, accepted, value))
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(bad_argument(argument, accepted, value))
    return int(value)


def positive_number(value: object, argument: str) -> float:
    """``value`` as a float: a finite Python or NumPy real number (not a bool) above 0."""
    if isinstance(value, bool) or not isinstance(value, _numbers().Real):
        raise TypeError(bad_argument(argument, "a finite number above 0", value))
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not (math.isfinite(number) and number > 0):
        raise ValueError(bad_argument(argument, "a finite number above 0", value))
    return number


def number_in(value: object, argument: str, accepted: str, fits) -> float:
    """``value`` as a float: a finite Python or NumPy real number (not a bool) for which ``fits`` is
    true; ``accepted`` says which (``a momentum in [0, 1)``)."""
    if isinstance(value, bool) or not isinstance(value, _numbers().Real):
        raise TypeError(bad_argument(argument, accepted, value))
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not (math.isfinite(number) and fits(number)):
        raise ValueError(bad_argument(argument, accepted, value))
    return number


def choice(value: object, argument: str, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``; a TypeError or ValueError listing them otherwise."""
    choices = tuple(choices)
    names = ", ".join(choices)
    if not isinstance(value, str):
        raise TypeError(bad_argument(argument, f"one of {names}", value))
    if value not in choices:
        hint = did_you_mean(value, choices)
        raise ValueError(f"unknown {argument} {_shown(value)}: {argument} must be one of {names}"
                         + (f"; {hint}" if hint else ""))
    return value


def flag(value: object, argument: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(bad_argument(argument, "True or False", value))
    return value


def _numbers():
    """The ``numbers`` module, imported on first use: `cnnc check` imports this module but checks no
    Python API argument."""
    import numbers

    return numbers


def path_argument(value: object, argument: str = "path") -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(bad_argument(argument, "a path (a str or os.PathLike)", value))
    from pathlib import Path  # not at the top: `cnnc check` imports this module, and needs no pathlib

    return Path(value)


def input_shape(value: object, argument: str = "input") -> ir.Shape:
    """A shape from ``"32x32x3"``, a tuple or list of whole numbers, or an ``ir.Shape``: spatial
    sizes, then channels."""
    accepted = "sizes like '32x32x3' (spatial sizes, then channels), a tuple of whole numbers or a cnnc.ir.Shape"
    if isinstance(value, str) and _SIZES.fullmatch(value):
        dims: tuple = tuple(int(part) for part in value.split("x"))
    elif isinstance(value, ir.Shape) and isinstance(value.spatial, tuple):
        dims = value.dims
    elif isinstance(value, (tuple, list)) and value:
        dims = tuple(value)
    else:
        wrong_type = not isinstance(value, (str, tuple, list, ir.Shape))
        raise (TypeError if wrong_type else ValueError)(bad_argument(argument, accepted, value))
    if not all(isinstance(size, _numbers().Integral) and not isinstance(size, bool) for size in dims):
        raise TypeError(bad_argument(argument, accepted, value))
    if min(dims) < 1:
        raise ValueError(bad_argument(argument, "sizes of at least 1 (spatial sizes, then channels)", value))
    dims = tuple(int(size) for size in dims)
    return ir.Shape(dims[:-1], dims[-1])
