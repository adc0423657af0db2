"""``cnnc train SPEC --data SOURCE``: compile a spec and train it, with a checkpoint after every
epoch, Ctrl-C that stops cleanly, and ``--resume`` that reaches the same weights as a run that never
stopped."""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cnnc.commands import train_torch
from cnnc.commands.common import DATA_HELP, EXIT_ERRORS, EXIT_OK, UsageError, add_threads_option, \
    checked_spec, checkpoint_kept, open_model, require_backend
from cnnc.errors import CannotRun

if TYPE_CHECKING:  # the analysis, NumPy and the backend load when a run starts, not when the CLI does
    from rich.console import Console

    from cnnc.api import Network
    from cnnc.data import Dataset
    from cnnc.render.training import TrainingDisplay
    from cnnc.training import NonFiniteLoss, Progress

EXIT_INTERRUPTED = 130

# Command-line flags that override the spec's `train { }` settings: flag -> setting.
OVERRIDES = {"epochs": "epochs", "batch_size": "batch", "lr": "lr", "optimizer": "optimizer",
             "momentum": "momentum", "weight_decay": "weight_decay", "schedule": "schedule",
             "val_split": "val_split", "seed": "seed", "loss": "loss"}


def register(commands) -> None:
    parser = commands.add_parser(
        "train", help="compile a spec and train it on data",
        description="Train a spec on a data set. Settings come from the spec's `train { }` section; flags "
                    "override them. A checkpoint is written after every epoch; Ctrl-C finishes the batch, "
                    "writes a checkpoint and says how to resume. Exit 0 when training finished, 1 when the "
                    "spec has errors or the loss diverged, 2 when cnnc could not run, 130 when interrupted.")
    parser.add_argument("spec", metavar="SPEC", help="the .cnn file")
    parser.add_argument("--data", metavar="SOURCE", help=DATA_HELP + " (default with --resume: the checkpoint's)")
    recipe = parser.add_argument_group("recipe", "override the spec's `train { }` settings")
    recipe.add_argument("--epochs", help="epochs in all (with --resume: the new total)")
    recipe.add_argument("--batch-size", help="examples per step")
    recipe.add_argument("--lr", help="learning rate")
    recipe.add_argument("--optimizer", help="sgd, momentum, adam or adamw")
    recipe.add_argument("--momentum", help="SGD momentum, in [0, 1)")
    recipe.add_argument("--weight-decay", help="L2 penalty (decoupled for adamw)")
    recipe.add_argument("--schedule", help="constant, step or cosine")
    recipe.add_argument("--val-split", help="fraction of the training data held out for validation")
    recipe.add_argument("--seed", help="seed of the weights, the data order and dropout")
    recipe.add_argument("--loss", help="crossentropy or mse")
    parser.add_argument("--backend", choices=("numpy", "numba", "torch"), default="numpy",
                        help="what does the arithmetic: cnnc's NumPy kernels, its compiled Numba kernels "
                             "(pip install 'cnnc[numba]'), or PyTorch (same checkpoints)")
    add_threads_option(parser, training=True)
    train_torch.register(parser)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="value type")
    parser.add_argument("--out", metavar="MODEL.npz", help="the model and its checkpoints (default: SPEC's stem "
                        ".npz in the current folder; with --resume, the checkpoint)")
    parser.add_argument("--resume", metavar="CHECKPOINT.npz", help="continue an interrupted run")
    parser.add_argument("--log", metavar="METRICS.jsonl", help="append a JSON line of metrics per epoch")
    parser.add_argument("--no-download", action="store_true", help="never download data sets")
    parser.set_defaults(run=run)


def recipe_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The flags given, checked as the spec's settings are; a bad value is a usage error."""
    from cnnc.catalog import TRAIN_SETTINGS
    from cnnc.values import BadValue

    found: dict[str, object] = {}
    for flag, setting in OVERRIDES.items():
        text = getattr(args, flag)
        if text is None:
            continue
        value = text if setting in ("optimizer", "schedule", "loss") else _number(text)
        try:
            found[setting] = TRAIN_SETTINGS[setting].convert(_symbol(value))
        except BadValue as problem:
            option = "--" + flag.replace("_", "-")
            raise UsageError(f"cnnc train: argument {option}: {problem.message}"
                             + (f" ({problem.hint})" if problem.hint else "")) from None
    return found


def _number(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _symbol(value: object) -> object:
    from cnnc.values import Symbol

    return Symbol(value) if isinstance(value, str) else value


class Interrupt:
    """Ctrl-C asks the run to stop after the current batch; a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self.previous = None

    def __enter__(self) -> Interrupt:
        import signal

        try:
            self.previous = signal.signal(signal.SIGINT, self.handle)
        except ValueError:  # not the main thread: no handler, Ctrl-C behaves as usual
            self.previous = None
        return self

    def handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


class Run:
    """The command's side of a run (the hooks of ``cnnc.training.Callbacks``): the display, a
    checkpoint and a log line after every epoch, and stopping on Ctrl-C."""

    def __init__(self, model, state: dict, out: Path, log: Path | None, display: TrainingDisplay,
                 interrupt: Interrupt) -> None:
        self.model, self.state, self.out, self.log = model, state, out, log
        self.display, self.interrupt = display, interrupt
        self.saved_epoch: int | None = None

    def epoch_started(self, epoch: int, batches: int, done: int, rate: float) -> None:
        self.display.epoch_started(epoch, batches, done, rate)

    def batch_done(self, progress: Progress, batch_loss: float, size: int) -> None:
        self.display.batch_done(progress, batch_loss, size)

    def epoch_done(self, progress: Progress) -> None:
        self.display.epoch_done(progress)
        self.checkpoint(progress)
        self.saved_epoch = progress.epoch
        if self.log is not None:
            history = progress.history
            prefix = "test_" if self.display.validation_name == "test" else "val_"  # the name the display gives it
            row = {key.replace("val_", prefix): history[key][-1] for key in history}
            row.update({"event": "epoch", "epoch": progress.epoch,
                        "images_per_second": history["images"][-1] / max(history["seconds"][-1], 1e-9)})
            import json

            with self.log.open("a", encoding="utf-8") as file:
                file.write(json.dumps(row) + "\n")

    def should_stop(self) -> bool:
        return self.interrupt.requested

    def checkpoint(self, progress: Progress) -> None:
        """Write the model and the run's state atomically (a crash leaves the previous file)."""
        self.model.run_state = {**self.state, "progress": progress.to_json()}
        self.model.save(self.out)


def _silent() -> Console:
    from rich.console import Console

    return Console(file=io.StringIO())


def _same_architecture(network: Network, saved: Network) -> bool:
    def layout(net: Network) -> list:
        return [(row.name, row.kind, row.output, row.params, row.buffers) for row in net.report.layers]
    return layout(network) == layout(saved) and network.report.input == saved.report.input


def _resumed(args: argparse.Namespace, network: Network, overrides: dict, err: Console):
    """(model, state) from ``--resume``, after checking that it fits the spec."""
    model = open_model(args.resume, _array_backend(args), args.threads)
    state = model.run_state
    if not state or model.optimizer is None:
        raise CannotRun(f"{args.resume} holds no training run to resume",
                       "it was not written by `cnnc train`; train from scratch with --out")
    if not _same_architecture(network, model.network):
        raise CannotRun(f"{args.resume} was trained from a different architecture than {args.spec}",
                       "resume with the spec it was trained from, or start a new run")
    ignored = sorted(set(overrides) - {"epochs"})
    if ignored:
        err.print(f"cnnc: resuming: the checkpoint's recipe is used; ignoring {', '.join(ignored)}",
                  markup=False, highlight=False, soft_wrap=True)
    if "epochs" in overrides:
        state["plan"]["epochs"] = overrides["epochs"]
    return model, state


def _fresh(args: argparse.Namespace, network: Network, overrides: dict):
    """(model, state) of a new run: the spec's recipe with the flags over it."""
    from dataclasses import asdict

    from cnnc import optim
    from cnnc.training import Plan

    recipe = {**(network.ir.train.settings if network.ir.train else {}), **overrides}
    model = network.compile(backend=_array_backend(args), seed=recipe.get("seed", 0), dtype=args.dtype,
                            loss=recipe.get("loss"), threads=args.threads)
    model.optimizer = optim.from_recipe(recipe)
    plan = Plan(epochs=recipe.get("epochs", 1), batch_size=recipe.get("batch", 32), seed=recipe.get("seed", 0))
    state = {"plan": asdict(plan), "recipe": recipe, "data": args.data, "val_split": recipe.get("val_split", 0.0)}
    return model, state


def _array_backend(args: argparse.Namespace) -> str:
    """The backend the model's own arrays run on: numba if asked for, else numpy (torch copies them)."""
    return "numba" if args.backend == "numba" else "numpy"


def _writable(target: Path) -> None:
    """Make the model's folder, and fail now rather than after the first epoch if it cannot be written."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as problem:
        raise CannotRun(f"cannot create {target.parent}: {problem.strerror or problem}") from None
    if not os.access(target.parent, os.W_OK) or target.is_dir():
        raise CannotRun(f"cannot write the model to {target}", "choose another --out")


def _validation(train_set: Dataset, test_set: Dataset, val_split: float) -> tuple[Dataset, Dataset, str]:
    """(training examples, validation examples, the validation set's name): the last ``val_split``
    of the training set, or the test set."""
    if val_split:
        held = max(1, int(round(len(train_set) * val_split)))
        kept, validation = train_set.split_at(len(train_set) - held)
        return kept, validation, "validation"
    return train_set, test_set, "test"


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    session = train_torch.prepare(args)
    if session is None:
        return _run(args, out, err, None)
    out, err = session.consoles(out, err)
    try:
        code = _run(args, out, err, session)
    except CannotRun:
        if session.lead:
            raise
        code = EXIT_ERRORS  # rank 0 says why
    finally:
        session.close()
    session.end_worker(code)
    return code


def _run(args: argparse.Namespace, out: Console, err: Console, session: train_torch.TorchSession | None) -> int:
    """The run, on the NumPy backend (``session`` None) or torch: alone, as a worker, or launching workers."""
    from cnnc.commands.data import load_splits, print_notes
    from cnnc.input_statistics import InputStatistics
    from cnnc.render.training import RunSets, TrainingDisplay, run_header
    from cnnc.training import NonFiniteLoss, Plan, Progress, train

    overrides = recipe_overrides(args)
    if args.threads is not None and args.backend == "torch":
        raise UsageError("cnnc train: argument --threads: not with --backend torch (torch sets its own threads: "
                         "OMP_NUM_THREADS, or --nproc for workers)")
    require_backend(args.backend)
    network = checked_spec(args.spec, out)
    if network is None:
        return EXIT_ERRORS
    if args.resume:
        quiet = session is not None and session.launches  # the workers' rank 0 says it
        model, state = _resumed(args, network, overrides, _silent() if quiet else err)
        target = Path(args.out or args.resume)
    else:
        if not args.data:
            raise UsageError("cnnc train: --data is required (unless --resume gives the checkpoint's)")
        model, state = _fresh(args, network, overrides)
        target = Path(args.out or f"{Path(args.spec).stem}.npz")
    _writable(target)
    source = args.data or state.get("data")
    if not source:
        raise CannotRun(f"{args.resume} does not say what data it was trained on", "give --data SOURCE")
    state["data"] = source
    plan = Plan(**state["plan"])
    progress = Progress.from_json(state["progress"]) if "progress" in state else Progress()
    if progress.epoch >= plan.epochs:
        raise CannotRun(f"the run in {args.resume} has already trained {progress.epoch} of {plan.epochs} epochs",
                       "give a larger total with --epochs to train on")
    splits = load_splits(source, model, state.get("holdout_seed", plan.seed), not args.no_download, err)
    if session is not None and session.launches:  # the data are checked and cached: the workers take over
        return session.launch(args, target, source, err)
    print_notes(splits.notes, err)
    state["classes"] = list(splits.train.classes)
    val_split = state.get("val_split", 0.0)
    train_set, validation_set, validation_name = _validation(splits.train, splits.test, val_split)
    if model.input_statistics is None:
        model.input_statistics = InputStatistics.measure(train_set.x)
    sets = RunSets(source, train_set, validation_set, validation_name, splits.test, val_split)
    header = run_header(network.name, model, plan, sets, target, progress)
    if session is not None:
        header += "\n" + session.header(plan.batch_size)
    out.print(header, highlight=False, soft_wrap=True)
    log = Path(args.log) if args.log and (session is None or session.lead) else None
    display = TrainingDisplay(out, plan.epochs, validation_name)
    failures = session.failures if session else ()  # a lost worker
    from cnnc.shard_processes import WorkerLost
    with Interrupt() as interrupt:
        callbacks = Run(model, state, target, log, display, interrupt)
        try:
            progress, stopped = (session.train if session else train)(
                model, train_set.x, train_set.y, plan, (validation_set.x, validation_set.y), progress, callbacks)
        except NonFiniteLoss as failure:
            display.close()
            return _diverged(failure, model, callbacks, err)
        except failures as failure:
            display.close()
            return session.failed(failure, callbacks.saved_epoch, target, err)
        except WorkerLost as failure:
            display.close()
            return _worker_lost(failure, callbacks, err)
        except KeyboardInterrupt:
            display.close()
            kept = f"the last checkpoint ({target}, epoch {callbacks.saved_epoch})" if callbacks.saved_epoch \
                else "no checkpoint"
            err.print(f"cnnc: stopped at once by a second Ctrl-C; {kept} is intact", markup=False, highlight=False)
            return EXIT_INTERRUPTED
    display.close()
    if session is not None and not session.lead:  # rank 0 writes, logs and reports
        return EXIT_INTERRUPTED if stopped else EXIT_OK
    if stopped:
        callbacks.checkpoint(progress)
        _log_event(log, {"event": "interrupted", "epoch": progress.epoch, "batch": progress.batch})
        err.print(f"cnnc: interrupted after batch {progress.batch} of epoch {progress.epoch + 1}; checkpoint "
                  f"written to {target}\n  resume with: cnnc train {args.spec} --resume {target}"
                  f"{session.resume_flags() if session else ''}",
                  markup=False, highlight=False, soft_wrap=True)
        return EXIT_INTERRUPTED
    return _finished(model, progress, splits.test, validation_name, target, log, out)


def _worker_lost(failure: Exception, callbacks: Run, err: Console) -> int:
    """A process that ran shards of the batches ended (``cnnc.shard_processes``): say so and what is kept."""
    kept = checkpoint_kept(callbacks.out, callbacks.saved_epoch)
    err.print(f"cnnc: error: training stopped: {failure}; {kept}\n  help: a process killed for memory? "
              "--threads 1 trains in this process alone", markup=False, highlight=False, soft_wrap=True)
    return EXIT_ERRORS


def _diverged(failure: NonFiniteLoss, model, callbacks: Run, err: Console) -> int:
    kept = checkpoint_kept(callbacks.out, callbacks.saved_epoch, "good")
    _log_event(callbacks.log, {"event": "diverged", "epoch": failure.epoch + 1, "batch": failure.batch + 1})
    err.print(f"cnnc: error: training diverged: {failure}; {kept}", markup=False, highlight=False, soft_wrap=True)
    err.print(f"  help: the learning rate ({model.optimizer.lr:g}) is probably too high: try --lr "
              f"{model.optimizer.lr / 10:g}; inputs far from [0, 1] can also blow up", markup=False,
              highlight=False, soft_wrap=True)
    return EXIT_ERRORS


def _log_event(log: Path | None, event: dict) -> None:
    if log is not None:
        import json

        with log.open("a", encoding="utf-8") as file:
            file.write(json.dumps(event) + "\n")


def _finished(model, progress: Progress, test_set: Dataset, validation_name: str, target: Path, log: Path | None,
              out: Console) -> int:
    from cnnc.render.training import epoch_table, percent, plot_history, sparkline

    history = progress.history
    out.print(epoch_table(history, validation_name), end="", soft_wrap=True)
    if validation_name == "test":  # the last epoch has just scored the final weights on it
        scores = {"loss": history["val_loss"][-1], "accuracy": history["val_accuracy"][-1]}
    else:
        scores = model.evaluate(test_set.x, test_set.y)
    _log_event(log, {"event": "finished", "test_loss": scores["loss"], "test_accuracy": scores["accuracy"]})
    summary = f"test loss {scores['loss']:.4f}"
    if scores["accuracy"] is not None:
        summary += f", test accuracy {percent(scores['accuracy'])} on {len(test_set):,} examples"
    out.print(summary, highlight=False)
    plot = target.with_suffix(".png")
    if plot_history(history, plot, validation_name):
        out.print(f"curves: {plot}", highlight=False)
    else:
        label = f"{validation_name} accuracy"
        out.print(f"{'loss':<{len(label)}}  {sparkline(history['loss'])}  ({history['loss'][0]:.4f} -> "
                  f"{history['loss'][-1]:.4f})", highlight=False)
        accuracy = history["val_accuracy"] if any(v is not None for v in history["val_accuracy"]) else None
        if accuracy:
            out.print(f"{label}  {sparkline(accuracy)}  ({percent(accuracy[0])} -> {percent(accuracy[-1])})",
                      highlight=False)
    out.print(f"model: {target}", highlight=False)
    return EXIT_OK

