"""The Numba backend's Winograd F(2x2, 3x3) convolution: the NumPy backend's (``backends/numpy/winograd.py``: the
chunks, the 16 batched matmuls, the weight's transforms), with its four tile transforms compiled, each one pass
over the tiles that reads the unpadded input (or output gradient) in place and skips what lies in the padding.

Serial loops, ``nogil``: two threads may run them at once on different arrays. Tile t of an image is the one at
rows 2 th - pad_top ... + 3, columns 2 tw - pad_left ... + 3 of the input (t = (image * TH + th) * TW + tw).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cnnc.backends.numpy.winograd import Winograd as NumpyWinograd


class Winograd(NumpyWinograd):
    """F(2x2, 3x3) with compiled tile transforms (same layout and results as the NumPy backend's), which
    release the GIL: threads running shards of a batch run them in parallel."""

    min_backward_saving = 0.0
    """Compiled transforms are one pass over the tiles: the backward pass by Winograd wherever the forward is."""

    min_inference_saving = 0.0
    """Compiled transforms: predicting takes Winograd wherever training does, given ``min_inference_tiles``.
    Two runs of ``python bench/conv_algorithms.py --predict``, batches 1 to 64: the CIFAR net's 32 -> 32 and
    64 -> 64 channel layers at 1.06x-1.35x and 0.99x-1.55x im2col's speed, ResNet-18's 28x28x128 at 1.32x-1.57x."""

    min_inference_tiles = 64
    """ResNet-18's 14x14x256 convolution (49 tiles an image) predicted at 0.87x-0.91x im2col's speed by Winograd
    on one image, 1.10x-1.14x on two; the CIFAR net's 16x16x64 (64 tiles) 0.99x-1.04x on one (the same runs)."""

    inference_image_values = 1 << 22
    """Compiled transforms stay one pass over tiles past the cache: predicting takes Winograd on images of up to
    2^22 transformed values (16 MB in float32), ResNet-18's 56x56x64 convolutions (1.6M) included, which two runs
    of ``python bench/conv_algorithms.py --predict`` ran at 1.30x-1.57x im2col's speed at batches 1 to 64."""

    parallel = True

    def input_tiles(self, x: np.ndarray, V: np.ndarray, capacity: int) -> None:
        tile = self.workspace.get("winograd_tile", (1, 4, 4, self.channels), x.dtype)
        input_tiles(np.ascontiguousarray(x), V, tile, self.pad_top, self.pad_left, *self.tiles)

    def output(self, M: np.ndarray, out: np.ndarray, capacity: int) -> None:
        output_tiles(M, out, *self.tiles)

    def output_gradient_tiles(self, dout: np.ndarray, dM: np.ndarray, capacity: int) -> None:
        output_gradient_tiles(np.ascontiguousarray(dout), dM, *self.tiles)

    def input_gradient(self, dV: np.ndarray, dx: np.ndarray, capacity: int) -> None:
        tile = self.workspace.get("winograd_tile", (1, 4, 4, self.channels), dV.dtype)
        input_gradient_tiles(dV, dx, tile, self.pad_top, self.pad_left, *self.tiles)


@njit(cache=True, nogil=True)
def _transform_input_tile(source, image, top, left, V, t):  # pragma: no cover - compiled
    """V[:, t] = B^T d B of the 4x4 tile d at (top, left) of source[image] (every channel)."""
    for c in range(source.shape[3]):
        d00, d01, d02, d03 = source[image, top, left, c], source[image, top, left + 1, c], \
            source[image, top, left + 2, c], source[image, top, left + 3, c]
        d10, d11, d12, d13 = source[image, top + 1, left, c], source[image, top + 1, left + 1, c], \
            source[image, top + 1, left + 2, c], source[image, top + 1, left + 3, c]
        d20, d21, d22, d23 = source[image, top + 2, left, c], source[image, top + 2, left + 1, c], \
            source[image, top + 2, left + 2, c], source[image, top + 2, left + 3, c]
        d30, d31, d32, d33 = source[image, top + 3, left, c], source[image, top + 3, left + 1, c], \
            source[image, top + 3, left + 2, c], source[image, top + 3, left + 3, c]
        # rows: B^T d
        r00, r01, r02, r03 = d00 - d20, d01 - d21, d02 - d22, d03 - d23
        r10, r11, r12, r13 = d10 + d20, d11 + d21, d12 + d22, d13 + d23
        r20, r21, r22, r23 = d20 - d10, d21 - d11, d22 - d12, d23 - d13
        r30, r31, r32, r33 = d10 - d30, d11 - d31, d12 - d32, d13 - d33
        # columns: (B^T d) B
        V[0, t, c], V[1, t, c], V[2, t, c], V[3, t, c] = r00 - r02, r01 + r02, r02 - r01, r01 - r03
        V[4, t, c], V[5, t, c], V[6, t, c], V[7, t, c] = r10 - r12, r11 + r12, r12 - r11, r11 - r13
        V[8, t, c], V[9, t, c], V[10, t, c], V[11, t, c] = r20 - r22, r21 + r22, r22 - r21, r21 - r23
        V[12, t, c], V[13, t, c], V[14, t, c], V[15, t, c] = r30 - r32, r31 + r32, r32 - r31, r31 - r33


@njit(cache=True, nogil=True)
def input_tiles(x, V, tile, pad_top, pad_left, tiles_high, tiles_wide):  # pragma: no cover - compiled
    """V (16, n * TH * TW, C) = B^T d B of every tile of x (n, H, W, C); a tile reaching into the padding is
    first copied, zeros and all, into ``tile`` (1, 4, 4, C)."""
    batch, height, width, channels = x.shape
    t = 0
    for image in range(batch):
        for th in range(tiles_high):
            top = 2 * th - pad_top
            for tw in range(tiles_wide):
                left = 2 * tw - pad_left
                if top >= 0 and left >= 0 and top + 4 <= height and left + 4 <= width:
                    _transform_input_tile(x, image, top, left, V, t)
                else:
                    for i in range(4):
                        h = top + i
                        for j in range(4):
                            w = left + j
                            inside = 0 <= h < height and 0 <= w < width
                            for c in range(channels):
                                tile[0, i, j, c] = x[image, h, w, c] if inside else 0
                    _transform_input_tile(tile, 0, 0, 0, V, t)
                t += 1


@njit(cache=True, nogil=True)
def output_tiles(M, out, tiles_high, tiles_wide):  # pragma: no cover - compiled
    """out (n, OH, OW, F) = A^T M A of every tile of M (16, n * TH * TW, F); a partial tile's outputs past the
    edge are dropped."""
    batch, out_height, out_width, filters = out.shape
    t = 0
    for image in range(batch):
        for th in range(tiles_high):
            h = 2 * th
            full_h = h + 1 < out_height
            for tw in range(tiles_wide):
                w = 2 * tw
                full_w = w + 1 < out_width
                for f in range(filters):
                    # columns: M A
                    s00 = M[0, t, f] + M[1, t, f] + M[2, t, f]
                    s01 = M[1, t, f] - M[2, t, f] - M[3, t, f]
                    s10 = M[4, t, f] + M[5, t, f] + M[6, t, f]
                    s11 = M[5, t, f] - M[6, t, f] - M[7, t, f]
                    s20 = M[8, t, f] + M[9, t, f] + M[10, t, f]
                    s21 = M[9, t, f] - M[10, t, f] - M[11, t, f]
                    s30 = M[12, t, f] + M[13, t, f] + M[14, t, f]
                    s31 = M[13, t, f] - M[14, t, f] - M[15, t, f]
                    # rows: A^T (M A)
                    out[image, h, w, f] = s00 + s10 + s20
                    if full_w:
                        out[image, h, w + 1, f] = s01 + s11 + s21
                    if full_h:
                        out[image, h + 1, w, f] = s10 - s20 - s30
                        if full_w:
                            out[image, h + 1, w + 1, f] = s11 - s21 - s31
                t += 1


@njit(cache=True, nogil=True)
def output_gradient_tiles(dout, dM, tiles_high, tiles_wide):  # pragma: no cover - compiled
    """dM (16, n * TH * TW, F) = A dY A^T of every 2x2 tile dY of dout (n, OH, OW, F), zero past the edge."""
    batch, out_height, out_width, filters = dout.shape
    zero = np.zeros(1, dout.dtype)[0]
    t = 0
    for image in range(batch):
        for th in range(tiles_high):
            h = 2 * th
            full_h = h + 1 < out_height
            for tw in range(tiles_wide):
                w = 2 * tw
                full_w = w + 1 < out_width
                for f in range(filters):
                    y00 = dout[image, h, w, f]
                    y01 = dout[image, h, w + 1, f] if full_w else zero
                    y10 = dout[image, h + 1, w, f] if full_h else zero
                    y11 = dout[image, h + 1, w + 1, f] if full_h and full_w else zero
                    # rows: A dY, row xi: (y0, y0 + y1, y0 - y1, -y1) of each column
                    q00, q01 = y00, y01
                    q10, q11 = y00 + y10, y01 + y11
                    q20, q21 = y00 - y10, y01 - y11
                    q30, q31 = -y10, -y11
                    # columns: (A dY) A^T
                    dM[0, t, f], dM[1, t, f], dM[2, t, f], dM[3, t, f] = q00, q00 + q01, q00 - q01, -q01
                    dM[4, t, f], dM[5, t, f], dM[6, t, f], dM[7, t, f] = q10, q10 + q11, q10 - q11, -q11
                    dM[8, t, f], dM[9, t, f], dM[10, t, f], dM[11, t, f] = q20, q20 + q21, q20 - q21, -q21
                    dM[12, t, f], dM[13, t, f], dM[14, t, f], dM[15, t, f] = q30, q30 + q31, q30 - q31, -q31
                t += 1


@njit(cache=True, nogil=True)
def _transform_gradient_tile(dV, t, target, image, top, left):  # pragma: no cover - compiled
    """B dV B^T of tile t of dV, added to the 4x4 tile at (top, left) of target[image] (every channel)."""
    for c in range(target.shape[3]):
        # columns: dV B^T, each row xi: (v0, v1 - v2 + v3, v1 + v2 - v0, -v3)
        e00, e01 = dV[0, t, c], dV[1, t, c] - dV[2, t, c] + dV[3, t, c]
        e02, e03 = dV[1, t, c] + dV[2, t, c] - dV[0, t, c], -dV[3, t, c]
        e10, e11 = dV[4, t, c], dV[5, t, c] - dV[6, t, c] + dV[7, t, c]
        e12, e13 = dV[5, t, c] + dV[6, t, c] - dV[4, t, c], -dV[7, t, c]
        e20, e21 = dV[8, t, c], dV[9, t, c] - dV[10, t, c] + dV[11, t, c]
        e22, e23 = dV[9, t, c] + dV[10, t, c] - dV[8, t, c], -dV[11, t, c]
        e30, e31 = dV[12, t, c], dV[13, t, c] - dV[14, t, c] + dV[15, t, c]
        e32, e33 = dV[13, t, c] + dV[14, t, c] - dV[12, t, c], -dV[15, t, c]
        # rows: B (dV B^T)
        target[image, top, left, c] += e00
        target[image, top, left + 1, c] += e01
        target[image, top, left + 2, c] += e02
        target[image, top, left + 3, c] += e03
        target[image, top + 1, left, c] += e10 - e20 + e30
        target[image, top + 1, left + 1, c] += e11 - e21 + e31
        target[image, top + 1, left + 2, c] += e12 - e22 + e32
        target[image, top + 1, left + 3, c] += e13 - e23 + e33
        target[image, top + 2, left, c] += e10 + e20 - e00
        target[image, top + 2, left + 1, c] += e11 + e21 - e01
        target[image, top + 2, left + 2, c] += e12 + e22 - e02
        target[image, top + 2, left + 3, c] += e13 + e23 - e03
        target[image, top + 3, left, c] -= e30
        target[image, top + 3, left + 1, c] -= e31
        target[image, top + 3, left + 2, c] -= e32
        target[image, top + 3, left + 3, c] -= e33


@njit(cache=True, nogil=True)
def input_gradient_tiles(dV, dx, tile, pad_top, pad_left, tiles_high, tiles_wide):  # pragma: no cover - compiled
    """dx (n, H, W, C) = the sum of B dV B^T over the tiles that read each position (dV (16, n * TH * TW, C));
    a tile reaching into the padding goes through ``tile`` (1, 4, 4, C), and only its part inside is added."""
    batch, height, width, channels = dx.shape
    dx[...] = 0
    t = 0
    for image in range(batch):
        for th in range(tiles_high):
            top = 2 * th - pad_top
            for tw in range(tiles_wide):
                left = 2 * tw - pad_left
                if top >= 0 and left >= 0 and top + 4 <= height and left + 4 <= width:
                    _transform_gradient_tile(dV, t, dx, image, top, left)
                else:
                    tile[...] = 0
                    _transform_gradient_tile(dV, t, tile, 0, 0, 0)
                    for i in range(4):
                        h = top + i
                        for j in range(4):
                            w = left + j
                            if 0 <= h < height and 0 <= w < width:
                                for c in range(channels):
                                    dx[image, h, w, c] += tile[0, i, j, c]
                t += 1
