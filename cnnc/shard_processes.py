"""A training step's shards in worker processes: on Linux, a batch that ``threads`` > 1 splits runs its first
shard in the calling thread and each other shard in a process forked from it, so that no shard waits for
another's GIL (NumPy's short calls and the Python between the kernels hold it): the figures are in
docs/training.md, "Several threads" (``python bench/train_throughput.py``).

The parameters, each worker's examples and its gradients live in anonymous shared memory (``Arena``), mapped
before the fork: each step the caller copies the parameters and the shard's examples in, every worker writes
its shard's gradients there, and only the targets, the dropout generator and the results (loss, outputs) travel
through a pipe. A step whose shards do not fit the workers' arenas (``EXAMPLES_BYTES``) forks new workers.
A worker ignores SIGINT (the caller decides what an interrupt does) and ends when its pipe closes, with the
caller's process; ``close`` (the model's end, or a step that fails or is interrupted in the caller, after
which the next step forks new workers) kills it. Every process forked from the caller closes its copies of
the workers' pipe ends (``_forget_pipes``), so that a worker sees its pipe close. A model keeps its workers
in a ``ModelWorkers``, which decides when to fork them again.

``CNNC_SHARD_PROCESSES=0`` in the environment keeps every shard on a thread of the calling process."""

from __future__ import annotations

import mmap
import os
import signal
import sys
import threading
import warnings
import weakref

import numpy as np

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection

    Task = Callable[[np.ndarray, np.ndarray, object, int], tuple[float, dict[str, np.ndarray], np.ndarray]]

ENABLED = sys.platform.startswith("linux") and os.environ.get("CNNC_SHARD_PROCESSES", "1") != "0"
"""Whether training steps split into shards run them in processes (else on threads): Linux only, where
``fork`` leaves NumPy's OpenBLAS and Numba's serial kernels usable in the child (macOS's Accelerate is not
fork-safe; Windows has no fork)."""

ALIGNMENT = 64
"""Bytes between the starts of an arena's arrays are a multiple of this (a cache line)."""

EXAMPLES_BYTES = 1 << 26
"""The room a worker's arena of examples has at least (64 MB; the first step's shard if larger): pages of an
anonymous mapping take memory only once written, and a larger batch than it holds forks new workers."""


class WorkerLost(RuntimeError):
    """A worker process ended during a step (killed by the system for memory, by a signal, ...)."""


_pipes: set[Connection] = set()
"""The caller's ends of the workers' pipes, while they are open."""


def _forget_pipes() -> None:
    """In any child forked from this process: close its copies of the workers' pipe ends."""
    for connection in _pipes:
        connection.close()
    _pipes.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pipes)


class Arena:
    """Arrays shaped as ``like``'s, in one anonymous shared mapping: a process forked after it was made
    reads and writes the same values."""

    def __init__(self, like: dict[str, np.ndarray]) -> None:
        offsets, size = {}, 0
        for key, array in like.items():
            offsets[key] = size
            size += -(-array.nbytes // ALIGNMENT) * ALIGNMENT
        self.mapping = mmap.mmap(-1, max(size, 1))  # MAP_SHARED | MAP_ANONYMOUS
        self.arrays = {key: np.frombuffer(self.mapping, array.dtype, array.size, offsets[key]).reshape(array.shape)
                       for key, array in like.items()}


class Worker:
    """One forked process that runs shards with ``task`` (made in the child by ``make_task``, from the
    parameters' arena) and writes their gradients into its own arena."""

    def __init__(self, params: Arena, inputs: Arena, grads: Arena,
                 make_task: Callable[[dict[str, np.ndarray]], Task]) -> None:
        from multiprocessing import Pipe

        self.inputs, self.grads = inputs.arrays["x"], grads
        here, there = Pipe()
        with warnings.catch_warnings():  # Python 3.12+ warns of fork in a process with threads (see ENABLED)
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the worker
            here.close()
            _serve(there, params, inputs, grads, make_task)  # never returns
        there.close()
        self.pid, self.connection = pid, here
        _pipes.add(here)

    def start(self, x: np.ndarray, y: np.ndarray, run: object, examples: int) -> None:
        """Send one shard: its examples (copied to the arena, which they fit: ``ShardProcesses.fits``; their
        count is sent), targets and pass (``Pass``, with its dropout generator), with the caller's NumPy
        floating-point error handling (``np.errstate``)."""
        np.copyto(self.inputs[:len(x)], x)
        try:
            self.connection.send((len(x), y, run, examples, np.geterr()))
        except OSError as error:  # the process has ended: its end of the pipe is closed
            raise self._ended() from error

    def finish(self) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """The shard's (loss, gradients (views of the arena, valid until the next step), outputs); raises
        the shard's exception, or ``WorkerLost``."""
        try:
            reply = self.connection.recv()
        except (EOFError, OSError) as error:
            raise self._ended() from error
        if reply[0] == "error":
            raise reply[1]
        _, loss, keys, outputs = reply
        return loss, {key: self.grads.arrays[key] for key in keys}, outputs

    def _ended(self) -> WorkerLost:
        """The error that says the process ended: it has, or is ending (its pipe closed)."""
        pid = self.pid
        return WorkerLost(f"cnnc's worker process {pid}, which ran part of each training batch, {self._ending()}")

    def _ending(self) -> str:
        """How the process ended, for a message; reaps it."""
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return "ended"
        self.pid = None
        if os.WIFSIGNALED(status):
            return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
        return f"exited with code {os.waitstatus_to_exitcode(status)}"

    def close(self) -> None:
        """End the process at once, idle or in the middle of a shard (it holds nothing to put away)."""
        _pipes.discard(self.connection)
        self.connection.close()
        if self.pid is None:  # reaped by ``_ending``
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self.pid = None


def _serve(connection: Connection, params: Arena, inputs: Arena, grads: Arena, make_task: Callable) -> None:
    """The worker's loop, in the forked child: run each shard received, reply, and leave by ``os._exit``
    alone (the parent's atexit handlers and buffered output are the parent's)."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from cnnc import blas_threads

        for library in blas_threads.libraries():
            library.set(1)
        task = make_task(params.arrays)
        while True:
            try:
                count, y, run, examples, errors = connection.recv()
            except EOFError:
                code = 0
                break
            x = inputs.arrays["x"][:count]
            try:
                with np.errstate(**errors):
                    loss, found, outputs = task(x, y, run, examples)
                for key, grad in found.items():
                    np.copyto(grads.arrays[key], grad)
                reply = ("done", loss, list(found), outputs)
            except Exception as error:  # the caller raises it
                reply = ("error", error)
            try:
                connection.send(reply)
            except Exception as error:  # an exception that does not pickle
                connection.send(("error", RuntimeError(f"{type(error).__name__}: {error}")))
    finally:
        os._exit(code)


class ShardProcesses:
    """``count`` workers for one model's training steps, for as long as ``key`` (what the workers copied
    from the model when forked) stays the same."""

    def __init__(self, count: int, params: dict[str, np.ndarray], examples: np.ndarray, make_task: Callable,
                 key: tuple) -> None:
        """``examples``: the first step's first shard (the most examples a worker gets), whose shape sets the
        room of the workers' arenas of examples (``EXAMPLES_BYTES``)."""
        self.key = key
        self.params = Arena(params)
        rows = max(len(examples), EXAMPLES_BYTES // max(examples[:1].nbytes, 1))
        room = {"x": np.broadcast_to(np.zeros((), examples.dtype), (rows, *examples.shape[1:]))}  # a shape alone
        self.workers: list[Worker] = []
        try:
            for _ in range(count):
                self.workers.append(Worker(self.params, Arena(room), Arena(params), make_task))
        except BaseException:
            self.close()
            raise

    def run(self, parts: list[tuple[int, int]], x: np.ndarray, y: np.ndarray, runs: list, examples: int,
            params: dict[str, np.ndarray], first: Callable[[], tuple]) -> list[tuple]:
        """Every shard's (loss, gradients, outputs): ``first()`` in the calling thread (one BLAS thread), the
        others (``parts[1:]``, ``runs[1:]``) in the workers, with ``params`` copied to them first. A failure
        or an interrupt anywhere ends the workers before it propagates."""
        from cnnc import blas_threads

        try:
            for key, value in params.items():
                np.copyto(self.params.arrays[key], value)
            for worker, (start, stop), run in zip(self.workers, parts[1:], runs[1:]):
                worker.start(x[start:stop], y[start:stop], run, examples)
            with blas_threads.one_thread_each():
                found = [first()]
            return found + [worker.finish() for worker in self.workers]
        except BaseException:
            self.close()
            raise

    def fits(self, examples: np.ndarray) -> bool:
        """Whether every shard of a step whose first shard is ``examples`` fits the workers' arenas."""
        into = self.workers[0].inputs
        return examples.dtype == into.dtype and examples.shape[1:] == into.shape[1:] and len(examples) <= len(into)

    @property
    def alive(self) -> bool:
        """False once closed."""
        return bool(self.workers)

    def close(self) -> None:
        """End the workers (``Worker.close``)."""
        for worker in self.workers:
            worker.close()
        self.workers = []


class ModelWorkers:
    """The worker processes of one model's training steps: forked at the first step that splits, and again
    when what they copied from the model changed (``key``), a step's shards no longer fit their arenas, or a
    step failed; one step at a time uses them (``take``, ``give_back``)."""

    def __init__(self) -> None:
        self.processes: ShardProcesses | None = None
        self.fork_failed = False  # then this model's shards stay on threads
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize | None = None

    @property
    def usable(self) -> bool:
        """Whether training steps' shards go to processes."""
        return ENABLED and not self.fork_failed

    def take(self, owner: object, count: int, params: dict[str, np.ndarray], examples: np.ndarray,
             make_task: Callable, key: tuple) -> ShardProcesses | None:
        """The workers for the ``count - 1`` shards of a step after the first, ``examples`` (whose size sets
        their arenas'), held until ``give_back``; forked anew as the class says, ending with ``owner`` (the
        model). None where processes are not used, where ``fork`` fails, or while another thread's step
        holds them (that step's shards then run on threads)."""
        if not self.usable or not self._lock.acquire(blocking=False):
            return None
        try:
            found = self._live(owner, count, params, examples, make_task, key)
        except BaseException:
            self._lock.release()
            raise
        if found is None:
            self._lock.release()
        return found

    def give_back(self) -> None:
        """End the step that ``take`` gave the workers to."""
        self._lock.release()

    def _live(self, owner: object, count: int, params: dict[str, np.ndarray], examples: np.ndarray,
              make_task: Callable, key: tuple) -> ShardProcesses | None:
        found = self.processes
        if found is not None and found.alive and found.key == key and found.fits(examples):
            return found
        self.close()
        try:
            found = self.processes = ShardProcesses(count - 1, params, examples, make_task, key)
        except OSError:  # no memory or process slot for a child
            self.fork_failed = True
            return None
        self._finalizer = weakref.finalize(owner, found.close)
        return found

    def close(self) -> None:
        """End the workers now (their finalizer, which runs once)."""
        if self._finalizer is not None:
            self._finalizer()
        self.processes = None
