"""What training, evaluation and prediction show: a progress bar per epoch, an epoch table, a
loss/accuracy curve (a PNG with matplotlib, a sparkline without), confusion matrices, top-k tables."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cnnc.frozen import frozen
from cnnc.render.styled import StyledText
from cnnc.render.text import Column, aligned
from cnnc.training import Callbacks
from cnnc.training import Progress as RunProgress

if TYPE_CHECKING:
    from cnnc.data import Dataset

SPARKS = "▁▂▃▄▅▆▇█"


def percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


class TrainingDisplay(Callbacks):
    """A rich progress bar per epoch (batches, loss, accuracy, images/second, ETA) and a summary
    line when each epoch ends. On a console that is not a terminal, only the summary lines."""

    def __init__(self, console: Console, epochs: int, validation_name: str = "validation") -> None:
        self.console = console
        self.epochs = epochs
        self.validation_name = validation_name
        self.bar: Progress | None = None
        self.task = None
        self.started = 0.0
        self.images = 0

    def epoch_started(self, epoch: int, batches: int, done: int, rate: float) -> None:
        self.started = time.perf_counter()
        self.images = 0
        if not self.console.is_terminal:
            return
        self.bar = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("loss {task.fields[loss]}  acc {task.fields[accuracy]}  "
                                       "{task.fields[speed]} img/s"), TimeRemainingColumn(),
                            console=self.console, transient=True)
        self.task = self.bar.add_task("train", total=batches, completed=done, epoch=f"{epoch + 1}/{self.epochs}",
                                      loss="-", accuracy="-", speed="-")
        self.bar.start()

    def batch_done(self, progress: RunProgress, batch_loss: float, size: int) -> None:
        self.images += size
        if self.bar is None:
            return
        seconds = time.perf_counter() - self.started
        accuracy = progress.correct / progress.counted if progress.counted else None
        self.bar.update(self.task, advance=1, loss=f"{progress.loss_sum / max(progress.seen, 1):.4f}",
                        accuracy=percent(accuracy) or "-", speed=f"{self.images / max(seconds, 1e-9):,.0f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def epoch_done(self, progress: RunProgress) -> None:
        self.close()
        history = progress.history
        row = len(history["loss"]) - 1
        parts = [f"epoch {progress.epoch}/{self.epochs}", f"loss {number(history['loss'][row])}"]
        if history["accuracy"][row] is not None:
            parts.append(f"acc {percent(history['accuracy'][row])}")
        if history["val_loss"][row] is not None:
            parts.append(f"{self.validation_name} loss {number(history['val_loss'][row])}")
        if history["val_accuracy"][row] is not None:
            parts.append(f"{self.validation_name} acc {percent(history['val_accuracy'][row])}")
        parts.append(f"{images_per_second(history, row):,.0f} img/s")
        self.console.print("  ".join(parts), highlight=False, soft_wrap=True)


@frozen
class RunSets:
    """The examples of a ``cnnc train`` run: what it trains on, what it scores after every epoch (named
    ``held_out_name``: "validation" for a ``val_split`` of the training data, else "test") and the test
    set it is scored on at the end (the held-out set itself when that is the test set)."""

    source: str
    train: Dataset
    held_out: Dataset
    held_out_name: str
    test: Dataset
    val_split: float


def run_header(name: str, model, plan, sets: RunSets, target: Path, progress: RunProgress) -> str:
    """What a run is about to do: the whole recipe (as ``train { }`` settings), the data and their sizes,
    where checkpoints go, and for a resumed run where it resumes."""
    parameters = sum(value.size for value in model.params.values())
    optimizer = model.optimizer
    batches = math.ceil(len(sets.train) / plan.batch_size)
    recipe = f"epochs={plan.epochs} batch={plan.batch_size} seed={plan.seed} loss={model.loss}"
    if sets.val_split:
        recipe += f" val_split={sets.val_split:g}"
    schedule = optimizer.schedule
    if schedule.settings()["schedule"] != "constant":  # the rate changes: its first and last value
        last = optimizer.lr * schedule.factor(plan.epochs - 1, plan.epochs)
        recipe += f"; lr {optimizer.lr:g} in epoch 1, {last:.3g} in epoch {plan.epochs}"
    lines = [f"Training {name} ({parameters:,} parameters, {model.dtype}) on {sets.source}",
             f"  recipe      {optimizer.describe()}",
             f"              {recipe}",
             (f"  training    {len(sets.train):,} examples ({sets.train.name}): {batches:,} batch"
              f"{'es' if batches != 1 else ''} of {plan.batch_size} an epoch, shuffled by seed {plan.seed}")]
    if sets.held_out_name == "validation":
        lines.append(f"  validation  {len(sets.held_out):,} examples held out from the end of the training data "
                     f"(val_split={sets.val_split:g}), scored after every epoch")
        lines.append(f"  test        {len(sets.test):,} examples ({sets.test.name}), scored when training ends")
    else:
        lines.append(f"  test        {len(sets.test):,} examples ({sets.test.name}), scored after every epoch")
    lines.append(f"  checkpoint  {target}, written after every epoch")
    if progress.epoch or progress.batch:
        lines.append(f"  resuming    at epoch {progress.epoch + 1} of {plan.epochs}, batch {progress.batch + 1} of "
                     f"{batches:,}")
    return "\n".join(lines)


def images_per_second(history: dict[str, list], row: int) -> float:
    return history["images"][row] / max(history["seconds"][row], 1e-9) if "images" in history else 0.0


def epoch_table(history: dict[str, list], validation_name: str) -> StyledText:
    columns = tuple(Column(header, right=True) for header in (
        "Epoch", "Loss", "Accuracy", f"{validation_name.capitalize()} loss", f"{validation_name.capitalize()} accuracy",
        "LR", "Seconds", "Images/s"))
    rows = [(str(row + 1), number(history["loss"][row]), percent(history["accuracy"][row]),
             number(history["val_loss"][row]), percent(history["val_accuracy"][row]), f"{history['lr'][row]:.4g}",
             f"{history['seconds'][row]:.1f}", f"{images_per_second(history, row):,.0f}")
            for row in range(len(history["loss"]))]
    return aligned(columns, rows)


def sparkline(values: list[float | None]) -> str:
    """``▁▃▅▇``: each value's height between the smallest and the largest."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = high - low or 1.0
    return "".join(" " if v is None else SPARKS[round((v - low) / span * (len(SPARKS) - 1))] for v in values)


def plot_history(history: dict[str, list], path: Path, validation_name: str = "validation") -> bool:
    """A PNG of the loss and accuracy curves (the held-out set's named ``validation_name``); False when
    matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = range(1, len(history["loss"]) + 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, history["loss"], marker="o", label="training")
    if any(v is not None for v in history["val_loss"]):
        left.plot(epochs, history["val_loss"], marker="o", label=validation_name)
    left.set(xlabel="epoch", ylabel="loss", title="Loss")
    left.legend()
    for key, label in (("accuracy", "training"), ("val_accuracy", validation_name)):
        if any(v is not None for v in history[key]):
            right.plot(epochs, [v if v is None else 100 * v for v in history[key]], marker="o", label=label)
    right.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    right.legend()
    from matplotlib.ticker import MaxNLocator

    for axes in (left, right):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def confusion_matrix(predicted: np.ndarray, actual: np.ndarray, classes: int) -> np.ndarray:
    """counts[actual, predicted]."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (actual, predicted), 1)
    return counts


def per_class_table(counts: np.ndarray, names: list[str]) -> StyledText:
    columns = (Column("Class"), Column("Examples", right=True), Column("Correct", right=True),
               Column("Accuracy", right=True))
    rows = []
    for index, name in enumerate(names):
        total, correct = int(counts[index].sum()), int(counts[index, index])
        rows.append((name, f"{total:,}", f"{correct:,}", percent(correct / total) if total else ""))
    return aligned(columns, rows)


def confusion_table(counts: np.ndarray, names: list[str]) -> StyledText:
    """Rows: the actual class; columns: the predicted class."""
    columns = (Column("actual \\ predicted"),) + tuple(Column(name, right=True) for name in names)
    rows = [(name, *(f"{value:,}" if value else "." for value in counts[index])) for index, name in enumerate(names)]
    return aligned(columns, rows)


def top_k_table(scores: np.ndarray, names: list[str], k: int, probabilities: bool) -> StyledText:
    columns = (Column("Rank", right=True), Column("Class"), Column("Probability" if probabilities else "Score",
                                                                    right=True))
    rows = [(str(rank), names[index], percent(float(scores[index])) if probabilities else f"{float(scores[index]):.4g}")
            for rank, index in enumerate(np.argsort(-scores, kind="stable")[:k], start=1)]
    return aligned(columns, rows)


def predictions_table(names: list[str], outputs: np.ndarray, labels: list[str], k: int, probabilities: bool,
                      marks: list[str]) -> StyledText:
    """One line per input: its most likely class and score, then the next ``k - 1``, and a mark
    (inputs unlike the training data)."""
    def shown(score: float) -> str:
        return percent(score) if probabilities else f"{score:.4g}"

    rows = []
    for name, scores, mark in zip(names, outputs, marks):
        ranked = np.argsort(-scores, kind="stable")[:k]
        following = ", ".join(f"{labels[i]} {shown(float(scores[i]))}" for i in ranked[1:])
        rows.append((name, labels[ranked[0]], shown(float(scores[ranked[0]])), following, mark))
    columns = (Column("Input"), Column("Class"), Column("Probability" if probabilities else "Score", right=True),
               Column("Next" if k > 1 else ""), Column("Note" if any(marks) else ""))
    return aligned(columns, rows)
