"""Opening a model fast without opening it less strictly: the .npy header read without NumPy's parser, stored
zip members read straight into their arrays, the finite check by a sum. Each fast path against NumPy's own reading, and against damage."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

import cnnc
from cnnc.checkpoint import ModelFileError, load_model
from cnnc.npz import NpzError, _header, read_npy, read_npz

ARRAYS = {
    "weights": np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7,
    "scalar": np.array(2.5),
    "text": np.array("input 8x8x3\nconv 8 3x3\n"),
    "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    "empty": np.zeros((0, 3), np.float32),
    "big_endian": np.arange(5, dtype=">f8"),
    "bytes": np.array([b"ab", b"c"]),
    "flags": np.array([True, False, True]),
    "counts": np.arange(7, dtype=np.int64),
    "large": np.random.default_rng(0).standard_normal(300_000).astype(np.float32),  # more than one read
}
# and a header numpy.save writes that is not the plain form (read by NumPy's parser, refused after it)
HEADERS = {**ARRAYS, "dates": np.array(["2026-11-30"], dtype="M8[D]"), "record": np.zeros(2, [("a", "<f4")])}


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("name", list(HEADERS))
def test_the_header_is_read_as_numpy_reads_it(name):
    data = npy_bytes(HEADERS[name])
    ours, numpy_s = io.BytesIO(data), io.BytesIO(data)
    version = np.lib.format.read_magic(ours)
    np.lib.format.read_magic(numpy_s)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    assert _header(ours, version, name) == reader(numpy_s)
    assert ours.tell() == numpy_s.tell()  # the data starts where NumPy says


@pytest.mark.parametrize("header", [
    b"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1, }",  # a key too many
    b"{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }",  # not a bool
    b"{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }",  # a negative size
    b"{'descr': 'O', 'fortran_order': False, 'shape': (3,), }",  # objects: refused after the header
])
def test_other_headers_go_to_numpy_s_parser_and_are_refused(header, tmp_path):
    padded = header + b" " * (63 - len(header) % 64) + b"\n"
    path = tmp_path / "forged.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(padded)) + padded + bytes(12))
    with pytest.raises(NpzError):
        read_npy(path)


@pytest.mark.parametrize("compressed", [False, True])
def test_every_array_reads_back_as_numpy_loads_it(compressed, tmp_path):
    path = tmp_path / "arrays.npz"
    (np.savez_compressed if compressed else np.savez)(path, **ARRAYS)
    ours = read_npz(path)
    with np.load(path) as numpy_s:
        assert sorted(ours) == sorted(numpy_s.files)
        for name in numpy_s.files:
            expected = numpy_s[name]
            assert ours[name].dtype == expected.dtype and ours[name].shape == expected.shape
            assert np.array_equal(ours[name], expected), name
            assert ours[name].flags.writeable
    np.save(tmp_path / "large.npy", ARRAYS["large"])
    assert np.array_equal(read_npy(tmp_path / "large.npy"), ARRAYS["large"])


def stored_member(data: bytes, name: str) -> tuple[int, int]:
    """Where member ``name`` of the zip ``data`` starts (its local header) and where its bytes start."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    return info.header_offset, info.header_offset + 30 + name_length + extra_length


def damaged(change) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **ARRAYS)
    data = bytearray(buffer.getvalue())
    change(data, *stored_member(bytes(data), "large.npy"))
    return bytes(data)


def flip_a_data_bit(data, header, start):
    data[start + 1000] ^= 0x04


def forge_the_signature(data, header, start):
    data[header:header + 4] = b"PK\x05\x06"


def forge_the_name(data, header, start):
    data[header + 30] = ord("X")  # "large.npy" -> "Xarge.npy" in the local header only


@pytest.mark.parametrize("change", [flip_a_data_bit, forge_the_signature, forge_the_name])
def test_a_damaged_stored_member_is_refused(change, tmp_path):
    path = tmp_path / "damaged.npz"
    path.write_bytes(damaged(change))
    with pytest.raises(NpzError, match="damaged or truncated"):
        read_npz(path)


def test_a_stored_member_said_to_reach_past_the_end_of_the_file_is_refused(tmp_path):
    # the central directory promises more bytes than the file has: refused before anything is allocated
    buffer = io.BytesIO()
    np.savez(buffer, weights=np.zeros(1000, np.float32))
    data = bytearray(buffer.getvalue())
    directory = data.rfind(b"PK\x01\x02")
    compressed, uncompressed = struct.unpack("<II", data[directory + 20:directory + 28])
    data[directory + 20:directory + 28] = struct.pack("<II", compressed + 10**9, uncompressed + 10**9)
    path = tmp_path / "forged.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(NpzError):
        read_npz(path)


# The checkpoint ------------------------------------------------------------------------------------------

SPEC = "input 8x8x1\nconv 4 3x3 pad=1\nrelu\nmaxpool 2\nfc 10\nsoftmax\n"


@pytest.fixture()
def saved(tmp_path) -> Path:
    path = tmp_path / "model.npz"
    cnnc.loads(SPEC, name="tiny").compile(seed=3).save(path)
    return path


def test_a_checkpoint_whose_spec_has_errors_is_refused_every_time(saved, tmp_path):
    with np.load(saved) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["source"] = np.array("input 8x8x1\nconv 4 9x9\nfc 10\n")  # a 9x9 window on 8x8: E-something
    broken = tmp_path / "broken.npz"
    np.savez(broken, **arrays)
    for _ in range(2):
        with pytest.raises(cnnc.SpecError):
            load_model(broken)


@pytest.mark.filterwarnings("error")  # the sum's overflow or NaN warns nobody
@pytest.mark.parametrize(("values", "refused"), [
    ([1.0, -2.0, 3.5], False),
    ([3e38, 3e38, -1.0], False),  # finite values whose float32 sum overflows: looked at one by one
    ([1.0, np.nan, 2.0], True),
    ([np.inf, 1.0], True),
    ([np.inf, -np.inf], True),  # their sum is NaN
])
def test_non_finite_weights_are_refused_and_large_finite_ones_kept(values, refused, saved, tmp_path):
    with np.load(saved) as data:
        arrays = {key: data[key] for key in data.files}
    bias = next(key for key in arrays if key.startswith("param/") and key.endswith("bias"))
    arrays[bias] = arrays[bias].copy()
    arrays[bias][:len(values)] = np.array(values, np.float32)
    path = tmp_path / "edited.npz"
    np.savez(path, **arrays)
    if refused:
        with pytest.raises(ModelFileError, match="NaN or infinite"):
            load_model(path)
    else:
        assert np.array_equal(load_model(path).params[bias[len("param/"):]], arrays[bias])
