"""Inference throughput of cnnc's backends against PyTorch CPU: every ratio in one run, at 1 and 2 threads.

    python bench/predict_throughput.py [--seconds 1] [--repeats 5] [--threads 1,2] [--networks lenet5,cifar,resnet18]
        [--profile]

Predicts with LeNet-5 (28x28x1) and the CIFAR-size network of ``bench/train_throughput.py`` (32x32x3) at
batch 1 and batch 256, and ResNet-18 (examples/resnet18.cnn, 224x224x3) at batch 1, from the same weights
(float32, random inputs), as:

- ``cnnc-numpy`` and ``cnnc-numba``: ``Model.predict(x)`` on the NumPy and the Numba backend (channels-last
  input; the Numba kernels are serial, the thread count is BLAS's);
- ``pytorch``: the exporter's module (``cnnc.export.to_torch``), ``eval()``, under ``torch.inference_mode()``,
  on a channels-first tensor made once;
- the command, ``cnnc predict MODEL.npz X.npy --format json`` run in process (``cnnc.cli.main``: opening the
  model, reading the inputs, the statistics check, predicting, writing JSON to a null device) on each backend,
  against ``pytorch-command``: what a PyTorch user's script does for the same answer in process (the
  state dict loaded from a ``.pt`` file into a module, the ``.npy`` read, the forward pass, the top 3). The
  interpreter's start and the imports are not counted on either side.

Each configuration is a process of its own (BLAS and torch threads are fixed when it starts), warmed up once
(numba's kernels load from its cache), then the configurations take turns, repeat after repeat, so that all
see the same machine load, in a new order each repeat (``train_throughput.turns``), each run after a pause
(``train_throughput.settle``). A repeat runs calls for about ``--seconds`` (the count fixed in the warm-up).
Printed: images/second, best and median repeat, and the ratios of the best and of the median. ``--profile``
adds where the Numba backend's predict time goes (cProfile, by own time)."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import ROOT, print_profile, settle, turns  # noqa: E402
from train_throughput import network as small_network  # noqa: E402

VARIANTS = ("cnnc-numpy", "cnnc-numba", "pytorch", "cnnc-numpy-command", "cnnc-numba-command", "pytorch-command")
RATIOS = (("cnnc-numba / pytorch", "cnnc-numba", "pytorch"), ("cnnc-numpy / pytorch", "cnnc-numpy", "pytorch"),
          ("numba command / pytorch", "cnnc-numba-command", "pytorch-command"),
          ("numpy command / pytorch", "cnnc-numpy-command", "pytorch-command"))
NETWORKS = {"lenet5": ("LeNet-5 28x28x1", (1, 256)), "cifar": ("CIFAR convnet 32x32x3", (1, 256)),
            "resnet18": ("ResNet-18 224x224x3", (1,))}


def network(name: str):
    import cnnc

    return cnnc.load(ROOT / "examples" / "resnet18.cnn") if name == "resnet18" else small_network(name)


def serve(variant: str, name: str, threads: int, seconds: float, folder: str) -> None:
    """One configuration: for each batch size, a warm-up that fixes the number of calls a repeat makes; then
    ``ready``, and for each ``go BATCH`` on stdin, that many calls and the images/second."""
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[variable] = str(threads)  # read by the BLAS when numpy loads, just below
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    net = network(name)
    backend = "numba" if variant.startswith("cnnc-numba") else "numpy"
    model = net.compile(seed=0, backend=backend)
    calls = {}
    for batch in NETWORKS[name][1]:
        x = np.random.default_rng(batch).random((batch, *net.report.input.dims), dtype=np.float32)
        call = _caller(variant, model, x, Path(folder) / f"{name}-{batch}-{variant}-{threads}")
        call()
        started, count = time.perf_counter(), 0
        while time.perf_counter() - started < seconds / 4 or count < 2:
            call()
            count += 1
        per_call = (time.perf_counter() - started) / count
        calls[batch] = (call, max(2, round(seconds / per_call)))
    print("ready", flush=True)
    for line in sys.stdin:
        call, count = calls[int(line.split()[1])]
        started = time.perf_counter()
        for _ in range(count):
            call()
        print(f"{int(line.split()[1]) * count / (time.perf_counter() - started):.1f}", flush=True)


def _caller(variant: str, model, x, stem: Path):
    """What one call of ``variant`` does on the batch ``x``."""
    import numpy as np

    if variant in ("cnnc-numpy", "cnnc-numba"):
        return lambda: model.predict(x)
    import torch
    from cnnc.export import to_torch

    module = to_torch(model).eval()
    if variant == "pytorch":
        tx = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))

        def forward() -> None:
            with torch.inference_mode():
                module(tx)
        return forward
    np.save(f"{stem}.npy", x)
    if variant == "pytorch-command":
        np.save(f"{stem}-nchw.npy", np.ascontiguousarray(np.moveaxis(x, -1, 1)))
        torch.save(module.state_dict(), f"{stem}.pt")

        def script() -> None:
            module.load_state_dict(torch.load(f"{stem}.pt", weights_only=True))
            with torch.inference_mode():
                module(torch.from_numpy(np.load(f"{stem}-nchw.npy"))).topk(3)
        return script
    from rich.console import Console

    from cnnc.cli import main

    model.save(f"{stem}.npz")
    backend = "numba" if variant.startswith("cnnc-numba") else "numpy"
    null = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    argv = ["predict", f"{stem}.npz", f"{stem}.npy", "--format", "json", "--backend", backend]

    def command() -> None:
        if main(argv, out=Console(file=null), err=Console(file=null)) != 0:
            raise RuntimeError("cnnc predict failed")
    return command


class Configuration:
    """A serving process."""

    def __init__(self, variant: str, name: str, threads: int, seconds: float, folder: str) -> None:
        self.variant, self.threads = variant, threads
        command = [sys.executable, __file__, "--serve", variant, "--network", name, "--threads", str(threads),
                   "--seconds", str(seconds), "--folder", folder]
        self.process = subprocess.Popen(command, env={**os.environ, "PYTHONWARNINGS": "ignore"},
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.results: dict[int, list[float]] = {}

    def ready(self) -> None:
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{self.variant} at {self.threads} threads did not start")

    def run(self, batch: int) -> None:
        settle()
        self.process.stdin.write(f"go {batch}\n")
        self.process.stdin.flush()
        self.results.setdefault(batch, []).append(float(self.process.stdout.readline()))

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def bench(name: str, thread_counts: list[int], seconds: float, repeats: int) -> None:
    title, batches = NETWORKS[name]
    with tempfile.TemporaryDirectory() as folder:
        configurations = [Configuration(variant, name, threads, seconds, folder)
                          for threads in thread_counts for variant in VARIANTS]
        for configuration in configurations:
            configuration.ready()
        for order in turns(configurations, repeats):
            for batch in batches:
                for configuration in order:
                    configuration.run(batch)
        for configuration in configurations:
            configuration.close()
    for batch in batches:
        print(f"{title}: batch {batch}, {repeats} repeats of about {seconds:g} s, images/s")
        for threads in thread_counts:
            found = {c.variant: c.results[batch] for c in configurations if c.threads == threads}
            best = {variant: max(values) for variant, values in found.items()}
            median = {variant: statistics.median(values) for variant, values in found.items()}
            plural = "s" if threads > 1 else " "
            for variant in found:
                print(f"  {threads} thread{plural}  {variant:<20} best {best[variant]:9,.1f}   "
                      f"median {median[variant]:9,.1f}")
            for kind, values in (("best", best), ("median", median)):
                shown = [f"{label} {values[a] / values[b]:.2f}x" for label, a, b in RATIOS]
                print(f"  {threads} thread{plural}  ratios of the {kind}: " + ", ".join(shown))


def profile(name: str, batch: int, seconds: float) -> None:
    """Where the Numba backend's predict time goes, in this process (default threads)."""
    import numpy as np

    net = network(name)
    model = net.compile(seed=0, backend="numba")
    x = np.random.default_rng(0).random((batch, *net.report.input.dims), dtype=np.float32)
    model.predict(x)
    started, count = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        model.predict(x)
        count += 1
    print_profile(lambda: [model.predict(x) for _ in range(count)],
                  f"profile of {count} numba predicts of batch {batch} on {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="thread counts to compare, comma-separated")
    parser.add_argument("--seconds", type=float, default=1.0, help="about how long one configuration's repeat runs")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--networks", default=",".join(NETWORKS), help="lenet5, cifar, resnet18 (comma-separated)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary of numba's predicts")
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--network", choices=tuple(NETWORKS), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.network, int(args.threads), args.seconds, args.folder)
        return
    import numpy as np
    import torch

    from cnnc import blas_threads

    thread_counts = [int(part) for part in args.threads.split(",")]
    print(f"numpy {np.__version__}, torch {torch.__version__}; load average before the run "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(blas_threads.kernels_report())
    for name in args.networks.split(","):
        bench(name, thread_counts, args.seconds, args.repeats)
    if args.profile:
        for name, batch in (("lenet5", 1), ("lenet5", 256), ("cifar", 256)):
            profile(name, batch, args.seconds)


if __name__ == "__main__":
    main()
