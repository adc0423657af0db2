"""``cnnc eval MODEL.npz --data SOURCE``: loss, accuracy, per-class accuracy and a confusion matrix on
the source's test set (the same held-out part as ``cnnc train`` used)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cnnc.commands.common import DATA_HELP, EXIT_OK, add_backend_option, open_model, require_backend, write_json
from cnnc.errors import CannotRun

if TYPE_CHECKING:
    from rich.console import Console


def register(commands) -> None:
    parser = commands.add_parser(
        "eval", help="evaluate a trained model on data",
        description="Loss, accuracy, per-class accuracy and the confusion matrix of a model on a data set's "
                    "test part (the same held-out examples `cnnc train` tested on).")
    parser.add_argument("model", metavar="MODEL.npz", help="a model written by `cnnc train`")
    parser.add_argument("--data", metavar="SOURCE", help=DATA_HELP + " (default: the data it was trained on)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--no-download", action="store_true", help="never download data sets")
    add_backend_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    # NumPy and the backend load here, not when the CLI starts: `cnnc check` never needs them.
    from cnnc.commands.data import load_splits, print_notes
    from cnnc.render.training import confusion_matrix, confusion_table, per_class_table, percent

    require_backend(args.backend)
    model = open_model(args.model, args.backend, args.threads)
    state = model.run_state or {}
    source = args.data or state.get("data")
    if not source:
        raise CannotRun(f"{args.model} does not say what data it was trained on", "give --data SOURCE")
    seed = state.get("holdout_seed", state.get("plan", {}).get("seed", 0))
    splits = load_splits(source, model, seed, not args.no_download, err, evaluating=True)
    print_notes(splits.notes, err)
    test = splits.test
    scores, outputs = model.evaluate_outputs(test.x, test.y)
    classes = model.network.report.output.channels
    predicted = outputs.reshape(-1, classes).argmax(axis=1)
    counts = confusion_matrix(predicted, test.y.reshape(-1), classes)
    names = list(test.classes) if len(test.classes) == classes else [str(i) for i in range(classes)]
    if args.format == "json":
        write_json(out, {
            "model": args.model, "data": source, "examples": len(test), "loss": scores["loss"],
            "accuracy": scores["accuracy"], "classes": names,
            "per_class_accuracy": [_ratio(int(counts[i, i]), int(counts[i].sum())) for i in range(classes)],
            "confusion": counts.tolist()})
        return EXIT_OK
    out.print(f"{model.network.name} on {len(test):,} examples of {test.name}: loss {scores['loss']:.4f}, "
              f"accuracy {percent(scores['accuracy'])}", highlight=False, soft_wrap=True)
    out.print(per_class_table(counts, names), end="", soft_wrap=True)
    out.print()
    out.print(confusion_table(counts, names), end="", soft_wrap=True)
    return EXIT_OK


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None
