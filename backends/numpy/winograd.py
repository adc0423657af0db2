"""Winograd F(2x2, 3x3) convolution (Lavin & Gray 2015, "Fast Algorithms for Convolutional Neural Networks"):
a 3x3, stride-1, ungrouped 2-D convolution as 16 matmuls over 4x4 input tiles, 2.25x fewer multiplies than im2col.

Per tile of 2x2 outputs, with the transforms of the paper (cross-correlation, as CNNs compute it)::

    U = G g G^T  (per C x F)   V = B^T d B  (per 4x4 input tile d)   M = sum over C of U . V   Y = A^T M A

so that, for the 16 positions (xi, nu) of the transformed 4x4 tile, M[xi, nu] = V[xi, nu] @ U[xi, nu], with V
(tiles, C) and U (C, F). Backward, from the output gradient's tile dY (2x2, zero past a partial tile's edge):
dM = A dY A^T, dU = V^T @ dM and dV = dM @ U^T at each of the 16 positions, the weight's gradient G^T dU G
and the input's B dV B^T, added back where the tile was read (neighbouring tiles overlap by two rows/columns).
The transforms here are NumPy slicing arithmetic over every tile and channel at once; the Numba backend
(``backends/numba/winograd.py``) replaces the four tile transforms with compiled loops.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

import numpy as np

from numpy.lib.stride_tricks import as_strided

from cnnc.backends.numpy.windows import Geometry, Workspace

Epilogue = Callable[[np.ndarray], None]

MIN_CHANNELS = 16
"""Input channels from which a 3x3 stride-1 convolution takes the Winograd path (bench/conv_algorithms.py: with
3 input channels, as the CIFAR net's first convolution, im2col is faster: its matmul has K = 27 where
Winograd's 16 have K = 3)."""

BLOCK_OFFSET = 17 * 64
"""Bytes past a multiple of 4 KB between the starts of the 16 matrices of a tile buffer: 64-byte lines apart in
the 64 sets of a 4 KB stride, k * 17 mod 64 differs for every k < 16 (without it, on the CIFAR net's 32-channel
convolution, each matrix is 256 KB and the Numba input transform took 3.7 ms a chunk of 8 images, with it 0.43)."""


def applies(geo: Geometry, groups: int) -> bool:
    """Whether F(2x2, 3x3) computes this convolution: 2-D, 3x3, stride 1, dilation 1, one group (any zero padding)."""
    return (geo.rank == 2 and geo.kernel == (3, 3) and geo.stride == (1, 1) and geo.dilation == (1, 1)
            and groups == 1)


def chosen(geo: Geometry, groups: int, channels: int) -> bool:
    """Whether a convolution takes the Winograd path: where it applies and is faster (``MIN_CHANNELS``)."""
    return applies(geo, groups) and channels >= MIN_CHANNELS


def filter_transform(weight: np.ndarray) -> np.ndarray:
    """U = G g G^T of a (3, 3, C, F) weight: (16, C, F), position (xi, nu) at 4 * xi + nu."""
    rows = _filter_rows(weight)  # (4, 3, C, F)
    return _filter_rows(rows.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3).reshape(16, *weight.shape[2:])


def _filter_rows(g: np.ndarray) -> np.ndarray:
    """G applied along the first axis: (3, ...) -> (4, ...)."""
    half = 0.5 * (g[0] + g[2])
    return np.stack([g[0], half + 0.5 * g[1], half - 0.5 * g[1], g[2]])


def weight_gradient(dU: np.ndarray) -> np.ndarray:
    """G^T dU G of the transformed weight's gradient (16, C, F): the weight's (3, 3, C, F)."""
    grid = dU.reshape(4, 4, *dU.shape[1:])
    rows = _filter_rows_adjoint(grid)  # (3, 4, C, F)
    return _filter_rows_adjoint(rows.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)


def _filter_rows_adjoint(d: np.ndarray) -> np.ndarray:
    """G^T applied along the first axis: (4, ...) -> (3, ...)."""
    half = 0.5 * (d[1] + d[2])
    return np.stack([d[0] + half, 0.5 * (d[1] - d[2]), half + d[3]])


class Winograd:
    """One convolution's F(2x2, 3x3) forward and backward passes, a chunk of images at a time (``chunks`` of
    ``backends/numpy/conv.py``), scratch arrays in the convolution's ``Workspace``. Input (N, H, W, C), weight
    (3, 3, C, F), output (N, OH, OW, F); tiles (N, TH, TW) with TH = ceil(OH / 2), TW = ceil(OW / 2)."""

    def __init__(self, geo: Geometry, channels: int, filters: int, workspace: Workspace) -> None:
        self.geo, self.channels, self.filters, self.workspace = geo, channels, filters, workspace
        self.tiles = tuple(-(-size // 2) for size in geo.output)  # (TH, TW)
        self.pad_top, self.pad_left = geo.pads[0][0], geo.pads[1][0]
        self.per_image = 16 * prod(self.tiles) * (channels + filters)  # V and M of one image

    def _chunks(self, batch: int) -> list[tuple[int, int]]:
        from cnnc.backends.numpy import conv  # read at call time: tests make the chunks small

        return conv.chunks(batch, self.per_image)

    def _buffer(self, key: str, rows: int, width: int, dtype: np.dtype, capacity: int) -> np.ndarray:
        """(16, rows, width) in a reused buffer of 16 blocks of ``capacity`` rows, each block starting
        ``BLOCK_OFFSET`` bytes past a multiple of 4 KB, so that the 16 streams a tile transform reads or
        writes do not fall on the same cache sets (4 KB aliasing: 8.7x slower, measured)."""
        dtype = np.dtype(dtype)
        block = max(rows, capacity) * width
        stride = block + (BLOCK_OFFSET - block * dtype.itemsize) % 4096 // dtype.itemsize
        flat = self.workspace.get(key, (16 * stride,), dtype)
        return as_strided(flat, (16, rows, width), (stride * dtype.itemsize, width * dtype.itemsize, dtype.itemsize))

    def forward(self, x: np.ndarray, weight: np.ndarray, epilogue: Epilogue | None = None) -> np.ndarray:
        """The convolution's output (N, OH, OW, F), without bias; ``epilogue`` runs on each chunk's output rows
        (n * OH * OW, F) while they are in the cache."""
        batch = x.shape[0]
        dtype = np.result_type(x, weight)
        U = filter_transform(weight).astype(dtype, copy=False)
        out = np.empty((batch, *self.geo.output, self.filters), dtype=dtype)
        parts = self._chunks(batch)
        capacity = (parts[0][1] - parts[0][0]) * prod(self.tiles)
        for start, stop in parts:
            rows = (stop - start) * prod(self.tiles)
            V = self._buffer("winograd_V", rows, self.channels, dtype, capacity)
            M = self._buffer("winograd_M", rows, self.filters, dtype, capacity)
            self.input_tiles(x[start:stop], V, capacity)
            np.matmul(V, U, out=M)
            self.output(M, out[start:stop])
            if epilogue is not None:
                epilogue(out[start:stop].reshape(-1, self.filters))
        return out

    def backward(self, dout: np.ndarray, x: np.ndarray, weight: np.ndarray,
                 need_dx: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """(the weight's gradient (3, 3, C, F), the input's (N, H, W, C) or None) from the output's gradient,
        the input's tiles transformed again (only the input is kept from the forward pass)."""
        batch = x.shape[0]
        dtype = np.result_type(dout, weight)
        U_transposed = np.ascontiguousarray(filter_transform(weight).astype(dtype, copy=False).transpose(0, 2, 1))
        dU = np.zeros((16, self.channels, self.filters), dtype=dtype)
        dx = np.empty(x.shape, dtype=dtype) if need_dx else None
        parts = self._chunks(batch)
        capacity = (parts[0][1] - parts[0][0]) * prod(self.tiles)
        for start, stop in parts:
            rows = (stop - start) * prod(self.tiles)
            V = self._buffer("winograd_V", rows, self.channels, dtype, capacity)
            dM = self._buffer("winograd_M", rows, self.filters, dtype, capacity)
            self.input_tiles(x[start:stop], V, capacity)
            self.output_gradient_tiles(dout[start:stop], dM, capacity)
            dU += np.matmul(V.transpose(0, 2, 1), dM)
            if need_dx:
                dV = np.matmul(dM, U_transposed, out=V)  # V is read: its buffer takes dV
                self.input_gradient(dV, dx[start:stop], capacity)
        return weight_gradient(dU), dx

    # The four tile transforms (the Numba backend compiles them); ``capacity``: a whole chunk's tiles, for
    # the size of scratch buffers, so that a last, shorter chunk takes the front of the same ones.

    def input_tiles(self, x: np.ndarray, V: np.ndarray, capacity: int) -> None:
        """V = B^T d B of every 4x4 tile d of ``x`` (n, H, W, C) zero-padded: into V (16, n * TH * TW, C)."""
        TH, TW = self.tiles
        n = x.shape[0]
        capacity //= prod(self.tiles)
        padded = self._padded("winograd_padded", x.shape[0], capacity, x.dtype)
        padded[:, self.pad_top:self.pad_top + x.shape[1], self.pad_left:self.pad_left + x.shape[2]] = x
        rows = self.workspace.get("winograd_rows", (4 * capacity * TH * padded.shape[2] * x.shape[3],), x.dtype)
        rows = rows[:4 * n * TH * padded.shape[2] * x.shape[3]].reshape(4, n, TH, padded.shape[2], x.shape[3])
        _input_transform(padded[:, 0:2 * TH:2], padded[:, 1:2 * TH + 1:2], padded[:, 2:2 * TH + 2:2],
                         padded[:, 3:2 * TH + 3:2], rows)
        grid = V.reshape(4, 4, n, TH, TW, x.shape[3])
        for xi in range(4):
            r = rows[xi]
            _input_transform(r[:, :, 0:2 * TW:2], r[:, :, 1:2 * TW + 1:2], r[:, :, 2:2 * TW + 2:2],
                             r[:, :, 3:2 * TW + 3:2], grid[xi])

    def _padded(self, key: str, n: int, capacity: int, dtype: np.dtype) -> np.ndarray:
        """A zero-bordered (n, 2 TH + 2, 2 TW + 2, C) chunk buffer: the padding, and the rows and columns a
        partial tile reads past it, are written once (only the interior is written again)."""
        TH, TW = self.tiles
        shape = (2 * TH + 2, 2 * TW + 2, self.channels)
        flat = self.workspace.get(key, (max(n, capacity) * prod(shape),), dtype, fill=0.0)
        return flat[:n * prod(shape)].reshape(n, *shape)

    def output(self, M: np.ndarray, out: np.ndarray) -> None:
        """Y = A^T M A of every tile: M (16, n * TH * TW, F) into ``out`` (n, OH, OW, F), partial tiles cut."""
        TH, TW = self.tiles
        n, OH, OW, F = out.shape
        grid = M.reshape(4, 4, n, TH, TW, F)
        columns = [_output_transform(grid[xi, 0], grid[xi, 1], grid[xi, 2], grid[xi, 3]) for xi in range(4)]
        for b in range(2):
            first, second = _output_transform(*(columns[xi][b] for xi in range(4)))
            for a, y in enumerate((first, second)):
                target = out[:, a::2, b::2]
                target[...] = y[:, :target.shape[1], :target.shape[2]]

    def output_gradient_tiles(self, dout: np.ndarray, dM: np.ndarray, capacity: int) -> None:
        """dM = A dY A^T of every 2x2 tile dY of ``dout`` (n, OH, OW, F), zero past the edges: into dM."""
        TH, TW = self.tiles
        n, OH, OW, F = dout.shape
        if (OH % 2, OW % 2) != (0, 0):
            capacity //= prod(self.tiles)
            flat = self.workspace.get("winograd_dout", (capacity * 4 * TH * TW * F,), dout.dtype, fill=0.0)
            whole = flat[:n * 4 * TH * TW * F].reshape(n, 2 * TH, 2 * TW, F)
            whole[:, :OH, :OW] = dout
            dout = whole
        grid = dM.reshape(4, 4, n, TH, TW, F)
        rows = [_output_gradient_transform(dout[:, a:2 * TH:2, 0::2], dout[:, a:2 * TH:2, 1::2]) for a in range(2)]
        for nu in range(4):  # rows[a][nu]: row a of the tile, transformed along its columns
            for xi, value in enumerate(_output_gradient_transform(rows[0][nu], rows[1][nu])):
                grid[xi, nu] = value

    def input_gradient(self, dV: np.ndarray, dx: np.ndarray, capacity: int) -> None:
        """B dV B^T of every tile, added where the tile was read: dV (16, n * TH * TW, C) into ``dx``
        (n, H, W, C), the padding's share dropped."""
        TH, TW = self.tiles
        n, H, W, C = dx.shape
        grid = dV.reshape(4, 4, n, TH, TW, C)
        capacity //= prod(self.tiles)
        rows = self.workspace.get("winograd_rows", (4 * capacity * TH * (2 * TW + 2) * C,), dV.dtype)
        rows = rows[:4 * n * TH * (2 * TW + 2) * C].reshape(4, n, TH, 2 * TW + 2, C)
        for xi in range(4):
            _scatter(_input_gradient_transform(*grid[xi]), rows[xi], axis=2)
        padded = self.workspace.get("winograd_dpadded", (capacity * (2 * TH + 2) * (2 * TW + 2) * C,), dV.dtype)
        padded = padded[:n * (2 * TH + 2) * (2 * TW + 2) * C].reshape(n, 2 * TH + 2, 2 * TW + 2, C)
        _scatter(_input_gradient_transform(*rows), padded, axis=1)
        dx[...] = padded[:, self.pad_top:self.pad_top + H, self.pad_left:self.pad_left + W]


def _input_transform(d0, d1, d2, d3, out) -> None:
    """B^T along one axis: (d0 - d2, d1 + d2, d2 - d1, d1 - d3) into out[0..3]."""
    np.subtract(d0, d2, out=out[0])
    np.add(d1, d2, out=out[1])
    np.subtract(d2, d1, out=out[2])
    np.subtract(d1, d3, out=out[3])


def _output_transform(m0, m1, m2, m3) -> tuple[np.ndarray, np.ndarray]:
    """A^T along one axis: (m0 + m1 + m2, m1 - m2 - m3)."""
    total = m1 + m2
    total += m0
    difference = m1 - m2
    difference -= m3
    return total, difference


def _output_gradient_transform(y0, y1) -> tuple[np.ndarray, ...]:
    """A along one axis: (y0, y0 + y1, y0 - y1, -y1)."""
    return y0, y0 + y1, y0 - y1, -y1


def _input_gradient_transform(v0, v1, v2, v3) -> tuple[np.ndarray, ...]:
    """B along one axis: (v0, v1 - v2 + v3, v1 + v2 - v0, -v3)."""
    middle = v1 - v2
    middle += v3
    third = v1 + v2
    third -= v0
    return v0, middle, third, -v3


def _scatter(parts: tuple[np.ndarray, ...], target: np.ndarray, axis: int) -> None:
    """Tile t's parts 0..3 (each of T tiles along ``axis``) added at positions 2t..2t+3 of ``target`` (2T + 2
    along ``axis``): even positions take part 0 of tile t and part 2 of tile t - 1, odd ones 1 and 3."""
    count = parts[0].shape[axis]
    lead = (slice(None),) * axis
    for parity, (own, previous) in enumerate(((parts[0], parts[2]), (parts[1], parts[3]))):
        line = target[(*lead, slice(parity, None, 2))]  # count + 1 positions
        line[(*lead, slice(0, count))] = own
        line[(*lead, slice(count, count + 1))] = 0
        line[(*lead, slice(1, count + 1))] += previous
