"""Direct convolution for few channels and filters (LeNet-5's first layer): no im2col, no BLAS.

One image at a time, each channel of the input and each filter of the output is a *plane*: a row-major
block of (rows) x (padded input width), the input's zero-padded in a scratch array. At stride 1 every tap
(i, j) of every (channel, filter) pair is then one long loop over a whole plane: the output plane plus the
input plane shifted by (i * dilation, j * dilation), times the weight, which compiles to vector instructions
whatever the filter count (6 is shorter than a vector, so a loop over filters would not). The columns of a
plane past the output's width are computed and thrown away (the padded width is a few columns wider).

- forward: each output plane started at its bias, summed from the input planes and, when a ReLU follows,
  passed through it, then written channels-last;
- backward: the output's gradient made planar (masked where the ReLU's output is 0, if one follows; the
  bias's gradient summed on the way), each weight's gradient one dot product of an input plane and a
  gradient plane, and the input's gradient each gradient plane times the weight added into a padded input
  plane.

The kernels are serial (``nogil``: threads may run them on shards of a batch) and keep no state: scratch
arrays come from the kernel's ``Workspace``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cnnc import ir
from cnnc.backends.numpy.conv import Convolution
from cnnc.backends.numpy.kernel import Kernel, Params, Pass
from cnnc.backends.numpy.windows import geometry
from cnnc.report import LayerReport

FUSED = {"contract"}  # fused multiply-add; sums keep their order
REORDERED = {"contract", "reassoc"}  # dot products summed in vector lanes


@njit(cache=True, nogil=True)
def planes_of_image(x, n, planes, pad_top, pad_left, padded_width):  # pragma: no cover - compiled
    """Image ``n`` of ``x`` (N, H, W, C) into ``planes`` (C, length): channel c at row h + pad_top, column
    w + pad_left of a row-major plane ``padded_width`` wide. Padding positions are not written (zeros, kept)."""
    _, height, width, channels = x.shape
    for h in range(height):
        for w in range(width):
            position = (pad_top + h) * padded_width + pad_left + w
            for c in range(channels):
                planes[c, position] = x[n, h, w, c]


@njit(cache=True, nogil=True, fastmath=FUSED)
def _add_scaled(target, source, scale, length):  # pragma: no cover - compiled
    """target[:length] += scale * source[:length]."""
    for t in range(length):
        target[t] += scale * source[t]


@njit(cache=True, nogil=True, fastmath=REORDERED)
def _dot(first, second, length):  # pragma: no cover - compiled
    """sum(first[:length] * second[:length]) in the arrays' dtype, summed in vector lanes."""
    total = first[0] * second[0]
    for t in range(1, length):
        total += first[t] * second[t]
    return total


@njit(cache=True, nogil=True, fastmath=FUSED)
def direct_forward(x, weight, bias, relu, out, planes, sums, pad_top, pad_left, padded_width,
                   dilation_height, dilation_width):  # pragma: no cover - compiled
    """``out`` (N * OH, OW * F): the convolution of ``x`` (N, H, W, C) with ``weight`` (KH, KW, C, F) at
    stride 1, plus ``bias`` (F, zeros for none), through a ReLU if ``relu``. Scratch: ``planes`` (C, at
    least padded height x width + KW), zero where nothing is written; ``sums`` (F, OH x padded width)."""
    batch, _, _, channels = x.shape
    kernel_height, kernel_width, _, filters = weight.shape
    out_height, out_width = out.shape[0] // batch, out.shape[1] // filters
    length = out_height * padded_width
    for n in range(batch):
        planes_of_image(x, n, planes, pad_top, pad_left, padded_width)
        for f in range(filters):
            plane = sums[f]
            plane[:] = bias[f]
            for i in range(kernel_height):
                for j in range(kernel_width):
                    start = i * dilation_height * padded_width + j * dilation_width
                    for c in range(channels):
                        _add_scaled(plane, planes[c, start:start + length], weight[i, j, c, f], length)
            if relu:
                zero = plane[0] - plane[0]
                for t in range(length):
                    plane[t] = plane[t] if plane[t] > 0 else zero
        for oh in range(out_height):  # the planes' first columns, channels-last
            row = out[n * out_height + oh]
            for f in range(filters):
                plane = sums[f, oh * padded_width:oh * padded_width + out_width]
                for ow in range(out_width):
                    row[ow * filters + f] = plane[ow]


@njit(cache=True, nogil=True, fastmath=FUSED)
def direct_backward(x, dout, out, relu, weight, need_dx, dx, planes, gradient_planes, dplanes, dweight, dbias,
                    pad_top, pad_left, padded_width, dilation_height, dilation_width):  # pragma: no cover - compiled
    """From the output's gradient ``dout`` (N * OH, OW * F), masked where the ReLU's output ``out`` is 0 if
    ``relu`` (its gradient at 0 is 0, as PyTorch's): the weight's gradient added into ``dweight`` (KH, KW,
    C, F, float64), the bias's into ``dbias`` (F, float64), and if ``need_dx`` the input's gradient
    written to ``dx`` (N, H, W, C). Scratch as ``direct_forward``'s: ``planes`` and ``dplanes`` (C, ...),
    ``gradient_planes`` (F, OH x padded width), zero past each row's output width."""
    batch, height, width, channels = x.shape
    kernel_height, kernel_width, _, filters = weight.shape
    out_height, out_width = dout.shape[0] // batch, dout.shape[1] // filters
    length = out_height * padded_width
    for n in range(batch):
        planes_of_image(x, n, planes, pad_top, pad_left, padded_width)
        for oh in range(out_height):  # channels-last rows to planes, masked
            r = n * out_height + oh
            gradients, outputs = dout[r], out[r]
            for f in range(filters):
                plane = gradient_planes[f, oh * padded_width:oh * padded_width + out_width]
                total = 0.0
                for ow in range(out_width):
                    gradient = gradients[ow * filters + f]
                    if relu and not outputs[ow * filters + f] > 0:
                        gradient = 0.0
                    plane[ow] = gradient
                    total += gradient
                dbias[f] += total
        if need_dx:
            dplanes[:] = 0.0
        for i in range(kernel_height):
            for j in range(kernel_width):
                start = i * dilation_height * padded_width + j * dilation_width
                for c in range(channels):
                    source = planes[c, start:start + length]
                    target = dplanes[c, start:start + length]
                    for f in range(filters):
                        dweight[i, j, c, f] += _dot(source, gradient_planes[f], length)
                        if need_dx:
                            _add_scaled(target, gradient_planes[f], weight[i, j, c, f], length)
        if need_dx:
            for h in range(height):
                for w in range(width):
                    position = (pad_top + h) * padded_width + pad_left + w
                    for c in range(channels):
                        dx[n, h, w, c] = dplanes[c, position]


class DirectConvolution(Convolution):
    """An ungrouped 1-D or 2-D convolution of stride 1 by the kernels above, with the NumPy backend's
    parameters (weight (*kernel, C, F), bias (F)). ``fuse_relu`` makes it also apply the ReLU that follows
    it (the step then stands for both layers)."""

    def __init__(self, node: ir.Conv, layer: LayerReport, relu_slope: float | None) -> None:
        super().__init__(node, layer, relu_slope)
        geo = self.geo
        one = geo.rank == 1
        self.input_2d = ((1,) if one else ()) + geo.input
        self.output_2d = ((1,) if one else ()) + geo.output
        self.kernel_2d = ((1,) if one else ()) + geo.kernel
        self.pads_before = ((0,) if one else ()) + tuple(before for before, _ in geo.pads)
        self.dilation_2d = ((1,) if one else ()) + geo.dilation
        padded_height, self.padded_width = ((1,) if one else ()) + geo.padded
        self.plane = padded_height * self.padded_width + (self.kernel_2d[1] - 1) * self.dilation_2d[1]
        self.relu = False
        self.relu_name: str | None = None

    def fuse_relu(self, relu: Kernel) -> None:
        """Apply ``relu`` (the plain ReLU after this layer) in this step."""
        self.relu = True
        self.relu_name = relu.name

    def _scratch(self, key: str, rows: int, length: int, dtype: np.dtype) -> np.ndarray:
        """A (rows, length) array of the workspace, zeros where the kernels never write."""
        return self.workspace.get(key, (rows, length), dtype, fill=0.0)

    def _geometry(self) -> tuple[int, ...]:
        return (*self.pads_before, self.padded_width, *self.dilation_2d)

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        weight = params[self.weight_key]
        dtype = np.result_type(x, weight)
        x4 = np.ascontiguousarray(x, dtype=dtype).reshape(x.shape[0], *self.input_2d, self.channels)
        bias = params[self.bias_key].astype(dtype) if self.has_bias else np.zeros(self.filters, dtype)
        out = np.empty((x.shape[0] * self.output_2d[0], self.output_2d[1] * self.filters), dtype)
        sums_length = self.output_2d[0] * self.padded_width
        direct_forward(x4, weight.astype(dtype, copy=False).reshape(*self.kernel_2d, self.channels, self.filters),
                       bias, self.relu, out, self._scratch("planes", self.channels, self.plane, dtype),
                       self._scratch("sums", self.filters, sums_length, dtype), *self._geometry())
        result = out.reshape(x.shape[0], *self.geo.output, self.filters)
        return result, ((x4, out) if run.for_backward else None)

    def infer(self, x: np.ndarray, params: Params, run: Pass) -> np.ndarray:
        return self.forward(x, params, run)[0]

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        x4, out = cache
        return self._backward(dout, x4, out, params, need_dx)

    def backward_masked(self, masked: np.ndarray, x4: np.ndarray, params: Params,
                        need_dx: bool) -> tuple[np.ndarray | None, Params]:
        """The backward pass from an output gradient the ReLU's mask was already applied to
        (``ReluPoolAfter``), from the input alone (the forward pass's ``cache[0]``)."""
        return self._backward(masked, x4, None, params, need_dx)

    def _backward(self, dout: np.ndarray, x4: np.ndarray, out: np.ndarray | None, params: Params,
                  need_dx: bool) -> tuple[np.ndarray | None, Params]:
        """The backward pass, masked by the ReLU's output ``out`` unless it is None."""
        weight = params[self.weight_key]
        dtype = x4.dtype  # the forward pass's
        relu = self.relu and out is not None
        rows = (x4.shape[0] * self.output_2d[0], self.output_2d[1] * self.filters)
        dout = np.ascontiguousarray(dout, dtype=dtype).reshape(rows)
        weight4 = weight.astype(dtype, copy=False).reshape(*self.kernel_2d, self.channels, self.filters)
        dweight = np.zeros(weight4.shape)
        dbias = np.zeros(self.filters)
        dx = np.empty(x4.shape, dtype) if need_dx else x4[:0]
        planes = self._scratch("planes", self.channels, self.plane, dtype)
        dplanes = self._scratch("dplanes", self.channels, self.plane, dtype) if need_dx else planes
        gradient_planes = self._scratch("gradient_planes", self.filters, self.output_2d[0] * self.padded_width,
                                        dtype)
        direct_backward(x4, dout, out if relu else dout, relu, weight4, need_dx, dx, planes, gradient_planes,
                        dplanes, dweight, dbias, *self._geometry())
        grads: Params = {self.weight_key: dweight.reshape(weight.shape).astype(dtype)}
        if self.has_bias:
            grads[self.bias_key] = dbias.astype(dtype)
        return (dx.reshape(x4.shape[0], *self.geo.input, self.channels) if need_dx else None), grads


MAX_FILTERS = 8
"""Above this many filters im2col and BLAS are faster (bench/direct_conv.py, batch 64, 1 thread: direct is
faster for 4, 6 and 8 filters from 1 to 32 channels, slower for 16 and 32 filters)."""
MIN_PLANE = 100
"""Output rows x padded input width below which the passes are too short to pay (3x3 convolutions of 6 channels
to 6 filters: slower at 7x7, faster at 10x10; a 1x1 input is a matrix product, which BLAS does best)."""
MAX_WINDOW = 75
"""Taps x channels of the largest window measured faster (5x5x3). Each output is summed over its window in
one float32 sequence, where BLAS sums in blocks: on 1x1 convolutions of 1,152 channels (EfficientNet's
squeeze-excite) the error grew to 5e-7 of the largest output (BLAS: 1e-7)."""


def supports(node: ir.Conv, layer: LayerReport) -> bool:
    """Whether ``DirectConvolution`` can compute this layer: ungrouped, 1-D or 2-D, stride 1."""
    return node.groups == 1 and layer.input.rank in (1, 2) and all(s == 1 for s in geometry(node, layer).stride)


def chosen(node: ir.Conv, layer: LayerReport) -> bool:
    """Whether the Numba backend runs this layer as a direct convolution: it can, and it is the faster way."""
    geo = geometry(node, layer)
    plane = geo.padded[0] if geo.rank == 1 else geo.output[0] * geo.padded[1]
    return (node.filters <= MAX_FILTERS and geo.taps * layer.input.channels <= MAX_WINDOW and plane >= MIN_PLANE
            and supports(node, layer))
