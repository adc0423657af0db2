"""The NumPy backend: the IR lowered to forward/backward kernels on channels-last arrays."""

from __future__ import annotations

import numpy as np

from cnnc import ir
from cnnc.backends.numpy.kernel import Params, Pass, UnsupportedLayer
from cnnc.backends.numpy.fused import fuse_relus, relu_after
from cnnc.backends.numpy.program import Sequence, lower
from cnnc.report import Report

__all__ = ["Pass", "Program", "UnsupportedLayer"]


class Program:
    """A network lowered to NumPy kernels. It holds no weights: every call takes the parameters.
    ``logits=True`` stops before a final softmax (for the fused cross-entropy loss)."""

    min_shard_macs = 25_000_000
    """The fewest multiply-accumulates a shard's forward pass gets when a batch is split between threads: below
    that, NumPy's many short calls, with the GIL held between them, make two shards slower than one thread
    (``python bench/shard_threshold.py --backend numpy``, training steps, best of 7 at 2 threads: LeNet-5
    (0.42M MACs an example) 0.78x at batch 64, 1.01x at 128, 1.05x at 256; the CIFAR net (26.6M) 1.10-1.49x
    at batches 4 to 64)."""

    def __init__(self, network: ir.Network, report: Report) -> None:
        self.root: Sequence = self.lower(network, report)
        last = network.layers[-1] if network.layers else None
        self.ends_in_softmax = isinstance(last, ir.Activation) and last.function == "softmax"
        self.head = Sequence(self.root.steps[:-1]) if self.ends_in_softmax else self.root

    @staticmethod
    def lower(network: ir.Network, report: Report) -> Sequence:
        """The network as kernels, each conv/fc followed by a plain ReLU fused with it (another backend
        overrides this with its own)."""
        root = lower(network, report)
        fuse_relus(root, relu_after)
        return root

    def init(self, seed: int, dtype: np.dtype, draw: bool = True) -> tuple[Params, Params]:
        """Fresh parameters and buffers, the same for the same seed (drawn in float64, then cast);
        ``draw`` false: random weights are zeros instead, for a caller that loads the weights."""
        rng = np.random.default_rng(seed) if draw else _Zeros()
        params: Params = {}
        buffers: Params = {}
        for kernel in self.root.kernels():
            params.update({k: v.astype(dtype) for k, v in kernel.init(rng).items()})
            buffers.update({k: v.astype(dtype) for k, v in kernel.init_buffers().items()})
        return params, buffers

    def forward(self, x: np.ndarray, params: Params, run: Pass, logits: bool = False) -> tuple[np.ndarray, list]:
        return (self.head if logits else self.root).forward(x, params, run)

    def infer(self, x: np.ndarray, params: Params, run: Pass, logits: bool = False) -> np.ndarray:
        """The outputs of a pass that no backward pass follows (``run.for_backward`` false)."""
        return (self.head if logits else self.root).infer(x, params, run)

    def backward(self, dout: np.ndarray, caches: list, params: Params, need_dx: bool = False,
                 logits: bool = False) -> tuple[np.ndarray | None, Params]:
        grads: Params = {}
        dx = (self.head if logits else self.root).backward(dout, caches, params, need_dx, grads)
        return dx, grads


class _Zeros:
    """Stands in for the generator where weights are drawn (``init.weights``): zeros of the shape asked for.
    Loading a model for predict then skips the draws (64 of the 110 ms of ``cnnc predict``'s load of the
    CIFAR-size net of bench/train_throughput.py)."""

    def normal(self, loc: float, scale: float, size: tuple[int, ...]) -> np.ndarray:
        return np.zeros(size)

    def uniform(self, low: float, high: float, size: tuple[int, ...]) -> np.ndarray:
        return np.zeros(size)
