"""Where splitting a batch across two threads starts to pay: LeNet-5's (or the CIFAR net's of
``bench/train_throughput.py``) training steps (forward, loss, backward, the optimizer's update as ``cnnc train``
deals it to threads) and predicts at several batch sizes, unsplit and split in two (``cnnc.shards``), in one
process.

    python bench/shard_threshold.py [--backend numba] [--network lenet5|cifar] [--batches 4,8,16,32,64]
                                    [--repeats 15] [--blas2]

Run with ``OPENBLAS_NUM_THREADS=2`` (the default on two cores). For each batch size, the configurations take
turns, repeat after repeat: ``1 thread`` (the whole batch, BLAS at one thread: what cnnc does below the floor,
``Program.min_shard_macs``, ``min_process_shard_macs``) and ``2 shards`` (two halves, BLAS at one thread each:
training steps in the calling thread and a worker process on Linux, ``cnnc/shard_processes.py``, predictions on
two threads). ``--blas2`` adds ``blas 2`` (the whole batch, BLAS at two threads), last in each turn:
OpenBLAS's idle threads keep a core busy for a while after a product on two threads, which slowed whatever
ran next on two threads (here, before ``blas 2`` went last: 2 shards of LeNet-5 at batch 64 on Numba took
7.6-8.3 ms a step, 5.0-5.4 in a process without it). Printed: milliseconds per step, best and median, and the
ratio of the best of ``1 thread`` to the best of ``2 shards`` (above 1: splitting pays)."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("numpy", "numba"), default="numba")
    parser.add_argument("--batches", default="4,8,16,32,64")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--mode", choices=("train", "predict"), default="train")
    parser.add_argument("--network", choices=("lenet5", "cifar"), default="lenet5")
    parser.add_argument("--blas2", action="store_true", help="also the whole batch with BLAS at two threads")
    args = parser.parse_args()
    import cnnc
    from cnnc import blas_threads, shards
    from cnnc.backends.numpy import Pass

    if not blas_threads.controllable():
        sys.exit("error: NumPy's BLAS is not a controllable OpenBLAS")
    shards.MIN_SHARD = 1
    sys.path.insert(0, str(ROOT / "bench"))
    from train_throughput import network as bench_network

    network = bench_network(args.network)
    models = {"1 thread": network.compile(backend=args.backend, threads=1),
              "2 shards": network.compile(backend=args.backend, threads=2)}
    if args.blas2:
        models["blas 2"] = network.compile(backend=args.backend, threads=1)
    program = models["2 shards"].program
    program.min_shard_macs = program.min_process_shard_macs = 0  # split at every batch size, to see where it pays
    for model in models.values():
        model.optimizer = cnnc.optim.SGD(lr=0.01, momentum=0.9)
    library = blas_threads.libraries()[0]
    print(f"{network.ir.name or args.network} {args.mode}, {args.backend} backend; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(blas_threads.kernels_report())
    for batch in map(int, args.batches.split(",")):
        rng = np.random.default_rng(0)
        x = rng.random((batch, *network.report.input.dims), dtype=np.float32)
        y = rng.integers(0, 10, batch)
        steps = max(2, 256 // batch)
        times: dict[str, list[float]] = {name: [] for name in models}

        def step(model) -> None:
            if args.mode == "train":
                grads = model.batch_loss(x, y, Pass(True), grads=True)[1]
                model.optimizer.step(model.params, grads, model.step_threads(batch))
            else:
                model.predict(x)
        for repeat in range(args.repeats + 1):
            for name, model in models.items():
                library.set(2 if name == "blas 2" else 1)
                started = time.perf_counter()
                for _ in range(steps):
                    step(model)
                if repeat:  # the first is a warm-up
                    times[name].append((time.perf_counter() - started) / steps * 1e3)
        library.set(2)
        cells = "  ".join(f"{name} {min(found):6.2f} ({statistics.median(found):6.2f})"
                          for name, found in times.items())
        print(f"batch {batch:4}: ms per step, best (median): {cells}   "
              f"1 thread / 2 shards {min(times['1 thread']) / min(times['2 shards']):.2f}x")


if __name__ == "__main__":
    main()
