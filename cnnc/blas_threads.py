"""How many threads NumPy's BLAS (OpenBLAS) uses, read and set through ctypes, and a section of code run
with one BLAS thread per calling thread (``one_thread_each``) while cnnc runs shards of a batch in parallel."""

from __future__ import annotations

import ctypes
import glob
import os
import threading
from contextlib import contextmanager
from functools import cache

# OpenBLAS's entry points under the names its builds give them: numpy 2's wheels ship scipy-openblas with
# 64-bit integers (``scipy_openblas_..64_``), older wheels and distributions plain ``openblas_...``.
_PREFIXES = ("scipy_openblas", "openblas")
_SUFFIXES = ("64_", "")


class OpenBlas:
    """One loaded OpenBLAS library's thread count: ``get()`` and ``set(count)``."""

    def __init__(self, path: str, get: ctypes._CFuncPtr, set_: ctypes._CFuncPtr, corename: str | None = None) -> None:
        self.path, self._get, self._set = path, get, set_
        self.corename = corename
        """The kernels OpenBLAS runs (``Haswell``, ``SkylakeX``...): its choice for this processor, or the one
        ``OPENBLAS_CORETYPE`` names; None when the library does not say."""

    def get(self) -> int:
        return int(self._get())

    def set(self, count: int) -> None:
        self._set(count)


def _loaded_paths() -> list[str]:
    """Shared libraries whose name says OpenBLAS, loaded into this process (Linux's /proc/self/maps), then
    those shipped beside numpy in its wheel (``numpy.libs``, ``numpy/.dylibs``), which numpy has loaded."""
    import numpy

    found: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(maxsplit=5)[-1]
                if path.startswith("/") and "openblas" in os.path.basename(path).lower() and path not in found:
                    found.append(path)
    except OSError:
        pass
    package = os.path.dirname(numpy.__file__)
    for folder in (package + ".libs", os.path.join(package, ".dylibs")):
        for path in sorted(glob.glob(os.path.join(folder, "*openblas*"))):
            if path not in found:
                found.append(path)
    return found


def _open(path: str) -> OpenBlas | None:
    """The library at ``path`` if it is already loaded (never loads a second copy) and exports a thread
    count getter and setter."""
    try:
        library = ctypes.CDLL(path, mode=getattr(os, "RTLD_NOLOAD", 0))
    except OSError:
        return None
    for prefix in _PREFIXES:
        for suffix in _SUFFIXES:
            get = getattr(library, f"{prefix}_get_num_threads{suffix}", None)
            set_ = getattr(library, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                return OpenBlas(path, get, set_, _corename(library, prefix, suffix))
    return None


def _corename(library: ctypes.CDLL, prefix: str, suffix: str) -> str | None:
    name = getattr(library, f"{prefix}_get_corename{suffix}", None)
    if name is None:
        return None
    name.restype, name.argtypes = ctypes.c_char_p, []
    return (name() or b"").decode("ascii", "replace").strip() or None


@cache
def libraries() -> tuple[OpenBlas, ...]:
    """Every OpenBLAS loaded in this process whose thread count can be read and set (numpy's first);
    empty when numpy's BLAS is another one (MKL, Accelerate) or cannot be controlled."""
    import numpy  # loads its BLAS

    found = [library for library in map(_open, _loaded_paths()) if library is not None]
    package = os.path.dirname(numpy.__file__)
    found.sort(key=lambda library: not library.path.startswith((package + ".libs", package + os.sep)))
    return tuple(found)


@cache
def initial_threads() -> int:
    """NumPy's BLAS thread count the first time cnnc asks (``OPENBLAS_NUM_THREADS=1`` gives 1); 1 when
    the BLAS cannot be controlled."""
    found = libraries()
    return max(1, found[0].get()) if found else 1


def controllable() -> bool:
    return bool(libraries())


_lock = threading.Lock()
_users = 0
_saved: list[int] = []


def _forget_users() -> None:
    """In a child made by ``fork``: no thread of the parent runs shards here."""
    global _lock, _users
    _lock, _users = threading.Lock(), 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_users)


@contextmanager
def one_thread_each():
    """Every OpenBLAS set to one thread inside the block, restored when the last thread inside it leaves
    (blocks entered by several threads at once share one change)."""
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = [library.get() for library in libraries()]
            for library in libraries():
                library.set(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                for library, count in zip(libraries(), _saved):
                    library.set(count)


PIN_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""Environment variables that make OpenBLAS run other kernels than it would choose for the processor (some
machines set them because older OpenBLAS builds crash or compute wrongly on their processor)."""


def kernels_report() -> str:
    """What a benchmark prints of numpy's BLAS: the kernels OpenBLAS runs, and, when ``PIN_VARIABLES`` chose
    them, the ones it chooses for this processor by itself (asked of a Python started without them) and the
    command that measures those. Python's own ``sys.executable`` runs the question, with cnnc importable."""
    import subprocess
    import sys

    found = libraries()
    if not found:
        return "numpy's BLAS: not an OpenBLAS cnnc can query"
    running = found[0].corename or "unknown"
    pins = {name: os.environ[name] for name in PIN_VARIABLES if name in os.environ}
    if not pins:
        return f"numpy's OpenBLAS runs its {running} kernels (its own choice for this processor)"
    env = {name: value for name, value in os.environ.items() if name not in pins}
    question = "from cnnc import blas_threads; print(blas_threads.libraries()[0].corename)"
    try:
        own = subprocess.run([sys.executable, "-c", question], env=env, capture_output=True, text=True,
                             timeout=60).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        own = "unknown"
    settings = " ".join(f"{name}={value}" for name, value in pins.items())
    unset = " ".join(f"-u {name}" for name in pins)
    return (f"numpy's OpenBLAS runs its {running} kernels, as {settings} says; by itself it would run its "
            f"{own} kernels here: `env {unset} python bench/...` measures those")
