"""Data-parallel batches: a batch split into contiguous shards, each run on a thread of one process-wide pool
(the calling thread takes the first), with NumPy's BLAS at one thread per shard meanwhile. Training steps on
Linux run their shards in worker processes instead (``cnnc.shard_processes``)."""

from __future__ import annotations

import os
import threading

import numpy as np

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:  # concurrent.futures (it imports logging) and ctypes load when a batch is first split
    from collections.abc import Callable
    from concurrent.futures import ThreadPoolExecutor

MIN_SHARD = 8
"""The fewest examples a shard gets: a smaller batch runs on fewer shards (batch 1 on one). A LeNet-5 training
step costs about 0.7 ms (Numba) to 1.2 ms (NumPy) of CPU time whatever the batch, mostly Python that holds the
GIL, plus 0.13-0.2 ms an example (process time, one thread, batches 1 to 64): below about 8 examples a shard is
mostly that fixed part, which two threads cannot run at once. ``python bench/shard_threshold.py`` times it."""

POOL_THREADS = 64
"""The pool's ceiling: it starts threads only as parts wait for one (T - 1 for one caller at T threads)."""

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def bounds(count: int, shards: int) -> list[tuple[int, int]]:
    """(start, stop) of ``shards`` contiguous parts of ``count`` examples, the first ``count % shards``
    one example longer (NumPy's ``array_split``)."""
    size, extra = divmod(count, shards)
    found, start = [], 0
    for index in range(shards):
        stop = start + size + (index < extra)
        found.append((start, stop))
        start = stop
    return found


def shard_count(threads: int, count: int) -> int:
    """How many shards a batch of ``count`` examples gets with ``threads`` threads: none smaller than
    ``MIN_SHARD``, and one when NumPy's BLAS cannot be held at one thread per shard."""
    if threads <= 1 or count < 2 * MIN_SHARD:
        return 1
    from cnnc import blas_threads

    if not blas_threads.controllable():
        return 1
    return min(threads, count // MIN_SHARD)


def _forget_pool() -> None:
    """In a child made by ``fork``: the parent's worker threads are not there; start a pool afresh."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _executor() -> ThreadPoolExecutor:
    """The process's pool of persistent worker threads, made on first need."""
    global _pool
    from concurrent.futures import ThreadPoolExecutor

    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="cnnc-shard")
        return _pool


def run(parts: list[tuple[int, int]], task: Callable[[int, int, int], object]) -> list:
    """``task(index, start, stop)`` for every part, in parallel: the first in the calling thread, the
    others on the pool; the results in the parts' order. NumPy's floating-point error handling
    (``np.errstate``) of the caller holds in the workers too; an exception in any part is raised here,
    after every part has finished."""
    return run_all([lambda index=index, part=part: task(index, *part) for index, part in enumerate(parts)])


def run_all(tasks: list[Callable[[], object]]) -> list:
    """Every task in parallel, as ``run`` runs its parts: the first in the calling thread, the results in order."""
    if len(tasks) == 1:
        return [tasks[0]()]
    from concurrent.futures import Future, wait

    from cnnc import blas_threads

    errors = np.geterr()

    def in_worker(task: Callable[[], object]) -> object:
        with np.errstate(**errors):
            return task()

    pool = _executor()
    with blas_threads.one_thread_each():
        futures: list[Future] = []
        try:
            futures = [pool.submit(in_worker, task) for task in tasks[1:]]
            first = tasks[0]()
        finally:
            wait(futures)
        return [first, *(future.result() for future in futures)]


def for_each_part(arrays: dict[str, np.ndarray], threads: int, task: Callable[[str, slice], None],
                  splittable: Callable[[str], bool] = lambda key: True) -> None:
    """``task(key, part)`` over every array, ``part`` a range of its flattened values, the values dealt to
    ``threads`` threads (``run_all``) in contiguous runs of about equal size: an array larger than a thread's
    share is split unless ``splittable(key)`` is false (elementwise passes over gradients and parameters, which
    NumPy runs with the GIL released; a network's largest weight is often most of its values)."""
    share = -(-sum(array.size for array in arrays.values()) // max(threads, 1))
    groups: list[list[tuple[str, slice]]] = [[]]
    room = share
    for key, array in arrays.items():
        start = 0
        while start < array.size or (start == 0 and array.size == 0):
            if room <= 0 and len(groups) < threads:
                groups.append([])
                room = share
            last = len(groups) == threads or not splittable(key)
            take = array.size - start if last else min(room, array.size - start)
            groups[-1].append((key, slice(start, start + take)))
            room -= take
            start += take
            if array.size == 0:
                break
    run_all([lambda group=group: [task(key, part) for key, part in group] for group in groups])


def flat(array: np.ndarray) -> np.ndarray:
    """The array's values in one dimension: a view of a C-contiguous array (writes reach it), else a copy."""
    return array.reshape(-1)
