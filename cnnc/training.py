"""The training loop: minibatches in an order fixed by (seed, epoch), dropout masks fixed by
(seed, epoch, batch), so a run stopped after any batch and resumed from its checkpoint reaches the
same weights as one that never stopped."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from cnnc.arguments import flag, whole_number
from cnnc.backends.numpy import Pass

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "images")


@dataclass
class Plan:
    """How to train: the total number of epochs, the batch size, the seed of the data order.
    TypeError or ValueError for a setting it cannot use."""

    epochs: int
    batch_size: int
    seed: int = 0
    shuffle: bool = True

    def __post_init__(self) -> None:
        self.epochs = whole_number(self.epochs, "epochs", minimum=0)
        self.batch_size = whole_number(self.batch_size, "batch_size")
        self.seed = whole_number(self.seed, "seed", minimum=0)
        self.shuffle = flag(self.shuffle, "shuffle")


@dataclass
class Progress:
    """Where a run is: epochs completed, batches completed in the current epoch, the running sums
    of the current epoch, and the history of completed epochs. Saved in checkpoints."""

    epoch: int = 0
    batch: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    counted: int = 0
    seen: int = 0
    seconds: float = 0.0
    history: dict[str, list] = field(default_factory=lambda: {key: [] for key in HISTORY_KEYS})

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Progress:
        return cls(**data)


class NonFiniteLoss(Exception):
    """The loss or a gradient became NaN or infinite; no step was taken with it."""

    def __init__(self, epoch: int, batch: int, loss: float, what: str) -> None:
        super().__init__(f"{what} became {loss} at epoch {epoch + 1}, batch {batch + 1}")
        self.epoch, self.batch, self.loss, self.what = epoch, batch, loss, what


class Callbacks:
    """Hooks of a run; the default does nothing and never stops."""

    def epoch_started(self, epoch: int, batches: int, done: int, rate: float) -> None:
        pass

    def batch_done(self, progress: Progress, batch_loss: float, size: int) -> None:
        pass

    def epoch_done(self, progress: Progress) -> None:
        pass

    def should_stop(self) -> bool:
        return False


def batch_order(count: int, plan: Plan, epoch: int) -> np.ndarray:
    """The order of the examples in an epoch: the same for the same seed and epoch."""
    if not plan.shuffle:
        return np.arange(count)
    return np.random.default_rng([plan.seed, epoch]).permutation(count)


def dropout_generator(plan: Plan, epoch: int, batch: int) -> np.random.Generator:
    return np.random.default_rng([plan.seed, epoch, batch, 1])


def class_hits(outputs: np.ndarray, y: np.ndarray) -> tuple[int, int] | None:
    """(correct, counted) for class labels or one-hot-like targets; None when not classification."""
    classes = outputs.shape[-1]
    predicted = outputs.reshape(-1, classes).argmax(axis=1)
    if np.issubdtype(y.dtype, np.integer):
        return int(np.count_nonzero(predicted == y.reshape(-1))), predicted.size
    if classes > 1 and y.shape == outputs.shape:
        return int(np.count_nonzero(predicted == y.reshape(-1, classes).argmax(axis=1))), predicted.size
    return None


def train(model, x: np.ndarray, y: np.ndarray, plan: Plan, validation: tuple[np.ndarray, np.ndarray] | None = None,
          progress: Progress | None = None, callbacks: Callbacks | None = None) -> tuple[Progress, bool]:
    """Train ``model`` (a ``cnnc.model.Model`` with an optimizer) from ``progress`` to ``plan.epochs``.
    Returns the progress and whether ``callbacks.should_stop`` ended the run early (after a whole
    batch). Raises NonFiniteLoss before taking a step with a NaN or infinite loss or gradient, and
    ValueError for no examples or targets that do not fit the model (``Model.targets``)."""
    if not len(x):
        raise ValueError("x holds no examples; at least one is needed")
    y = model.targets(y, len(x))
    progress = progress or Progress()
    callbacks = callbacks or Callbacks()
    optimizer = model.optimizer
    batches = math.ceil(len(x) / plan.batch_size)
    while progress.epoch < plan.epochs:
        epoch = progress.epoch
        rate = optimizer.set_epoch(epoch, plan.epochs)
        order = batch_order(len(x), plan, epoch)
        callbacks.epoch_started(epoch, batches, progress.batch, rate)
        started = time.perf_counter()
        for batch in range(progress.batch, batches):
            chosen = order[batch * plan.batch_size:(batch + 1) * plan.batch_size]
            run = Pass(True, dropout_generator(plan, epoch, batch), model.buffers)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # checked just below
                loss, grads, outputs = model.batch_loss(x[chosen], y[chosen], run, grads=True)
            if not math.isfinite(loss):
                raise NonFiniteLoss(epoch, batch, loss, "the loss")
            for key, grad in grads.items():
                if not np.isfinite(grad).all():
                    raise NonFiniteLoss(epoch, batch, loss, f"the gradient of `{key}`")
            optimizer.step(model.params, grads, model.step_threads(len(chosen)), model.program.compiled_updates)
            progress.batch = batch + 1
            progress.loss_sum += loss * len(chosen)
            progress.seen += len(chosen)
            hits = class_hits(outputs, y[chosen])
            if hits is not None:
                progress.correct += hits[0]
                progress.counted += hits[1]
            callbacks.batch_done(progress, loss, len(chosen))
            if callbacks.should_stop() and progress.batch < batches:
                progress.seconds += time.perf_counter() - started
                return progress, True
        progress.seconds += time.perf_counter() - started
        _finish_epoch(model, progress, validation, rate)
        callbacks.epoch_done(progress)
        if callbacks.should_stop() and progress.epoch < plan.epochs:
            return progress, True
    return progress, False


def _finish_epoch(model, progress: Progress, validation, rate: float) -> None:
    history = progress.history
    history["loss"].append(progress.loss_sum / max(progress.seen, 1))
    history["accuracy"].append(progress.correct / progress.counted if progress.counted else None)
    scores = model.evaluate(*validation) if validation is not None else {"loss": None, "accuracy": None}
    history["val_loss"].append(scores["loss"])
    history["val_accuracy"].append(scores["accuracy"])
    history["lr"].append(rate)
    history["seconds"].append(progress.seconds)
    history["images"].append(progress.seen)
    progress.epoch += 1
    model.optimizer.epoch = progress.epoch
    progress.batch, progress.loss_sum, progress.correct, progress.counted, progress.seen = 0, 0.0, 0, 0, 0
    progress.seconds = 0.0
