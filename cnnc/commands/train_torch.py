"""``cnnc train --backend torch [--device cpu|cuda] [--nproc N]``: the torch side of the command: checking
the flags, joining torchrun's job or starting local workers, and reporting a lost worker."""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cnnc.commands.common import EXIT_ERRORS, UsageError, checkpoint_kept
from cnnc.errors import CannotRun

if TYPE_CHECKING:  # rich and the backends load when a run starts, not when the CLI does
    from rich.console import Console

INSTALL = "pip install 'cnnc[torch]'"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=("cpu", "cuda"), help="with --backend torch: where torch computes "
                        "(default cpu)")
    parser.add_argument("--nproc", metavar="N", type=_workers, help="with --backend torch: N worker processes on "
                        "this machine (DistributedDataParallel), each batch split across them")


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1024:
        raise argparse.ArgumentTypeError(f"expected a number of workers from 1 to 1,024, got {text!r}")
    return int(text)


def prepare(args: argparse.Namespace) -> TorchSession | None:
    """The torch session the flags ask for (None: the NumPy backend). UsageError for flags that do not
    go together; CannotRun when torch, CUDA or the other workers are not there."""
    from cnnc.backends.torch_train.env import launched, missing_variables, world_size

    workers = args.nproc or 1
    if args.backend != "torch":
        for flag, given in (("--device", args.device), ("--nproc", args.nproc)):
            if given is not None:
                raise UsageError(f"cnnc train: argument {flag}: needs --backend torch")
        if launched() and (world_size() or 1) > 1:
            raise UsageError(f"cnnc train: started as one of {world_size()} workers (torchrun's WORLD_SIZE): "
                             "add --backend torch")
        return None
    try:
        import torch  # noqa: F401 - the workers, the launcher and the header need it
    except ImportError:
        raise CannotRun(f"--backend torch needs PyTorch, which is not installed: {INSTALL}") from None
    if launched():
        if workers > 1:
            raise UsageError("cnnc train: argument --nproc: under torchrun, give the workers per machine to "
                             "torchrun (--nproc-per-node)")
        missing = missing_variables()
        if missing:
            raise CannotRun(f"started by a launcher without {', '.join(missing)} in the environment",
                            "start the workers with torchrun, or use --nproc N on one machine")
        return TorchSession(args, workers=world_size() or 1, joined=True)
    return TorchSession(args, workers=workers, joined=workers == 1)


class TorchSession:
    """One run on torch: this process alone, a worker of a job (torchrun's or cnnc's own launcher:
    ``joined``), or the launcher of ``workers`` local workers (``launches``)."""

    def __init__(self, args: argparse.Namespace, workers: int, joined: bool) -> None:
        self.args, self.workers = args, workers
        self.device = args.device or "cpu"
        self.world = None
        _check_device(self.device, workers if not joined else 1)
        if joined:
            from cnnc.backends.torch_train.world import join

            try:
                self.world = join(self.device)
            except (ValueError, RuntimeError) as problem:
                raise CannotRun(f"cannot join the other workers: {str(problem).splitlines()[0]}") from None
            if self.world.size > 1:
                _exit_on_sigterm()
        from cnnc.backends.torch_train.world import WorkerLost

        self.failures: tuple[type[BaseException], ...] = (WorkerLost,)

    @property
    def launches(self) -> bool:
        return self.world is None

    @property
    def lead(self) -> bool:
        return self.world is None or self.world.lead

    def close(self) -> None:
        """Leave the process group, if any."""
        if self.world is not None:
            self.world.close()

    def end_worker(self, code: int) -> None:
        """A worker of several processes ends here, once its output is flushed: ``os._exit`` skips the C++
        destructors that run at interpreter exit, where a thread of torch's process group could still be
        joinable and abort the process ("terminate called without an active exception") after a good run."""
        if self.world is None or self.world.size == 1:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    def consoles(self, out: Console, err: Console) -> tuple[Console, Console]:
        """The consoles to use: the given ones on rank 0, silent ones on the other workers."""
        if self.lead:
            return out, err
        from rich.console import Console

        silent = Console(file=io.StringIO())
        return silent, silent

    def header(self, batch_size: int) -> str:
        """The run header's line about the backend: torch's version, the device, and the workers."""
        import torch

        line = f"  backend     torch {torch.__version__.split('+')[0]} on {self.device}"
        if self.workers > 1:
            kind = "NCCL" if self.device == "cuda" else "gloo"
            base, extra = divmod(batch_size, self.workers)
            parts = f"{base}" if not extra else f"{base + 1} or {base}"
            line += (f", {self.workers} workers ({kind}, DistributedDataParallel): {parts} examples of each batch "
                     f"of {batch_size} per worker")
        return line

    def resume_flags(self) -> str:
        flags = " --backend torch"
        if self.device != "cpu":
            flags += f" --device {self.device}"
        if self.workers > 1 and not launched_by_torchrun():
            flags += f" --nproc {self.workers}"
        return flags

    def train(self, model, x, y, plan, validation, progress, callbacks):
        """``cnnc.training.train`` on torch (see ``cnnc.backends.torch_train.loop``)."""
        from cnnc.backends.torch_train.loop import train
        from cnnc.backends.torch_train.trainer import TorchTrainer

        trainer = TorchTrainer(model, self.world)
        return train(trainer, x, y, plan, validation, progress, callbacks)

    def failed(self, failure: BaseException, saved_epoch: int | None, target: Path, err: Console) -> int:
        """A lost worker: say so (rank 0) and what checkpoint is left; exit 1."""
        kept = checkpoint_kept(target, saved_epoch)
        err.print(f"cnnc: error: training stopped: lost contact with another worker ({failure}); {kept}",
                  markup=False, highlight=False, soft_wrap=True)
        return EXIT_ERRORS

    def launch(self, args: argparse.Namespace, target: Path, source: str, err: Console) -> int:
        """Start the local workers, each running this command as one rank, and wait for them."""
        from cnnc.backends.torch_train.launcher import run_workers

        outcome = run_workers(worker_command(args, target, source), self.workers)
        codes = outcome.codes
        if outcome.interrupts:
            return 130
        if outcome.first_failure is None or len(set(codes)) == 1:
            return codes[0]
        import signal

        rank = outcome.first_failure
        code = codes[rank]
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        kept = f"the last checkpoint, {target}, is intact" if target.exists() else f"{target} was not written"
        err.print(f"cnnc: error: worker {rank} of {self.workers} (pid {outcome.pids[rank]}) {how}; the other "
                  f"workers were stopped; {kept}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_ERRORS


def launched_by_torchrun() -> bool:
    from cnnc.backends.torch_train.env import SUPERVISOR_VARIABLE, launched

    return launched() and SUPERVISOR_VARIABLE not in os.environ


def worker_command(args: argparse.Namespace, target: Path, source: str) -> list[str]:
    """This ``cnnc train`` as one worker runs it: the same spec, data and flags, the model's path
    resolved, never downloading (the launcher has fetched the data)."""
    from cnnc.commands.train import OVERRIDES

    command = [sys.executable, "-m", "cnnc", "train", args.spec, "--data", source, "--backend", "torch",
               "--dtype", args.dtype, "--out", str(target), "--no-download"]
    for flag in OVERRIDES:
        value = getattr(args, flag)
        if value is not None:
            command += ["--" + flag.replace("_", "-"), value]
    for flag in ("device", "resume", "log"):
        value = getattr(args, flag)
        if value is not None:
            command += ["--" + flag, value]
    return command


def _exit_on_sigterm() -> None:
    """SIGTERM (from a launcher stopping the workers) exits through Python, so that a checkpoint being
    written removes its temporary file."""
    import signal

    def terminated(signum, frame) -> None:
        raise SystemExit(128 + signum)
    try:
        signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # not the main thread
        pass


def _check_device(device: str, workers: int) -> None:
    if device != "cuda":
        return
    import torch

    found = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if not found:
        raise CannotRun(f"--device cuda: PyTorch {torch.__version__} finds no CUDA device on this machine")
    if found < workers:
        raise CannotRun(f"--device cuda with {workers} workers: this machine has {found} CUDA device"
                        f"{'s' if found != 1 else ''}, one per worker is needed")
