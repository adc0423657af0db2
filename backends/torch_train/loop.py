"""The torch backend's training loop: ``cnnc.training.train``'s loop, batches and checks, with torch doing the
arithmetic and each global batch split across the workers."""

from __future__ import annotations

import math
import time

import numpy as np
from cnnc.backends.torch_train.trainer import TorchTrainer
from cnnc.backends.torch_train.world import World, lost

from cnnc.training import (
    Callbacks,
    NonFiniteLoss,
    Plan,
    Progress,
    batch_order,
    dropout_generator,
)


def train(trainer: TorchTrainer, x: np.ndarray, y: np.ndarray, plan: Plan,
          validation: tuple[np.ndarray, np.ndarray] | None = None, progress: Progress | None = None,
          callbacks: Callbacks | None = None) -> tuple[Progress, bool]:
    """As ``cnnc.training.train``: the same batches in the same order (``batch_order``), the same
    dropout masks, the same optimizer steps, the same progress and history, on torch. With several
    workers, each runs its contiguous part of every global batch (``World.shard``); the loss, the
    hits and a stop request are summed over the workers after every batch, so every worker takes
    the same decisions and only rank 0 calls ``callbacks``' display and checkpoint hooks
    (``should_stop`` is asked of every worker). The model's NumPy arrays are brought up to date
    before ``epoch_done`` and before returning. Raises NonFiniteLoss as cnnc does, WorkerLost when
    another worker is lost."""
    if not len(x):
        raise ValueError("x holds no examples; at least one is needed")
    model, world = trainer.model, trainer.world
    y = model.targets(y, len(x))
    progress = progress or Progress()
    callbacks = callbacks or Callbacks()
    optimizer = model.optimizer
    batches = math.ceil(len(x) / plan.batch_size)
    lead = world.lead
    while progress.epoch < plan.epochs:
        epoch = progress.epoch
        rate = optimizer.set_epoch(epoch, plan.epochs)
        order = batch_order(len(x), plan, epoch)
        if lead:
            callbacks.epoch_started(epoch, batches, progress.batch, rate)
        started = time.perf_counter()
        for batch in range(progress.batch, batches):
            chosen = order[batch * plan.batch_size:(batch + 1) * plan.batch_size]
            rows = world.shard(len(chosen))
            trainer.masks.rng, trainer.masks.batch, trainer.masks.rows = \
                dropout_generator(plan, epoch, batch), len(chosen), rows
            mine = chosen[rows]
            loss_sum, (correct, counted) = _guarded(world, trainer.forward_backward, x[mine], y[mine], len(chosen))
            request = world.size > 1 and (callbacks.should_stop() or world.orphaned())
            loss_sum, correct, counted, requests = world.sum([loss_sum, correct, counted, float(request)])
            loss = loss_sum / trainer.loss_terms(len(chosen))
            if not math.isfinite(loss):
                raise NonFiniteLoss(epoch, batch, loss, "the loss")
            bad = trainer.nonfinite_gradient()
            if bad is not None:
                raise NonFiniteLoss(epoch, batch, loss, f"the gradient of `{bad}`")
            trainer.step()
            progress.batch = batch + 1
            progress.loss_sum += loss * len(chosen)
            progress.seen += len(chosen)
            progress.correct += int(correct)
            progress.counted += int(counted)
            if lead:
                callbacks.batch_done(progress, loss, len(chosen))
            stop = requests > 0 if world.size > 1 else callbacks.should_stop()
            if stop and progress.batch < batches:
                progress.seconds += time.perf_counter() - started
                trainer.store()
                return progress, True
        progress.seconds += time.perf_counter() - started
        _finish_epoch(trainer, progress, validation, rate)
        trainer.store()
        if lead:
            callbacks.epoch_done(progress)
        if world.agree(callbacks.should_stop() or world.orphaned()) and progress.epoch < plan.epochs:
            return progress, True
    return progress, False


def _guarded(world: World, step, *args):
    """``step(*args)``, a collective's failure inside it (DDP's gradient sums) raised as WorkerLost."""
    try:
        return step(*args)
    except RuntimeError as failure:
        found = lost(failure) if world.size > 1 else None
        if found is None:
            raise
        raise found from None


def evaluate(trainer: TorchTrainer, x: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    """Loss and accuracy in evaluation mode over ``x``, each worker scoring its part with rank 0's
    running statistics (the ones a checkpoint holds)."""
    world = trainer.world
    world.broadcast_buffers(trainer.holder)
    rows = world.shard(len(x))
    total, correct, counted, examples = world.sum([*trainer.score(x[rows], y[rows]), rows.stop - rows.start])
    return {"loss": total / trainer.loss_terms(int(examples)), "accuracy": correct / counted if counted else None}


def _finish_epoch(trainer: TorchTrainer, progress: Progress, validation, rate: float) -> None:
    """``cnnc.training``'s end of an epoch: the history's new row, the epoch counted."""
    history = progress.history
    history["loss"].append(progress.loss_sum / max(progress.seen, 1))
    history["accuracy"].append(progress.correct / progress.counted if progress.counted else None)
    if validation is not None:
        x, y = validation
        scores = evaluate(trainer, x, trainer.model.targets(y, len(x)))
    else:
        scores = {"loss": None, "accuracy": None}
    history["val_loss"].append(scores["loss"])
    history["val_accuracy"].append(scores["accuracy"])
    history["lr"].append(rate)
    history["seconds"].append(progress.seconds)
    history["images"].append(progress.seen)
    progress.epoch += 1
    trainer.model.optimizer.epoch = progress.epoch
    progress.batch, progress.loss_sum, progress.correct, progress.counted, progress.seen = 0, 0.0, 0, 0, 0
    progress.seconds = 0.0
