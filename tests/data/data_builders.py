"""Builders shared by the data tests: PNG files byte by byte (from the PNG specification's filter
definitions, independently of cnnc's decoder) and MNIST-like IDX files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from cnnc.data.idx import write_idx


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filter_row(kind: int, row: bytes, previous: bytes, distance: int) -> bytes:
    """PNG-filter one scanline, written out byte by byte from the specification's definitions."""
    out = bytearray()
    for i, value in enumerate(row):
        left = row[i - distance] if i >= distance else 0
        up = previous[i]
        up_left = previous[i - distance] if i >= distance else 0
        predictor = [0, left, up, (left + up) // 2, _paeth(left, up, up_left)][kind]
        out.append((value - predictor) % 256)
    return bytes(out)


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def build_png(rows: list[bytes], width: int, depth: int, colour: int, filters: list[int], distance: int,
              extra: list[bytes] = (), interlace: int = 0) -> bytes:
    """A PNG whose scanlines are ``rows`` (already packed), each filtered with the matching filter type."""
    previous = bytes(len(rows[0]))
    raw = bytearray()
    for row, kind in zip(rows, filters):
        raw += bytes([kind]) + filter_row(kind, row, previous, distance)
        previous = row
    header = struct.pack(">IIBBBBB", width, len(rows), depth, colour, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + b"".join(extra)
            + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))


def write_mnist_like(directory: Path, split: str, count: int, seed: int, compress: bool = True) -> tuple:
    """IDX files of ``count`` random 28x28 images and labels 0-9, as MNIST names them; (images, labels)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, count, dtype=np.uint8)
    prefix = "train" if split == "train" else "t10k"
    suffix = ".gz" if compress else ""
    directory.mkdir(parents=True, exist_ok=True)
    write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images, compress)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels, compress)
    return images, labels
