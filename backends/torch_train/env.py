"""The environment a launcher gives its workers (torchrun's variables), read without importing torch."""

from __future__ import annotations

import os

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""What torchrun (or ``cnnc train --nproc``) sets for every worker it starts: the one way a worker learns its place."""

SUPERVISOR_VARIABLE = "CNNC_SUPERVISOR_PID"  # set by cnnc's own launcher, so that an orphaned worker stops
TIMEOUT_VARIABLE = "CNNC_DDP_TIMEOUT"


def launched() -> bool:
    """Whether torchrun (or ``cnnc train --nproc``) started this process as one of its workers."""
    return any(name in os.environ for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def missing_variables() -> list[str]:
    return [name for name in LAUNCH_VARIABLES if name not in os.environ]


def world_size() -> int | None:
    """WORLD_SIZE as a number, or None when absent or not a whole number."""
    text = os.environ.get("WORLD_SIZE", "")
    return int(text) if text.isdigit() else None
