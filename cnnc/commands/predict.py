"""``cnnc predict MODEL.npz INPUT...``: the top-k classes of ``.npy`` arrays and PNG/PGM/PPM images,
fitted to the model's input with a message for each conversion."""

from __future__ import annotations

import argparse

from rich.console import Console

from cnnc.commands.common import EXIT_OK, open_model, positive, write_json


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
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    # NumPy and the backend load here, not when the CLI starts: `cnnc check` never needs them.
    from cnnc.commands.data import print_notes
    from cnnc.data import load_inputs
    from cnnc.render.training import top_k_table

    model = open_model(args.model)
    x, names, notes = load_inputs(args.inputs, model.network.report.input, args.resize)
    print_notes(tuple(notes), err)
    outputs = model.predict(x)
    classes = outputs.shape[-1]
    outputs = outputs.reshape(len(x), -1, classes).mean(axis=1)  # a spatial output: averaged per class
    saved = (model.run_state or {}).get("classes") or []
    labels = list(saved) if len(saved) == classes else [str(i) for i in range(classes)]
    probabilities = model.program.ends_in_softmax
    k = min(args.top_k, classes)
    if args.format == "json":
        write_json(out, [{"input": name, "top": [{"class": labels[i], "index": int(i), "score": float(scores[i])}
                                                  for i in (-scores).argsort(kind="stable")[:k]]}
                          for name, scores in zip(names, outputs)])
        return EXIT_OK
    for name, scores in zip(names, outputs):
        out.print(name, style="bold", highlight=False, soft_wrap=True)
        out.print(top_k_table(scores, labels, k, probabilities), end="", soft_wrap=True)
    return EXIT_OK
