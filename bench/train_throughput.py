"""Training throughput of the NumPy backend against PyTorch CPU, in the same run and threads.

    python bench/train_throughput.py [--threads N] [--steps 30] [--repeats 5] [--profile]

Trains LeNet-5 (examples/lenet5.cnn, 28x28x1) and a CIFAR-size network (conv 32-32-pool-64-64-pool,
fc 512, fc 10 on 32x32x3, convs padded `same`) with batch 64, SGD with momentum and softmax
cross-entropy, on random data. Both frameworks start from the same weights: the torch model is the
exporter's, run channels-first as torch is meant to be run. The two alternate, repeat by repeat, so
both see the same machine load; the best repeat of each is printed (images/second), with the ratio.
``--threads`` sets numpy's BLAS threads (through the environment, before numpy loads) and torch's;
by default both use every core. ``--profile`` prints where the NumPy backend's time goes (cProfile,
by own time)."""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCH = 64
CIFAR = """
network cifar_convnet
input 32x32x3
conv 32 3x3 pad=same
relu
conv 32 3x3 pad=same
relu
maxpool 2
conv 64 3x3 pad=same
relu
conv 64 3x3 pad=same
relu
maxpool 2
fc 512
relu
fc 10
softmax
"""


def numpy_steps(model, x, y, steps: int) -> float:
    """Seconds for ``steps`` training steps (forward, backward, update) of the NumPy model."""
    import cnnc

    optimizer = cnnc.optim.SGD(lr=0.01, momentum=0.9)
    started = time.perf_counter()
    for _ in range(steps):
        _, grads = model.loss_and_grads(x, y)
        optimizer.step(model.params, grads)
    return time.perf_counter() - started


def torch_steps(module, x, y, steps: int) -> float:
    import torch

    optimizer = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)
    loss_function = torch.nn.CrossEntropyLoss()
    started = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss_function(module(x), y).backward()
        optimizer.step()
    return time.perf_counter() - started


def bench(name: str, network, steps: int, repeats: int, profile: bool) -> None:
    import numpy as np

    model = network.compile(seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, *network.report.input.dims), dtype=np.float32)
    y = rng.integers(0, network.report.output.channels, BATCH)
    numpy_steps(model, x, y, 3)  # warm-up
    torch_module = None
    try:
        import torch

        from cnnc.backends.torch_export import to_torch
        torch_module = to_torch(model).body[:-1].train()  # channels-first, logits: the loss holds the softmax
        tx = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
        ty = torch.from_numpy(y)
        torch_steps(torch_module, tx, ty, 3)
    except ImportError:
        print("  (torch is not installed: numpy only)")
    results: dict[str, list[float]] = {"cnnc-numpy": [], "pytorch": []}
    for _ in range(repeats):
        results["cnnc-numpy"].append(BATCH * steps / numpy_steps(model, x, y, steps))
        if torch_module is not None:
            results["pytorch"].append(BATCH * steps / torch_steps(torch_module, tx, ty, steps))
    best = {key: max(values) for key, values in results.items() if values}
    print(f"{name}: batch {BATCH}, {steps} steps x {repeats} repeats (best repeat)")
    for key, value in best.items():
        print(f"  {key:<11} {value:10,.0f} images/s")
    if "pytorch" in best:
        print(f"  ratio       {best['cnnc-numpy'] / best['pytorch']:10.2f}x PyTorch CPU")
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(numpy_steps, model, x, y, steps)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
        lines = [line.strip() for line in out.getvalue().splitlines() if line.strip()]
        total = next(line for line in lines if "function calls" in line)
        table = lines[next(i for i, line in enumerate(lines) if line.startswith("ncalls")):]
        print(f"  profile of {steps} numpy steps: {total}")
        print("\n".join("    " + line for line in table))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary of the numpy runs")
    args = parser.parse_args()
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)  # read by the BLAS when numpy loads, just below
    import numpy as np

    import cnnc
    try:
        import torch
        torch.set_num_threads(args.threads)
        print(f"numpy {np.__version__}, torch {torch.__version__}: {args.threads} threads each")
    except ImportError:
        print(f"numpy {np.__version__}: {args.threads} BLAS threads")
    print(f"load average before the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    bench("LeNet-5 28x28x1", cnnc.load(ROOT / "examples" / "lenet5.cnn"), args.steps, args.repeats, args.profile)
    bench("CIFAR convnet 32x32x3", cnnc.loads(CIFAR), max(args.steps // 3, 5), args.repeats, args.profile)


if __name__ == "__main__":
    main()
