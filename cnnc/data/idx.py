"""The IDX format of MNIST and Fashion-MNIST: read (gzip or raw) with header checks, and write.

An IDX file is two zero bytes, a type code, the number of dimensions, each dimension as a big-endian
uint32, then the values in C order, big-endian (LeCun, Cortes & Burges, "The MNIST database",
http://yann.lecun.com/exdb/mnist/).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from math import prod
from pathlib import Path

import numpy as np

from cnnc.data.dataset import DataError

# Type code -> big-endian element type.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> bytes:
    """A file's bytes, decompressed if it is gzip (recognised by its first bytes, not its name)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: damaged gzip data ({exc})", "download the file again") from None


def parse_idx(data: bytes, where: str = "<bytes>") -> np.ndarray:
    """The array stored in IDX ``data``, in native byte order; ``DataError`` if the header is wrong or
    the size does not match it."""
    if len(data) < 4:
        raise DataError(f"{where}: too short to be an IDX file ({len(data)} bytes)")
    zero, code, rank = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in IDX_TYPES:
        raise DataError(f"{where}: not an IDX file (magic number 0x{data[:4].hex()})",
                        "IDX files start with 00 00, a type code (08 for bytes) and the number of dimensions")
    if rank == 0:
        raise DataError(f"{where}: an IDX header with no dimensions")
    header = 4 + 4 * rank
    if len(data) < header:
        raise DataError(f"{where}: the IDX header is cut short")
    dims = struct.unpack(f">{rank}I", data[4:header])
    dtype = IDX_TYPES[code]
    expected = prod(dims) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "longer than its header says"
        raise DataError(f"{where}: {what}: the header gives {' x '.join(map(str, dims))} values of "
                        f"{dtype.itemsize} byte(s), {expected:,} bytes, but {found:,} bytes follow")
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return values.astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """The array in an IDX file, gzip-compressed or raw."""
    return parse_idx(read_bytes(Path(path)), str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` encoded as IDX."""
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
    native = np.asarray(array)
    code = codes.get(native.dtype.newbyteorder("="))
    if code is None or native.ndim == 0:
        raise ValueError(f"IDX cannot store a {native.ndim}-D array of {native.dtype}")
    header = struct.pack(f">HBB{native.ndim}I", 0, code, native.ndim, *native.shape)
    return header + native.astype(IDX_TYPES[code]).tobytes()


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as IDX; gzip-compressed when ``compress`` is true (default: when the name ends
    in ``.gz``)."""
    path = Path(path)
    data = idx_bytes(array)
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path
