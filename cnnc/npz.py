"""Reading ``.npz`` archives (checkpoints, data) and ``.npy`` files strictly: plain arrays of numbers or
text only, never NumPy's pickle fallback, and every damaged or foreign file refused in our own words."""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from math import prod
from pathlib import Path
from typing import BinaryIO

import numpy as np

NPY_SUFFIX = ".npy"
CHUNK = 1 << 24
ZIP_MAGIC = b"PK"
NOT_NPZ = "not a zip of .npy arrays, as numpy.savez writes"
ARRAY_KINDS = "biufcSU"  # bool, integers, floats, complex, bytes, text: no objects, no records


class NpzError(ValueError):
    """The file is not an npz archive cnnc can read; the message says why (without the path)."""


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, by name (``x`` for the member ``x.npy``). Raises
    FileNotFoundError or OSError when the file cannot be opened, NpzError when it is not a zip of
    ``.npy`` arrays, is damaged (truncated, a failed checksum) or holds objects."""
    if Path(path).is_dir():
        raise NpzError("a folder, not a file")
    with open(path, "rb") as file:
        if file.read(2) != ZIP_MAGIC:
            raise NpzError(NOT_NPZ)
        try:
            with zipfile.ZipFile(file) as archive:
                return {member.filename[:-len(NPY_SUFFIX)]: _read_member(archive, member)
                        for member in archive.infolist() if member.filename.endswith(NPY_SUFFIX)}
        except NpzError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError, RuntimeError,
                ValueError, struct.error) as problem:
            if "not a zip file" in str(problem):
                problem = "no zip directory at its end"
            raise NpzError(f"damaged or truncated: {str(problem) or type(problem).__name__}") from None


def read_npy(path: str | Path) -> np.ndarray:
    """The array of a ``.npy`` file, read as strictly as the members of ``read_npz``."""
    if Path(path).is_dir():
        raise NpzError("a folder, not a file")
    with open(path, "rb") as file:
        return _read_array(file, os.fstat(file.fileno()).st_size, "the file")


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> np.ndarray:
    with archive.open(member) as stream:
        return _read_array(stream, member.file_size, f"entry `{member.filename[:-len(NPY_SUFFIX)]}`")


def _read_array(stream: BinaryIO, length: int, what: str) -> np.ndarray:
    """The ``.npy`` array of ``length`` bytes in ``stream``: its header is checked against the length
    before any value is read, so a forged header cannot make cnnc allocate more than the file holds."""
    try:
        version = np.lib.format.read_magic(stream)
    except ValueError:
        raise NpzError(f"{what} does not start like a .npy array") from None
    try:
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise NpzError(f"{what} is a .npy array of an unsupported version {version}")
    except (NpzError, zipfile.BadZipFile, zlib.error, EOFError, OSError):
        raise  # this array's own problem, or damage to the archive (a failed CRC-32)
    except Exception as problem:  # NumPy parses the header with ast and tokenize: any of their errors
        raise NpzError(f"{what} is not a readable .npy array: {problem}") from None
    if dtype.hasobject or dtype.kind not in ARRAY_KINDS:
        raise NpzError(f"{what} holds Python objects or records ({dtype}), which cnnc never loads; "
                       "save plain arrays of numbers")
    size = prod(shape) * dtype.itemsize
    if length - stream.tell() != size:
        raise NpzError(f"{what} should hold {size:,} bytes of data but holds {length - stream.tell():,}")
    data = bytearray()
    while len(data) < size:  # in chunks: a forged size must not allocate more than the file holds
        chunk = stream.read(min(CHUNK, size - len(data)))
        if not chunk:
            raise NpzError(f"{what} is cut short")
        data += chunk
    if stream.read(1):  # reading to the end also checks a zip member's CRC-32
        raise NpzError(f"{what} is longer than its header says")
    values = np.frombuffer(data, dtype=dtype, count=prod(shape))
    return values.reshape(shape[::-1]).T if fortran_order else values.reshape(shape)
