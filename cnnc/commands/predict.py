"""``cnnc predict MODEL.npz INPUT...``: the top-k classes of ``.npy`` arrays and PNG/PGM/PPM images,
fitted to the model's input with a message for each conversion."""

from __future__ import annotations

import argparse

from cnnc.commands.common import EXIT_OK, add_backend_option, open_model, positive, require_backend, write_json_rows

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:
    from rich.console import Console


def register(commands) -> None:
    parser = commands.add_parser(
        "predict", help="classify arrays and images with a trained model",
        description="Print the most likely classes of each input: .npy arrays (one example or a batch) and "
                    "PNG, PGM or PPM images, converted and resized to the model's input when they differ.")
    parser.add_argument("model", metavar="MODEL.npz", help="a model written by `cnnc train`")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help=".npy, .png, .pgm or .ppm files")
    parser.add_argument("--top-k", type=positive, default=3, help="classes to show per input (default 3)")
    parser.add_argument("--resize", choices=("bilinear", "nearest"), default="bilinear",
                        help="how images of another size are resized")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_backend_option(parser)
    parser.set_defaults(run=run)


MAX_WARNINGS = 10  # inputs whose difference from the training data is spelled out; the rest are counted


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    # NumPy and the backend load here, not when the CLI starts: `cnnc check` never needs them.
    from cnnc.commands.data import print_notes
    from cnnc.data import load_inputs
    from cnnc.render.training import predictions_table, top_k_table

    require_backend(args.backend)
    model = open_model(args.model, args.backend, args.threads)
    x, names, notes = load_inputs(args.inputs, model.network.report.input, args.resize)
    print_notes(tuple(notes), err)
    statistics = model.input_statistics
    unlike = statistics.unlike(x) if statistics is not None else [None] * len(x)
    outputs = model.predict(x)
    classes = outputs.shape[-1]
    outputs = outputs.reshape(len(x), -1, classes).mean(axis=1)  # a spatial output: averaged per class
    saved = (model.run_state or {}).get("classes") or []
    labels = list(saved) if len(saved) == classes else [str(i) for i in range(classes)]
    probabilities = model.program.ends_in_softmax
    k = min(args.top_k, classes)
    if args.format == "json":
        best = (-outputs).argsort(axis=1, kind="stable")[:, :k].tolist()
        write_json_rows(out, [{"input": name, "top": [{"class": labels[i], "index": i, "score": float(scores[i])}
                                                      for i in order],
                               "unlike_training_data": None if reason is None else str(reason)}
                              for name, scores, order, reason in zip(names, outputs, best, unlike)])
        return EXIT_OK
    _warn(names, unlike, err)
    if len(names) == 1:
        out.print(names[0], style="bold", highlight=False, soft_wrap=True)
        out.print(top_k_table(outputs[0], labels, k, probabilities), end="", soft_wrap=True)
    else:
        marks = ["unlike the training data" if reason else "" for reason in unlike]
        out.print(predictions_table(names, outputs, labels, k, probabilities, marks), end="", soft_wrap=True)
    return EXIT_OK


def _warn(names: list[str], unlike: list, err: Console) -> None:
    """A warning for each input far from the training data (``cnnc.input_statistics``), the first
    ``MAX_WARNINGS`` in full."""
    flagged = [(name, reason) for name, reason in zip(names, unlike) if reason]
    for name, reason in flagged[:MAX_WARNINGS]:
        err.print(f"cnnc: warning: {name} is unlike the training data: {reason.reason}\n  help: {reason.hint}",
                  markup=False, highlight=False, soft_wrap=True)
    if len(flagged) > MAX_WARNINGS:
        err.print(f"cnnc: warning: {len(flagged) - MAX_WARNINGS:,} more inputs are unlike the training data "
                  f"({len(flagged):,} of {len(names):,} in all)", markup=False, highlight=False, soft_wrap=True)
