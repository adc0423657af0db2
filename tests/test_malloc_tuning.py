"""cnnc/malloc_tuning.py: when a command restarts with glibc's malloc tunables, what environment it gets, and
a real restart of a Python process (where this machine's glibc and kernel allow it)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cnnc import malloc_tuning

MADVISE = "always [madvise] never\n"
TUNED = "glibc.malloc.hugetlb=1"


def test_the_tunables_are_added_to_the_environment() -> None:
    found = malloc_tuning.environment({"PATH": "/bin"}, MADVISE, "glibc 2.36")
    assert found == {"PATH": "/bin", "GLIBC_TUNABLES": TUNED}


def test_the_users_tunables_are_kept() -> None:
    """Another tunable stays; one of cnnc's that the user set keeps the user's value."""
    found = malloc_tuning.environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.tcache_count=0"},
                                      "[always] madvise never", "glibc 2.39")
    assert found == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.tcache_count=0:"
                                       "glibc.malloc.hugetlb=1"}


@pytest.mark.parametrize("env, thp_mode, libc_version", [
    ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=4:glibc.malloc.hugetlb=0"}, MADVISE, "glibc 2.36"),  # user's own
    ({"GLIBC_TUNABLES": TUNED}, MADVISE, "glibc 2.36"),  # already restarted: no loop
    ({"CNNC_TUNE_MALLOC": "0"}, MADVISE, "glibc 2.36"),
    ({}, "always madvise [never]\n", "glibc 2.36"),
    ({}, None, "glibc 2.36"),  # no such kernel file
    ({}, MADVISE, "glibc 2.34"),  # before the tunable
    ({}, MADVISE, None),  # musl, or no C library version to read
    ({}, MADVISE, "glibc unknown"),
], ids=["set-by-the-user", "set-by-cnnc", "opted-out", "thp-never", "no-thp", "old-glibc", "no-glibc", "bad-version"])
def test_nothing_changes(env: dict, thp_mode: str | None, libc_version: str | None) -> None:
    assert malloc_tuning.environment(env, thp_mode, libc_version) is None


@pytest.mark.parametrize("argv, restarts", [
    (["train", "net.cnn", "--data", "synthetic"], True),
    (["--version"], False),
    (["eval", "model.npz"], False),
    (["predict", "model.npz", "digit.png"], False),
    (["check", "net.cnn"], False),
    (["fmt", "net.cnn"], False),
    ([], False),
])
def test_only_training_restarts(argv: list[str], restarts: bool, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(malloc_tuning, "this_machine", lambda env: {**env, "GLIBC_TUNABLES": "x"})
    monkeypatch.setattr(os, "execve", lambda *args: calls.append(args))
    monkeypatch.setattr(sys, "orig_argv", [sys.executable, "-m", "cnnc", *argv])
    malloc_tuning.restart_if_useful(argv)
    if restarts:
        [(program, arguments, env)] = calls
        assert program == sys.executable and arguments == [sys.executable, "-m", "cnnc", *argv]
        assert env["GLIBC_TUNABLES"] == "x"
    else:
        assert calls == []


def test_a_failed_restart_goes_on(monkeypatch) -> None:
    def refuse(*args):
        raise PermissionError("not allowed")

    monkeypatch.setattr(malloc_tuning, "this_machine", lambda env: {**env, "GLIBC_TUNABLES": "x"})
    monkeypatch.setattr(os, "execve", refuse)
    malloc_tuning.restart_if_useful(["train"])  # returns: the command runs with malloc as it is


RESTARTED = ("import os; from cnnc import malloc_tuning; malloc_tuning.restart_if_useful(['train']); "
             "print(os.environ.get('GLIBC_TUNABLES', ''))")


def _clean_environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("GLIBC_TUNABLES", malloc_tuning.OPT_OUT)}
    return {**env, **extra}


@pytest.mark.skipif(malloc_tuning.this_machine(_clean_environment()) is None,
                    reason="no glibc >= 2.35 with transparent huge pages here")
def test_a_real_restart_runs_with_the_tunable_once() -> None:
    """The process replaces itself once: the restarted one finds the tunable set and goes on."""
    ran = subprocess.run([sys.executable, "-c", RESTARTED], env=_clean_environment(), capture_output=True,
                         text=True, timeout=120, check=True)
    assert ran.stdout.strip() == TUNED
    kept = subprocess.run([sys.executable, "-c", RESTARTED], env=_clean_environment(CNNC_TUNE_MALLOC="0"),
                          capture_output=True, text=True, timeout=120, check=True)
    assert kept.stdout.strip() == ""
