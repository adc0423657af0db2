"""Where a worker stands: its rank among the workers, its device, and the sums and broadcasts they share."""

from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass, field

import torch
from cnnc.backends.torch_train.env import (
    SUPERVISOR_VARIABLE,
    TIMEOUT_VARIABLE,
    launched,
)
from torch import distributed

DEFAULT_TIMEOUT = 300  # seconds a collective waits for a silent worker before failing


class WorkerLost(Exception):
    """A collective failed: another worker died, stopped or could not be reached."""


@dataclass
class World:
    """One process (``size`` 1, no process group) or one of ``size`` workers joined in a process group."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    supervisor: int | None = None

    @property
    def lead(self) -> bool:
        """Rank 0: the one that prints, logs and writes checkpoints."""
        return self.rank == 0

    def shard(self, count: int) -> slice:
        """This worker's rows of ``count``: contiguous, the first ``count % size`` workers one more
        (``numpy.array_split``'s split; a worker may get none when ``count < size``)."""
        base, extra = divmod(count, self.size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def sum(self, values: list[float]) -> list[float]:
        """Each value summed over the workers (float64)."""
        if self.size == 1:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self._collective_device())
        self._collective(distributed.all_reduce, tensor)
        return tensor.tolist()

    def agree(self, flag: bool) -> bool:
        """True on every worker when it is true on any."""
        return self.sum([float(flag)])[0] > 0 if self.size > 1 else flag

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        """Rank 0's buffers (batchnorm's running statistics) on every worker."""
        if self.size == 1:
            return
        for buffer in module.buffers():
            self._collective(distributed.broadcast, buffer, 0)

    def orphaned(self) -> bool:
        """Whether cnnc's launcher, which started this worker, has died (the worker then stops as on Ctrl-C)."""
        return self.supervisor is not None and os.getppid() != self.supervisor

    def close(self) -> None:
        if self.size > 1 and distributed.is_initialized():
            distributed.destroy_process_group()

    def _collective_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    def _collective(self, operation, *args) -> None:
        try:
            operation(*args)
        except RuntimeError as failure:
            found = lost(failure)
            if found is None:
                raise
            raise found from None


def lost(failure: RuntimeError) -> WorkerLost | None:
    """A WorkerLost for a collective's failure (gloo and NCCL raise plain RuntimeErrors: a closed
    connection, a timeout), with its first sentence; None for another error."""
    text = str(failure)
    distributed_error = isinstance(failure, getattr(distributed, "DistError", ()))
    if not distributed_error and not re.search(r"gloo|nccl|connection|timed? ?out", text, re.IGNORECASE):
        return None
    first = re.sub(r"^\[[^]]*\]\s*", "", text.splitlines()[0] if text else type(failure).__name__)
    return WorkerLost(first.split(". ")[0].rstrip("."))


def join(device: str) -> World:
    """This process's place: alone, or (under torchrun or ``--nproc``) a worker joined to the others'
    process group, gloo on CPU and NCCL on CUDA. ValueError for launch variables it cannot use."""
    if not launched():
        return World(device=_device(device, 0))
    try:
        rank, size, local = (int(os.environ[name]) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError:
        raise ValueError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers") from None
    if not (size >= 1 and 0 <= rank < size and local >= 0):
        raise ValueError(f"RANK={rank} must lie in [0, WORLD_SIZE={size})")
    world = World(rank, size, local, _device(device, local), _supervisor())
    if size > 1:
        timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_VARIABLE, DEFAULT_TIMEOUT)))
        backend = "nccl" if world.device.type == "cuda" else "gloo"
        if world.device.type == "cuda":
            torch.cuda.set_device(world.device)
        distributed.init_process_group(backend, init_method="env://", timeout=timeout)
    return world


def _device(name: str, local_rank: int) -> torch.device:
    return torch.device("cuda", local_rank) if name == "cuda" else torch.device("cpu")


def _supervisor() -> int | None:
    text = os.environ.get(SUPERVISOR_VARIABLE)
    return int(text) if text and text.isdigit() else None
