"""Labelled examples in memory (``Dataset``), a source's train/test pair (``Splits``), and ``DataError``.

Layout and scale, the same for every source:
- ``x`` is float32 of shape ``(N, *spatial, C)``: channels last, as a spec's ``input 28x28x1`` reads.
- Pixels of 8-bit images (IDX, CIFAR-10, PNG, PGM, uint8 ``.npz``) are divided by 255 (16-bit PNG/PGM by
  65535), so they lie in [0, 1]. No mean/std standardisation is applied: [0, 1] inputs train well with the
  usual initialisations, and ``cnnc predict`` then needs no stored statistics to prepare an image the same
  way; a network that wants centred inputs can start with ``batchnorm``.
- ``y`` is int64 of shape ``(N,)`` with class indices into ``classes`` (the class names).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from cnnc import ir
from cnnc.errors import CannotRun


class DataError(CannotRun):
    """The data cannot be used: a missing or damaged file, a bad SOURCE, or examples that do not fit the
    spec. ``help`` says what to do about it."""


def describe_dims(dims: tuple[int, ...]) -> str:
    """``(28, 28, 1)`` as ``28x28x1``, the way specs write sizes."""
    return "x".join(str(d) for d in dims)


@dataclass(frozen=True, eq=False)
class Dataset:
    """``len(y)`` labelled examples: ``x`` (N, *spatial, C) float32 and ``y`` (N,) int64 class indices."""

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    name: str

    def __post_init__(self) -> None:
        if self.x.ndim < 2:
            raise DataError(f"{self.name}: examples need at least a channel axis, got an array of shape "
                            f"{self.x.shape}", "arrange x as (N, *spatial, channels)")
        if self.y.ndim != 1 or len(self.y) != len(self.x):
            raise DataError(f"{self.name}: {len(self.x):,} examples but labels of shape {self.y.shape}",
                            "y must hold one class index per example")
        object.__setattr__(self, "x", np.asarray(self.x, dtype=np.float32))
        object.__setattr__(self, "y", np.asarray(self.y, dtype=np.int64))
        object.__setattr__(self, "classes", tuple(self.classes))

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        return f"<Dataset {self.name}: {len(self):,} x {describe_dims(self.dims)}, {len(self.classes)} classes>"

    @property
    def dims(self) -> tuple[int, ...]:
        """The size of one example: spatial sizes, then channels."""
        return tuple(self.x.shape[1:])

    @property
    def shape(self) -> ir.Shape:
        """One example's shape, as the IR writes a spec's input."""
        return ir.Shape(self.dims[:-1], self.dims[-1])

    def take(self, index: slice | np.ndarray, name: str | None = None) -> Dataset:
        """The examples at ``index`` (a slice or an array of positions), same classes."""
        return replace(self, x=self.x[index], y=self.y[index], name=name or self.name)

    def split_at(self, count: int) -> tuple[Dataset, Dataset]:
        """The first ``count`` examples and the rest, in order (no shuffling)."""
        if not 0 < count < len(self):
            raise DataError(f"{self.name}: cannot split {len(self):,} examples after the first {count:,}")
        return (self.take(slice(0, count), f"{self.name}[:{count}]"),
                self.take(slice(count, None), f"{self.name}[{count}:]"))

    def split(self, val_fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
        """A shuffled split: (train, validation) with ``round(val_fraction * N)`` validation examples,
        the same for the same seed."""
        held = _holdout_count(len(self), val_fraction, self.name)
        order = np.random.default_rng(seed).permutation(len(self))
        return (self.take(np.sort(order[held:]), f"{self.name} (train)"),
                self.take(np.sort(order[:held]), f"{self.name} (validation)"))

    def validate(self, input_shape: ir.Shape, num_classes: int) -> tuple[str, ...]:
        """Raise ``DataError`` unless every example has the spec's input shape and every label is below
        ``num_classes``; return warnings (fewer classes in the data than the spec's outputs)."""
        expected = input_shape.dims
        if self.dims != expected:
            raise DataError(
                f"{self.name}: the examples are {describe_dims(self.dims)} but the spec's input is "
                f"{describe_dims(expected)}", _shape_help(self.dims, expected))
        if len(self) == 0:
            raise DataError(f"{self.name}: no examples")
        if not np.isfinite(self.x).all():
            bad = int(np.count_nonzero(~np.isfinite(self.x).reshape(len(self), -1).all(axis=1)))
            raise DataError(f"{self.name}: {bad:,} examples hold NaN or infinite values")
        if len(self.classes) > num_classes:
            raise DataError(f"{self.name}: the data has {len(self.classes)} classes but the spec's output has "
                            f"{num_classes}", f"make the last layer `fc {len(self.classes)}`")
        outside = (self.y < 0) | (self.y >= num_classes)
        if outside.any():
            first = int(np.argmax(outside))
            raise DataError(
                f"{self.name}: {int(outside.sum()):,} labels are outside [0, {num_classes}) (the first is "
                f"{int(self.y[first])} at example {first:,})",
                f"the spec's output has {num_classes} classes; the labels must be class indices 0 to "
                f"{num_classes - 1}")
        if len(self.classes) < num_classes:
            return (f"{self.name}: the data has {len(self.classes)} classes but the spec's output has "
                    f"{num_classes}; outputs {len(self.classes)} to {num_classes - 1} never see an example",)
        return ()


def _holdout_count(total: int, fraction: float, name: str) -> int:
    held = round(total * fraction)
    if not 0 < fraction < 1 or not 0 < held < total:
        raise DataError(f"{name}: cannot hold out a fraction {fraction:g} of {total:,} examples",
                        "use a fraction between 0 and 1 that leaves examples on both sides")
    return held


def _shape_help(found: tuple[int, ...], expected: tuple[int, ...]) -> str:
    if found[:-1] == expected[:-1]:
        return (f"the data has {found[-1]} channel(s), the spec {expected[-1]}: change the spec's input to "
                f"{describe_dims(found)}")
    if len(found) != len(expected):
        return (f"the data is {len(found) - 1}-D and the spec {len(expected) - 1}-D: change the spec's input "
                f"to {describe_dims(found)}")
    return f"change the spec's input to {describe_dims(found)}, or resize the data"


@dataclass(frozen=True, eq=False)
class Splits:
    """What a source provides: a training set, a test set (either may be missing), and notes for the
    user about how they were made (files found, conversions, resizing)."""

    train: Dataset | None
    test: Dataset | None
    notes: tuple[str, ...] = field(default=())

    def with_holdout(self, fraction: float = 0.2, seed: int = 0, evaluating: bool = False) -> Splits:
        """Both sets, making the missing one from the other; the note says what was done, for a training
        run or, with ``evaluating``, for an evaluation (which uses the test set alone).

        - No training set (``mnist:DIR`` with only the t10k files): the first ``1 - fraction`` of the test
          set trains and the last ``fraction`` tests, in file order. With MNIST's 10,000 test images and the
          default 0.2 that is the first 8,000 and the last 2,000.
        - No test set (an ``.npz`` with only ``x``/``y``, a folder without ``train/``/``test/``): a shuffled
          ``fraction`` of the training set, chosen by ``seed``, is held out for testing.
        """
        if self.train is not None and self.test is not None:
            return self
        if self.train is None and self.test is None:
            raise DataError("the source provides no examples")
        if self.train is None:
            whole = self.test
            held = _holdout_count(len(whole), fraction, whole.name)
            train, test = whole.split_at(len(whole) - held)
            if evaluating:
                note = (f"{whole.name}: evaluating on its last {len(test):,} examples, the part a training run "
                        f"holds out for testing (it trains on the first {len(train):,})")
            else:
                note = (f"{whole.name}: no training set; training on its first {len(train):,} examples and "
                        f"testing on the last {len(test):,}")
        else:
            whole = self.train
            train, test = whole.split(fraction, seed)
            if evaluating:
                note = (f"{whole.name}: no test set; evaluating on the {len(test):,} of its {len(whole):,} examples "
                        f"a training run holds out for testing (shuffled, seed {seed})")
            else:
                note = (f"{whole.name}: no test set; holding out {len(test):,} of {len(whole):,} examples "
                        f"(shuffled, seed {seed}) for testing")
        return Splits(train, test, self.notes + (note,))

    def validate(self, input_shape: ir.Shape, num_classes: int) -> tuple[str, ...]:
        """``Dataset.validate`` on each present set; the warnings of both."""
        warnings: list[str] = []
        for part in (self.train, self.test):
            if part is not None:
                warnings += [w for w in part.validate(input_shape, num_classes) if w not in warnings]
        return tuple(warnings)
