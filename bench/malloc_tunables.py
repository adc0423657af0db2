"""Training speed under glibc's malloc tunables: huge pages alone (what ``cnnc train`` sets), with one arena as
well, one arena alone, and malloc as it is.

    python bench/malloc_tunables.py [--backends numba,numpy] [--networks lenet5,cifar] [--threads 2]
                                    [--repeats 3]

Each (backend, network, tunables) is a serving process of ``bench/train_throughput.py`` (``--serve``: warm-up,
then an epoch of training steps at batch 64 per ``go``), started with its ``GLIBC_TUNABLES`` (a tunable is read
when a process starts); the processes take turns, repeat after repeat, in a new order each repeat. Printed:
images/s, best and median repeat, per backend and network, and each setting's best against huge pages
alone."""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

THROUGHPUT = Path(__file__).resolve().parent / "train_throughput.py"
SETTINGS = {
    "huge pages (cnnc train)": "glibc.malloc.hugetlb=1",
    "huge pages, one arena": "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1",
    "one arena": "glibc.malloc.arena_max=1",
    "malloc as it is": "",
}


def start(backend: str, network: str, threads: int, tunables: str) -> subprocess.Popen:
    steps = "30" if network == "lenet5" else "10"
    env = {**os.environ, "GLIBC_TUNABLES": tunables, "CNNC_TUNE_MALLOC": "0", "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen([sys.executable, str(THROUGHPUT), "--serve", f"cnnc-{backend}", "--network", network,
                                "--threads", str(threads), "--steps", steps], env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError(f"{backend} {network} with {tunables!r} did not start")
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="numba,numpy")
    parser.add_argument("--networks", default="lenet5,cifar")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    keys = [(backend, network, name) for backend in args.backends.split(",") for network in args.networks.split(",")
            for name in SETTINGS]
    processes = {key: start(key[0], key[1], args.threads, SETTINGS[key[2]]) for key in keys}
    found: dict[tuple, list[float]] = {key: [] for key in keys}
    order = random.Random(0)
    try:
        for _ in range(args.repeats):
            for key in order.sample(keys, len(keys)):
                process = processes[key]
                process.stdin.write("go\n")
                process.stdin.flush()
                found[key].append(float(process.stdout.readline()))
    finally:
        for process in processes.values():
            process.stdin.close()
            process.wait(timeout=60)
    print(f"{args.threads} threads, batch 64, {args.repeats} repeats; load average {os.getloadavg()[0]:.2f}; "
          "images/s, best (median)")
    for backend in args.backends.split(","):
        for network in args.networks.split(","):
            baseline = max(found[backend, network, next(iter(SETTINGS))])
            print(f"  {backend} {network}:")
            for name in SETTINGS:
                values = found[backend, network, name]
                print(f"    {name:<24} {max(values):8,.0f} ({statistics.median(values):,.0f})"
                      f"  {max(values) / baseline:.2f}x")


if __name__ == "__main__":
    main()
