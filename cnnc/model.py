"""A compiled network with its weights: predict, train (``fit``), evaluate, save."""

from __future__ import annotations

import contextlib
import math
import os
import threading

import numpy as np

from cnnc import ir, optim, shard_processes, shards
from cnnc.api import Network
from cnnc.arguments import BACKENDS, bad_argument, choice, flag, path_argument, positive_number, whole_number
from cnnc.backends.numpy import Pass, Program
from cnnc.backends.numpy.losses import mean_squared_error, softmax_cross_entropy
from cnnc.input_statistics import InputStatistics
from cnnc.training import Plan, Progress, class_hits, train

LOSSES = ("crossentropy", "mse")
DTYPES = ("float32", "float64")


class Model:
    """A network lowered to a backend, with its parameters (``params``: the live arrays, named
    ``<layer>.<what>`` such as ``conv1.weight``) and buffers (batchnorm's running statistics).
    Arrays are channels-last, as the spec's input: (N, *spatial, channels).

    Every method raises TypeError for an argument of the wrong type and ValueError for one of the
    right type that it cannot use (a wrong shape, no examples, NaN or infinite values, class labels
    outside [0, classes)); each message names the argument and says what it accepts.

    ``threads``: how many threads a batch is split across (``shards``): by default NumPy's BLAS thread
    count when first needed; a training step's shards after the first run in worker processes on Linux
    (``shard_processes``), which end with the model. Several threads may call ``predict`` and ``evaluate`` on
    one model at once (each thread runs its own copy of the lowered kernels and their scratch buffers), and
    ``loss_and_grads`` unless it trains through batchnorm (running statistics are updated in place);
    ``forward``/``backward`` keep the last pass on the model, and ``fit`` updates its parameters."""

    def __init__(self, network: Network, seed: int = 0, dtype: str = "float32", loss: str | None = None,
                 backend: str = "numpy", draw_weights: bool = True, threads: int | None = None) -> None:
        """``draw_weights`` false: parameters start at zero, for a caller that loads them (``load_model``)."""
        if not isinstance(network, Network):
            raise TypeError(bad_argument("network", "a cnnc.Network (from cnnc.load or cnnc.loads)", network))
        self.network = network
        self.dtype = np.dtype(choice(dtype, "dtype", DTYPES))
        self.seed = whole_number(seed, "seed", minimum=0)
        if loss is not None:
            choice(loss, "loss", LOSSES)
        self.backend = choice(backend, "backend", BACKENDS)
        if backend == "numba":
            from cnnc.backends.numba import Program as NumbaProgram

            self.program = NumbaProgram(network.ir, network.report)
        else:
            self.program = Program(network.ir, network.report)
        recipe = self.recipe
        self.loss = loss or recipe.get("loss") or ("crossentropy" if self.program.ends_in_softmax else "mse")
        self.params, self.buffers = self.program.init(self.seed, self.dtype, draw=flag(draw_weights, "draw_weights"))
        self.optimizer: optim.Optimizer | None = None
        self.rng = np.random.default_rng([self.seed, 1])  # dropout masks outside fit
        self._saved: tuple[list, bool, tuple[int, ...]] | None = None
        self.run_state: dict | None = None  # an unfinished training run, as saved in a checkpoint
        self.input_statistics: InputStatistics | None = None  # of the data it was trained on (see fit)
        self._threads: int | None = None
        self.threads = threads
        self._owner = threading.get_ident()  # the thread that uses ``program``; others lower their own
        self._local = threading.local()
        layers = list(ir.walk(network.ir.layers))
        self._couples_examples = any(isinstance(node, ir.BatchNorm) for node in layers)  # in training
        self._draws_masks = any(isinstance(node, (ir.Dropout, ir.DropPath)) and node.p > 0 for node in layers)
        self._workers = shard_processes.ModelWorkers()  # for training steps' shards (``batch_loss``)

    @property
    def threads(self) -> int:
        """Threads a batch is split across: given to ``compile``, set here, or NumPy's BLAS thread count
        when first asked (``OPENBLAS_NUM_THREADS``). None restores that default."""
        if self._threads is None:
            from cnnc.blas_threads import initial_threads

            return initial_threads()
        return self._threads

    @threads.setter
    def threads(self, count: int | None) -> None:
        self._threads = None if count is None else whole_number(count, "threads")

    def _shard_count(self, examples: int, floor: str = "min_shard_macs") -> int:
        """Shards for a batch of ``examples`` (``threads`` asked only for a batch that could be split): none
        with fewer than ``shards.MIN_SHARD`` examples, nor, on a backend that says so (its attribute ``floor``:
        ``min_shard_macs``, or ``min_process_shard_macs`` for shards in processes), with fewer
        multiply-accumulates in its forward pass."""
        if examples < 2 * shards.MIN_SHARD:
            return 1
        count = shards.shard_count(self.threads, examples)
        floors = self._floors_of_work(examples, floor)
        if count > 1 and floors is not None:
            count = max(1, min(count, floors))
        return count

    def _training_shard_count(self, examples: int) -> int:
        """``_shard_count`` for a training step: with the floor of shards in worker processes where they run."""
        return self._shard_count(examples, "min_process_shard_macs" if self._workers.usable else "min_shard_macs")

    def _floors_of_work(self, examples: int, floor: str = "min_shard_macs") -> int | None:
        """How many times the backend's least work for a shard (its attribute ``floor``) the forward pass of a
        batch of ``examples`` holds, rounded down; None on a backend without that floor."""
        least = getattr(self.program, floor, 0)
        return examples * self.network.report.totals.macs // least if least else None

    def _whole_batch(self, examples: int):
        """The context a batch that is not split runs in: one BLAS thread when one thread was asked (``threads=1``
        holds OpenBLAS to one thread too, as its "one BLAS thread each" says), or when several were asked but the
        batch's forward pass has less work than two shards would each get (``min_shard_macs``); OpenBLAS's
        threads then cost more than they give (LeNet-5 at batch 64, Numba backend, training steps: 7.2-7.9 ms on
        2 BLAS threads, 5.9-7.0 on one, in alternated runs, when that batch was below the floor). Else nothing
        changes."""
        floors = self._floors_of_work(examples)
        if self._threads == 1 or (self.threads > 1 and floors is not None and floors < 2):
            from cnnc import blas_threads  # ctypes: loaded when first needed (start-up)

            if blas_threads.controllable():
                return blas_threads.one_thread_each()
        return contextlib.nullcontext()

    def step_threads(self, examples: int) -> int:
        """Threads that share a training step's work on a batch of ``examples``: its shards, then the
        optimizer's update (``Optimizer.step``)."""
        return self._training_shard_count(examples)

    def _program_here(self):
        """The lowered program for the calling thread: ``program`` in the thread that made the model, a
        copy lowered on first use in any other (kernels keep scratch buffers from call to call)."""
        if threading.get_ident() == self._owner:
            return self.program
        found = getattr(self._local, "program", None)
        if found is None:
            found = self._local.program = type(self.program)(self.network.ir, self.network.report)
        return found

    @property
    def recipe(self) -> dict:
        """The spec's ``train { }`` settings (empty without one)."""
        train = self.network.ir.train
        return dict(train.settings) if train else {}

    def __str__(self) -> str:
        """``lenet5: 61,706 parameters, float32, crossentropy loss, momentum lr=0.05, 5 epochs trained``."""
        count = sum(p.size for p in self.params.values())
        text = f"{self.network.name}: {count:,} parameters, {self.dtype}, {self.loss} loss"
        if self.optimizer is None:
            return text + ", untrained"
        settings = self.optimizer.settings()
        epochs = self.optimizer.epoch
        return text + f", {settings['optimizer']} lr={settings['lr']:g}, {epochs} epoch{'s' if epochs != 1 else ''} trained"

    def __repr__(self) -> str:
        return f"<cnnc.Model {self}>"

    def _repr_html_(self) -> str:
        """The network's table under a heading that says what the model holds, for notebooks."""
        from cnnc.render.html import report_html

        return report_html(self.network.report, heading=str(self))

    # Inputs and targets -----------------------------------------------------------------

    def inputs(self, x: np.ndarray, argument: str = "x") -> np.ndarray:
        """``x`` as a contiguous array of the model's dtype, checked: numbers of the input's shape,
        none NaN or infinite. ``argument``: the name errors give it."""
        x = _numbers(x, argument)
        expected = self.network.report.input.dims
        if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != tuple(expected):
            raise ValueError(f"expected inputs of shape (N, {', '.join(map(str, expected))}) for input "
                             f"{self.network.report.input} in {argument}, got an array of shape {x.shape}")
        x = _finite(x, argument)
        with np.errstate(over="ignore"):  # float64 values beyond float32's range become inf
            cast = np.ascontiguousarray(x, dtype=self.dtype)
        if cast.dtype != x.dtype and not _all_finite(cast):
            raise ValueError(f"{argument} holds values too large for {self.dtype}")
        return cast

    def targets(self, y: np.ndarray, count: int, argument: str = "y") -> np.ndarray:
        """``y`` checked as the targets of ``count`` examples: integer class labels in [0, classes)
        (one per output position), or for mse, real targets shaped like the outputs."""
        y = _finite(_numbers(y, argument), argument)
        shape = (count, *self.network.report.output.dims)
        if y.ndim == 0 or len(y) != count:
            raise ValueError(f"expected {count:,} targets in {argument} (one per example), "
                             f"got an array of shape {y.shape}")
        classes = shape[-1]
        if self._labels(y, shape):
            if y.size and (y.min() < 0 or y.max() >= classes):
                raise ValueError(f"class labels must lie in [0, {classes}), but {argument} holds {y.min()}..{y.max()}")
        elif self.loss == "crossentropy":
            raise ValueError(f"expected {math.prod(shape[:-1]):,} integer class labels in {argument} for the "
                             f"crossentropy loss, got {y.dtype} values of shape {y.shape}")
        elif y.shape != shape:
            raise ValueError(f"expected targets of shape {shape} in {argument} for the mse loss, got {y.shape}")
        return y

    def _labels(self, y: np.ndarray, shape: tuple[int, ...]) -> bool:
        """Whether ``y`` holds class labels (an integer per output position) for outputs of
        ``shape``, rather than mse targets shaped like them."""
        if self.loss == "mse" and y.shape == shape:
            return False
        return np.issubdtype(y.dtype, np.integer) and y.size * shape[-1] == math.prod(shape)

    def _targets(self, y: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        """One batch of ``targets`` as the loss takes them: class labels for cross-entropy; for mse,
        targets shaped like the outputs (class labels become one-hot vectors)."""
        if not self._labels(y, outputs.shape):
            return y.astype(self.dtype, copy=False)
        if self.loss == "crossentropy":
            return y.reshape(-1)
        return np.eye(outputs.shape[-1], dtype=self.dtype)[y.reshape(outputs.shape[:-1])]

    def _examples(self, x: np.ndarray, y: np.ndarray,
                  names: tuple[str, str] = ("x", "y")) -> tuple[np.ndarray, np.ndarray]:
        """Checked inputs and targets of at least one example; ``names``: what errors call them."""
        x = self.inputs(x, names[0])
        if not len(x):
            raise ValueError(f"{names[0]} holds no examples; at least one is needed")
        return x, self.targets(y, len(x), names[1])

    def _generator(self, seed: int | None) -> np.random.Generator:
        return self.rng if seed is None else np.random.default_rng(whole_number(seed, "seed", minimum=0))

    # Forward and backward ---------------------------------------------------------------

    def forward(self, x: np.ndarray, training: bool = False, seed: int | None = None) -> np.ndarray:
        """The network's outputs; keeps what ``backward`` needs. ``seed`` fixes dropout's masks."""
        run = Pass(flag(training, "training"), self._generator(seed), self.buffers)
        outputs, caches = self._program_here().forward(self.inputs(x), self.params, run)
        self._saved = (caches, False, outputs.shape)
        return outputs

    def backward(self, doutputs: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Gradients of a scalar whose gradient with respect to the last ``forward``'s outputs is
        ``doutputs``: (d input, d params)."""
        if self._saved is None:
            raise RuntimeError("backward needs a forward pass first")
        caches, logits, shape = self._saved
        doutputs = _numbers(doutputs, "doutputs")
        if doutputs.shape != shape:
            raise ValueError(f"expected doutputs of the last forward's output shape {shape}, got {doutputs.shape}")
        doutputs = doutputs.astype(self.dtype, copy=False)
        dx, grads = self._program_here().backward(doutputs, caches, self.params, need_dx=True, logits=logits)
        return (dx if dx.flags.writeable else dx.copy()), grads

    def batch_loss(self, x: np.ndarray, y: np.ndarray, run: Pass, grads: bool):
        """The loss on one batch: (loss, gradients or None, the outputs, for accuracy). With several
        ``threads``, the batch in contiguous shards run in parallel, each with its share of the loss
        (``shards``); not in training when batchnorm normalises with the batch's statistics. Each shard
        draws dropout's masks for the whole batch from a copy of ``run.rng`` and keeps its part: the masks
        of the batch run whole."""
        if run.training and self._couples_examples:
            count = 1
        else:
            count = self._training_shard_count(len(x)) if run.training and grads else self._shard_count(len(x))
        if count == 1:
            with self._whole_batch(len(x)):
                return self._shard_loss(self._program_here(), x, y, run, grads, None)
        parts = shards.bounds(len(x), count)
        draws = run.training and self._draws_masks  # then each shard draws from a copy of the step's generator
        processes = None
        if run.training and grads:
            processes = self._workers.take(self, count, self.params, x[:parts[0][1]], self._worker_task,
                                           (count, self.loss, id(self.program)))
        try:
            runs = [Pass(run.training, _shard_generator(run, index, draws, processes is not None), run.buffers,
                         run.for_backward, (start, stop, len(x)), threaded=processes is None)
                    for index, (start, stop) in enumerate(parts)]
            if processes is None:
                found = shards.run(parts, lambda index, start, stop: self._shard_loss(
                    self._program_here(), x[start:stop], y[start:stop], runs[index], grads, len(x)))
            else:
                found = processes.run(parts, x, y, runs, len(x), self.params, lambda: self._shard_loss(
                    self._program_here(), x[:parts[0][1]], y[:parts[0][1]], runs[0], grads, len(x)))
        finally:
            if processes is not None:
                self._workers.give_back()
        if draws:  # the step's generator ends where the whole batch's draws leave it
            run.rng.bit_generator.state = runs[0].rng.bit_generator.state
        loss = sum(part[0] for part in found)
        outputs = np.concatenate([part[2] for part in found])
        if not grads:
            return loss, None, outputs
        first = found[0][1]
        total = {key: np.empty(value.shape, dtype=value.dtype) for key, value in first.items()}

        def add(key: str, part: slice) -> None:  # the shards' gradients in shard order
            into = shards.flat(total[key])[part]
            np.add(shards.flat(first[key])[part], shards.flat(found[1][1][key])[part], out=into)
            for _, grads_of_shard, _ in found[2:]:
                into += shards.flat(grads_of_shard[key])[part]
        shards.for_each_part(first, optim.elementwise_threads(first, count), add)
        return loss, total, outputs

    def _worker_task(self, params: dict[str, np.ndarray]):
        """In a worker process (``cnnc.shard_processes``; forked: this model is the worker's copy): read the
        parameters from ``params`` (the arena the caller copies them to) and return the function that runs one
        shard. The workers are forked anew when the model's loss or the shard count changes (their key)."""
        self.params = params
        program = self._program_here()

        def task(x: np.ndarray, y: np.ndarray, run: Pass, examples: int):
            return self._shard_loss(program, x, y, run, True, examples)
        return task

    def _shard_loss(self, program, x: np.ndarray, y: np.ndarray, run: Pass, grads: bool, examples: int | None):
        """``batch_loss`` of one shard of a batch of ``examples`` (None: the whole batch) by ``program``."""
        fused = self.loss == "crossentropy"
        if grads:
            outputs, caches = program.forward(x, self.params, run, logits=fused)
        else:
            outputs = program.infer(x, self.params, run, logits=fused)
        targets = self._targets(y, outputs)
        loss, doutputs = (softmax_cross_entropy if fused else mean_squared_error)(outputs, targets, examples)
        if not grads:
            return loss, None, outputs
        _, found = program.backward(doutputs, caches, self.params, logits=fused)
        return loss, found, outputs

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, training: bool = True,
                       seed: int | None = None) -> tuple[float, dict[str, np.ndarray]]:
        """The loss on one batch and its gradient for every parameter (same keys as ``params``).
        Training mode by default: dropout active, batchnorm on batch statistics (and its running
        statistics updated). ``seed`` fixes dropout's masks."""
        run = Pass(flag(training, "training"), self._generator(seed), self.buffers)
        x, y = self._examples(x, y)
        loss, grads, _ = self.batch_loss(x, y, run, grads=True)
        return loss, grads

    # Inference --------------------------------------------------------------------------

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """The network's outputs in evaluation mode (probabilities if the spec ends in softmax); no
        rows for no examples."""
        batch_size = whole_number(batch_size, "batch_size")
        x = self.inputs(x)
        run = Pass(False, self.rng, self.buffers, for_backward=False)
        parts = [self._infer(x[start:start + batch_size], run) for start in range(0, len(x), batch_size)]
        if not parts:
            return np.zeros((0, *self.network.report.output.dims), dtype=self.dtype)
        if len(parts) > 1:
            return np.concatenate(parts)
        return parts[0].copy() if np.may_share_memory(parts[0], x) else parts[0]  # never a view of the input

    def _infer(self, x: np.ndarray, run: Pass) -> np.ndarray:
        """The outputs of one batch, in shards on several ``threads``."""
        count = self._shard_count(len(x))
        if count == 1:
            with self._whole_batch(len(x)):
                return self._program_here().infer(x, self.params, run)
        found = shards.run(shards.bounds(len(x), count), lambda index, start, stop: self._program_here().infer(
            x[start:stop], self.params, run))
        return np.concatenate(found)

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> dict[str, float | None]:
        """Loss and accuracy (None for targets that are not class labels) in evaluation mode, over
        at least one example."""
        return self.evaluate_outputs(x, y, batch_size)[0]

    def evaluate_outputs(self, x: np.ndarray, y: np.ndarray,
                         batch_size: int = 256) -> tuple[dict[str, float | None], np.ndarray]:
        """``evaluate``'s scores and the outputs they came from, in one pass (with the cross-entropy
        loss, the logits before the final softmax: the same ranking of classes)."""
        batch_size = whole_number(batch_size, "batch_size")
        x, y = self._examples(x, y)
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
        scores = {"loss": total / len(x), "accuracy": correct / counted if counted else None}
        return scores, np.concatenate(parts)

    # Training ---------------------------------------------------------------------------

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int | None = None, batch_size: int | None = None,
            optimizer: optim.Optimizer | None = None, validation: tuple[np.ndarray, np.ndarray] | None = None,
            seed: int | None = None, shuffle: bool = True, verbose: int | str = "auto") -> dict[str, list]:
        """Train with minibatches; settings not given come from the spec's ``train { }`` section.
        Returns the history: per epoch ``loss``, ``accuracy`` (training, as measured during the
        epoch), ``val_loss``, ``val_accuracy`` (with ``validation`` or the recipe's ``val_split``),
        ``lr``, ``seconds`` and ``images`` (examples seen). ``val_split`` holds out the last part of
        ``x`` (one example at least). A schedule counts epochs across calls with the same optimizer (a
        resumed run stays on its schedule). ``verbose``, as Keras: 0 silent, 1 a progress bar per
        epoch, 2 a line per epoch, ``"auto"`` the bar on a terminal or in a notebook and a line per
        epoch elsewhere. The statistics of ``x`` (the training part) are kept in ``input_statistics``
        for ``cnnc predict``. Raises ValueError for no examples or an optimizer whose ``lr`` is not
        above 0, before training starts."""
        from cnnc.render.progbar import KerasProgress, verbosity

        recipe = self.recipe
        epochs = whole_number(recipe.get("epochs", 1) if epochs is None else epochs, "epochs")
        batch_size = whole_number(recipe.get("batch", 32) if batch_size is None else batch_size, "batch_size")
        seed = whole_number(recipe.get("seed", 0) if seed is None else seed, "seed", minimum=0)
        shuffle, verbose = flag(shuffle, "shuffle"), verbosity(verbose)
        if optimizer is not None and not isinstance(optimizer, optim.Optimizer):
            raise TypeError(bad_argument("optimizer", "a cnnc.optim optimizer (SGD, Adam, AdamW) or None", optimizer))
        optimizer = optimizer or self.optimizer or optim.from_recipe(recipe)
        positive_number(optimizer.lr, "optimizer.lr")
        x, y = self._examples(x, y)
        if validation is not None:
            if not isinstance(validation, (tuple, list)) or len(validation) != 2:
                raise TypeError(bad_argument("validation", "a pair (x, y) of arrays, or None", validation))
            validation = self._examples(*validation, names=("validation[0]", "validation[1]"))
        elif recipe.get("val_split"):
            x, y, validation = _hold_out(x, y, recipe["val_split"])
        self.optimizer = optimizer
        self.input_statistics = InputStatistics.measure(x)
        first = self.optimizer.epoch
        plan = Plan(first + epochs, batch_size, seed, shuffle)
        display = KerasProgress(first + epochs, bar=verbose == 1) if verbose else None
        progress, _ = train(self, x, y, plan, validation, Progress(epoch=first), display)
        return progress.history

    def save(self, path: str | os.PathLike) -> None:
        """Write weights, buffers, optimizer state, the spec's text and metadata to one ``.npz``;
        OSError if it cannot be written."""
        from cnnc.checkpoint import save_model
        save_model(self, path_argument(path), self.run_state)


def _shard_generator(run: Pass, index: int, draws: bool, in_processes: bool) -> np.random.Generator | None:
    """What shard ``index``'s pass draws from: a copy of the step's generator where the network draws masks
    (each shard draws the whole batch's), else the step's own, or none for a worker process's shard (it draws
    nothing, and a generator costs some 40 us a step to send)."""
    if draws:
        return _copy(run.rng)
    return None if in_processes and index else run.rng


def _copy(generator: np.random.Generator) -> np.random.Generator:
    """A generator in the same state as ``generator`` (the same draws to come), advancing on its own."""
    bits = type(generator.bit_generator)()
    bits.state = generator.bit_generator.state
    return np.random.Generator(bits)


def _numbers(values: object, argument: str) -> np.ndarray:
    """``values`` as an array of numbers (booleans, integers or reals)."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as problem:  # ragged nested lists
        raise ValueError(f"{bad_argument(argument, 'an array of numbers', values)} ({problem})") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(bad_argument(argument, "an array of numbers", values))
    return array


def _all_finite(array: np.ndarray) -> bool:
    """Whether ``array`` holds no NaN or infinite value (its min and max: no temporary as large as it)."""
    return array.dtype.kind != "f" or not array.size or bool(np.isfinite(array.min()) and np.isfinite(array.max()))


def _finite(array: np.ndarray, argument: str) -> np.ndarray:
    if not _all_finite(array):
        raise ValueError(f"{argument} holds NaN or infinite values")
    return array


def _hold_out(x: np.ndarray, y: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(x, y, validation): the last ``fraction`` of the examples held out, one at least, as
    ``cnnc train`` does."""
    held = max(1, round(len(x) * fraction))
    if held >= len(x):
        raise ValueError(f"x holds {len(x)} example{'s' if len(x) > 1 else ''}: too few to hold out the recipe's "
                         f"val_split={fraction} and train on the rest")
    keep = len(x) - held
    return x[:keep], y[:keep], (x[keep:], y[keep:])
