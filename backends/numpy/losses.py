"""Losses with their gradients: fused softmax cross-entropy, and mean squared error."""

from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray,
                          examples: int | None = None) -> tuple[float, np.ndarray]:
    """Mean over examples (and positions) of -log softmax(logits)[label], softmax over the last
    axis. Computed from the log-sum-exp of the logits shifted by their maximum, so logits of 1e4
    neither overflow nor give NaN. Returns the loss and d loss / d logits. ``examples``: the batch's
    size when ``logits`` holds a shard of it; the mean is then the whole batch's (this shard's share)."""
    classes = logits.shape[-1]
    flat = logits.reshape(-1, classes)
    labels = labels.reshape(-1)
    shifted = flat - flat.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = np.arange(flat.shape[0])
    count = _averaged_over(flat.shape[0], logits, examples)
    loss = float(np.sum(np.log(total[:, 0]).astype(np.float64) - shifted[rows, labels]) / count)
    grad = exp / total
    grad[rows, labels] -= 1
    grad /= grad.dtype.type(count)
    return loss, grad.reshape(logits.shape)


def mean_squared_error(outputs: np.ndarray, targets: np.ndarray,
                       examples: int | None = None) -> tuple[float, np.ndarray]:
    """Mean over every element of (outputs - targets)^2, and its gradient; ``examples`` as for
    ``softmax_cross_entropy``."""
    diff = outputs - targets
    count = _averaged_over(diff.size, outputs, examples)
    loss = float(np.sum(np.square(diff, dtype=np.float64)) / count)
    return loss, diff * diff.dtype.type(2 / count)


def _averaged_over(values: int, outputs: np.ndarray, examples: int | None) -> int:
    """How many values the mean divides by: ``values``, or as many per example for ``examples``."""
    if examples is None or not len(outputs):
        return values
    return values // len(outputs) * examples
