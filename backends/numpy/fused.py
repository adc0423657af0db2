"""A convolution or fully connected layer and the plain ReLU after it, run as one step (``ReluAfter``), and
the lowering pass that makes these pairs (``fuse_relus``).

Forward, the bias and the ReLU are applied in place on the layer's output: a convolution's chunk by chunk,
while each chunk's rows are in the cache, a dense layer's at once. Backward, one mask multiplies the output's
gradient and gives the bias's. The values are those of the two layers apart, bit for bit: the same additions
and maxima in the same order; what goes is one full-size array each way and two passes over memory."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnc.backends.numpy.conv import Convolution
from cnnc.backends.numpy.kernel import Kernel, Params, Pass, column_sums
from cnnc.backends.numpy.layers import Activation, Dense
from cnnc.backends.numpy.merges import AddBlock, MultiplyBlock
from cnnc.backends.numpy.program import ConcatBlock, ResidualBlock, Sequence


class ReluAfter(Kernel):
    """A convolution or fully connected layer and the ReLU that follows it, as one step. The parameters are
    the layer's own (``conv1.weight``, ``conv1.bias``): the ReLU has none. ``bias_relu`` and ``masked`` are
    the two elementwise passes (the Numba backend compiles them)."""

    def __init__(self, layer: Kernel, relu: Kernel) -> None:
        self.name = layer.name
        self.relu_name = relu.name
        self.layer = layer
        self.has_bias = layer.has_bias
        self.bias_key = layer.bias_key
        layer.has_bias = False  # the layer computes the product only; this step adds the bias
        self.features = layer.units if hasattr(layer, "units") else layer.filters

    def init(self, rng: np.random.Generator) -> Params:
        params = self.layer.init(rng)
        if self.has_bias:
            params[self.bias_key] = np.zeros(self.features)
        return params

    def init_buffers(self) -> Params:
        return self.layer.init_buffers()

    def bias_relu(self, rows: np.ndarray, bias: np.ndarray | None) -> None:
        """In place on ``rows`` (rows, F): max(rows + bias, 0)."""
        if bias is not None:
            rows += bias
        np.maximum(rows, 0, out=rows)

    def masked(self, dout: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(``dout`` where the ReLU's output is above 0, else 0; the bias's gradient or None), (rows, F) each.
        The gradient at 0 is 0, as PyTorch's (output <= 0)."""
        masked = dout * (out > 0)
        return masked, (column_sums(masked) if self.has_bias else None)

    def _epilogue(self, params: Params) -> Callable[[np.ndarray], None]:
        bias = params[self.bias_key] if self.has_bias else None
        return lambda rows: self.bias_relu(rows, bias)

    def forward(self, x: np.ndarray, params: Params, run: Pass) -> tuple[np.ndarray, object]:
        epilogue = self._epilogue(params)
        if isinstance(self.layer, Convolution):
            out, cache = self.layer.forward(x, params, run, epilogue)
        else:
            out, cache = self.layer.forward(x, params, run)
            out = np.ascontiguousarray(out)
            epilogue(out.reshape(-1, self.features))
        return out, ((cache, out) if run.for_backward else None)

    def infer(self, x: np.ndarray, params: Params, run: Pass) -> np.ndarray:
        """An ungrouped convolution chunk by chunk (``backends/numpy/inference.py``), the bias and the ReLU
        on each chunk while it is in the cache; another layer's whole output, then the same."""
        epilogue = self._epilogue(params)
        if isinstance(self.layer, Convolution) and self.layer.groups == 1:
            return self.layer.chunked_product(x, params[self.layer.weight_key], epilogue)
        out = np.ascontiguousarray(self.layer.infer(x, params, run))
        epilogue(out.reshape(-1, self.features))
        return out

    def backward(self, dout: np.ndarray, cache: object, params: Params,
                 need_dx: bool) -> tuple[np.ndarray | None, Params]:
        layer_cache, out = cache
        masked, dbias = self.masked(np.ascontiguousarray(dout).reshape(-1, self.features),
                                    out.reshape(-1, self.features))
        dx, grads = self.layer.backward(masked.reshape(out.shape), layer_cache, params, need_dx)
        if self.has_bias:
            grads[self.bias_key] = dbias
        return dx, grads


def is_relu(step: Kernel) -> bool:
    return isinstance(step, Activation) and step.node.function == "relu"


def fuse_relus(sequence: Sequence, fuse: Callable[[Kernel, Kernel], Kernel | None]) -> None:
    """In ``sequence`` and every block inside it, replace each step followed by a plain ReLU with
    ``fuse(step, relu)``, where that gives a kernel (None: the two stay apart)."""
    fuse_pairs(sequence, lambda step, following: fuse(step, following) if is_relu(following) else None)


def fuse_pairs(sequence: Sequence, fuse: Callable[[Kernel, Kernel], Kernel | None]) -> None:
    """In ``sequence`` and every block inside it, replace each step and the one after it with
    ``fuse(step, following)``, where that gives a kernel (None: the two stay apart); a fused step may fuse
    again with the next."""
    steps: list[Kernel] = []
    for step in sequence.steps:
        for inner in _sequences_in(step):
            fuse_pairs(inner, fuse)
        fused = fuse(steps[-1], step) if steps else None
        if fused is not None:
            steps[-1] = fused
        else:
            steps.append(step)
    sequence.steps = steps


def _sequences_in(step: Kernel) -> list[Sequence]:
    if isinstance(step, ResidualBlock):
        return [step.body, step.shortcut]
    if isinstance(step, (ConcatBlock, AddBlock, MultiplyBlock)):
        return list(step.branches)
    return []


def relu_after(step: Kernel, relu: Kernel) -> Kernel | None:
    """The NumPy backend's fusion: every convolution and fully connected layer with the ReLU after it."""
    return ReluAfter(step, relu) if isinstance(step, (Convolution, Dense)) else None
