"""Decoding PNG and PGM/PPM images with the standard library (zlib), to float32 (H, W, C) in [0, 1].

PNG (ISO/IEC 15948, https://www.w3.org/TR/png/): greyscale, RGB, palette, grey+alpha and RGBA; bit depths
1, 2, 4, 8 and 16 where the colour type allows them; the five scanline filters (None, Sub, Up, Average,
Paeth); ``tRNS`` transparency for palettes. Adam7-interlaced files are refused with a clear error.
Netpbm (https://netpbm.sourceforge.net/doc/pgm.html): P2/P5 greymaps and P3/P6 pixmaps, maxval up to 65535.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import numpy as np

from cnnc.data.dataset import DataError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Colour type -> (channels, allowed bit depths).
PNG_COLOUR_TYPES: dict[int, tuple[int, tuple[int, ...]]] = {
    0: (1, (1, 2, 4, 8, 16)),
    2: (3, (8, 16)),
    3: (1, (1, 2, 4, 8)),
    4: (2, (8, 16)),
    6: (4, (8, 16)),
}
IMAGE_SUFFIXES = (".png", ".pgm", ".ppm", ".pnm")


def read_image(path: str | Path) -> np.ndarray:
    """A PNG or PGM/PPM file as float32 (H, W, C) in [0, 1]; the format is recognised by its first bytes."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data.startswith(PNG_SIGNATURE):
        return decode_png(data, str(path))
    if data[:2] in (b"P2", b"P5", b"P3", b"P6"):
        return decode_pnm(data, str(path))
    raise DataError(f"{path}: not a PNG, PGM or PPM image", "convert it to PNG (8- or 16-bit, not interlaced)")


def _chunks(data: bytes, where: str):
    """(type, payload) for each chunk, CRC-checked."""
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        end = position + 8 + length
        if end + 4 > len(data):
            raise DataError(f"{where}: the PNG is truncated (chunk {kind.decode('latin-1')!r})")
        payload = data[position + 8:end]
        (crc,) = struct.unpack(">I", data[end:end + 4])
        if zlib.crc32(kind + payload) != crc:
            raise DataError(f"{where}: damaged PNG (CRC mismatch in chunk {kind.decode('latin-1')!r})")
        yield kind, payload
        if kind == b"IEND":
            return
        position = end + 4
    raise DataError(f"{where}: the PNG is truncated (no IEND chunk)")


def decode_png(data: bytes, where: str = "<png>") -> np.ndarray:
    """PNG bytes as float32 (H, W, C) in [0, 1]: C is 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA)."""
    if not data.startswith(PNG_SIGNATURE):
        raise DataError(f"{where}: not a PNG file")
    header = palette = transparency = None
    compressed = bytearray()
    for kind, payload in _chunks(data, where):
        if kind == b"IHDR" and len(payload) == 13:
            header = struct.unpack(">IIBBBBB", payload)
        elif kind == b"PLTE" and len(payload) % 3 == 0:
            palette = np.frombuffer(payload, np.uint8).reshape(-1, 3)
        elif kind == b"tRNS":
            transparency = payload
        elif kind == b"IDAT":
            compressed += payload
    if header is None:
        raise DataError(f"{where}: the PNG has no IHDR chunk")
    width, height, depth, colour, compression, filtering, interlace = header
    if colour not in PNG_COLOUR_TYPES or depth not in PNG_COLOUR_TYPES[colour][1]:
        raise DataError(f"{where}: unsupported PNG (colour type {colour}, {depth}-bit)",
                        "save it as 8-bit greyscale, RGB or RGBA")
    if interlace == 1:
        raise DataError(f"{where}: Adam7-interlaced PNGs are not supported",
                        "save the image again without interlacing")
    if compression != 0 or filtering != 0 or interlace != 0 or width == 0 or height == 0:
        raise DataError(f"{where}: invalid PNG header")
    channels = PNG_COLOUR_TYPES[colour][0]
    try:
        raw = zlib.decompress(bytes(compressed))
    except zlib.error as exc:
        raise DataError(f"{where}: damaged PNG image data ({exc})") from None
    row_bytes = (width * channels * depth + 7) // 8
    if len(raw) < height * (row_bytes + 1):
        raise DataError(f"{where}: the PNG image data is shorter than {width}x{height} pixels")
    rows = unfilter(raw, height, row_bytes, max(1, channels * depth // 8), where)
    samples = _samples(rows, width * channels, depth).reshape(height, width, channels)
    if colour == 3:
        return _apply_palette(samples[..., 0], palette, transparency, where)
    return (samples / float((1 << depth) - 1)).astype(np.float32)


def unfilter(raw: bytes, height: int, row_bytes: int, pixel_bytes: int, where: str = "<png>") -> np.ndarray:
    """Undo PNG's per-scanline filters: (height, row_bytes) uint8. ``pixel_bytes`` is the filter
    distance: bytes per complete pixel, at least 1. None, Sub and Up rows are undone with array
    operations; Average and Paeth predict from the reconstructed byte on the left, one byte at a time."""
    lines = np.frombuffer(raw, np.uint8)[:height * (row_bytes + 1)].reshape(height, row_bytes + 1)
    out = np.zeros((height, row_bytes), np.uint8)
    previous = np.zeros(row_bytes, np.uint8)
    for number, (kind, line) in enumerate(zip(lines[:, 0], lines[:, 1:])):
        if kind == 0:
            row = line
        elif kind == 1:
            row = _sub(line, pixel_bytes)
        elif kind == 2:
            row = line + previous
        elif kind in (3, 4):
            row = np.frombuffer(_predicted(line.tobytes(), previous.tobytes(), pixel_bytes, kind), np.uint8)
        else:
            raise DataError(f"{where}: unknown PNG filter type {kind} on row {number}")
        out[number] = row
        previous = out[number]
    return out


def _sub(line: np.ndarray, pixel_bytes: int) -> np.ndarray:
    """Sub: each byte plus the reconstructed byte one pixel to the left, i.e. a running sum (mod 256)
    along each byte lane."""
    padded = np.zeros(-(-len(line) // pixel_bytes) * pixel_bytes, np.uint8)
    padded[:len(line)] = line
    lanes = padded.reshape(-1, pixel_bytes)
    return np.cumsum(lanes, axis=0, dtype=np.uint8).reshape(-1)[:len(line)]


def _predicted(line: bytes, previous: bytes, pixel_bytes: int, kind: int) -> bytearray:
    """Average (3): the mean of left and up, rounded down. Paeth (4): whichever of left, up and
    up-left is nearest to left + up - up-left, preferring left, then up."""
    row = bytearray(line)
    for i in range(min(pixel_bytes, len(row))):  # no pixel on the left: left = up-left = 0
        row[i] = (row[i] + (previous[i] >> 1 if kind == 3 else previous[i])) & 0xFF
    if kind == 3:
        for i in range(pixel_bytes, len(row)):
            row[i] = (row[i] + ((row[i - pixel_bytes] + previous[i]) >> 1)) & 0xFF
        return row
    for i in range(pixel_bytes, len(row)):
        left, up, up_left = row[i - pixel_bytes], previous[i], previous[i - pixel_bytes]
        to_left, to_up, to_up_left = abs(up - up_left), abs(left - up_left), abs(left + up - 2 * up_left)
        if to_left <= to_up and to_left <= to_up_left:
            predicted = left
        elif to_up <= to_up_left:
            predicted = up
        else:
            predicted = up_left
        row[i] = (row[i] + predicted) & 0xFF
    return row


def _samples(rows: np.ndarray, count: int, depth: int) -> np.ndarray:
    """Each row's first ``count`` samples as integers, from packed bits (1, 2, 4), bytes or big-endian
    16-bit words."""
    if depth == 16:
        return rows.view(">u2")[:, :count].astype(np.int64)
    if depth == 8:
        return rows[:, :count].astype(np.int64)
    bits = np.unpackbits(rows, axis=1).reshape(len(rows), -1, depth)
    weights = 1 << np.arange(depth - 1, -1, -1)
    return (bits * weights).sum(axis=2)[:, :count].astype(np.int64)


def _apply_palette(indices: np.ndarray, palette: np.ndarray | None, transparency: bytes | None,
                   where: str) -> np.ndarray:
    if palette is None:
        raise DataError(f"{where}: a palette PNG without a PLTE chunk")
    if indices.max(initial=0) >= len(palette):
        raise DataError(f"{where}: a pixel refers to palette entry {indices.max()} of {len(palette)}")
    colours = palette.astype(np.float32) / 255
    if transparency:
        alpha = np.ones(len(palette), np.float32)
        given = np.frombuffer(transparency, np.uint8)[:len(palette)]
        alpha[:len(given)] = given / 255
        colours = np.concatenate([colours, alpha[:, None]], axis=1)
    return colours[indices]


_PNM_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n?)*([^\s#]+)")


def decode_pnm(data: bytes, where: str = "<pnm>") -> np.ndarray:
    """PGM (P2 text, P5 binary) or PPM (P3, P6) bytes as float32 (H, W, 1 or 3) in [0, 1]."""
    tokens: list[bytes] = []
    position = 0
    while len(tokens) < 4:
        match = _PNM_TOKEN.match(data, position)
        if match is None:
            raise DataError(f"{where}: the PGM/PPM header is cut short")
        tokens.append(match.group(1))
        position = match.end()
    magic = tokens[0]
    try:
        width, height, maxval = (int(token) for token in tokens[1:])
    except ValueError:
        raise DataError(f"{where}: the PGM/PPM header needs width, height and maxval numbers") from None
    if magic not in (b"P2", b"P5", b"P3", b"P6") or width < 1 or height < 1 or not 0 < maxval < 65536:
        raise DataError(f"{where}: invalid PGM/PPM header")
    channels = 3 if magic in (b"P3", b"P6") else 1
    count = width * height * channels
    if magic in (b"P2", b"P3"):
        try:
            values = np.array([int(token) for token in data[position:].split()[:count]], np.int64)
        except ValueError:
            raise DataError(f"{where}: the PGM/PPM pixel values are not all numbers") from None
    else:
        dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
        body = data[position + 1:]  # exactly one whitespace byte ends a binary header
        usable = min(count, len(body) // dtype.itemsize) * dtype.itemsize
        values = np.frombuffer(body[:usable], dtype).astype(np.int64)
    if len(values) < count:
        raise DataError(f"{where}: {len(values):,} pixel values for a {width}x{height} image")
    if values.max(initial=0) > maxval:
        raise DataError(f"{where}: a pixel value exceeds the maxval {maxval}")
    return (values.reshape(height, width, channels) / maxval).astype(np.float32)
