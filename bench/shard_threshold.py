"""Where splitting a batch across two threads starts to pay: LeNet-5's (or the CIFAR net's of
``bench/train_throughput.py``) training steps (forward, loss, backward) and predicts at several batch sizes,
unsplit and split in two (``cnnc.shards``), in one process.

    python bench/shard_threshold.py [--backend numba] [--network lenet5|cifar] [--batches 4,8,16,32,64]
                                    [--repeats 15]

Run with ``OPENBLAS_NUM_THREADS=2`` (the default on two cores). For each batch size, three configurations
take turns, repeat after repeat: ``1 thread`` (the whole batch, BLAS at one thread), ``blas 2`` (the whole
batch, BLAS at two threads: what cnnc did before it split batches) and ``2 shards`` (two halves on two
threads, BLAS at one thread each). Printed: milliseconds per step, best and median, and the ratio of the
best of ``1 thread`` to the best of ``2 shards`` (above 1: splitting pays)."""

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
    args = parser.parse_args()
    from cnnc import blas_threads, shards
    from cnnc.backends.numpy import Pass

    if not blas_threads.controllable():
        sys.exit("error: NumPy's BLAS is not a controllable OpenBLAS")
    shards.MIN_SHARD = 1
    sys.path.insert(0, str(ROOT / "bench"))
    from train_throughput import network as bench_network

    network = bench_network(args.network)
    models = {"1 thread": network.compile(backend=args.backend, threads=1),
              "blas 2": network.compile(backend=args.backend, threads=1),
              "2 shards": network.compile(backend=args.backend, threads=2)}
    models["2 shards"].program.min_shard_macs = 0  # split at every batch size, to see where it pays
    library = blas_threads.libraries()[0]
    print(f"{network.ir.name or args.network} {args.mode}, {args.backend} backend; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
          f"; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for batch in map(int, args.batches.split(",")):
        rng = np.random.default_rng(0)
        x = rng.random((batch, *network.report.input.dims), dtype=np.float32)
        y = rng.integers(0, 10, batch)
        steps = max(2, 256 // batch)
        times: dict[str, list[float]] = {name: [] for name in models}

        def step(model) -> None:
            if args.mode == "train":
                model.batch_loss(x, y, Pass(True), grads=True)
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
