"""What ``Model.fit`` prints, as Keras does: ``verbose=1`` a progress bar per epoch (redrawn in place on a
terminal or in a notebook), ``verbose=2`` one line per epoch, ``"auto"`` the bar where it can be redrawn
and a line per epoch elsewhere (a log file, a pipe, CI). Plain writes to ``sys.stdout``: no rich."""

from __future__ import annotations

import sys
import time
from numbers import Integral
from typing import TextIO

from cnnc.arguments import bad_argument
from cnnc.training import Callbacks, Progress

VERBOSITY = (0, 1, 2, "auto")
BAR_WIDTH = 20
REDRAW_SECONDS = 0.05  # at most twenty redraws a second, as Keras


def verbosity(value: object) -> int:
    """``fit``'s ``verbose`` as 0, 1 or 2: ``"auto"`` is 1 where a bar can be redrawn in place, else 2;
    True and False are 1 and 0 (as for Keras, where they are the integers)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value == "auto":
        return 1 if redrawable(sys.stdout) else 2
    if isinstance(value, Integral) and value in (0, 1, 2):
        return int(value)
    if not isinstance(value, (Integral, str)):
        raise TypeError(bad_argument("verbose", '0, 1, 2 or "auto"', value))
    raise ValueError(bad_argument("verbose", '0 (silent), 1 (a progress bar), 2 (a line per epoch) or "auto"', value))


def redrawable(stream: TextIO) -> bool:
    """Whether a line can be redrawn in place with a carriage return: a terminal or a Jupyter kernel's
    output stream."""
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return True
    except ValueError:  # a closed stream
        return False
    return type(stream).__module__.startswith("ipykernel")


def duration(seconds: float) -> str:
    """``3s``, ``1:05``, ``1:02:05``, as Keras writes times."""
    whole = round(seconds)
    if whole >= 3600:
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    if whole >= 60:
        return f"{whole // 60}:{whole % 60:02d}"
    return f"{whole}s"


def per_step(seconds: float) -> str:
    """``12ms/step``."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def metrics_text(values: dict[str, float | None]) -> str:
    """`` - accuracy: 0.9123 - loss: 0.2871``: known values, by name as Keras orders them."""
    return "".join(f" - {name}: {value:.4f}" for name, value in sorted(values.items()) if value is not None)


class KerasProgress(Callbacks):
    """``Epoch 3/5`` then, per batch, ``37/125 ━━━━━━────────────── 2s 14ms/step - accuracy: ... - loss: ...``
    (the time is what is left), finished with the epoch's time and the validation scores. ``bar``:
    False prints the finished line only (``verbose=2`` without the bar: ``125/125 - 2s - 14ms/step - ...``)."""

    def __init__(self, epochs: int, bar: bool = True, stream: TextIO | None = None) -> None:
        self.epochs, self.bar = epochs, bar
        self.stream = stream or sys.stdout
        self.redraw = bar and redrawable(self.stream)
        self.glyphs = "━─" if _encodes(self.stream, "━─") else "=."
        self.batches = self.done = self.first = 0
        self.started = self.drawn = 0.0
        self.width = 0  # of the last line drawn, to blank it out when the next is shorter

    def epoch_started(self, epoch: int, batches: int, done: int, rate: float) -> None:
        self.batches, self.done, self.first = batches, done, done
        self.started = time.perf_counter()
        self.drawn, self.width = 0.0, 0
        self.stream.write(f"Epoch {epoch + 1}/{self.epochs}\n")
        self.stream.flush()

    def batch_done(self, progress: Progress, batch_loss: float, size: int) -> None:
        self.done = progress.batch
        now = time.perf_counter()
        if not self.redraw or (now - self.drawn < REDRAW_SECONDS and self.done < self.batches):
            return
        self.drawn = now
        step = (now - self.started) / max(self.done - self.first, 1)
        running = {"loss": progress.loss_sum / max(progress.seen, 1),
                   "accuracy": progress.correct / progress.counted if progress.counted else None}
        self._draw(f"{self._bar()} {duration(step * (self.batches - self.done))} {per_step(step)}"
                   f"{metrics_text(running)}", end="")

    def epoch_done(self, progress: Progress) -> None:
        history = progress.history
        seconds = history["seconds"][-1]
        step = seconds / max(self.batches - self.first, 1)
        scores = {key: history[key][-1] for key in ("loss", "accuracy", "val_loss", "val_accuracy")}
        timing = f" {duration(seconds)} {per_step(step)}" if self.bar else f" - {duration(seconds)} - {per_step(step)}"
        self._draw(f"{self._bar()}{timing}{metrics_text(scores)}", end="\n")

    def _bar(self) -> str:
        counter = f"{self.done:>{len(str(self.batches))}}/{self.batches}"
        if not self.bar:
            return counter
        filled = BAR_WIDTH * self.done // max(self.batches, 1)
        return f"{counter} {self.glyphs[0] * filled}{self.glyphs[1] * (BAR_WIDTH - filled)}"

    def _draw(self, line: str, end: str) -> None:
        """``line`` over the one drawn before (a carriage return, then blanks over its longer tail)."""
        if self.redraw:
            self.stream.write("\r" + line + " " * max(self.width - len(line), 0) + end)
        else:
            self.stream.write(line + end)
        self.width = 0 if end else len(line)
        self.stream.flush()


def _encodes(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
