"""PNG and PGM/PPM decoding, against files built byte by byte in the tests."""

from __future__ import annotations

import random
import struct
import zlib

import numpy as np
import pytest

from cnnc.data import DataError
from cnnc.data.decode import decode_png, decode_pnm, read_image

from data_builders import build_png, chunk

FILTERS = {"none": 0, "sub": 1, "up": 2, "average": 3, "paeth": 4}


def _random(shape, dtype=np.uint8, seed=0):
    top = 65536 if dtype == np.uint16 else 256
    return np.random.default_rng(seed).integers(0, top, shape).astype(dtype)


@pytest.mark.parametrize("filter_name", FILTERS)
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_each_filter_type_8_bit(png_from_array, filter_name, channels):
    array = _random((7, 9, channels), seed=channels)
    decoded = decode_png(png_from_array(array, FILTERS[filter_name]))
    assert decoded.dtype == np.float32 and decoded.shape == (7, 9, channels)
    np.testing.assert_array_equal(np.round(decoded * 255).astype(np.uint8), array)


@pytest.mark.parametrize("filter_name", FILTERS)
@pytest.mark.parametrize("channels", [1, 3])
def test_each_filter_type_16_bit(png_from_array, filter_name, channels):
    array = _random((5, 6, channels), np.uint16, seed=10 + channels)
    decoded = decode_png(png_from_array(array, FILTERS[filter_name]))
    np.testing.assert_array_equal(np.round(decoded.astype(np.float64) * 65535).astype(np.uint16), array)


def test_a_different_filter_on_every_row(png_from_array):
    array = _random((10, 13, 3), seed=3)
    decoded = decode_png(png_from_array(array, [0, 1, 2, 3, 4, 4, 3, 2, 1, 0]))
    np.testing.assert_array_equal(np.round(decoded * 255).astype(np.uint8), array)


def test_known_pixel_values():
    """A 2x2 greyscale image written by hand: Sub on row 0, Paeth on row 1."""
    # Row 0: pixels 10, 250 -> Sub bytes 10, 240. Row 1: pixels 20, 5 -> Paeth: first pixel predicts up
    # (10), 20-10=10; second: left 20, up 250, up-left 10, estimate 260, nearest is up 250: 5-250 = 11 mod 256.
    raw = bytes([1, 10, 240, 4, 10, 11])
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    assert (decode_png(data)[..., 0] * 255).round().tolist() == [[10, 250], [20, 5]]


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_sub_byte_greyscale(depth):
    values = _random((4, 11), seed=depth) % (1 << depth)
    rows = [np.packbits(np.unpackbits(row[:, None].astype(np.uint8), axis=1)[:, 8 - depth:].ravel()).tobytes()
            for row in values]
    decoded = decode_png(build_png(rows, 11, depth, 0, [4, 1, 3, 2], 1))
    np.testing.assert_array_equal(np.round(decoded[..., 0] * ((1 << depth) - 1)), values)


def test_palette_with_transparency():
    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    indices = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    rows = [row.tobytes() for row in indices]
    extra = [chunk(b"PLTE", palette.tobytes()), chunk(b"tRNS", bytes([128, 255]))]  # third entry: opaque
    decoded = decode_png(build_png(rows, 3, 8, 3, [0, 4], 1, extra))
    assert decoded.shape == (2, 3, 4)
    np.testing.assert_array_equal(decoded[..., :3] * 255, palette[indices])
    np.testing.assert_allclose(decoded[..., 3], [[128 / 255, 1, 1], [1, 1, 128 / 255]])


def test_four_bit_palette_without_transparency():
    palette = np.arange(16 * 3, dtype=np.uint8).reshape(16, 3) * 5
    indices = np.array([[15, 0, 7], [1, 2, 3]], np.uint8)
    rows = [bytes([row[0] << 4 | row[1], row[2] << 4]) for row in indices]
    decoded = decode_png(build_png(rows, 3, 4, 3, [1, 2], 1, [chunk(b"PLTE", palette.tobytes())]))
    assert decoded.shape == (2, 3, 3)
    np.testing.assert_array_equal(np.round(decoded * 255), palette[indices])


@pytest.mark.parametrize("mutate, message", [
    (lambda png: png[:30], "truncated"),
    (lambda png: png[:20] + bytes([png[20] ^ 1]) + png[21:], "CRC mismatch in chunk 'IHDR'"),
    (lambda png: b"GIF89a" + png[6:], "not a PNG file"),
])
def test_damaged_png(png_from_array, mutate, message):
    with pytest.raises(DataError, match=message):
        decode_png(mutate(png_from_array(_random((3, 3, 1)))), "x.png")


def test_interlaced_png_is_refused_with_a_way_out(png_from_array):
    with pytest.raises(DataError) as caught:
        decode_png(png_from_array(_random((3, 3, 1)), interlace=1), "photo.png")
    assert caught.value.message == "photo.png: Adam7-interlaced PNGs are not supported"
    assert "without interlacing" in caught.value.help


def test_unsupported_depth_for_colour_type():
    png = build_png([bytes(3)], 2, 4, 2, [0], 1)  # RGB at 4 bits is not a valid PNG
    with pytest.raises(DataError, match="unsupported PNG \\(colour type 2, 4-bit\\)"):
        decode_png(png)


def test_unknown_filter_type(png_from_array):
    header = struct.pack(">IIBBBBB", 2, 1, 8, 0, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes([5, 1, 2])))
           + chunk(b"IEND", b""))
    with pytest.raises(DataError, match="unknown PNG filter type 5 on row 0"):
        decode_png(png)


def test_pgm_text_with_comments():
    data = b"P2\n# a comment\n3 2\n# another\n15\n0 5 15\n 10 1 2\n"
    np.testing.assert_allclose(decode_pnm(data)[..., 0], np.array([[0, 5, 15], [10, 1, 2]]) / 15, rtol=1e-6)


def test_pgm_binary_8_and_16_bit(tmp_path):
    array = _random((4, 5), seed=1)
    (tmp_path / "a.pgm").write_bytes(b"P5 5 4 255\n" + array.tobytes())
    np.testing.assert_array_equal(np.round(read_image(tmp_path / "a.pgm")[..., 0] * 255), array)
    wide = _random((2, 3), np.uint16, seed=2) % 1001
    decoded = decode_pnm(b"P5\n3 2\n1000\n" + wide.astype(">u2").tobytes())
    np.testing.assert_allclose(decoded[..., 0], wide / 1000, rtol=1e-6)


def test_ppm_binary():
    array = _random((2, 2, 3), seed=4)
    decoded = decode_pnm(b"P6\n2 2\n255\n" + array.tobytes())
    assert decoded.shape == (2, 2, 3)
    np.testing.assert_array_equal(np.round(decoded * 255), array)


@pytest.mark.parametrize("data, message", [
    (b"P5\n3 2\n", "header is cut short"),
    (b"P5\n3 x\n255\n", "needs width, height and maxval"),
    (b"P5\n3 2\n70000\n" + bytes(12), "invalid PGM/PPM header"),
    (b"P5\n3 2\n255\n" + bytes(4), "4 pixel values for a 3x2 image"),
    (b"P2\n2 1\n7\n3 9\n", "exceeds the maxval 7"),
    (b"P5\n2 1\n1000\n" + bytes(3), "1 pixel values for a 2x1 image"),
])
def test_damaged_pgm(data, message):
    with pytest.raises(DataError, match=message):
        decode_pnm(data, "x.pgm")


def test_read_image_recognises_formats_by_content(tmp_path, png_from_array):
    (tmp_path / "looks.pgm").write_bytes(png_from_array(_random((2, 2, 1))))
    assert read_image(tmp_path / "looks.pgm").shape == (2, 2, 1)
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(DataError, match="not a PNG, PGM or PPM image"):
        read_image(tmp_path / "notes.png")


def test_damaged_files_only_ever_raise_data_error(png_from_array):
    """Random byte edits (with CRCs repaired half the time, so that damage reaches the image data) give an
    image in [0, 1] or a DataError, never another exception."""
    rng = random.Random(0)
    originals = [png_from_array(_random((5, 6, 3), seed=1), [0, 1, 2, 3, 4]),
                 png_from_array(_random((4, 3, 1), np.uint16, seed=2), [4, 3, 2, 1]),
                 b"P5 4 3 65535\n" + bytes(range(24)), b"P2\n2 2\n300\n1 2 3 299\n"]
    for _ in range(1500):
        data = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 3)):
            where = rng.randrange(len(data))
            edit = rng.random()
            if edit < 0.5:
                data[where] = rng.randrange(256)
            elif edit < 0.8:
                del data[where:where + rng.randint(1, 6)]
            else:
                data = data[:where]
            if not data:
                break
        if data.startswith(b"\x89PNG") and rng.random() < 0.5:
            data = _repair_crcs(bytes(data))
        try:
            image = decode_png(bytes(data)) if data.startswith(b"\x89PNG") else decode_pnm(bytes(data))
        except DataError:
            continue
        assert image.dtype == np.float32 and image.ndim == 3 and 0 <= image.min() <= image.max() <= 1


def _repair_crcs(data: bytes) -> bytes:
    out, position = bytearray(data[:8]), 8
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        end = position + 8 + length
        if end + 4 > len(data):
            return bytes(out + data[position:])
        out += chunk(data[position + 4:position + 8], data[position + 8:end])
        position = end + 4
    return bytes(out + data[position:])
