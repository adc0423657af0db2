"""LeNet-5 trained on real MNIST by `cnnc train` on each backend, in the same run: the NumPy backend, the torch
backend, and the torch backend with two DDP workers, in float32 and float64, all from the same initial weights
in the same batch order with the spec's recipe (examples/lenet5.cnn: momentum SGD, 5 epochs of batch 64).
Prints each run's images/second, test accuracy, and how far its weights are from the NumPy backend's.

    python bench/train_mnist.py [--data ../shared/data/mnist] [--threads 1] [--epochs 5] [--seeds N]

The data are the 10,000 t10k digits: the first 8,000 train, the last 2,000 test. In float64 the backends take
the same steps (weights equal to ~1e-12), so they reach the same accuracy; in float32 each run's rounding is
amplified by this recipe (lr 0.05, momentum 0.9) into a different trajectory, as the NumPy backend's own
float32 and float64 runs show, and the final accuracies differ by what that difference gives."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = (("cnnc-numpy", "float32", ()), ("cnnc-torch", "float32", ("--backend", "torch")),
        ("cnnc-numpy", "float64", ()), ("cnnc-torch", "float64", ("--backend", "torch")),
        ("cnnc-torch --nproc 2", "float64", ("--backend", "torch", "--nproc", "2")),
        ("cnnc-torch --nproc 2", "float32", ("--backend", "torch", "--nproc", "2")))


@contextmanager
def silenced_output():
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for descriptor in (devnull, *saved):
            os.close(descriptor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--threads", type=int, default=1, help="threads of each process (a DDP worker: 1)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=0, help="then float32 runs of both backends from this "
                        "many seeds (0, 1, ...): the accuracies' spread")
    args = parser.parse_args()
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    os.environ["PYTHONWARNINGS"] = "ignore"
    import numpy as np
    import torch
    from rich.console import Console

    import cnnc
    from cnnc.cli import main as cnnc_main

    torch.set_num_threads(args.threads)
    spec = ROOT / "examples" / "lenet5.cnn"
    print(f"numpy {np.__version__}, torch {torch.__version__}, {args.threads} thread(s) a process; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; LeNet-5 on mnist:{args.data} (8,000 training and "
          f"2,000 test digits), {args.epochs} epochs of the spec's recipe, seed 0")
    folder = Path(tempfile.mkdtemp(prefix="cnnc-bench-"))
    reference: dict[str, dict[str, np.ndarray]] = {}
    for label, dtype, flags in RUNS:
        stem = f"{label.replace(' ', '').replace('-', '_')}_{dtype}"
        target, log = folder / f"{stem}.npz", folder / f"{stem}.jsonl"
        if "--nproc" in flags:
            os.environ["OMP_NUM_THREADS"] = "1"
        quiet = Console(file=io.StringIO())
        with silenced_output():  # the DDP workers' rank 0 prints to this process's stdout and stderr
            code = cnnc_main(["train", str(spec), "--data", f"mnist:{args.data}", "--dtype", dtype, "--epochs",
                              str(args.epochs), "--out", str(target), "--log", str(log), *flags], out=quiet,
                             err=quiet)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        if code != 0:
            print(f"  {label} {dtype}: exit {code}")
            continue
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        epochs = [line for line in lines if line["event"] == "epoch"]
        rate = sum(line["images"] for line in epochs) / sum(line["seconds"] for line in epochs)
        params = cnnc.load_model(target).params
        reference.setdefault(dtype, params)
        distance = max(float(np.abs(params[key] - reference[dtype][key]).max()) for key in params)
        print(f"  {label:<21} {dtype}  {rate:7,.0f} images/s  test accuracy {100 * lines[-1]['test_accuracy']:.2f}%  "
              f"largest weight difference from cnnc-numpy {dtype}: {distance:.2g}")
    if args.seeds:
        seeded(spec, args, folder, cnnc_main)


def seeded(spec: Path, args, folder: Path, cnnc_main) -> None:
    """float32 runs of both backends from seeds 0, 1, ...: each pair starts from the same weights."""
    import statistics

    from rich.console import Console

    print(f"float32, seeds 0 to {args.seeds - 1}: test accuracy after {args.epochs} epochs")
    for label, flags in (("cnnc-numpy", ()), ("cnnc-torch", ("--backend", "torch"))):
        scores = []
        for seed in range(args.seeds):
            log = folder / f"seed{seed}_{label}.jsonl"
            quiet = Console(file=io.StringIO())
            cnnc_main(["train", str(spec), "--data", f"mnist:{args.data}", "--seed", str(seed), "--epochs",
                       str(args.epochs), "--out", str(folder / "seeded.npz"), "--log", str(log), *flags],
                      out=quiet, err=quiet)
            scores.append(100 * json.loads(log.read_text().splitlines()[-1])["test_accuracy"])
        print(f"  {label:<11} mean {statistics.mean(scores):.2f}%  spread {statistics.stdev(scores):.2f}  "
              f"({', '.join(f'{score:.2f}' for score in scores)})")


if __name__ == "__main__":
    main()
