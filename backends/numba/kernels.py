"""Compiled loops for what the profile names slow in NumPy: max pooling with stored winners, bias+ReLU, col2im.

Every kernel is serial (a parallel region costs milliseconds on a loaded 2-core machine), releases the GIL
(``nogil=True``: the shards of a batch run them on several threads at once, ``cnnc.shards``) and is cached
on disk (``cache=True``), so only the first run in a fresh environment pays for compilation.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def max_pool_forward(x, out, winners, kernel_height, kernel_width, stride_height, stride_width, pad_top,
                     pad_left):  # pragma: no cover - compiled
    """x (N, H, W, C) -> out (N, OH, OW, C), each output the maximum over its window, and ``winners``
    (same shape, any integer type holding the taps' count) the tap (row-major in the window) where it
    was found. Taps outside ``x`` (padding, a ceil-mode window's overhang) are skipped, as a -inf
    padding would be; among equal values the first tap wins (PyTorch's choice, and the NumPy
    backend's). Every window holds at least one tap of ``x`` (the analysis refuses a window of padding
    alone: E106)."""
    batch, height, width, channels = x.shape
    _, out_height, out_width, _ = out.shape
    for n in range(batch):
        for oh in range(out_height):
            top = oh * stride_height - pad_top
            first_h, last_h = max(top, 0), min(top + kernel_height, height)
            for ow in range(out_width):
                left = ow * stride_width - pad_left
                first_w, last_w = max(left, 0), min(left + kernel_width, width)
                for c in range(channels):
                    out[n, oh, ow, c] = x[n, first_h, first_w, c]
                    winners[n, oh, ow, c] = (first_h - top) * kernel_width + first_w - left
                for h in range(first_h, last_h):
                    for w in range(first_w, last_w):
                        if h == first_h and w == first_w:
                            continue
                        tap = (h - top) * kernel_width + w - left
                        for c in range(channels):
                            value = x[n, h, w, c]
                            if value > out[n, oh, ow, c]:
                                out[n, oh, ow, c] = value
                                winners[n, oh, ow, c] = tap


@njit(cache=True, nogil=True)
def max_pool_backward(dout, winners, dx, kernel_width, stride_height, stride_width, pad_top,
                      pad_left):  # pragma: no cover - compiled
    """Into ``dx`` (N, H, W, C, zeros): each output's gradient added where its window's winner is."""
    batch, out_height, out_width, channels = dout.shape
    for n in range(batch):
        for oh in range(out_height):
            top = oh * stride_height - pad_top
            for ow in range(out_width):
                left = ow * stride_width - pad_left
                for c in range(channels):
                    tap = winners[n, oh, ow, c]
                    dx[n, top + tap // kernel_width, left + tap % kernel_width, c] += dout[n, oh, ow, c]


@njit(cache=True, nogil=True)
def max_pool_relu_backward(dout, winners, pooled, masked, dbias, has_bias, kernel_height, kernel_width,
                           stride_height, stride_width):  # pragma: no cover - compiled
    """The backward passes of a ReLU and the max pooling after it, for windows that do not overlap (stride at
    least the kernel, no padding), in one pass over the positions: ``masked`` (N, H, W, C, every value written)
    takes each window's gradient at its winner where the ReLU's output there, the pooled maximum, is above 0,
    else 0; ``dbias`` (C, float64) their sums. The same values as ``max_pool_backward`` then
    ``bias_relu_backward``: a winner's gradient is added to 0 (-0 becomes 0), and the bias's sums take the
    positions in row order."""
    batch, height, width, channels = masked.shape
    _, out_height, out_width, _ = dout.shape
    for n in range(batch):
        oh, i = 0, 0  # the window row of h, and h's row in it
        for h in range(height):
            row_in_window = oh < out_height and i < kernel_height
            ow, j = 0, 0
            for w in range(width):
                if row_in_window and ow < out_width and j < kernel_width:
                    tap = i * kernel_width + j
                    for c in range(channels):
                        value = 0.0
                        if winners[n, oh, ow, c] == tap and pooled[n, oh, ow, c] > 0:
                            value = 0.0 + dout[n, oh, ow, c]
                        masked[n, h, w, c] = value
                        if has_bias:
                            dbias[c] += value
                else:
                    for c in range(channels):
                        masked[n, h, w, c] = 0.0
                j += 1
                if j == stride_width:
                    ow, j = ow + 1, 0
            i += 1
            if i == stride_height:
                oh, i = oh + 1, 0


@njit(cache=True, nogil=True)
def max_pool_relu_backward_scattered(dout, winners, pooled, masked, dbias, has_bias, kernel_width, stride_height,
                                     stride_width):  # pragma: no cover - compiled
    """``max_pool_relu_backward``'s values by another route, faster for few channels: ``masked`` zeroed, each
    window's gradient written at its winner where the pooled maximum is above 0, then the bias's sums over
    ``masked`` in row order (its zeros add nothing: the same sums)."""
    batch, _, _, channels = masked.shape
    _, out_height, out_width, _ = dout.shape
    flat = masked.reshape(-1)
    for t in range(flat.size):
        flat[t] = 0.0
    for n in range(batch):
        for oh in range(out_height):
            for ow in range(out_width):
                for c in range(channels):
                    if pooled[n, oh, ow, c] > 0:
                        tap = winners[n, oh, ow, c]
                        masked[n, oh * stride_height + tap // kernel_width, ow * stride_width + tap % kernel_width,
                               c] = 0.0 + dout[n, oh, ow, c]
    if has_bias:
        rows = masked.reshape(-1, channels)
        for r in range(rows.shape[0]):
            for c in range(channels):
                dbias[c] += rows[r, c]


@njit(cache=True, nogil=True)
def bias_relu_forward(out, bias, has_bias):  # pragma: no cover - compiled
    """In place on ``out`` (rows, F): ``max(out + bias, 0)`` in one pass."""
    rows, features = out.shape
    for row in range(rows):
        for f in range(features):
            value = out[row, f] + bias[f] if has_bias else out[row, f]
            out[row, f] = value if value > 0 else 0.0


@njit(cache=True, nogil=True)
def bias_relu_backward(dout, out, has_bias):  # pragma: no cover - compiled
    """(dout masked where the ReLU's output is 0, the bias's gradient), both (rows, F) -> one pass.
    The gradient at 0 is 0, as PyTorch's (output <= 0)."""
    rows, features = dout.shape
    masked = np.empty_like(dout)
    dbias = np.zeros(features if has_bias else 0)  # summed in float64, returned in dout's dtype
    for row in range(rows):
        for f in range(features):
            value = dout[row, f] if out[row, f] > 0 else 0.0
            masked[row, f] = value
            if has_bias:
                dbias[f] += value
    return masked, dbias.astype(dout.dtype)


@njit(cache=True, nogil=True)
def col2im_rows(dcols, dx, out_height, out_width, kernel_height, kernel_width, stride_height, stride_width,
                dilation_height, dilation_width, pad_top, pad_left):  # pragma: no cover - compiled
    """Into ``dx`` (N, H, W * C, zeros): each window's share ``dcols`` (N * OH * OW, KH * KW * C, the rows
    of one matmul) added where its taps read. Window by window, a kernel row at a time: at dilation 1 in
    width a kernel row's taps are one contiguous run in both arrays (KW * C values), a loop that compiles
    to vector adds; otherwise each tap's C values are a run. Padding is skipped."""
    batch, height, width_channels = dx.shape
    channels = dcols.shape[1] // (kernel_height * kernel_width)
    width = width_channels // channels
    step = kernel_width if dilation_width == 1 else 1  # taps per run
    for n in range(batch):
        for oh in range(out_height):
            for ow in range(out_width):
                window = dcols[(n * out_height + oh) * out_width + ow]
                left = ow * stride_width - pad_left
                for i in range(kernel_height):
                    h = oh * stride_height + i * dilation_height - pad_top
                    if h < 0 or h >= height:
                        continue
                    target = dx[n, h]
                    for run in range(0, kernel_width, step):
                        first, last = run, run + step  # taps first..last-1, at columns left + j * dilation_width
                        while first < last and left + first * dilation_width < 0:
                            first += 1
                        while last > first and left + (last - 1) * dilation_width >= width:
                            last -= 1
                        count = (last - first) * channels
                        if count <= 0:
                            continue
                        source = window[(i * kernel_width + first) * channels:][:count]
                        start = (left + first * dilation_width) * channels
                        destination = target[start:start + count]
                        for t in range(count):
                            destination[t] += source[t]
