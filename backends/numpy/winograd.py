"""Winograd F(2x2, 3x3) convolution (Lavin & Gray 2015, "Fast Algorithms for Convolutional Neural Networks"):
a 3x3, stride-1, ungrouped 2-D convolution as 16 matmuls over 4x4 input tiles, 2.25x fewer multiplies than im2col.

Per tile of 2x2 outputs, with the transforms of the paper (cross-correlation, as CNNs compute it)::

    U = G g G^T  (per C x F)   V = B^T d B  (per 4x4 input tile d)   M = sum over C of U . V   Y = A^T M A

so that, for the 16 positions (xi, nu) of the transformed 4x4 tile, M[xi, nu] = V[xi, nu] @ U[xi, nu], with V
(tiles, C) and U (C, F). Backward, from the output gradient's tile dY (2x2, zero past a partial tile's edge):
dM = A dY A^T, dU = V^T @ dM and dV = dM @ U^T at each of the 16 positions, the weight's gradient G^T dU G
and the input's B dV B^T, added back where the tile was read (neighbouring tiles overlap by two rows/columns).
Here the tile transforms are NumPy arithmetic on every tile and channel at once; the Numba backend
(``backends/numba/winograd.py``) compiles them as loops.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnc.backends.numpy.windows import Geometry, Workspace

Epilogue = Callable[[np.ndarray], None]

MIN_CHANNELS = 16
"""Input channels from which a 3x3 stride-1 convolution takes the Winograd path (bench/conv_algorithms.py, 32x32
inputs at batch 64, on a loaded machine: 3 channels, the CIFAR net's first layer, im2col / Winograd 0.3x on
NumPy, 0.7x on Numba (im2col's matmul has K = 27 where Winograd's 16 have K = 3); 8 channels 0.8x and 1.2-1.4x;
16 channels 1.0-1.1x and 1.8-2.1x)."""

CHUNK_VALUES = 1 << 18
"""Transformed input and output tiles (V and M) made at a time: 1 MB in float32, one image of the CIFAR net's
32x32x32 convolution (forward and backward of that layer at batch 64, Numba: 46 ms by chunks of 2^17-2^18
values, 55-56 ms by chunks of 2^20-2^21; bench/conv_algorithms.py's layers otherwise within the noise)."""

BLOCK_OFFSET = 17 * 64
"""Bytes past a multiple of 4 KB between the starts of the 16 matrices of a tile buffer: 64-byte lines apart in
the 64 sets of a 4 KB stride, k * 17 mod 64 differs for every k < 16 (without it, on the CIFAR net's 32-channel
convolution, each matrix is 256 KB and the Numba input transform took 3.7 ms a chunk of 8 images, with it 0.43)."""


def applies(geo: Geometry, groups: int) -> bool:
    """Whether F(2x2, 3x3) computes this convolution: 2-D, 3x3, stride 1, dilation 1, one group (any zero padding)."""
    return (geo.rank == 2 and geo.kernel == (3, 3) and geo.stride == (1, 1) and geo.dilation == (1, 1)
            and groups == 1)


MAX_IMAGE_VALUES = 1 << 20
"""Transformed input and output tiles (V and M) of one image up to which the Winograd path is taken (4 MB in
float32: a chunk is at least one image, and past the cache the NumPy backend's transforms, several passes over
the tiles, lose: bench/conv_algorithms.py on ResNet-18's 56x56x64 convolution (1.6M values an image), NumPy
0.6-0.7x im2col's speed where Numba's single-pass transforms reach 2.4-2.6x; at 28x28x128 (0.8M) both win)."""


MIN_CHUNK_TILES = 32
"""The fewest tiles a chunk of whole images may hold on the Winograd path: each chunk's 16 products read all of
U (16 C F values) for that many rows of V. In two runs of ``python bench/conv_algorithms.py --predict``,
ResNet-18's last 3x3 convolutions (7x7x512: 16 tiles an image, one image a chunk, 16 MB of U) predicted at
0.42x-0.90x im2col's speed by Winograd at batches 1 to 64 on NumPy, 0.44x-1.02x on Numba; its 14x14x256 (49
tiles, one image a chunk) at 1.10x-1.39x from batch 2 on Numba."""


def chosen(geo: Geometry, groups: int, channels: int, filters: int, max_image_values: int | None = None) -> bool:
    """Whether a convolution takes the Winograd path: where it applies and is faster (``MIN_CHANNELS``,
    ``MAX_IMAGE_VALUES`` or ``max_image_values``, ``MIN_CHUNK_TILES``); in training the same choice on both
    backends, which then compute the same bits."""
    tiles = prod(-(-size // 2) for size in geo.output)
    per_image = 16 * tiles * (channels + filters)
    limit = MAX_IMAGE_VALUES if max_image_values is None else max_image_values
    return (applies(geo, groups) and channels >= MIN_CHANNELS and per_image <= limit
            and max(1, CHUNK_VALUES // per_image) * tiles >= MIN_CHUNK_TILES)


G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
"""F(2x2, 3x3)'s filter transform, (4, 3): U = G g G^T."""

FILTER_TRANSFORM = np.kron(G, G)
"""U = G g G^T of every (C, F) pair at once: (16, 9) @ g (9, C F), tap (a, b) at 3 a + b of the weight, position
(xi, nu) at 4 xi + nu of U (G[xi, a] G[nu, b] is its entry). One matrix product, where a pass per row and column
of G took 25 ms a call on 512 x 512 channels (16 MB of U) against 3, 2.0 ms on 256 x 256 against 0.5 (one
thread)."""


def filter_transform(weight: np.ndarray) -> np.ndarray:
    """U = G g G^T of a (3, 3, C, F) weight: (16, C, F), position (xi, nu) at 4 * xi + nu, in the weight's dtype."""
    taps = weight.reshape(9, -1)
    return (FILTER_TRANSFORM.astype(weight.dtype) @ taps).reshape(16, *weight.shape[2:])


def weight_gradient(dU: np.ndarray) -> np.ndarray:
    """G^T dU G of the transformed weight's gradient (16, C, F): the weight's (3, 3, C, F), as one product."""
    return (FILTER_TRANSFORM.T.astype(dU.dtype) @ dU.reshape(16, -1)).reshape(3, 3, *dU.shape[1:])


class Winograd:
    """One convolution's F(2x2, 3x3) forward and backward passes, a chunk of images at a time (``CHUNK_VALUES``),
    scratch arrays in the convolution's ``Workspace``. Input (N, H, W, C), weight
    (3, 3, C, F), output (N, OH, OW, F); tiles (N, TH, TW) with TH = ceil(OH / 2), TW = ceil(OW / 2)."""

    min_backward_saving = 20.0
    """The least C F / (C + F) (multiplies saved per transformed value: a tile's F(2x2, 3x3) saves 20 C F and
    transforms 16 (C + F) values) of a convolution whose backward pass this backend takes through Winograd;
    below it, the backward pass of a Winograd forward pass runs by im2col (``Convolution.backward``). The forward
    pass stays Winograd's, the same bits on both backends, so that max pooling's winners and ReLU's zeros, all
    decided there, agree; the backward pass only carries gradients along them, within rounding of each other.
    The NumPy backend's transforms are several passes over those values: in training steps of the CIFAR net
    (batch 64, 1 thread, huge pages, alternated runs), its 32 -> 32 channel layer (C F / (C + F) = 16) took
    51-53 ms backward by im2col against 59-61 by Winograd; its 32 -> 64 (21.3) and 64 -> 64 (32) layers were
    faster by Winograd (22 against 24-27 ms, 34 against 36-38)."""

    min_inference_saving = 48.0
    """``min_backward_saving`` for predicting (``pays_at_inference``), where the two backends need not agree (no
    gradient follows max pooling's winners). Two runs of ``python bench/conv_algorithms.py --predict``, NumPy
    backend, batches 1 to 64: the CIFAR net's 32 -> 32 and 64 -> 64 channel layers (C F / (C + F) = 16 and 32)
    predicted at 0.60x-0.78x and 0.67x-1.00x im2col's speed by Winograd, ResNet-18's 28x28x128 (64) at
    0.96x-1.19x."""

    min_inference_tiles = 196
    """The fewest tiles a batch needs for ``pays_at_inference``: on NumPy, in three runs of ``python
    bench/conv_algorithms.py --predict``, ResNet-18's 14x14x256 convolution (49 tiles an image) predicted at
    0.76x-0.85x, 0.90x-1.03x, 1.00x-1.08x and 1.09x-1.21x im2col's speed by Winograd at batches 1, 2, 4 and 16."""

    inference_image_values: int | None = None
    """``MAX_IMAGE_VALUES`` for predicting (None: training's), where the two backends need not choose alike."""

    parallel = False
    """Whether threads running shards of a batch run these transforms in parallel. NumPy's do not: they are
    many short NumPy calls and the GIL is held between them, so a pass on a thread beside other shards
    (``Pass.threaded``; not a training step's shards in worker processes, ``cnnc.shard_processes``) takes
    im2col instead (``Convolution._winograd_for``). ``python bench/train_throughput.py --repeats 3
    --throughput-only``, the NumPy backend on the CIFAR net at 2 threads: 322 and 314 images/s in two runs with
    Winograd in the shards, 457 with im2col there."""

    def __init__(self, geo: Geometry, channels: int, filters: int, workspace: Workspace) -> None:
        self.geo, self.channels, self.filters, self.workspace = geo, channels, filters, workspace
        self.tiles = tuple(-(-size // 2) for size in geo.output)  # (TH, TW)
        self.pad_top, self.pad_left = geo.pads[0][0], geo.pads[1][0]
        self.per_image = 16 * prod(self.tiles) * (channels + filters)  # V and M of one image
        self.saving = channels * filters / (channels + filters)  # multiplies saved per transformed value
        self.takes_backward = self.saving >= self.min_backward_saving
        self.views: dict[tuple[str, tuple[int, ...]], tuple[np.ndarray, np.ndarray]] = {}  # ``_scratch``'s

    def pays_at_inference(self, batch: int) -> bool:
        """Whether predicting a batch of ``batch`` images takes this path (else im2col's): enough tiles, and
        enough multiplies saved per transformed value on this backend."""
        return batch * prod(self.tiles) >= self.min_inference_tiles and self.saving >= self.min_inference_saving

    def _chunks(self, batch: int) -> list[tuple[int, int]]:
        """Chunks of at most ``CHUNK_VALUES`` values of V and M (at least one image)."""
        step = max(1, CHUNK_VALUES // self.per_image)
        return [(start, min(batch, start + step)) for start in range(0, batch, step)]

    def _buffer(self, key: str, width: int, dtype: np.dtype, capacity: int) -> np.ndarray:
        """(16, capacity, width) in a reused buffer, each of the 16 blocks starting
        ``BLOCK_OFFSET`` bytes past a multiple of 4 KB, so that the 16 streams a tile transform reads or
        writes do not fall on the same cache sets (4 KB aliasing: 8.7x slower, measured)."""
        dtype = np.dtype(dtype)
        block = capacity * width
        stride = block + (BLOCK_OFFSET - block * dtype.itemsize) % 4096 // dtype.itemsize
        flat = self.workspace.get(key, (16 * stride,), dtype)
        item = dtype.itemsize
        return as_strided(flat, (16, capacity, width), (stride * item, width * item, item))

    def forward(self, x: np.ndarray, weight: np.ndarray, epilogue: Epilogue | None = None) -> np.ndarray:
        """The convolution's output (N, OH, OW, F), without bias; ``epilogue`` runs on each chunk's output rows
        (n * OH * OW, F) while they are in the cache."""
        batch = x.shape[0]
        dtype = np.result_type(x, weight)
        U = filter_transform(weight).astype(dtype, copy=False)
        out = np.empty((batch, *self.geo.output, self.filters), dtype=dtype)
        parts = self._chunks(batch)
        capacity = (parts[0][1] - parts[0][0]) * prod(self.tiles)
        whole_V = self._buffer("winograd_V", self.channels, dtype, capacity)
        whole_M = self._buffer("winograd_M", self.filters, dtype, capacity)
        for start, stop in parts:
            rows = (stop - start) * prod(self.tiles)
            V, M = whole_V[:, :rows], whole_M[:, :rows]
            self.input_tiles(x[start:stop], V, capacity)
            np.matmul(V, U, out=M)
            self.output(M, out[start:stop], capacity)
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
        dU = np.empty((16, self.channels, self.filters), dtype=dtype)
        share = self.workspace.get("winograd_dU", dU.shape, dtype)
        dx = np.empty(x.shape, dtype=dtype) if need_dx else None
        parts = self._chunks(batch)
        capacity = (parts[0][1] - parts[0][0]) * prod(self.tiles)
        whole_V = self._buffer("winograd_V", self.channels, dtype, capacity)
        whole_dM = self._buffer("winograd_M", self.filters, dtype, capacity)
        for start, stop in parts:
            rows = (stop - start) * prod(self.tiles)
            V, dM = whole_V[:, :rows], whole_dM[:, :rows]
            self.input_tiles(x[start:stop], V, capacity)
            self.output_gradient_tiles(dout[start:stop], dM, capacity)
            if start == 0:
                np.matmul(V.transpose(0, 2, 1), dM, out=dU)
            else:
                dU += np.matmul(V.transpose(0, 2, 1), dM, out=share)
            if need_dx:
                dV = np.matmul(dM, U_transposed, out=V)  # V is read: its buffer takes dV
                self.input_gradient(dV, dx[start:stop], capacity)
        return weight_gradient(dU), dx

    # The four tile transforms (the Numba backend compiles them); ``capacity``: a whole chunk's tiles, for
    # the size of scratch buffers, so that a last, shorter chunk takes the front of the same ones. Each runs on
    # contiguous blocks (a tile position's values for every tile and channel), the rows of the 4x4 (or 2x2)
    # tile first, then its columns, each value with the same operations in the same order as the Numba
    # backend's loops: both backends get the same bits, so that max pooling's winners and ReLU's zeros agree.

    def input_tiles(self, x: np.ndarray, V: np.ndarray, capacity: int) -> None:
        """V = B^T d B of every 4x4 tile d of ``x`` (n, H, W, C) zero-padded: into V (16, n * TH * TW, C)."""
        TH, TW = self.tiles
        n, height, width, channels = x.shape
        padded = self._scratch("winograd_padded", (n, 2 * TH + 2, 2 * TW + 2, channels), n, x.dtype, capacity, 0.0)
        padded[:, self.pad_top:self.pad_top + height, self.pad_left:self.pad_left + width] = x
        row, column = padded.strides[1:3]
        # d[i, j]: tile position (i, j) of every tile and channel, a view of ``padded`` (contiguous: the front
        # of its buffer) read by the row pass
        d = np.ndarray((4, 4, n, TH, TW, channels), padded.dtype, buffer=padded,
                       strides=(row, column, padded.strides[0], 2 * row, 2 * column, padded.strides[3]))
        r = self._scratch("winograd_rows", (4, 4, n, TH, TW, channels), n, x.dtype, capacity)
        np.subtract(d[0], d[2], out=r[0])  # rows: r = B^T d
        np.add(d[1], d[2], out=r[1])
        np.subtract(d[2], d[1], out=r[2])
        np.subtract(d[1], d[3], out=r[3])
        r = r.reshape(4, 4, -1)
        v = _grid(V)
        np.subtract(r[:, 0], r[:, 2], out=v[:, 0])  # columns: V = r B
        np.add(r[:, 1], r[:, 2], out=v[:, 1])
        np.subtract(r[:, 2], r[:, 1], out=v[:, 2])
        np.subtract(r[:, 1], r[:, 3], out=v[:, 3])

    def output(self, M: np.ndarray, out: np.ndarray, capacity: int) -> None:
        """Y = A^T M A of every tile: M (16, n * TH * TW, F) into ``out`` (n, OH, OW, F), partial tiles cut."""
        TH, TW = self.tiles
        n, _, _, filters = out.shape
        m = _grid(M)
        s = self._scratch("winograd_columns", (2, 4, m.shape[2]), n, M.dtype, capacity)  # s[b, xi]
        np.add(m[:, 0], m[:, 1], out=s[0])  # columns: s = M A
        s[0] += m[:, 2]
        np.subtract(m[:, 1], m[:, 2], out=s[1])
        s[1] -= m[:, 3]
        y = self._scratch("winograd_y", (2, 2, n, TH, TW, filters), n, M.dtype, capacity)  # y[a, b]
        first, second = y.reshape(2, 2, -1)
        np.add(s[:, 0], s[:, 1], out=first)  # rows: y = A^T s
        first += s[:, 2]
        np.subtract(s[:, 1], s[:, 2], out=second)
        second -= s[:, 3]
        for a in range(2):
            for b in range(2):
                target = out[:, a::2, b::2]
                target[...] = y[a, b, :, :target.shape[1], :target.shape[2]]

    def output_gradient_tiles(self, dout: np.ndarray, dM: np.ndarray, capacity: int) -> None:
        """dM = A dY A^T of every 2x2 tile dY of ``dout`` (n, OH, OW, F), zero past the edges: into dM."""
        TH, TW = self.tiles
        n, _, _, filters = dout.shape
        tiles = self._scratch("winograd_dout", (2, 2, n, TH, TW, filters), n, dout.dtype, capacity)
        for a in range(2):
            for b in range(2):
                source = dout[:, a::2, b::2]
                rows, columns = source.shape[1:3]
                tiles[a, b, :, :rows, :columns] = source
                # a partial tile's missing outputs are 0, written every time: the buffer's layout moves with
                # the chunk's image count (images are its third axis), so zeros left by a longer chunk are not
                # where a shorter one needs them
                tiles[a, b, :, rows:] = 0
                tiles[a, b, :, :rows, columns:] = 0
        y = tiles.reshape(2, 2, -1)
        q = self._scratch("winograd_dout_rows", (4, 2, y.shape[2]), n, dout.dtype, capacity)
        q[0] = y[0]  # rows: q = A y
        np.add(y[0], y[1], out=q[1])
        np.subtract(y[0], y[1], out=q[2])
        np.negative(y[1], out=q[3])
        m = _grid(dM)
        m[:, 0] = q[:, 0]  # columns: dM = q A^T
        np.add(q[:, 0], q[:, 1], out=m[:, 1])
        np.subtract(q[:, 0], q[:, 1], out=m[:, 2])
        np.negative(q[:, 1], out=m[:, 3])

    def input_gradient(self, dV: np.ndarray, dx: np.ndarray, capacity: int) -> None:
        """B dV B^T of every tile, added where the tile was read: dV (16, n * TH * TW, C) into ``dx``
        (n, H, W, C), the padding's share dropped. A position's shares are added in the order of their tiles
        (row by row), from zero."""
        TH, TW = self.tiles
        n, height, width, channels = dx.shape
        v = _grid(dV)
        e = self._scratch("winograd_rows", (4, 4, v.shape[2]), n, dV.dtype, capacity)  # e[xi, j]
        e[:, 0] = v[:, 0]  # columns: e = dV B^T
        np.subtract(v[:, 1], v[:, 2], out=e[:, 1])
        e[:, 1] += v[:, 3]
        np.add(v[:, 1], v[:, 2], out=e[:, 2])
        e[:, 2] -= v[:, 0]
        np.negative(v[:, 3], out=e[:, 3])
        parts = self._scratch("winograd_tiles", (4, 4, n, TH, TW, channels), n, dV.dtype, capacity)
        p = parts.reshape(4, 4, -1)
        p[0] = e[0]  # rows: parts = B e
        np.subtract(e[1], e[2], out=p[1])
        p[1] += e[3]
        np.add(e[1], e[2], out=p[2])
        p[2] -= e[0]
        np.negative(e[3], out=p[3])
        padded = self._scratch("winograd_dpadded", (n, 2 * TH + 2, 2 * TW + 2, channels), n, dV.dtype, capacity)
        padded[...] = 0
        for i in range(2):  # a position of parity (i, j) takes, in this order, parts (i + 2, j + 2) of the
            for j in range(2):  # tile above left, (i + 2, j) above, (i, j + 2) left and (i, j) of its own
                target = padded[:, i::2, j::2]  # (n, TH + 1, TW + 1, C)
                target[:, 1:, 1:] += parts[i + 2, j + 2]
                target[:, 1:, :TW] += parts[i + 2, j]
                target[:, :TH, 1:] += parts[i, j + 2]
                target[:, :TH, :TW] += parts[i, j]
        dx[...] = padded[:, self.pad_top:self.pad_top + height, self.pad_left:self.pad_left + width]

    def _scratch(self, key: str, shape: tuple[int, ...], images: int, dtype: np.dtype, capacity: int,
                 fill: float | None = None) -> np.ndarray:
        """``shape``, the size of which is proportional to the chunk's ``images``, on the front of a reused
        buffer sized for ``capacity`` tiles: a last, shorter chunk takes part of the same buffer (a border
        once filled with ``fill`` stays filled: only interiors are written)."""
        total = prod(shape)
        flat = self.workspace.get(key, (total // images * max(images, capacity // prod(self.tiles)),), dtype, fill)
        made = self.views.get((key, shape))
        if made is None or made[0] is not flat:  # a view is made once per buffer and shape: chunks repeat them
            made = self.views[key, shape] = (flat, flat[:total].reshape(shape))
        return made[1]


def _grid(blocks: np.ndarray) -> np.ndarray:
    """A (16, rows, width) tile buffer as (4, 4, rows * width): position (xi, nu)'s values as one row (a view:
    each block's rows are contiguous)."""
    return np.reshape(blocks, (4, 4, -1), copy=False)
