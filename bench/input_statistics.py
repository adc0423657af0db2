"""How far from its training data `cnnc predict` finds an input: the figures behind its limit
(``cnnc.input_statistics.FAR``), measured on real MNIST and on generated data.

    python bench/input_statistics.py [--data ../shared/data/mnist]

For each data set: the statistics of the training part, then the largest distance (in spreads) among
the held-out examples as they are, and the smallest among the same examples inverted (1 - x) and
scaled to [0, 255]. A good limit lies above the first and below the other two."""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def distances(statistics, x):
    """Each example's largest distance, over its channels and the two measures."""
    import numpy as np

    mean_distance, std_distance = statistics.distances(x)
    return np.maximum(mean_distance, std_distance).max(axis=1)


def report(name: str, train, test) -> None:
    from cnnc.input_statistics import FAR, InputStatistics

    statistics = InputStatistics.measure(train)
    held, inverted, scaled = (distances(statistics, x) for x in (test, 1 - test, 255 * test))
    print(f"{name}: trained on {len(train):,} examples; mean {statistics.mean[0]:.4f} (spread "
          f"{statistics.mean_spread[0]:.4f}), standard deviation {statistics.std[0]:.4f} (spread "
          f"{statistics.std_spread[0]:.4f})")
    print(f"  {len(test):,} held-out examples: largest distance {held.max():.2f}, "
          f"{int((held > FAR).sum()):,} above the limit {FAR:g}")
    print(f"  the same inverted (1 - x): smallest distance {inverted.min():.2f}, "
          f"{int((inverted > FAR).sum()):,} above the limit")
    print(f"  the same times 255: smallest distance {scaled.min():.2f}, {int((scaled > FAR).sum()):,} above the limit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    args = parser.parse_args()
    from cnnc import ir
    from cnnc.data import load_source

    if Path(args.data).is_dir():
        splits = load_source(f"mnist:{args.data}", ir.Shape((28, 28), 1), 10).with_holdout(0.2)
        report("MNIST (t10k: first 8,000 / last 2,000)", splits.train.x, splits.test.x)
    else:
        print(f"MNIST: {args.data} is not a folder; skipped")
    splits = load_source("synthetic", ir.Shape((28, 28), 1), 10)
    report("synthetic 28x28x1, 10 classes (2,000 / 500)", splits.train.x, splits.test.x)
    splits = load_source("synthetic", ir.Shape((32, 32), 3), 4)
    report("synthetic 32x32x3, 4 classes (2,000 / 500)", splits.train.x, splits.test.x)


if __name__ == "__main__":
    main()
