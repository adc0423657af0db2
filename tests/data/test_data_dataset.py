"""``Dataset`` and ``Splits``: splitting, holding out, and validation against a spec's input and classes."""

from __future__ import annotations

import numpy as np
import pytest

from cnnc import ir
from cnnc.data import DataError, Dataset, Splits


def _data(count=10, dims=(4, 4, 1), classes=3, name="toy"):
    x = np.arange(count * int(np.prod(dims)), dtype=np.float32).reshape(count, *dims) / (count * np.prod(dims))
    return Dataset(x, np.arange(count) % classes, tuple(str(k) for k in range(classes)), name)


def test_types_and_repr():
    data = Dataset(np.zeros((3, 2, 1), np.uint8), np.array([0, 1, 1], np.int32), ["a", "b"], "tiny")
    assert data.x.dtype == np.float32 and data.y.dtype == np.int64 and data.classes == ("a", "b")
    assert data.dims == (2, 1) and data.shape == ir.Shape((2,), 1)
    assert repr(data) == "<Dataset tiny: 3 x 2x1, 2 classes>"
    with pytest.raises(DataError, match="3 examples but labels of shape \\(2,\\)"):
        Dataset(np.zeros((3, 2, 1)), np.zeros(2), ("a",), "bad")


def test_split_at_keeps_order():
    first, rest = _data().split_at(7)
    assert first.y.tolist() == [0, 1, 2, 0, 1, 2, 0] and rest.y.tolist() == [1, 2, 0]
    assert first.name == "toy[:7]" and rest.name == "toy[7:]"
    with pytest.raises(DataError, match="cannot split 10 examples after the first 10"):
        _data().split_at(10)


def test_shuffled_split_is_a_seeded_partition():
    data = _data(100)
    train, val = data.split(0.25, seed=1)
    assert (len(train), len(val)) == (75, 25)
    seen = np.concatenate([train.x[:, 0, 0, 0], val.x[:, 0, 0, 0]])
    np.testing.assert_array_equal(np.sort(seen), data.x[:, 0, 0, 0])
    again, _ = data.split(0.25, seed=1)
    other, _ = data.split(0.25, seed=2)
    np.testing.assert_array_equal(train.x, again.x)
    assert not np.array_equal(train.x, other.x)
    with pytest.raises(DataError, match="cannot hold out a fraction 1.5 of 100 examples"):
        data.split(1.5)


def test_holdout_from_a_test_set_only_takes_the_tail():
    splits = Splits(None, _data(10), ("read 10",)).with_holdout(0.2)
    assert splits.train.y.tolist() == [0, 1, 2, 0, 1, 2, 0, 1] and splits.test.y.tolist() == [2, 0]
    assert splits.notes == ("read 10", "toy: no training set; training on its first 8 examples and testing on the "
                                       "last 2")


def test_holdout_from_a_training_set_only_is_shuffled():
    splits = Splits(_data(20), None).with_holdout(0.25, seed=3)
    assert (len(splits.train), len(splits.test)) == (15, 5)
    assert splits.notes == ("toy: no test set; holding out 5 of 20 examples (shuffled, seed 3) for testing",)
    both = Splits(_data(4), _data(2))
    assert both.with_holdout() is both
    with pytest.raises(DataError, match="provides no examples"):
        Splits(None, None).with_holdout()


@pytest.mark.parametrize("shape, message, help_text", [
    (ir.Shape((4, 4), 3), "toy: the examples are 4x4x1 but the spec's input is 4x4x3",
     "the data has 1 channel(s), the spec 3: change the spec's input to 4x4x1"),
    (ir.Shape((5, 5), 1), "toy: the examples are 4x4x1 but the spec's input is 5x5x1",
     "change the spec's input to 4x4x1, or resize the data"),
    (ir.Shape((16,), 1), "toy: the examples are 4x4x1 but the spec's input is 16x1",
     "the data is 2-D and the spec 1-D: change the spec's input to 4x4x1"),
])
def test_validate_shape(shape, message, help_text):
    with pytest.raises(DataError) as caught:
        _data().validate(shape, 3)
    assert (caught.value.message, caught.value.help) == (message, help_text)


def test_validate_labels_and_classes():
    shape = ir.Shape((4, 4), 1)
    assert _data().validate(shape, 3) == ()
    bad = Dataset(_data().x, np.array([0, 1, 2, 5, -1, 0, 0, 0, 0, 0]), ("a", "b", "c"), "labels")
    with pytest.raises(DataError) as caught:
        bad.validate(shape, 3)
    assert caught.value.message == "labels: 2 labels are outside [0, 3) (the first is 5 at example 3)"
    with pytest.raises(DataError, match="the data has 3 classes but the spec's output has 2"):
        _data().validate(shape, 2)
    assert _data().validate(shape, 5) == ("toy: the data has 3 classes but the spec's output has 5; outputs 3 to 4 "
                                          "never see an example",)
    broken = Dataset(np.where(np.arange(160).reshape(10, 4, 4, 1) == 17, np.nan, 0.0), np.zeros(10), ("a",), "nan")
    with pytest.raises(DataError, match="nan: 1 examples hold NaN or infinite values"):
        broken.validate(shape, 1)


def test_splits_validate_both_parts():
    splits = Splits(_data(), _data(dims=(4, 4, 2), name="other"))
    with pytest.raises(DataError, match="other: the examples are 4x4x2"):
        splits.validate(ir.Shape((4, 4), 1), 3)
