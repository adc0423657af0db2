"""The IDX reader: round trips (gzip and raw, every type code), damaged headers, the real MNIST test set."""

from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest

from cnnc.data import DataError
from cnnc.data.idx import idx_bytes, parse_idx, read_idx, write_idx


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_round_trip(tmp_path, compress, dtype):
    array = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    path = write_idx(tmp_path / "a.idx", array, compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 5)
    np.testing.assert_array_equal(back, array)


def test_header_is_big_endian_as_mnist_documents():
    # MNIST's label file: magic 0x00000801 (unsigned byte, 1 dimension), then the count, MSB first.
    data = idx_bytes(np.array([7, 2, 1], np.uint8))
    assert data == bytes.fromhex("00000801" "00000003") + bytes([7, 2, 1])
    words = idx_bytes(np.array([[1, 256]], np.int16))
    assert words == bytes.fromhex("00000b02" "00000001" "00000002" "0001" "0100")


def test_compression_is_detected_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "raw.gz").write_bytes(idx_bytes(array))
    (tmp_path / "packed").write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "raw.gz"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "packed"), array)


@pytest.mark.parametrize("data, message", [
    (b"\x00\x00", "too short"),
    (b"\x01\x00\x08\x01" + bytes(4), "not an IDX file (magic number 0x01000801)"),
    (b"\x00\x00\x07\x01" + bytes(4), "not an IDX file"),
    (b"\x00\x00\x08\x00", "no dimensions"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "header is cut short"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 5) + bytes(3), "truncated: the header gives 5 values of 1 byte(s), "
                                                            "5 bytes, but 3 bytes follow"),
    (b"\x00\x00\x0c\x01" + struct.pack(">I", 2) + bytes(9), "longer than its header says"),
])
def test_corrupt_headers_are_data_errors(data, message):
    with pytest.raises(DataError) as caught:
        parse_idx(data, "x.idx")
    assert message in str(caught.value)
    assert str(caught.value).startswith("x.idx: ")


def test_damaged_gzip_and_missing_file(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros(100, np.uint8)))
    (tmp_path / "cut.gz").write_bytes(good[:-12])
    with pytest.raises(DataError, match="damaged gzip data"):
        read_idx(tmp_path / "cut.gz")
    with pytest.raises(DataError, match="cannot read .*absent"):
        read_idx(tmp_path / "absent")


def _sums(folder):
    return {name: digest for digest, name in
            (line.split() for line in (folder / "SHA256SUMS").read_text().splitlines() if line.strip())}


def test_shared_mnist_test_set(shared_mnist):
    """The real t10k files: checksums as recorded beside them, 10,000 28x28 images, labels 0-9."""
    for name, digest in _sums(shared_mnist).items():
        assert hashlib.sha256((shared_mnist / name).read_bytes()).hexdigest() == digest, name
    images = read_idx(shared_mnist / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(shared_mnist / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    # The decompressed bytes are the canonical ones (SHA-256 of the uncompressed t10k files as recorded
    # by other projects); the .gz wrappers here differ from the published archives (another gzip header).
    assert hashlib.sha256(idx_bytes(images)).hexdigest() == \
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
    assert hashlib.sha256(idx_bytes(labels)).hexdigest() == \
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
    # The first test digits, as every MNIST tutorial shows them: 7, 2, 1, 0, 4.
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]
