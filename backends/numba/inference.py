"""The Numba backend when no backward pass follows (predict, evaluate): a convolution or fully connected
layer with its bias and ReLU applied to each chunk of rows as it is made."""

from __future__ import annotations

import numpy as np

from cnnc.backends.numba import kernels
from cnnc.backends.numpy.conv import Convolution
from cnnc.backends.numpy.kernel import Params, Pass


def relu_after(step, x: np.ndarray, params: Params, run: Pass) -> np.ndarray:
    """A Numba ``ReluAfter`` step's output: an ungrouped convolution chunk by chunk, the bias and the ReLU
    applied to each chunk while it is in the cache; another layer's whole output, then the same."""
    layer = step.layer
    bias = params[step.bias_key] if step.has_bias else np.empty(0, dtype=x.dtype)

    def bias_relu(rows: np.ndarray) -> None:
        kernels.bias_relu_forward(rows, bias, step.has_bias)
    if isinstance(layer, Convolution) and layer.groups == 1:
        return layer.chunked_product(x, params[layer.weight_key], bias_relu)
    out = np.ascontiguousarray(layer.infer(x, params, run))
    bias_relu(out.reshape(-1, step.features))
    return out

