"""A generated data set that needs no files: oriented bars and edges, the patterns that hand-made
filters such as the Sobel operator detect, for any spatial rank (1-D, 2-D, 3-D) and channel count.

Each class is one template: a bar (a bright ridge across the field, ``exp(-d^2 / 2w^2)`` of the signed
distance ``d`` to a line/plane) or an edge (a step from dark to light, ``sigmoid(d / w)``) with its own
orientation. Bars use orientations over a half turn (a bar at 0 and 180 degrees is the same), edges over
a full turn (the polarity tells them apart). In 1-D there is no orientation, so classes differ by the
kind (bar, rising edge, falling edge) and the width. Every example moves the pattern off centre, scales
its contrast, adds a background level, a per-channel gain and Gaussian noise, and is clipped to [0, 1];
the same seed gives the same examples.
"""

from __future__ import annotations

from math import ceil, pi, prod

import numpy as np

from cnnc import ir
from cnnc.data.dataset import DataError, Dataset, Splits
from cnnc.frozen import frozen

GOLDEN_ANGLE = pi * (3 - 5 ** 0.5)


@frozen
class Template:
    """One class: "bar" or "edge", the unit normal of its line/plane, and its width in pixels."""

    kind: str
    normal: tuple[float, ...]
    width: float

    def describe(self) -> str:
        if len(self.normal) == 1:
            return f"{self.kind} {'rising' if self.normal[0] > 0 else 'falling'} w{self.width:g}" \
                if self.kind == "edge" else f"bar w{self.width:g}"
        if len(self.normal) == 2:
            angle = np.degrees(np.arctan2(self.normal[1], self.normal[0])) % 360
            return f"{self.kind} {angle:.0f}deg"
        return f"{self.kind} ({', '.join(f'{v:+.2f}' for v in self.normal)})"


def _directions(rank: int, count: int, full_turn: bool) -> list[tuple[float, ...]]:
    """``count`` well-spread unit vectors: angles in 2-D, a Fibonacci spiral on the (half) sphere in 3-D."""
    if rank == 2:
        turn = 2 * pi if full_turn else pi
        return [(float(np.cos(turn * i / count)), float(np.sin(turn * i / count))) for i in range(count)]
    vectors = []
    for i in range(count):
        top = 1 - (i + 0.5) / count * (2 if full_turn else 1)  # z from 1 down to -1 (or to 0)
        radius = (1 - top * top) ** 0.5
        vectors.append((float(radius * np.cos(GOLDEN_ANGLE * i)), float(radius * np.sin(GOLDEN_ANGLE * i)),
                        float(top)))
    return vectors


def templates(rank: int, classes: int, base_width: float) -> list[Template]:
    """The pattern of each class, in class order."""
    if rank == 1:
        kinds = [("bar", (1.0,)), ("edge", (1.0,)), ("edge", (-1.0,))]
        return [Template(kinds[k % 3][0], kinds[k % 3][1], base_width * 2 ** (k // 3)) for k in range(classes)]
    bars = ceil(classes / 2)
    found = [Template("bar", normal, base_width) for normal in _directions(rank, bars, full_turn=False)]
    found += [Template("edge", normal, base_width / 2)
              for normal in _directions(rank, classes - bars, full_turn=True)]
    return found


def generate(shape: ir.Shape, classes: int, count: int, seed: int = 0, noise: float = 0.05,
             name: str = "synthetic") -> Dataset:
    """``count`` examples of ``shape``, classes balanced and in shuffled order."""
    if not 1 <= shape.rank <= 3:
        raise DataError(f"synthetic data is 1-D, 2-D or 3-D; the spec's input is {shape}")
    if classes < 2 or count < 1:
        raise DataError(f"synthetic data needs at least 2 classes and 1 example (got {classes} and {count})")
    rng = np.random.default_rng(seed)
    extent = np.array(shape.spatial, np.float64)
    base_width = max(0.75, 0.06 * float(extent.min()))
    patterns = templates(shape.rank, classes, base_width)
    labels = rng.permutation(np.arange(count) % classes)
    axes = [np.arange(n, dtype=np.float32) for n in shape.spatial]
    x = np.empty((count, *shape.spatial, shape.channels), np.float32)
    for index, label in enumerate(labels):
        template = patterns[label]
        centre = extent / 2 - 0.5 + rng.uniform(-0.2, 0.2, shape.rank) * extent
        # The signed distance to the line/plane through ``centre``, summed axis by axis (broadcasting).
        distance = sum(((axis - np.float32(c)) * np.float32(n)).reshape([-1 if i == k else 1
                                                                        for i in range(shape.rank)])
                       for k, (axis, c, n) in enumerate(zip(axes, centre, template.normal)))
        if template.kind == "bar":
            profile = np.exp(-0.5 * (distance / np.float32(template.width)) ** 2)
        else:
            profile = 1 / (1 + np.exp(-distance / np.float32(template.width)))
        contrast = rng.uniform(0.6, 1.0)
        background = rng.uniform(0.0, 0.2)
        gains = rng.uniform(0.7, 1.0, shape.channels).astype(np.float32)
        example = np.float32(background) + np.float32(contrast) * profile[..., None] * gains
        example += np.float32(noise) * rng.standard_normal(example.shape, dtype=np.float32)
        np.clip(example, 0.0, 1.0, out=x[index])
    return Dataset(x, labels, tuple(t.describe() for t in patterns), name)


# Keep the default data set below this many bytes of float32 (an ImageNet-sized spec gets fewer examples).
DEFAULT_BUDGET_BYTES = 256 << 20


def default_count(shape: ir.Shape) -> int:
    """2,000 training examples, or fewer if they and a quarter as many test examples would pass 256 MB."""
    per_example = 4 * prod(shape.dims) * 1.25  # float32, plus a quarter as many test examples
    return max(1, min(2000, int(DEFAULT_BUDGET_BYTES / per_example)))


def synthetic_splits(shape: ir.Shape, classes: int, train: int | None = None, test: int | None = None,
                     seed: int = 0, noise: float = 0.05) -> Splits:
    """A training and a test set drawn from the same generator (seed ``seed`` and ``seed + 1``).
    Defaults: 2,000 training and a quarter as many test examples, fewer if they would pass 256 MB."""
    notes = []
    if train is None:
        train = default_count(shape)
        if train < 2000:
            notes.append(f"synthetic: {train:,} training examples of {shape} to stay under "
                         f"{DEFAULT_BUDGET_BYTES >> 20} MB (set n=... to choose)")
    test = max(1, train // 4) if test is None else test
    notes.insert(0, f"synthetic: {train:,} training and {test:,} test examples of {shape}, {classes} classes of "
                    f"oriented bars and edges (seed {seed})")
    return Splits(generate(shape, classes, train, seed, noise, "synthetic (train)"),
                  generate(shape, classes, test, seed + 1, noise, "synthetic (test)"), tuple(notes))
