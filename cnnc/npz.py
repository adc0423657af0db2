"""Reading ``.npz`` archives (checkpoints, data) and ``.npy`` files strictly: plain arrays of numbers or
text only, never NumPy's pickle fallback, and every damaged or foreign file refused in our own words."""

from __future__ import annotations

import io
import os
import re
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
# The header numpy.save writes for a plain array, read without NumPy's parser (ast.literal_eval: about half of
# opening a small model); any other header, and one past NumPy's size limit, goes to NumPy's parser.
_PLAIN_HEADER = re.compile(rb"\{'descr': '([<>|=][a-zA-Z][0-9]*)', 'fortran_order': (True|False), "
                           rb"'shape': \(((?:[0-9]+, )*(?:[0-9]+,?)?)\), \} *\n")
_LARGEST_PLAIN_HEADER = 10_000  # numpy.lib.format's default max_header_size


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
                file_size = os.fstat(file.fileno()).st_size
                return {member.filename[:-len(NPY_SUFFIX)]: _read_member(archive, member, file, file_size)
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


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, file: BinaryIO, file_size: int) -> np.ndarray:
    what = f"entry `{member.filename[:-len(NPY_SUFFIX)]}`"
    if member.compress_type == zipfile.ZIP_STORED and not member.flag_bits & 1:  # as numpy.savez writes
        return _read_array(_StoredMember(file, member, file_size), member.file_size, what)
    with archive.open(member) as stream:
        return _read_array(stream, member.file_size, what)


class _StoredMember:
    """An uncompressed zip member read straight from the file (``readinto`` fills an array without the
    copies ``ZipFile.open`` makes), checked as ``ZipFile.open`` checks it: the local header's signature and
    name, the data within the file, and its CRC-32 once read to the end (``zipfile.BadZipFile`` otherwise)."""

    def __init__(self, file: BinaryIO, member: zipfile.ZipInfo, file_size: int) -> None:
        file.seek(member.header_offset)
        local = file.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile("Bad magic number for file header")
        name_length, extra_length = struct.unpack("<HH", local[26:30])
        name = file.read(name_length)
        if name.decode("utf-8" if member.flag_bits & 0x800 else "cp437", "replace") != member.orig_filename:
            raise zipfile.BadZipFile(f"File name in directory {member.orig_filename!r} and header {name!r} differ.")
        self.start = member.header_offset + 30 + name_length + extra_length
        if member.compress_size != member.file_size or self.start + member.file_size > file_size:
            raise zipfile.BadZipFile(f"entry {member.orig_filename!r} is cut short")
        file.seek(self.start)
        self.file, self.member, self.left, self.crc = file, member, member.file_size, 0

    def tell(self) -> int:
        return self.member.file_size - self.left

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(self.left if size < 0 else min(size, self.left))
        self._count(data)
        return data

    def readinto(self, buffer: memoryview) -> int:
        count = self.file.readinto(buffer[:self.left]) or 0
        self._count(buffer[:count])
        return count

    def _count(self, data) -> None:
        self.left -= len(data)
        self.crc = zlib.crc32(data, self.crc)
        if self.left == 0 and self.crc != self.member.CRC:
            raise zipfile.BadZipFile(f"Bad CRC-32 for file {self.member.filename!r}")


def _read_array(stream: BinaryIO, length: int, what: str) -> np.ndarray:
    """The ``.npy`` array of ``length`` bytes in ``stream``: its header is checked against the length
    before any value is read, so a forged header cannot make cnnc allocate more than the file holds."""
    try:
        version = np.lib.format.read_magic(stream)
    except ValueError:
        raise NpzError(f"{what} does not start like a .npy array") from None
    try:
        shape, fortran_order, dtype = _header(stream, version, what)
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
    if isinstance(stream, zipfile.ZipExtFile):  # a compressed member: its stated size may be forged
        data = bytearray()
        while len(data) < size:  # in chunks: a forged size must not allocate more than the file holds
            chunk = stream.read(min(CHUNK, size - len(data)))
            if not chunk:
                raise NpzError(f"{what} is cut short")
            data += chunk
        values = np.frombuffer(data, dtype=dtype, count=prod(shape))
    else:  # a file, or a stored member checked to lie within the file: ``length`` bytes are there
        values = np.empty(prod(shape), dtype)
        view, done = memoryview(values).cast("B") if size else memoryview(b""), 0
        while done < size:  # straight into the array, without the copies of reading bytes
            count = stream.readinto(view[done:done + CHUNK])
            if not count:
                raise NpzError(f"{what} is cut short")
            done += count
    if stream.read(1):  # reading to the end also checks a zip member's CRC-32
        raise NpzError(f"{what} is longer than its header says")
    return values.reshape(shape[::-1]).T if fortran_order else values.reshape(shape)


def _header(stream: BinaryIO, version: tuple[int, int], what: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The shape, order and type in the ``.npy`` header that follows the magic string: a header as
    numpy.save writes it for a plain array is read directly, any other by NumPy's parser (from the
    same bytes, so that it says what it says of the file)."""
    if version not in ((1, 0), (2, 0)):
        raise NpzError(f"{what} is a .npy array of an unsupported version {version}")
    length_bytes = stream.read(2 if version == (1, 0) else 4)
    header = b""
    if len(length_bytes) == len(b"\0\0" if version == (1, 0) else b"\0\0\0\0"):
        (length,) = struct.unpack("<H" if version == (1, 0) else "<I", length_bytes)
        header = stream.read(min(length, _LARGEST_PLAIN_HEADER + 1))
        plain = _PLAIN_HEADER.fullmatch(header) if len(header) == length <= _LARGEST_PLAIN_HEADER else None
        if plain is not None:
            descr, fortran_order, dims = plain.groups()
            return (tuple(int(size) for size in dims.split(b",") if size.strip()), fortran_order == b"True",
                    np.dtype(descr.decode("ascii")))
        if len(header) < length:
            header += stream.read(length - len(header))
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read(io.BytesIO(length_bytes + header))
