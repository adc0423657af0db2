"""The Numba backend's kernels: max pooling with stored winners, compiled col2im, conv/fc fused with the ReLU
after it, and such a convolution fused with the max pooling after it."""

from __future__ import annotations

import numpy as np

from cnnc import ir
from cnnc.backends.numba import kernels
from cnnc.backends.numba.direct import DirectConvolution
from cnnc.backends.numba.winograd import Winograd
from cnnc.backends.numpy.conv import Convolution as NumpyConvolution
from cnnc.backends.numpy.fused import ReluAfter as NumpyReluAfter
from cnnc.backends.numpy.inference import max_pool
from cnnc.backends.numpy.kernel import Kernel, Params, Pass
from cnnc.backends.numpy.windows import Geometry, geometry
from cnnc.report import LayerReport


class MaxPool(Kernel):
    """1-D or 2-D max pooling, (N, *spatial, C) -> (N, *output, C), in one compiled pass that also
    records each output's winner (its tap in the window, one byte up to 255 taps), so that the
    backward pass is one scatter (the NumPy backend compares every tap again). Same semantics:
    padding never wins, the first equal tap does."""

    def __init__(self, node: ir.Pool, layer: LayerReport) -> None:
        self.name = node.name
        self.geo: Geometry = geometry(node, layer)
        one = self.geo.rank == 1
        self.input_2d = ((1,) if one else ()) + self.geo.input
        self.output_2d = ((1,) if one else ()) + self.geo.output
        self.kernel_2d = ((1,) if one else ()) + self.geo.kernel
        self.stride_2d = ((1,) if one else ()) + self.geo.stride
        self.pads_before = ((0,) if one else ()) + tuple(before for before, _ in self.geo.pads)
        self.winner_type = np.uint8 if self.geo.taps <= 255 else np.int32

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        x2 = np.ascontiguousarray(x).reshape(x.shape[0], *self.input_2d, x.shape[-1])
        out = np.empty((x.shape[0], *self.output_2d, x.shape[-1]), dtype=x.dtype)
        winners = np.empty(out.shape, dtype=self.winner_type)
        kernels.max_pool_forward(x2, out, winners, *self.kernel_2d, *self.stride_2d, *self.pads_before)
        out = out.reshape(x.shape[0], *self.geo.output, x.shape[-1])
        return out, ((x.shape, winners) if run.for_backward else None)

    def infer(self, x: np.ndarray, params: Params, run: Pass) -> np.ndarray:
        """The maxima alone, window rows first (``backends/numpy/inference.py``)."""
        return max_pool(self, x)

    @property
    def windows_apart(self) -> bool:
        """Whether no two windows share an input position (stride at least the kernel, no padding): each
        position then takes at most one window's gradient (``ReluPoolAfter``)."""
        return (all(stride >= kernel for stride, kernel in zip(self.stride_2d, self.kernel_2d))
                and not any(self.pads_before))

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        if not need_dx:
            return None, {}
        shape, winners = cache
        dx = np.zeros((shape[0], *self.input_2d, shape[-1]), dtype=dout.dtype)
        kernels.max_pool_backward(np.ascontiguousarray(dout).reshape(winners.shape), winners, dx,
                                  self.kernel_2d[1], *self.stride_2d, *self.pads_before)
        return dx.reshape(shape), {}


class Convolution(NumpyConvolution):
    """NumPy's convolution, whose input gradient by col2im (strides above 1, or more filters than
    channels) is, for an ungrouped 2-D convolution, one matmul and a compiled col2im, and whose Winograd
    path (chosen as NumPy's) has compiled tile transforms (``backends/numba/winograd.py``)."""

    winograd_class = Winograd

    def _input_gradient_by_col2im(self, dout2: np.ndarray, weight: np.ndarray,
                                  input_shape: tuple[int, ...]) -> np.ndarray:
        geo = self.geo
        if self.groups != 1 or geo.rank != 2:
            return super()._input_gradient_by_col2im(dout2, weight, input_shape)
        # every window's share of every tap in one matmul, (rows, taps * C): on LeNet-5's conv2 at batch 64,
        # 1 thread, 0.45 ms against 0.79 for one thin matmul of C columns per tap (best of 30, load 6)
        dcols = dout2 @ np.ascontiguousarray(weight.reshape(-1, self.filters).T)
        dx = np.zeros((input_shape[0], geo.input[0], geo.input[1] * self.channels), dtype=dcols.dtype)
        kernels.col2im_rows(dcols, dx, *geo.output, *geo.kernel, *geo.stride, *geo.dilation, geo.pads[0][0],
                            geo.pads[1][0])
        return dx.reshape(input_shape)


class ReluAfter(NumpyReluAfter):
    """NumPy's fused conv/fc and ReLU step (``backends/numpy/fused.py``) with both elementwise passes
    compiled: the bias and the ReLU in one pass forward, the mask and the bias's gradient (summed in
    float64) in one pass back."""

    def bias_relu(self, rows: np.ndarray, bias: np.ndarray | None) -> None:
        kernels.bias_relu_forward(rows, rows.reshape(-1)[:0] if bias is None else bias, bias is not None)

    def masked(self, dout: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        masked, dbias = kernels.bias_relu_backward(dout, out, self.has_bias)
        return masked, (dbias if self.has_bias else None)


class ReluPoolAfter(Kernel):
    """A convolution with its ReLU (``ReluAfter``, or a ``DirectConvolution`` that applies its ReLU) and the max
    pooling after it whose windows do not overlap (``MaxPool.windows_apart``: the CIFAR net's, VGG's and
    LeNet-5's 2x2 pools), as one step. Forward, the two as they are; backward, the pool's scatter, the ReLU's
    mask and the bias's sums in one compiled pass (``kernels.max_pool_relu_backward``) that writes the
    convolution's output gradient, where apart they take three (zeros, scatter, mask); a direct convolution
    sums its bias's gradient itself, as apart. The ReLU's output is not kept: the pooled maxima, which the next
    layer gets anyway (no kernel writes into its input), say where it was above 0. Values and parameters are
    those of the steps apart, bit for bit."""

    scattered_channels = 16
    """Channels up to which the backward pass zeroes the gradient and scatters the windows' into it
    (``kernels.max_pool_relu_backward_scattered``), above which it makes it position by position: 2x2 pools,
    float32, with the bias's sums, best of 5 (scratch timing): 0.38 against 0.93 ms on 64x28x28x6, 0.09 against
    0.30 on 64x10x10x16 (LeNet-5's conv2), 2.29 against 0.95 on 64x32x32x32, 1.10 against 0.42 on
    64x16x16x64."""

    def __init__(self, relu_step: ReluAfter | DirectConvolution, pool: MaxPool) -> None:
        self.name = relu_step.name
        self.relu_step = relu_step
        self.pool = pool
        self.direct = isinstance(relu_step, DirectConvolution)
        self.layer = relu_step if self.direct else relu_step.layer  # the convolution, as ``ReluAfter.layer``

    def init(self, rng: np.random.Generator) -> Params:
        return self.relu_step.init(rng)

    def init_buffers(self) -> Params:
        return self.relu_step.init_buffers()

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        out, cache = self.relu_step.forward(x, params, run)
        pooled, pool_cache = self.pool.forward(out, params, run)
        if not run.for_backward:
            return pooled, None
        layer_cache, _ = cache  # the ReLU's output goes (a direct convolution's cache: its input, its output)
        return pooled, (layer_cache, pooled, pool_cache[1], out.shape)

    def infer(self, x: np.ndarray, params: Params, run: Pass) -> np.ndarray:
        return self.pool.infer(self.relu_step.infer(x, params, run), params, run)

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        layer_cache, pooled, winners, shape = cache
        pool = self.pool
        has_bias = self.relu_step.has_bias and not self.direct
        masked = np.empty((shape[0], *pool.input_2d, shape[-1]), dtype=dout.dtype)
        dbias = np.zeros(shape[-1] if has_bias else 0)  # summed in float64
        arguments = (np.ascontiguousarray(dout).reshape(winners.shape), winners, pooled.reshape(winners.shape),
                     masked, dbias, has_bias)
        if shape[-1] <= self.scattered_channels:
            kernels.max_pool_relu_backward_scattered(*arguments, pool.kernel_2d[1], *pool.stride_2d)
        else:
            kernels.max_pool_relu_backward(*arguments, *pool.kernel_2d, *pool.stride_2d)
        if self.direct:
            return self.layer.backward_masked(masked, layer_cache, params, need_dx)
        dx, grads = self.layer.backward(masked.reshape(shape), layer_cache, params, need_dx)
        if has_bias:
            grads[self.relu_step.bias_key] = dbias.astype(dout.dtype)
        return dx, grads
