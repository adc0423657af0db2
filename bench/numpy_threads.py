"""What a second thread gives NumPy's elementwise passes on this machine: the ceiling of the NumPy backend's
shards ("Several threads" in docs/training.md), whose passes between matrix products are of these kinds.

    python bench/numpy_threads.py [--repeats 7]

For arrays of several sizes (float32), ``np.add(a, a, out=b)`` run many times by one thread, then by two
threads at once, each on arrays of its own: printed, the best and median of the repeats (the two kinds
alternate), and the speedup 2 x one thread's time / two threads' time (2.00x: two threads do twice the work in
the same time). The smallest size is what one pass of the NumPy backend's Winograd transforms covers on the
CIFAR net's 32x32x32 convolution (a chunk of one image: 16x16 tiles x 32 channels), a few microseconds of work
per call, between which the threads take turns on the GIL."""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # no BLAS here; its threads kept out of the way

import numpy as np  # noqa: E402

SIZES = {8_192: "a Winograd pass", 131_072: "512 KB", 4_194_304: "16 MB"}
VALUES_PER_RUN = 250_000_000
"""Values added per timed run of one thread, whatever the size (the call count follows)."""


def timed(task, threads: int) -> float:
    """Seconds for ``task(index)`` on ``threads`` threads started together (the caller runs index 0)."""
    others = [threading.Thread(target=task, args=(index,)) for index in range(1, threads)]
    started = time.perf_counter()
    for thread in others:
        thread.start()
    task(0)
    for thread in others:
        thread.join()
    return time.perf_counter() - started


def measure(size: int, repeats: int) -> tuple[list[float], list[float]]:
    calls = VALUES_PER_RUN // size
    sources = [np.ones(size, np.float32) for _ in range(2)]
    targets = [np.empty(size, np.float32) for _ in range(2)]

    def task(index: int) -> None:
        source, target = sources[index], targets[index]
        for _ in range(calls):
            np.add(source, source, out=target)

    timed(task, 2)  # warm-up: pages and caches
    one, two = [], []
    for _ in range(repeats):
        one.append(timed(task, 1))
        two.append(timed(task, 2))
    return one, two


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"numpy {np.__version__}; load average before the run {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"np.add over float32 arrays, {VALUES_PER_RUN:,} values a thread per run, {args.repeats} repeats")
    for size, meaning in SIZES.items():
        one, two = measure(size, args.repeats)
        print(f"  {size:>9,} values ({meaning}): one thread best {min(one) * 1e3:7.1f} ms, median "
              f"{statistics.median(one) * 1e3:7.1f}; two threads best {min(two) * 1e3:7.1f} ms, median "
              f"{statistics.median(two) * 1e3:7.1f}; speedup of the best {2 * min(one) / min(two):.2f}x, "
              f"of the median {2 * statistics.median(one) / statistics.median(two):.2f}x")


if __name__ == "__main__":
    main()
