"""Training throughput of cnnc's backends against PyTorch CPU: every ratio in one run, at 1 and 2 threads.

    python bench/train_throughput.py [--steps 30] [--repeats 5] [--threads 1,2] [--networks lenet5,cifar]
                                     [--memory-only | --throughput-only] [--profile]

Trains LeNet-5 (examples/lenet5.cnn, 28x28x1) and a CIFAR-size network (conv 32-32-pool-64-64-pool,
fc 512, fc 10 on 32x32x3, convs padded `same`) with batch 64, SGD with momentum and softmax
cross-entropy, on random data, from the same initial weights, as:

- ``cnnc-numpy``: ``cnnc train``'s loop on the NumPy backend;
- ``cnnc-numba``: the same loop on the Numba backend (``--backend numba``; its kernels are serial: the
  thread count is BLAS's), after a warm-up that loads its compiled kernels from numba's cache;
- ``cnnc-torch``: ``cnnc train --backend torch``'s loop (cnnc's batches, checks and optimizer, torch's arithmetic);
- ``pytorch``: a plain PyTorch loop (``torch.optim.SGD``, ``CrossEntropyLoss``) on the exporter's module;
- ``cnnc-torch --nproc 2``: two gloo DDP workers of one thread each, each running half of every batch of 64
  (shown with the 2-thread runs: the same two cores).

Each configuration is a process of its own (BLAS and torch threads are fixed when it starts), warmed up once,
then the configurations take turns, repeat after repeat, so that all see the same machine load, in a new
order each repeat (seeded), so that none always runs right after the same one (a rotation kept each one's
predecessor: the Numba backend's 2-thread runs always followed the NumPy backend's), each run after a pause
of ``SETTLE_SECONDS`` (the one before may leave BLAS threads spinning). Printed:
images/second, best and median repeat, and the ratios; first, what numba's compilation costs the first
run in a fresh cache and a run that finds the cache (one LeNet-5 and one CIFAR step each); before that,
the peak memory of training the CIFAR net at batch 256 on each backend and PyTorch at each thread count
(``memory_probe``).
``--profile`` adds where the NumPy backend's time goes (cProfile, by own time)."""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import subprocess
import sys
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
NETWORKS = {"LeNet-5 28x28x1": "lenet5", "CIFAR convnet 32x32x3": "cifar"}
VARIANTS = ("cnnc-numpy", "cnnc-numba", "cnnc-torch", "pytorch")
CNNC_ONLY = ("cnnc-numpy", "cnnc-numba")
"""Variants whose processes do not import torch, as ``cnnc train`` does not: in a process that had imported it,
the NumPy backend's CIFAR steps ran faster in some runs (252-289 against 315-411 ms in alternated runs of one
script), which the figures of ``cnnc train`` would not show."""
DDP = "cnnc-torch --nproc 2"


def network(name: str):
    import cnnc

    return cnnc.load(ROOT / "examples" / "lenet5.cnn") if name == "lenet5" else cnnc.loads(CIFAR)


def serve(variant: str, name: str, threads: int, steps: int) -> None:
    """One configuration: warm up, say ``ready``, then for each ``go`` on stdin train ``steps`` batches
    of 64 and print images/second. The second DDP worker follows rank 0 through the process group."""
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[variable] = str(threads)  # read by the BLAS when numpy loads, just below
    import numpy as np

    import cnnc
    from cnnc.training import Plan, Progress, train

    if variant not in CNNC_ONLY:  # cnnc's own backends run as `cnnc train` does, without torch in the process
        import torch

        torch.set_num_threads(threads)
    net = network(name)
    model = net.compile(seed=0, backend="numba" if variant == "cnnc-numba" else "numpy")
    rng = np.random.default_rng(0)
    x = rng.random((BATCH * steps, *net.report.input.dims), dtype=np.float32)
    y = rng.integers(0, net.report.output.channels, BATCH * steps)
    progress = Progress()
    world = None
    if variant == "pytorch":
        step = _pytorch(model, x, y)
    else:
        if variant not in ("cnnc-numpy", "cnnc-numba"):
            from cnnc.backends.torch_train.loop import train as torch_train
            from cnnc.backends.torch_train.trainer import TorchTrainer
            from cnnc.backends.torch_train.world import join

            world = join("cpu")
            model.optimizer = cnnc.optim.SGD(lr=0.01, momentum=0.9)
            trainer = TorchTrainer(model, world)
        else:
            model.optimizer = cnnc.optim.SGD(lr=0.01, momentum=0.9)

        def step() -> None:
            plan = Plan(epochs=progress.epoch + 1, batch_size=BATCH)
            if world is None:
                train(model, x, y, plan, None, progress)
            else:
                torch_train(trainer, x, y, plan, None, progress)

    lead = variant != DDP or int(os.environ["RANK"]) == 0
    step()  # warm-up: one epoch of ``steps`` batches
    if lead:
        print("ready", flush=True)
    while True:
        go = sys.stdin.readline().strip() == "go" if lead else False
        if (world.agree(go) if variant == DDP else go) is False:
            if world is not None:
                world.close()
            return
        started = time.perf_counter()
        step()
        if lead:
            print(f"{BATCH * steps / (time.perf_counter() - started):.1f}", flush=True)


MEMORY_BATCH = 256
MEMORY_VARIANTS = ("cnnc-numpy", "cnnc-numba", "pytorch")


def memory_probe(variant: str, threads: int) -> None:
    """Print the peak resident memory of 3 CIFAR training steps at batch 256 beyond what the process
    held before them, in MB. Before that point: the imports, the model, the data, and one step on 2
    images (which loads numba's cached kernels, or has torch set up its own kernels: code, not memory
    that grows with the batch); on several threads a step on 32 images, which splits, so that cnnc's
    worker processes (``cnnc/shard_processes.py``) exist: each one's growth is added (its peak beyond its
    resident memory before the 3 steps, most of which it shares with this process; their arenas hold the
    batch's shards). Resident memory (Linux ``VmHWM`` - ``VmRSS``) counts every allocation alike, NumPy's and
    torch's allocator's; tracemalloc would see NumPy's only."""
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[variable] = str(threads)
    import numpy as np

    import cnnc
    from cnnc.training import Plan, Progress, train

    if variant not in CNNC_ONLY:
        import torch

        torch.set_num_threads(threads)
    net = network("cifar")
    model = net.compile(seed=0, backend="numba" if variant == "cnnc-numba" else "numpy")
    rng = np.random.default_rng(0)
    x = rng.random((MEMORY_BATCH * 3, *net.report.input.dims), dtype=np.float32)
    y = rng.integers(0, 10, MEMORY_BATCH * 3)
    first = 2 if threads == 1 else 32
    if variant == "pytorch":
        step = _pytorch(model, x[:first], y[:first], first)
        step()
        step = _pytorch(model, x, y, MEMORY_BATCH)
    else:
        model.optimizer = cnnc.optim.SGD(lr=0.01, momentum=0.9)
        train(model, x[:first], y[:first], Plan(epochs=1, batch_size=first))

        def step() -> None:
            train(model, x, y, Plan(epochs=1, batch_size=MEMORY_BATCH), None, Progress())
    processes = model._workers.processes
    workers = [worker.pid for worker in processes.workers] if processes is not None else []
    before = {pid: _status_kb("VmRSS", pid) for pid in ["self", *workers]}
    for pid in before:
        _reset_peak(pid)
    step()
    print(f"{sum(_status_kb('VmHWM', pid) - held for pid, held in before.items()) / 1024:.1f}")


def _status_kb(field: str, pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def _reset_peak(pid: int | str = "self") -> None:
    """Make a process's VmHWM start again from its current resident size (Linux 4.0+: write 5 to clear_refs)."""
    with open(f"/proc/{pid}/clear_refs", "w") as clear:
        clear.write("5")


def environment(variant: str) -> dict[str, str]:
    """A variant's process environment: cnnc's as ``cnnc train`` restarts itself, with glibc's malloc tunables
    where they apply (``cnnc/malloc_tuning.py``; ``CNNC_TUNE_MALLOC=0`` runs them without), PyTorch's plain
    loop as PyTorch runs by default."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if variant != "pytorch":
        from cnnc import malloc_tuning

        env = malloc_tuning.this_machine(env) or env
    return env


def memory(thread_counts: list[int]) -> None:
    """Each variant's peak training memory in a process of its own, and the ratios to PyTorch's."""
    for threads in thread_counts:
        found = {}
        for variant in MEMORY_VARIANTS:
            command = [sys.executable, __file__, "--memory-probe", variant, "--threads", str(threads)]
            found[variant] = float(subprocess.run(command, env=environment(variant), capture_output=True, text=True,
                                                  check=True).stdout.split()[-1])
        print(f"CIFAR convnet, batch {MEMORY_BATCH}, {threads} thread{'s' if threads > 1 else ''}: peak resident "
              f"memory of 3 training steps beyond the process's before them (imports, model, data, a "
              f"{2 if threads == 1 else 32}-image step), worker processes included, MB")
        print("  " + ", ".join(f"{variant} {value:,.0f}" for variant, value in found.items()))
        print("  ratios: " + ", ".join(f"{variant} / pytorch {found[variant] / found['pytorch']:.2f}x"
                                       for variant in MEMORY_VARIANTS if variant != "pytorch"))


def _pytorch(model, x, y, batch: int = BATCH):
    """A plain PyTorch loop on the exporter's module (channels-first, logits for CrossEntropyLoss)."""
    import numpy as np
    import torch
    from cnnc.backends.torch_export import to_torch

    module = to_torch(model).body[:-1].train()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)
    loss_function = torch.nn.CrossEntropyLoss()
    tx = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
    ty = torch.from_numpy(y)

    def step() -> None:
        for start in range(0, len(tx), batch):
            optimizer.zero_grad(set_to_none=True)
            loss_function(module(tx[start:start + batch]), ty[start:start + batch]).backward()
            optimizer.step()
    return step


class Configuration:
    """A serving process (two for DDP, rank 0 answering)."""

    def __init__(self, variant: str, name: str, threads: int, steps: int) -> None:
        self.variant, self.threads = variant, threads
        own = 1 if variant == DDP else threads  # each DDP worker has one of the two cores
        command = [sys.executable, __file__, "--serve", variant, "--network", name, "--threads", str(own),
                   "--steps", str(steps)]
        env = environment(variant)
        self.processes = []
        if variant == DDP:
            from cnnc.backends.torch_train.launcher import free_port, worker_environment

            port = free_port()
            for rank in range(2):
                self.processes.append(subprocess.Popen(
                    command, env={**worker_environment(rank, 2, port), **env},
                    stdin=subprocess.PIPE if rank == 0 else subprocess.DEVNULL,
                    stdout=subprocess.PIPE if rank == 0 else subprocess.DEVNULL, text=True))
        else:
            self.processes.append(subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                   text=True))
        self.results: list[float] = []
        self.dead = False

    def ready(self) -> None:
        line = self.processes[0].stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"{self.variant} at {self.threads} threads did not start")

    def run(self) -> None:
        """One timed repeat; a configuration whose process died (a DDP worker lost on a loaded machine)
        is left out of the rest of the run, with a note on stderr, and the others go on."""
        if self.dead:
            return
        lead = self.processes[0]
        settle()
        try:
            lead.stdin.write("go\n")
            lead.stdin.flush()
            self.results.append(float(lead.stdout.readline()))
        except (OSError, ValueError):
            self.dead = True
            print(f"{self.variant} at {self.threads} threads stopped; left out", file=sys.stderr, flush=True)

    def close(self) -> None:
        for process in self.processes:
            if self.dead:
                process.kill()
            else:
                process.stdin and process.stdin.close()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:  # a loaded machine: the figures are in already
                process.kill()


SETTLE_SECONDS = 0.5
"""The pause before each timed run: a process that has just run BLAS products on two threads leaves OpenBLAS's
threads spinning on the second core for a while. A scratch probe of ``bench/predict_throughput.py``'s serving
processes (CIFAR net, batch 1, 2 threads, three repeats): cnnc-numba printed 1,089-1,133 images/s alone, 618-621
right after a cnnc-numpy run, 815-1,152 half a second after it."""


def settle() -> None:
    """Wait ``SETTLE_SECONDS``, so that the run about to start does not share a core with the one before."""
    time.sleep(SETTLE_SECONDS)


def turns(configurations: list, repeats: int):
    """The configurations in a new order for each repeat (a seeded shuffle): none always runs right after the
    same one, as it would in a rotation, where the state a run leaves behind would favour or handicap the next."""
    shuffle = random.Random(0)
    for _ in range(repeats):
        yield shuffle.sample(configurations, len(configurations))


def bench(title: str, name: str, thread_counts: list[int], steps: int, repeats: int) -> None:
    configurations = [Configuration(variant, name, threads, steps) for threads in thread_counts
                      for variant in VARIANTS]
    if 2 in thread_counts:
        configurations.append(Configuration(DDP, name, 2, steps))
    for configuration in configurations:
        configuration.ready()
    for order in turns(configurations, repeats):
        for configuration in order:
            configuration.run()
    for configuration in configurations:
        configuration.close()
    print(f"{title}: batch {BATCH}, {steps} steps x {repeats} repeats, images/s")
    for threads in thread_counts:
        found = {c.variant: c.results for c in configurations if c.threads == threads and c.results}
        best = {variant: max(values) for variant, values in found.items()}
        median = {variant: statistics.median(values) for variant, values in found.items()}
        for variant in found:
            label = f"{variant} (2 x 1 thread)" if variant == DDP else variant
            print(f"  {threads} thread{'s' if threads > 1 else ' '}  {label:<36} best {best[variant]:8,.0f}   "
                  f"median {median[variant]:8,.0f}")
        ratios = [("cnnc-numba / pytorch", "cnnc-numba", "pytorch"),
                  ("cnnc-torch / pytorch", "cnnc-torch", "pytorch"),
                  ("cnnc-numpy / pytorch", "cnnc-numpy", "pytorch"),
                  ("cnnc-torch / cnnc-numpy", "cnnc-torch", "cnnc-numpy"),
                  ("--nproc 2 / cnnc-torch", DDP, "cnnc-torch")]
        for kind, values in (("best", best), ("median", median)):
            shown = [f"{label} {values[a] / values[b]:.2f}x" for label, a, b in ratios if a in values and b in values]
            print(f"  {threads} thread{'s' if threads > 1 else ' '}  ratios of the {kind}: " + ", ".join(shown))


JIT_PROBE = """
import sys, time
started = time.perf_counter()
import numpy as np
import cnnc
sys.path.insert(0, {bench!r})
from train_throughput import network
for name in ("lenet5", "cifar"):
    net = network(name)
    model = net.compile(seed=0, backend="numba")
    x = np.random.default_rng(0).random((64, *net.report.input.dims), dtype=np.float32)
    y = np.random.default_rng(1).integers(0, 10, 64)
    model.loss_and_grads(x, y)
first = time.perf_counter() - started
started = time.perf_counter()
for name in ("lenet5", "cifar"):
    net = network(name)
    model = net.compile(seed=0, backend="numba")
    x = np.random.default_rng(0).random((64, *net.report.input.dims), dtype=np.float32)
    model.loss_and_grads(x, np.random.default_rng(1).integers(0, 10, 64))
print(f"{{first:.2f}} {{time.perf_counter() - started:.2f}}")
"""


def jit_cost() -> None:
    """Seconds to the first LeNet-5 and CIFAR step on the Numba backend: with an empty cache (compiling),
    then in a new process that finds the cache; each minus the same steps run again in that process."""
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONWARNINGS": "ignore"}
        command = [sys.executable, "-c", JIT_PROBE.format(bench=str(Path(__file__).parent))]
        fresh, cached = (subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.split()
                         for _ in range(2))
    print(f"numba: first LeNet-5 + CIFAR step {float(fresh[0]) - float(fresh[1]):.2f} s more than the next "
          f"(compiling, empty cache); {float(cached[0]) - float(cached[1]):.2f} s more with the cache "
          f"(imports, loading the kernels)")


def profile(steps: int) -> None:
    """Where the NumPy backend's time goes on LeNet-5, in this process (default threads)."""
    import numpy as np

    import cnnc

    model = network("lenet5").compile(seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    optimizer = cnnc.optim.SGD(lr=0.01, momentum=0.9)

    def numpy_steps() -> None:
        for _ in range(steps):
            _, grads = model.loss_and_grads(x, y)
            optimizer.step(model.params, grads)
    print_profile(numpy_steps, f"profile of {steps} numpy steps on LeNet-5")


def print_profile(work, heading: str) -> None:
    """Run ``work()`` under cProfile and print ``heading``, the call count and the 12 functions of most own time."""
    profiler = cProfile.Profile()
    profiler.runcall(work)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    lines = [line.strip() for line in out.getvalue().splitlines() if line.strip()]
    total = next(line for line in lines if "function calls" in line)
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("ncalls")):]
    print(f"{heading}: {total}")
    print("\n".join("    " + line for line in table))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="thread counts to compare, comma-separated")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary of the numpy runs")
    parser.add_argument("--memory-only", action="store_true", help="measure peak training memory only")
    parser.add_argument("--throughput-only", action="store_true", help="skip the memory and compile-time figures")
    parser.add_argument("--networks", default=",".join(NETWORKS.values()), help="networks to train, comma-separated")
    parser.add_argument("--serve", choices=(*VARIANTS, DDP), help=argparse.SUPPRESS)
    parser.add_argument("--memory-probe", choices=MEMORY_VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--network", choices=tuple(NETWORKS.values()), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.network, int(args.threads), args.steps)
        return
    if args.memory_probe:
        memory_probe(args.memory_probe, int(args.threads))
        return
    import numpy as np
    import torch

    from cnnc import blas_threads

    thread_counts = [int(part) for part in args.threads.split(",")]
    print(f"numpy {np.__version__}, torch {torch.__version__}; load average before the run "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(blas_threads.kernels_report())
    tunables = environment("cnnc-numpy").get("GLIBC_TUNABLES")
    print(f"cnnc's processes: GLIBC_TUNABLES={tunables}, as cnnc train restarts itself" if tunables else
          "cnnc's processes: malloc as it is (CNNC_TUNE_MALLOC=0, or no tunables to set here)")
    if not args.throughput_only:
        memory(thread_counts)
        if args.memory_only:
            return
        jit_cost()
    for title, name in NETWORKS.items():
        if name not in args.networks.split(","):
            continue
        bench(title, name, thread_counts, args.steps if name == "lenet5" else max(args.steps // 3, 5), args.repeats)
    if args.profile:
        profile(args.steps)


if __name__ == "__main__":
    main()
