"""Generated bars and edges: shapes for every rank, determinism, balance, and that the classes are
the patterns they claim to be."""

from __future__ import annotations

import numpy as np
import pytest

from cnnc import ir
from cnnc.data import DataError
from cnnc.data import synthetic
from cnnc.data.synthetic import default_count, generate, synthetic_splits, templates


@pytest.mark.parametrize("spatial, channels", [((64,), 1), ((20, 24), 3), ((8, 9, 10), 2)])
def test_shapes_ranges_and_balance(spatial, channels):
    data = generate(ir.Shape(spatial, channels), classes=5, count=50, seed=3)
    assert data.x.shape == (50, *spatial, channels) and data.x.dtype == np.float32
    assert data.x.min() >= 0 and data.x.max() <= 1
    assert np.bincount(data.y).tolist() == [10] * 5
    assert len(data.classes) == 5 and len(set(data.classes)) == 5


def test_same_seed_same_data_other_seed_other_data():
    shape = ir.Shape((12, 12), 1)
    a, b, c = (generate(shape, 4, 30, seed) for seed in (7, 7, 8))
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_two_dimensional_classes_are_oriented_bars_and_edges():
    """Without noise, a bar at 0 degrees varies along the first axis only (its normal), so it is constant
    along the second; an edge is a monotonic step along its normal."""
    classes = templates(2, 4, 1.5)
    assert [t.describe() for t in classes] == ["bar 0deg", "bar 90deg", "edge 0deg", "edge 180deg"]
    data = generate(ir.Shape((16, 16), 1), 4, 40, seed=0, noise=0.0)
    for image, label in zip(data.x[..., 0], data.y):
        if label == 0:
            assert np.ptp(image, axis=1).max() < 1e-6 and np.ptp(image) > 0.3
        if label == 1:
            assert np.ptp(image, axis=0).max() < 1e-6
        if label == 2:
            column = image[:, 0]
            assert np.all(np.diff(column) >= 0) and column[-1] - column[0] > 0.3
        if label == 3:
            assert np.all(np.diff(image[:, 0]) <= 0)


def test_one_dimensional_classes_differ_by_kind_and_width():
    assert [t.describe() for t in templates(1, 5, 2.0)] == [
        "bar w2", "edge rising w2", "edge falling w2", "bar w4", "edge rising w4"]


def test_splits_sizes_and_notes():
    splits = synthetic_splits(ir.Shape((10, 10), 1), 3, train=60, seed=5)
    assert (len(splits.train), len(splits.test)) == (60, 15)
    assert not np.array_equal(splits.train.x[:15], splits.test.x)
    assert splits.notes == ("synthetic: 60 training and 15 test examples of 10x10x1, 3 classes of oriented bars "
                            "and edges (seed 5)",)


def test_default_size_stays_within_the_memory_budget(monkeypatch):
    assert default_count(ir.Shape((28, 28), 1)) == 2000
    assert default_count(ir.Shape((224, 224), 3)) == int((256 << 20) / (4 * 224 * 224 * 3 * 1.25)) == 356
    monkeypatch.setattr(synthetic, "DEFAULT_BUDGET_BYTES", 1 << 20)
    splits = synthetic_splits(ir.Shape((28, 28), 1), 2, train=None, test=1)
    assert len(splits.train) == int((1 << 20) / (4 * 784 * 1.25)) == 267
    assert splits.notes[1] == "synthetic: 267 training examples of 28x28x1 to stay under 1 MB (set n=... to choose)"


def test_rejects_what_it_cannot_make():
    with pytest.raises(DataError, match="1-D, 2-D or 3-D"):
        generate(ir.Shape((2, 2, 2, 2), 1), 2, 4)
    with pytest.raises(DataError, match="at least 2 classes"):
        generate(ir.Shape((4, 4), 1), 1, 4)
