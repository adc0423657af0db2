"""A compiled network with its weights: predict, train (``fit``), evaluate, save."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnc import optim
from cnnc.backends.numpy import Pass, Program
from cnnc.backends.numpy.losses import mean_squared_error, softmax_cross_entropy
from cnnc.training import Callbacks, Plan, Progress, class_hits, train

if TYPE_CHECKING:
    from cnnc.api import Network

LOSSES = ("crossentropy", "mse")
DTYPES = ("float32", "float64")


class Model:
    """A network lowered to a backend, with its parameters (``params``: the live arrays, named
    ``<layer>.<what>`` such as ``conv1.weight``) and buffers (batchnorm's running statistics).
    Arrays are channels-last, as the spec's input: (N, *spatial, channels)."""

    def __init__(self, network: Network, seed: int = 0, dtype: str = "float32", loss: str | None = None) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
        self.network = network
        self.program = Program(network.ir, network.report)
        self.dtype = np.dtype(dtype)
        self.seed = seed
        recipe = self.recipe
        self.loss = loss or recipe.get("loss") or ("crossentropy" if self.program.ends_in_softmax else "mse")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        self.params, self.buffers = self.program.init(seed, self.dtype)
        self.optimizer: optim.Optimizer | None = None
        self.rng = np.random.default_rng([seed, 1])  # dropout masks outside fit
        self._saved: tuple[list, bool] | None = None
        self.run_state: dict | None = None  # an unfinished training run, as saved in a checkpoint

    @property
    def recipe(self) -> dict:
        """The spec's ``train { }`` settings (empty without one)."""
        train = self.network.ir.train
        return dict(train.settings) if train else {}

    def __repr__(self) -> str:
        count = sum(p.size for p in self.params.values())
        return f"<cnnc.Model {self.network.name}: {count:,} parameters, {self.dtype}, loss {self.loss}>"

    # Inputs and targets -----------------------------------------------------------------

    def inputs(self, x: np.ndarray) -> np.ndarray:
        """``x`` as a contiguous array of the model's dtype; a clear error for a wrong shape."""
        x = np.asarray(x)
        expected = self.network.report.input.dims
        if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != tuple(expected):
            shape = "x".join(map(str, expected))
            raise ValueError(f"expected inputs of shape (N, {', '.join(map(str, expected))}) for input {shape}, "
                             f"got {x.shape}")
        return np.ascontiguousarray(x, dtype=self.dtype)

    def _targets(self, y: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        """Class labels for cross-entropy; for mse, targets shaped like the outputs (class labels
        become one-hot vectors)."""
        y = np.asarray(y)
        classes = outputs.shape[-1]
        if self.loss == "mse" and y.shape == outputs.shape:
            return y.astype(self.dtype, copy=False)
        labels = np.issubdtype(y.dtype, np.integer) and y.size * classes == outputs.size
        if self.loss == "mse" and not labels:
            if y.shape != outputs.shape:
                raise ValueError(f"expected targets of shape {outputs.shape} for the mse loss, got {y.shape}")
            return y.astype(self.dtype, copy=False)
        if not labels:
            raise ValueError(f"expected {outputs.size // classes} integer class labels, got {y.dtype} {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= classes):
            raise ValueError(f"class labels must lie in [0, {classes}), found {y.min()}..{y.max()}")
        if self.loss == "crossentropy":
            return y.reshape(-1)
        return np.eye(classes, dtype=self.dtype)[y.reshape(outputs.shape[:-1])]

    # Forward and backward ---------------------------------------------------------------

    def forward(self, x: np.ndarray, training: bool = False, seed: int | None = None) -> np.ndarray:
        """The network's outputs; keeps what ``backward`` needs. ``seed`` fixes dropout's masks."""
        rng = self.rng if seed is None else np.random.default_rng(seed)
        outputs, caches = self.program.forward(self.inputs(x), self.params, Pass(training, rng, self.buffers))
        self._saved = (caches, False)
        return outputs

    def backward(self, doutputs: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Gradients of a scalar whose gradient with respect to the last ``forward``'s outputs is
        ``doutputs``: (d input, d params)."""
        if self._saved is None:
            raise RuntimeError("backward needs a forward pass first")
        caches, logits = self._saved
        doutputs = np.asarray(doutputs, dtype=self.dtype)
        dx, grads = self.program.backward(doutputs, caches, self.params, need_dx=True, logits=logits)
        return (dx if dx.flags.writeable else dx.copy()), grads

    def batch_loss(self, x: np.ndarray, y: np.ndarray, run: Pass, grads: bool):
        """The loss on one batch: (loss, gradients or None, the outputs, for accuracy)."""
        fused = self.loss == "crossentropy"
        outputs, caches = self.program.forward(x, self.params, run, logits=fused)
        targets = self._targets(y, outputs)
        loss, doutputs = (softmax_cross_entropy if fused else mean_squared_error)(outputs, targets)
        if not grads:
            return loss, None, outputs
        _, found = self.program.backward(doutputs, caches, self.params, logits=fused)
        return loss, found, outputs

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, training: bool = True,
                       seed: int | None = None) -> tuple[float, dict[str, np.ndarray]]:
        """The loss on one batch and its gradient for every parameter (same keys as ``params``).
        Training mode by default: dropout active, batchnorm on batch statistics (and its running
        statistics updated). ``seed`` fixes dropout's masks."""
        rng = self.rng if seed is None else np.random.default_rng(seed)
        loss, grads, _ = self.batch_loss(self.inputs(x), y, Pass(training, rng, self.buffers), grads=True)
        return loss, grads

    # Inference --------------------------------------------------------------------------

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """The network's outputs in evaluation mode (probabilities if the spec ends in softmax)."""
        x = self.inputs(x)
        run = Pass(False, self.rng, self.buffers, for_backward=False)
        parts = [self.program.forward(x[start:start + batch_size], self.params, run)[0]
                 for start in range(0, len(x), batch_size)]
        if not parts:
            return np.zeros((0, *self.network.report.output.dims), dtype=self.dtype)
        return np.concatenate(parts)

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> dict[str, float | None]:
        """Loss and accuracy (None for targets that are not class labels) in evaluation mode."""
        return self.evaluate_outputs(x, y, batch_size)[0]

    def evaluate_outputs(self, x: np.ndarray, y: np.ndarray,
                         batch_size: int = 256) -> tuple[dict[str, float | None], np.ndarray]:
        """``evaluate``'s scores and the outputs they came from, in one pass (with the cross-entropy
        loss, the logits before the final softmax: the same ranking of classes)."""
        x, y = self.inputs(x), np.asarray(y)
        run = Pass(False, self.rng, self.buffers, for_backward=False)
        total, correct, counted = 0.0, 0, 0
        parts = []
        for start in range(0, len(x), batch_size):
            stop = start + batch_size
            loss, _, outputs = self.batch_loss(x[start:stop], y[start:stop], run, grads=False)
            parts.append(outputs)
            total += loss * len(outputs)
            hits = class_hits(outputs, y[start:stop])
            if hits is not None:
                correct, counted = correct + hits[0], counted + hits[1]
        outputs = np.concatenate(parts) if parts else np.zeros((0, *self.network.report.output.dims), self.dtype)
        return {"loss": total / max(len(x), 1), "accuracy": correct / counted if counted else None}, outputs

    # Training ---------------------------------------------------------------------------

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int | None = None, batch_size: int | None = None,
            optimizer: optim.Optimizer | None = None, validation: tuple[np.ndarray, np.ndarray] | None = None,
            seed: int | None = None, shuffle: bool = True, verbose: bool = False) -> dict[str, list]:
        """Train with minibatches; settings not given come from the spec's ``train { }`` section.
        Returns the history: per epoch ``loss``, ``accuracy`` (training, as measured during the
        epoch), ``val_loss``, ``val_accuracy`` (with ``validation`` or the recipe's ``val_split``),
        ``lr``, ``seconds`` and ``images`` (examples seen). ``val_split`` holds out the last part of ``x``. A schedule counts
        epochs across calls with the same optimizer (a resumed run stays on its schedule)."""
        recipe = self.recipe
        epochs = epochs or recipe.get("epochs", 1)
        batch_size = batch_size or recipe.get("batch", 32)
        seed = recipe.get("seed", 0) if seed is None else seed
        self.optimizer = optimizer or self.optimizer or optim.from_recipe(recipe)
        x, y = self.inputs(x), np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"{len(x)} inputs but {len(y)} targets")
        if validation is None and recipe.get("val_split"):
            keep = len(x) - int(round(len(x) * recipe["val_split"]))
            x, y, validation = x[:keep], y[:keep], (x[keep:], y[keep:])
        first = self.optimizer.epoch
        plan = Plan(first + epochs, batch_size, seed, shuffle)
        progress, _ = train(self, x, y, plan, validation, Progress(epoch=first),
                            _PrintEpochs() if verbose else None)
        return progress.history

    def save(self, path: str | Path) -> None:
        """Write weights, buffers, optimizer state, the spec's text and metadata to one ``.npz``."""
        from cnnc.checkpoint import save_model
        save_model(self, path, self.run_state)


def _epoch_line(epoch: int, history: dict[str, list]) -> str:
    parts = [f"epoch {epoch}", f"loss {history['loss'][-1]:.4f}"]
    for key in ("accuracy", "val_loss", "val_accuracy"):
        value = history[key][-1]
        if value is not None:
            parts.append(f"{key} {value:.4f}")
    parts.append(f"{history['seconds'][-1]:.1f}s")
    return "  ".join(parts)


class _PrintEpochs(Callbacks):
    """``fit(verbose=True)``: a line per epoch."""

    def epoch_done(self, progress: Progress) -> None:
        print(_epoch_line(progress.epoch, progress.history))
