"""``cnnc train --nproc N``: N local worker processes started with torchrun's variables, watched, and
stopped together (a Ctrl-C forwarded to each, a dead worker ending the others)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field

from cnnc.backends.torch_train.env import SUPERVISOR_VARIABLE

GRACE = 10.0  # seconds the other workers have to stop on their own once one has failed
KILL_AFTER = 5.0  # seconds between SIGTERM and SIGKILL


@dataclass
class Outcome:
    """How the workers ended: exit codes by rank (negative: killed by that signal), the first that
    failed (None if none did), and how many Ctrl-Cs the launcher forwarded."""

    codes: list[int]
    first_failure: int | None = None
    interrupts: int = 0
    pids: list[int] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def worker_environment(rank: int, size: int, port: int) -> dict[str, str]:
    """torchrun's variables for a worker on this machine, and one BLAS/OpenMP thread share of the
    cores per worker unless OMP_NUM_THREADS is set (as torchrun does)."""
    env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(size), "LOCAL_RANK": str(rank),
           "LOCAL_WORLD_SIZE": str(size), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
           SUPERVISOR_VARIABLE: str(os.getpid())}
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // size)))
    return env


def run_workers(command: list[str], size: int) -> Outcome:
    """Run ``command`` as ``size`` workers and wait for all. Rank 0 writes to this process's stdout
    and stderr; the others' stdout is discarded (they print nothing but unexpected errors). Each
    worker has its own session, so a Ctrl-C reaches the workers once, through this process: the
    first asks them to stop after the batch, the second at once. When one fails (a non-zero exit
    or a signal), the others have ``GRACE`` seconds to stop before SIGTERM, then SIGKILL."""
    port = free_port()
    workers = [subprocess.Popen(command, env=worker_environment(rank, size, port), start_new_session=True,
                                stdout=None if rank == 0 else subprocess.DEVNULL) for rank in range(size)]
    outcome = Outcome([0] * size, pids=[worker.pid for worker in workers])
    deadline: float | None = None

    def forward(signum, frame) -> None:
        nonlocal deadline
        outcome.interrupts += 1
        _signal_all(workers, signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)
        if outcome.interrupts > 1 or signum != signal.SIGINT:
            deadline = time.monotonic() + GRACE if deadline is None else deadline

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while any(worker.poll() is None for worker in workers):
            if outcome.first_failure is None and not outcome.interrupts:
                outcome.first_failure = _cause(workers)
                if outcome.first_failure is not None:
                    deadline = time.monotonic() + GRACE
            if deadline is not None and time.monotonic() > deadline:
                _stop(workers)
            time.sleep(0.05)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop(workers)
    outcome.codes = [worker.returncode for worker in workers]
    if outcome.first_failure is None and not outcome.interrupts:
        outcome.first_failure = _cause(workers)
    return outcome


def _cause(workers: list[subprocess.Popen]) -> int | None:
    """The rank of the worker whose failure ended the run, among those that have failed: one killed by a
    signal first (the others lost it), else the lowest rank; None if none has failed."""
    failed = [rank for rank, worker in enumerate(workers) if worker.returncode not in (None, 0)]
    return min(failed, key=lambda rank: (workers[rank].returncode >= 0, rank)) if failed else None


def _signal_all(workers: list[subprocess.Popen], sig: int) -> None:
    for worker in workers:
        if worker.poll() is None:
            try:
                worker.send_signal(sig)
            except ProcessLookupError:
                pass


def _stop(workers: list[subprocess.Popen]) -> None:
    """SIGTERM to the workers still running, SIGKILL to those still running ``KILL_AFTER`` seconds later."""
    _signal_all(workers, signal.SIGTERM)
    ending = time.monotonic() + KILL_AFTER
    while any(worker.poll() is None for worker in workers) and time.monotonic() < ending:
        time.sleep(0.05)
    _signal_all(workers, signal.SIGKILL)
    for worker in workers:
        worker.wait()
