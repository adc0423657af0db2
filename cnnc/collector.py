"""Pausing Python's cyclic garbage collector while a spec is checked.

A 100,000-layer spec allocates millions of small objects (spans, IR nodes, report rows) and frees
none until the end, so the collector runs its full passes again and again over objects that hold no
cycles: pausing it makes large checks up to twice as fast (bench/check_limits.py). Cycles made
meanwhile are collected when it resumes."""

from __future__ import annotations

import gc
from contextlib import contextmanager

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Iterator


@contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block (nested uses are fine); restore its state after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
