"""What the memory figures may assume: bytes per value type, state tensors per optimizer."""

from __future__ import annotations

DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
"""Per-parameter tensors each optimizer keeps (momentum: velocity; Adam: first and second moments)."""
