"""What a model's training inputs looked like, kept in its checkpoint so that ``cnnc predict`` can flag
an input unlike them (an inverted digit, pixels in [0, 255] for a model trained on [0, 1]).

Per channel, over the training examples: the mean of each example's pixels (their average ``mean`` and
their spread ``mean_spread``, a standard deviation across examples) and each example's own standard
deviation, its contrast (``std`` and ``std_spread`` likewise). An input is *far* from the training data
when, for some channel, its mean or its contrast lies more than ``FAR`` spreads from the training
examples' average: 5 standard deviations of the examples' own variation. On MNIST (the statistics of
the first 8,000 t10k digits) the 2,000 held-out digits lie at most 4.17 spreads away, the same digits
inverted at least 12.65 and scaled to [0, 255] at least 961: ``python bench/input_statistics.py``.
Generated bars and edges inverted stay within the limit (an inverted edge is another edge); scaled, they
pass it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import NamedTuple

import numpy as np

from cnnc.frozen import frozen

FAR = 5.0
"""How many spreads from the training examples' average an input's mean or contrast may lie."""
CHUNK = 4096  # examples measured at a time: bounded temporary memory for any data set
MIN_SPREAD = 1e-6  # training data whose examples all share one mean (or contrast)


@frozen
class InputStatistics:
    """Per-channel figures of a training set (see the module's docstring); ``low`` and ``high``: the
    smallest and largest value it holds."""

    examples: int
    mean: tuple[float, ...]
    mean_spread: tuple[float, ...]
    std: tuple[float, ...]
    std_spread: tuple[float, ...]
    low: float
    high: float

    @classmethod
    def measure(cls, x: np.ndarray) -> InputStatistics:
        """The figures of examples ``x`` (N, *spatial, C), N at least 1."""
        means, stds = example_moments(x)
        return cls(len(x), _floats(means.mean(axis=0)), _floats(means.std(axis=0)), _floats(stds.mean(axis=0)),
                   _floats(stds.std(axis=0)), float(x.min()), float(x.max()))

    @property
    def channels(self) -> int:
        return len(self.mean)

    def to_json(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> InputStatistics:
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})

    def distances(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean distance, contrast distance), each (N, C): how many spreads each example's channel
        mean and standard deviation lie from the training examples' average."""
        means, stds = example_moments(x)
        mean_distance = np.abs(means - self.mean) / np.maximum(self.mean_spread, MIN_SPREAD)
        std_distance = np.abs(stds - self.std) / np.maximum(self.std_spread, MIN_SPREAD)
        return mean_distance, std_distance

    def unlike(self, x: np.ndarray) -> list[Unlike | None]:
        """For each example of ``x``, how it is far from the training data, or None when it is not."""
        means, stds = example_moments(x)
        mean_distance, std_distance = self.distances(x)
        found: list[Unlike | None] = []
        for index in range(len(x)):
            channel = int(np.argmax(np.maximum(mean_distance[index], std_distance[index])))
            by_mean = mean_distance[index, channel] >= std_distance[index, channel]
            distance = max(mean_distance[index, channel], std_distance[index, channel])
            if distance <= FAR:
                found.append(None)
                continue
            where = f"channel {channel} " if self.channels > 1 else ""
            if by_mean:
                reason = (f"its {where}mean {means[index, channel]:.3g} is {distance:,.0f} spreads from the training "
                          f"inputs' {self.mean[channel]:.3g} (spread {self.mean_spread[channel]:.2g})")
            else:
                reason = (f"its {where}standard deviation {stds[index, channel]:.3g} is {distance:,.0f} spreads from "
                          f"the training inputs' {self.std[channel]:.3g} (spread {self.std_spread[channel]:.2g})")
            found.append(Unlike(reason, self._guess(x[index], means[index])))
        return found

    def _guess(self, example: np.ndarray, means: np.ndarray) -> str:
        """What probably happened (another scale, light and dark swapped) and what to do."""
        top = float(example.max())
        if self.high > 0 and top > 2 * self.high:
            return (f"its values reach {top:.4g} where the training inputs' reach {self.high:.4g}: scale it as the "
                    "training data were")
        flipped = np.abs((self.low + self.high) - means - self.mean) / np.maximum(self.mean_spread, MIN_SPREAD)
        if np.all(flipped <= FAR):
            return "it looks inverted, light where the training inputs are dark: predictions for it may be unreliable"
        return "predictions for it may be unreliable"


class Unlike(NamedTuple):
    """How an input differs from the training data, and a hint."""

    reason: str
    hint: str

    def __str__(self) -> str:
        return f"{self.reason}; {self.hint}"


def example_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each example's per-channel mean and standard deviation over its pixels, (N, C) each, in float64."""
    count, channels = len(x), x.shape[-1]
    means, stds = np.empty((count, channels)), np.empty((count, channels))
    for start in range(0, count, CHUNK):
        part = x[start:start + CHUNK].reshape(min(CHUNK, count - start), -1, channels).astype(np.float64)
        means[start:start + CHUNK] = part.mean(axis=1)
        stds[start:start + CHUNK] = part.std(axis=1)
    return means, stds


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(value) for value in values)
