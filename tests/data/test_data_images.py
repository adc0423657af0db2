"""Fitting images to a spec's input: channel conversion, resizing (checked against PyTorch), messages,
and the inputs of ``cnnc predict``."""

from __future__ import annotations

import numpy as np
import pytest

from cnnc import ir
from cnnc.data import DataError, conform, load_image, load_inputs
from cnnc.data.images import convert_channels, resize


def test_rgb_to_grey_uses_bt601_luma():
    pixels = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0.5]]], np.float32)
    np.testing.assert_allclose(convert_channels(pixels, 1)[0, :, 0], [0.299, 0.587, 0.114, 0.5], rtol=1e-6)


def test_grey_to_rgb_repeats_and_alpha_is_laid_over_black():
    grey = np.array([[[0.25]]], np.float32)
    assert convert_channels(grey, 3).tolist() == [[[0.25, 0.25, 0.25]]]
    assert convert_channels(grey, 4).tolist() == [[[0.25, 0.25, 0.25, 1.0]]]
    rgba = np.array([[[1.0, 0.5, 0.0, 0.5]]], np.float32)
    np.testing.assert_allclose(convert_channels(rgba, 3), [[[0.5, 0.25, 0.0]]])
    np.testing.assert_allclose(convert_channels(rgba, 1), [[[0.5 * (0.299 + 0.5 * 0.587)]]], rtol=1e-6)
    np.testing.assert_allclose(convert_channels(rgba, 2), [[[0.299 + 0.5 * 0.587, 0.5]]], rtol=1e-6)
    with pytest.raises(DataError, match="cannot convert an image with 3 channels to 5 channels"):
        convert_channels(np.zeros((1, 1, 3), np.float32), 5)


@pytest.mark.parametrize("size_in, size_out", [((5, 7), (12, 3)), ((28, 28), (32, 32)), ((32, 32), (28, 20))])
def test_bilinear_matches_pytorch(size_in, size_out):
    torch = pytest.importorskip("torch")
    image = np.random.default_rng(0).random((*size_in, 3)).astype(np.float32)
    expected = torch.nn.functional.interpolate(torch.tensor(image).permute(2, 0, 1)[None], size=size_out,
                                               mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(resize(image, size_out), expected, atol=1e-5)  # float32 rounding


@pytest.mark.parametrize("rank, mode", [(1, "linear"), (3, "trilinear")])
def test_linear_in_other_ranks_matches_pytorch(rank, mode):
    torch = pytest.importorskip("torch")
    size_in, size_out = (9, 4, 6)[:rank], (5, 7, 3)[:rank]
    image = np.random.default_rng(1).random((*size_in, 2)).astype(np.float32)
    to_torch = (rank, *range(rank))
    expected = torch.nn.functional.interpolate(torch.tensor(image).permute(*to_torch)[None], size=size_out,
                                               mode=mode, align_corners=False)[0]
    expected = expected.permute(*range(1, rank + 1), 0).numpy()
    np.testing.assert_allclose(resize(image, size_out), expected, atol=1e-5)  # float32 rounding


def test_nearest_matches_pytorch_nearest_exact():
    torch = pytest.importorskip("torch")
    image = np.arange(5 * 6, dtype=np.float32).reshape(5, 6, 1)
    expected = torch.nn.functional.interpolate(torch.tensor(image).permute(2, 0, 1)[None], size=(8, 4),
                                               mode="nearest-exact")[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(resize(image, (8, 4), "nearest"), expected)


def test_resize_by_hand():
    row = np.array([[0.0], [1.0]], np.float32)  # 2 pixels -> 4: centres at -0.25, 0.25, 0.75, 1.25
    np.testing.assert_allclose(resize(row, (4,))[:, 0], [0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(resize(row, (4,), "nearest")[:, 0], [0, 0, 1, 1])
    with pytest.raises(DataError, match="unknown resize method 'cubic'"):
        resize(row, (4,), "cubic")


def test_conform_says_what_it_changed():
    image = np.random.default_rng(2).random((40, 30, 3)).astype(np.float32)
    fitted, notes = conform(image, ir.Shape((28, 28), 1), "cat.png")
    assert fitted.shape == (28, 28, 1)
    assert notes == ["cat.png: converted RGB to greyscale for the spec's input 28x28x1",
                     "cat.png: resized 40x30 to 28x28 (bilinear) for the spec's input 28x28x1"]
    same, none = conform(fitted, ir.Shape((28, 28), 1))
    assert same is fitted and none == []
    with pytest.raises(DataError, match=r"cat.png is 2-D \(40x30x3\) but the spec's input is 1-D \(100x1\)"):
        conform(image, ir.Shape((100,), 1), "cat.png")


def test_load_image_fits_a_file(tmp_path, png_from_array):
    array = np.random.default_rng(3).integers(0, 256, (10, 10, 3)).astype(np.uint8)
    (tmp_path / "x.png").write_bytes(png_from_array(array, 4))
    raw, notes = load_image(tmp_path / "x.png")
    assert raw.shape == (10, 10, 3) and notes == []
    fitted, notes = load_image(tmp_path / "x.png", ir.Shape((5, 5), 3), "nearest")
    np.testing.assert_allclose(fitted * 255, array[1::2, 1::2], atol=1e-4)
    assert notes == [f"{tmp_path / 'x.png'}: resized 10x10 to 5x5 (nearest) for the spec's input 5x5x3"]


def test_predict_inputs_from_arrays_and_images(tmp_path, png_from_array):
    shape = ir.Shape((4, 4), 1)
    one = np.random.default_rng(4).random((4, 4, 1)).astype(np.float32)
    np.save(tmp_path / "one.npy", one)
    np.save(tmp_path / "batch.npy", np.stack([one, one * 0.5]))
    np.save(tmp_path / "flat.npy", (one[..., 0] * 255).astype(np.uint8))
    (tmp_path / "big.png").write_bytes(png_from_array(np.full((8, 8, 3), 255, np.uint8)))
    x, names, notes = load_inputs([tmp_path / "one.npy", tmp_path / "batch.npy", tmp_path / "flat.npy",
                                   tmp_path / "big.png"], shape)
    assert x.shape == (5, 4, 4, 1) and x.dtype == np.float32
    assert names == [str(tmp_path / "one.npy"), f"{tmp_path / 'batch.npy'}[0]", f"{tmp_path / 'batch.npy'}[1]",
                     str(tmp_path / "flat.npy"), str(tmp_path / "big.png")]
    np.testing.assert_allclose(x[2], one * 0.5)
    np.testing.assert_allclose(x[3], np.floor(one * 255) / 255, atol=1e-6)
    np.testing.assert_allclose(x[4], 1.0, rtol=1e-6)
    assert [note.split(": ", 1)[1] for note in notes] == [
        "uint8 values divided by 255 to lie in [0, 1]", "4x4 read as 4x4x1 (one channel)",
        "converted RGB to greyscale for the spec's input 4x4x1",
        "resized 8x8 to 4x4 (bilinear) for the spec's input 4x4x1"]


def test_predict_inputs_that_do_not_fit(tmp_path):
    np.save(tmp_path / "wrong.npy", np.zeros((3, 5, 2), np.float32))
    with pytest.raises(DataError) as caught:
        load_inputs([tmp_path / "wrong.npy"], ir.Shape((4, 4), 1))
    assert caught.value.message == f"{tmp_path / 'wrong.npy'}: an array of shape 3x5x2 does not fit the spec's " \
                                   "input 4x4x1"
    assert caught.value.help == "save one example as 4x4x1 or a batch as Nx4x4x1"
    with pytest.raises(DataError, match="reads .npy arrays and PNG, PGM or PPM images"):
        load_inputs([tmp_path / "photo.jpg"], ir.Shape((4, 4), 1))
