"""The network as torch trains it: the exporter's module, channels-first, with cnnc's dropout masks and losses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from cnnc.backends.torch_export import DropPath
from torch import nn
from torch.nn import functional as F

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class Masks:
    """Where dropout draws: the batch's NumPy generator (``cnnc.training.dropout_generator``), the global
    batch's size, and the rows of it that this worker runs."""

    rng: np.random.Generator | None = None
    batch: int = 0
    rows: slice = field(default_factory=lambda: slice(0, 0))
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


class SeededDropout(nn.Module):
    """cnnc's dropout (or drop path, ``per_example``) with the NumPy backend's masks: drawn from the
    batch's generator in cnnc's channels-last order for the whole global batch, in the order the
    layers run, then this worker's rows taken. Every backend and every number of workers applies
    the same masks to the same example."""

    def __init__(self, p: float, per_example: bool, masks: Masks) -> None:
        super().__init__()
        self.p, self.per_example, self.masks = p, per_example, masks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        masks = self.masks
        rest = (1,) * (x.dim() - 1) if self.per_example else (*x.shape[2:], x.shape[1])
        dtype = np.float64 if x.dtype == torch.float64 else np.float32
        kind = np.dtype(dtype).type
        keep = masks.rng.random((masks.batch, *rest), dtype=dtype) >= kind(self.p)
        scale = torch.from_numpy(keep[masks.rows] * kind(1 / (1 - self.p)))
        if not self.per_example and x.dim() > 2:
            scale = scale.movedim(-1, 1)
        return x * scale.to(masks.device)


def seed_dropout(module: nn.Module, masks: Masks) -> None:
    """Replace every dropout and drop path in ``module`` by a ``SeededDropout`` drawing from ``masks``."""
    for name, child in module.named_children():
        if isinstance(child, (nn.Dropout, DropPath)):
            setattr(module, name, SeededDropout(child.p, isinstance(child, DropPath), masks))
        else:
            seed_dropout(child, masks)


def batch_loss(outputs: torch.Tensor, targets: torch.Tensor, loss: str) -> torch.Tensor:
    """The batch's summed loss (divided by the global count by the caller): cross-entropy of logits
    (N, C, *spatial) against labels (N, *spatial), or squared error against targets laid out as
    the outputs."""
    if loss == "crossentropy":
        return F.cross_entropy(outputs, targets, reduction="sum")
    return (outputs - targets).square().sum()


def channels_first(array: np.ndarray) -> np.ndarray:
    """(N, *spatial, C) as (N, C, *spatial), contiguous; flat (N, C) arrays unchanged."""
    return np.ascontiguousarray(np.moveaxis(array, -1, 1) if array.ndim > 2 else array)


def batch_targets(y: np.ndarray, output_dims: tuple[int, ...], loss: str, labels: bool, dtype: np.dtype) -> np.ndarray:
    """One batch of targets as ``batch_loss`` takes them (cnnc's ``Model._targets``, channels-first):
    labels (N, *spatial) for cross-entropy; for mse one-hot vectors from labels, or the targets."""
    count, classes = len(y), output_dims[-1]
    if labels:
        positions = y.reshape(count, *output_dims[:-1])
        if loss == "crossentropy":
            return positions.astype(np.int64, copy=False)
        return channels_first(np.eye(classes, dtype=dtype)[positions])
    return channels_first(y.reshape(count, *output_dims).astype(dtype, copy=False))


def are_labels(y: np.ndarray, output_dims: tuple[int, ...], loss: str) -> bool:
    """Whether ``y`` holds class labels, one per output position (cnnc's ``Model._labels``), rather
    than mse targets laid out as the outputs."""
    shape = (len(y), *output_dims)
    if loss == "mse" and y.shape == shape:
        return False
    return np.issubdtype(y.dtype, np.integer) and y.size * shape[-1] == math.prod(shape)


def hits(outputs: torch.Tensor, y: np.ndarray, output_dims: tuple[int, ...], labels: bool) -> tuple[int, int] | None:
    """(correct, counted) as ``cnnc.training.class_hits`` counts them, or None when not classification."""
    classes = output_dims[-1]
    predicted = outputs.argmax(dim=1).reshape(len(y), math.prod(output_dims[:-1])).cpu().numpy()
    if labels:
        return int(np.count_nonzero(predicted == y.reshape(predicted.shape))), predicted.size
    if classes > 1 and y.shape[1:] == tuple(output_dims):
        return int(np.count_nonzero(predicted == y.reshape(-1, classes).argmax(axis=1).reshape(predicted.shape))), \
            predicted.size
    return None
