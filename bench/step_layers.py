"""Where a training step's time goes, step by step: each lowered step's forward and backward pass.

    python bench/step_layers.py [--network cifar] [--backend numba] [--steps 10] [--repeats 5] [--apart]

One thread (BLAS too), batch 64, SGD with momentum, random data, the networks of ``bench/train_throughput.py``,
in a process with glibc's malloc tuned as ``cnnc train`` runs (``cnnc/malloc_tuning.py``: the script restarts
itself once with it). Each repeat trains ``--steps`` batches and sums the time of every step's ``forward`` and
``backward`` calls; printed per training step (ms), best and median repeat, with the optimizer's update and
the whole step's. ``--apart`` trains a second model beside the first, the two taking turns repeat after
repeat, whose Numba ``ReluPoolAfter`` steps (a convolution, its ReLU and a max pool of windows apart) are split
back into the ReLU step and the max pool: each fused step is printed against the sum of its two parts."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # read when numpy loads

sys.path.insert(0, str(Path(__file__).resolve().parent))


def restart_with_malloc_tuned() -> None:
    """Replace this process by itself with glibc's tunables, as ``cnnc train`` does, where they apply."""
    from cnnc import malloc_tuning

    env = malloc_tuning.this_machine(dict(os.environ))
    if env is not None:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


class Timed:
    """A model whose steps' ``forward`` and ``backward`` calls, and the optimizer's update, add their time to
    ``totals`` (seconds, by step name and pass)."""

    def __init__(self, name: str, backend: str, apart: bool) -> None:
        import cnnc
        from train_throughput import network

        self.net = network(name)
        self.model = self.net.compile(seed=0, backend=backend, threads=1)
        self.model.optimizer = cnnc.optim.SGD(lr=0.01, momentum=0.9)
        program = self.model.program
        root = program.root
        if apart:  # in the sequence training runs (``head``: without the softmax) and the whole one
            from cnnc.backends.numba.layers import ReluPoolAfter

            for sequence in {id(root): root, id(program.head): program.head}.values():
                sequence.steps = [part for step in sequence.steps for part in (
                    (step.relu_step, step.pool) if isinstance(step, ReluPoolAfter) else (step,))]
        self.totals: defaultdict[tuple[str, str], float] = defaultdict(float)
        for kernel in root.kernels():
            self._time(kernel, kernel.name, "forward")
            self._time(kernel, kernel.name, "backward")
        self._time(self.model.optimizer, "optimizer", "step")

    def _time(self, owner, name: str, method: str) -> None:
        call = getattr(owner, method)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            result = call(*args, **kwargs)
            self.totals[name, method] += time.perf_counter() - started
            return result
        setattr(owner, method, timed)

    def repeat(self, steps: int) -> dict[tuple[str, str], float]:
        """ms per training step of each step's pass (and ``("step", "whole")``) over ``steps`` batches."""
        import numpy as np

        from cnnc.training import Plan, Progress, train

        if not hasattr(self, "data"):
            rng = np.random.default_rng(0)
            dims = self.net.report.input.dims
            self.data = (rng.random((64 * steps, *dims), dtype=np.float32), rng.integers(0, 10, 64 * steps))
            self.progress = Progress()
        x, y = self.data
        self.totals.clear()
        started = time.perf_counter()
        train(self.model, x, y, Plan(epochs=self.progress.epoch + 1, batch_size=64), None, self.progress)
        whole = time.perf_counter() - started
        found = {key: value / steps * 1e3 for key, value in self.totals.items()}
        found["step", "whole"] = whole / steps * 1e3
        return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="cifar", choices=("lenet5", "cifar"))
    parser.add_argument("--backend", default="numba", choices=("numpy", "numba"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--apart", action="store_true", help="also time the fused pooling steps split apart")
    args = parser.parse_args()
    restart_with_malloc_tuned()
    from cnnc import blas_threads

    models = {"as lowered": Timed(args.network, args.backend, False)}
    if args.apart:
        models["apart"] = Timed(args.network, args.backend, True)
    runs: dict[str, list[dict]] = {label: [] for label in models}
    for model in models.values():
        model.repeat(args.steps)  # warm-up: compiled kernels, scratch buffers
    for _ in range(args.repeats):
        for label, model in models.items():
            runs[label].append(model.repeat(args.steps))
    print(f"{args.network} on {args.backend}, batch 64, 1 thread, {args.steps} steps x {args.repeats} repeats; "
          f"load average {os.getloadavg()[0]:.2f}; ms per training step, best (median)")
    print(blas_threads.kernels_report())
    for label, found in runs.items():
        print(f"  {label}:")
        for key in found[0]:
            values = [run[key] for run in found]
            print(f"    {key[0]:<12} {key[1]:<9} {min(values):8.2f} ({statistics.median(values):.2f})")
    if args.apart:
        compare(models["as lowered"], runs["as lowered"], runs["apart"])


def compare(fused: Timed, together: list[dict], apart: list[dict]) -> None:
    """Each fused pooling step's passes against the sum of its two parts' (best repeat of each)."""
    from cnnc.backends.numba.layers import ReluPoolAfter

    print("  fused pooling steps against their parts, best repeat:")
    for step in fused.model.program.root.steps:
        if not isinstance(step, ReluPoolAfter):
            continue
        for method in ("forward", "backward"):
            one = min(run[step.name, method] for run in together)
            two = min(run[step.name, method] + run[step.pool.name, method] for run in apart)
            print(f"    {step.name} + {step.pool.name} {method}: {one:.2f} fused, {two:.2f} apart")


if __name__ == "__main__":
    main()
