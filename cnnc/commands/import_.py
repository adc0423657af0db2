"""``cnnc import MODEL.onnx [-o SPEC.cnn] [--weights MODEL.npz] [--partial]``: an ONNX model as a
readable spec (and its weights as a cnnc checkpoint)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from cnnc.commands.common import EXIT_ERRORS, EXIT_OK
from cnnc.errors import CannotRun

if TYPE_CHECKING:
    from rich.console import Console


def register(commands) -> None:
    parser = commands.add_parser(
        "import", help="write an ONNX model as a spec",
        description="Read an ONNX model (torch.onnx.export's, or any exporter's) and write it as a spec: the "
                    "language's layers, residual/concat/add/multiply blocks for its forks and joins, repeated "
                    "stretches as def and repeat. Exit 0 when written, 1 when the model has something the "
                    "language cannot say (the node is named; nothing is written unless --partial), 2 when cnnc "
                    "could not run (no onnx package, unreadable or unwritable files).")
    parser.add_argument("model", metavar="MODEL.onnx", help="the ONNX file")
    parser.add_argument("-o", "--out", metavar="SPEC.cnn", help="the spec to write (default: standard output)")
    parser.add_argument("--weights", metavar="MODEL.npz",
                        help="also write the model's weights as a cnnc checkpoint (for cnnc eval, train --resume)")
    parser.add_argument("--partial", action="store_true",
                        help="when part of the model cannot be said, write the part before it, with a comment")
    parser.add_argument("--no-fold", action="store_true", help="write every layer out: no def or repeat")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from cnnc.export import require

    require("onnx", "onnx", "`cnnc import`")
    from cnnc.commands.compile import _destination

    for name in (args.out, args.weights):
        if name is not None:
            _destination(name)
    from cnnc.importer import NotImportable, import_onnx

    if not Path(args.model).is_file():
        from cnnc.near_names import did_you_mean  # difflib: only on this error
        raise CannotRun(f"cannot read {args.model}: " + ("it is a folder" if Path(args.model).is_dir()
                                                          else "no such file"), did_you_mean(args.model))
    try:
        imported = import_onnx(args.model, partial=args.partial, fold=not args.no_fold)
    except NotImportable as problem:
        err.print(f"cnnc: error: {problem.message}", markup=False, highlight=False, soft_wrap=True)
        if problem.help:
            err.print(f"  help: {problem.help}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_ERRORS
    except OSError as problem:
        raise CannotRun(f"cannot read {args.model}: {problem.strerror or problem}") from None
    from cnnc.importer.weights import check_spec, save_checkpoint

    network = check_spec(imported.text, args.model)
    written = []
    try:
        if args.out:
            from cnnc.atomic import write_atomically

            write_atomically(Path(args.out), lambda file: file.write(imported.text.encode("utf-8")))
            written.append(args.out)
        else:
            out.file.write(imported.text)
        if args.weights:
            save_checkpoint(network, imported.layers, args.weights)
            written.append(args.weights)
    except OSError as problem:
        raise CannotRun(f"cannot write {problem.filename or args.out}: {problem.strerror or problem}") from None
    if written:
        totals = network.report.totals
        stopped = f"; stopped early: {imported.stopped}" if imported.stopped else ""
        err.print(f"{network.name}: wrote {', '.join(written)} ({len(network.report.layers):,} layers, "
                  f"{totals.params:,} parameters{stopped})", markup=False, highlight=False, soft_wrap=True)
    return EXIT_ERRORS if imported.stopped else EXIT_OK

