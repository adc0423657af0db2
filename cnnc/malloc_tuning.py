"""glibc's malloc, tuned for training: ``cnnc train`` restarts itself once, before importing anything large,
with glibc's ``glibc.malloc.hugetlb=1`` tunable set (``GLIBC_TUNABLES``, glibc 2.35 and later, where the kernel's
transparent huge pages are not off). Not ``eval`` and ``predict``: a restart costs an interpreter's start-up,
much of a one-image ``cnnc predict`` (``cnnc train --help``, best of 15 alternated runs: 74 ms restarting, 43 ms
with ``CNNC_TUNE_MALLOC=0``).

``glibc.malloc.hugetlb=1``: malloc asks the kernel for huge pages. A training step allocates and frees arrays of
megabytes; with 4 KB pages malloc hands some of that back to the kernel and faults it in again the next step
(about 1,800 page faults a step on the CIFAR net of ``bench/train_throughput.py`` at batch 64), and every pass
over an array walks 512 times as many page-table entries.

Not ``glibc.malloc.arena_max=1`` (one arena for every thread), which cnnc set beside it until a run on an idle
machine: the shards' threads then share one arena and its lock. ``python bench/malloc_tunables.py``, 2
threads, best of 3, against huge pages alone: LeNet-5 0.89x (Numba) and 0.83x (NumPy) with one arena as well,
0.75x and 0.76x with one arena alone; the CIFAR net 0.97x-1.02x (docs/training.md).

A tunable is read when the process starts, hence the restart. ``CNNC_TUNE_MALLOC=0`` keeps the process as it
is; a tunable already in ``GLIBC_TUNABLES`` keeps its value. ``python bench/train_throughput.py`` runs cnnc's
backends as the commands run them, and ``CNNC_TUNE_MALLOC=0 python bench/train_throughput.py`` without
(figures in docs/training.md)."""

from __future__ import annotations

import os
import sys

TUNABLES = (("glibc.malloc.hugetlb", "1"),)
OPT_OUT = "CNNC_TUNE_MALLOC"
COMMANDS = ("train",)
"""The subcommands that restart with the tunables."""
THP_MODE = "/sys/kernel/mm/transparent_hugepage/enabled"
FIRST_GLIBC = (2, 35)
"""The first glibc with the ``glibc.malloc.hugetlb`` tunable."""


def environment(env: dict[str, str], thp_mode: str | None, libc_version: str | None) -> dict[str, str] | None:
    """``env`` with the tunables that it does not set yet added to ``GLIBC_TUNABLES``, or None when nothing is
    to change: opted out, all already set (to any value), no glibc of at least 2.35 (``libc_version`` as
    ``os.confstr`` gives it, e.g. ``glibc 2.36``), or transparent huge pages off (``thp_mode``: the content of
    the kernel's ``enabled`` file, None if there is none)."""
    if env.get(OPT_OUT, "").strip() == "0" or _glibc(libc_version) < FIRST_GLIBC:
        return None
    if thp_mode is None or "[never]" in thp_mode:
        return None
    tunables = env.get("GLIBC_TUNABLES", "")
    named = {part.split("=", 1)[0] for part in tunables.split(":")}
    added = [f"{name}={value}" for name, value in TUNABLES if name not in named]
    if not added:
        return None
    return {**env, "GLIBC_TUNABLES": ":".join(([tunables] if tunables else []) + added)}


def _glibc(version: str | None) -> tuple[int, ...]:
    """(2, 36) from ``glibc 2.36``; () for anything else (another C library, an unreadable version)."""
    name, _, number = (version or "").partition(" ")
    try:
        return tuple(int(part) for part in number.split(".")[:2]) if name == "glibc" else ()
    except ValueError:
        return ()


def this_machine(env: dict[str, str]) -> dict[str, str] | None:
    """``environment`` for this process's machine and C library (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc_version = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        libc_version = None
    try:
        with open(THP_MODE, encoding="ascii") as mode:
            thp_mode = mode.read()
    except OSError:
        thp_mode = None
    return environment(env, thp_mode, libc_version)


def restart_if_useful(argv: list[str]) -> None:
    """Replace this process by the same command with the tunables, when ``argv`` (the arguments after the
    program) is one of ``COMMANDS`` and ``this_machine`` has something to change; else return. The command is the
    interpreter's own original one (``sys.orig_argv``: ``cnnc ...`` and ``python -m cnnc ...`` alike)."""
    command = argv[0] if argv else None  # cnnc has no options before the subcommand but --version
    if command not in COMMANDS or not sys.executable or not getattr(sys, "orig_argv", None):
        return
    env = this_machine(dict(os.environ))
    if env is None:
        return
    try:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    except OSError:  # the interpreter cannot be run again: go on as we are
        return
