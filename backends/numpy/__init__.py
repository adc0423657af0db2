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

    min_shard_macs = 10_000_000
    """The fewest multiply-accumulates a shard's forward pass gets when a batch is split between threads (both
    backends). Below, the batch runs whole with BLAS at one thread (``Model._whole_batch``): shards' Python
    between the kernels takes turns on the GIL, and their fixed cost outweighs half the work.
    ``OPENBLAS_NUM_THREADS=2 GLIBC_TUNABLES=glibc.malloc.hugetlb=1 python bench/shard_threshold.py``, training
    steps (the optimizer's update included), best of 15, the whole batch at one thread / 2 shards, two runs, MACs
    of a shard in brackets:

    - Numba, LeNet-5 (0.42M an example): 0.98x-1.03x at batch 32 (6.7M), 1.18x-1.23x at 64 (13.5M), 1.43x-1.53x
      at 128; the CIFAR net (26.6M): 1.33x at 4 (53M).
    - NumPy, LeNet-5: 0.79x-0.85x at 32, 1.07x-1.12x at 64, 1.58x-1.59x at 128; the CIFAR net 1.54x at 4.

    (An earlier version of that bench ran the whole batch with BLAS at two threads right before the shards, whose
    idle OpenBLAS threads then held the second core: it had 2 shards losing on LeNet-5 up to batch 256, and this
    floor at 100M.)"""

    min_process_shard_macs = 4_000_000
    """``min_shard_macs`` for a training step's shards run in worker processes (``cnnc.shard_processes``), which
    do not take turns on the GIL. ``OPENBLAS_NUM_THREADS=2 GLIBC_TUNABLES=glibc.malloc.hugetlb=1 python
    bench/shard_threshold.py --batches 16,24,32 --repeats 9`` (and ``--backend numpy``), LeNet-5, the whole batch
    at one thread / 2 shards, best of 9: Numba 1.06x at batch 16 (3.3M a shard), 1.22x at 24 (5.0M), 1.27x at
    32; NumPy 1.03x, 1.32x, 1.38x (in a run before, at batches 16 and 32: Numba 0.96x and 1.24x, NumPy 1.10x
    and 1.25x)."""

    compiled_updates = None
    """The optimizer's updates as compiled kernels (``cnnc.optim.Optimizer.step``'s ``compiled``): none here, the
    Numba backend's ``backends/numba/optim.py``."""

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
        rng = np.random.default_rng(seed) if draw else _Zeros(dtype)
        params: Params = {}
        buffers: Params = {}
        for kernel in self.root.kernels():  # _Zeros's arrays are new and of the dtype already: not copied
            params.update({k: v.astype(dtype, copy=draw) for k, v in kernel.init(rng).items()})
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
    """Stands in for the generator where weights are drawn (``init.weights``): zeros of the shape asked for, in
    the model's dtype. Loading a model for predict then skips the draws (64 of the 110 ms of ``cnnc predict``'s
    load of the CIFAR-size net of bench/train_throughput.py), and float64 zeros cast to float32: ``cnnc
    predict`` of one image of that net, in process, took 9.4-9.7 ms against 13.8-14.0 when they were cast
    (best of 20 calls, two alternated runs)."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype

    def normal(self, loc: float, scale: float, size: tuple[int, ...]) -> np.ndarray:
        return np.zeros(size, dtype=self.dtype)

    def uniform(self, low: float, high: float, size: tuple[int, ...]) -> np.ndarray:
        return np.zeros(size, dtype=self.dtype)
