"""Losses with their gradients: fused softmax cross-entropy, and mean squared error."""

from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over examples (and positions) of -log softmax(logits)[label], softmax over the last
    axis. Computed from the log-sum-exp of the logits shifted by their maximum, so logits of 1e4
    neither overflow nor give NaN. Returns the loss and d loss / d logits."""
    classes = logits.shape[-1]
    flat = logits.reshape(-1, classes)
    labels = labels.reshape(-1)
    shifted = flat - flat.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = np.arange(flat.shape[0])
    loss = float(np.mean(np.log(total[:, 0]).astype(np.float64) - shifted[rows, labels]))
    grad = exp / total
    grad[rows, labels] -= 1
    grad /= grad.dtype.type(flat.shape[0])
    return loss, grad.reshape(logits.shape)


def mean_squared_error(outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over every element of (outputs - targets)^2, and its gradient."""
    diff = outputs - targets
    loss = float(np.mean(np.square(diff, dtype=np.float64)))
    return loss, diff * diff.dtype.type(2 / diff.size)
