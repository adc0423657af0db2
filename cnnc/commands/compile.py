"""``cnnc compile SPEC --to TARGET -o OUT``: a checked spec, with trained or freshly initialised
weights, as a model for another engine. Each target is one entry of ``TARGETS``."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from cnnc.commands.common import EXIT_ERRORS, EXIT_OK, checked_spec, open_model
from cnnc.errors import CannotRun

if TYPE_CHECKING:  # the analysis, rich and the backends load when the command runs, not when the CLI starts
    from rich.console import Console

    from cnnc.model import Model


# Named tuples, not dataclasses: the CLI makes TARGETS as it starts, and dataclasses (with inspect)
# would cost every `cnnc --version` about 7 ms (python -X importtime).
class Written(NamedTuple):
    """What a target wrote, and a line that describes it."""

    files: list[Path]
    summary: str


class Target(NamedTuple):
    """A compilation target: ``write(model, out, with_weights)`` writes ``out`` (and any file beside it)
    and says what it wrote, raising CannotRun for what it cannot express and OSError for what it cannot
    write; it needs the ``module`` package, installed with ``cnnc[extra]``. A new target is one more
    entry in ``TARGETS``."""

    write: Callable[[Model, Path, bool], Written]
    description: str
    module: str | None = None
    extra: str | None = None


def _write_onnx(model: Model, out: Path, with_weights: bool) -> Written:
    from cnnc.backends.onnx import INPUT, OPSET, OUTPUT
    from cnnc.export import to_onnx

    to_onnx(model, out)
    report = model.network.report
    shapes = [", ".join(["batch", *map(str, (shape.channels, *shape.spatial))]) for shape in (report.input, report.output)]
    return Written([out], f"ONNX opset {OPSET}: input `{INPUT}` ({shapes[0]}), output `{OUTPUT}` ({shapes[1]})")


def _write_torch(model: Model, out: Path, with_weights: bool) -> Written:
    """The source file, and with weights their state_dict beside it (PyTorch is needed for those only)."""
    from cnnc.backends.torch_source import class_name, write_torch_source

    files = write_torch_source(model if with_weights else model.network, out)
    weights = ", weights as a state_dict" if with_weights else ""
    return Written(files, f"PyTorch source: class {class_name(model.network.name)}{weights}")


TARGETS: dict[str, Target] = {
    "onnx": Target(_write_onnx, "an ONNX model for ONNX Runtime and other engines", "onnx", "onnx"),
    "torch": Target(_write_torch, "a standalone PyTorch source file (and its state_dict with --weights)"),
}
"""The targets by name, in the order `cnnc compile --help` lists them."""


def register(commands) -> None:
    parser = commands.add_parser(
        "compile", help="write a spec as an ONNX (or other engine's) model",
        description="Compile a spec for another engine, with the weights of a `cnnc train` checkpoint or "
                    "initialised from a seed as `cnnc train` would. Exit 0 when written, 1 when the spec has "
                    "errors, 2 when cnnc could not compile it (unknown target, a checkpoint that does not fit, "
                    "an output that cannot be written, a missing optional package).",
        epilog="targets: " + "; ".join(f"{name}: {target.description}" for name, target in TARGETS.items()))
    parser.add_argument("spec", metavar="SPEC", help="the .cnn file; - reads stdin")
    parser.add_argument("--to", metavar="TARGET", required=True, help="what to write: " + ", ".join(TARGETS))
    parser.add_argument("-o", "--out", metavar="OUT", required=True, help="the file to write")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--weights", metavar="MODEL.npz", help="the weights of a model written by `cnnc train`")
    weights.add_argument("--seed", type=_seed, default=0,
                         help="without --weights, initialise the weights from this seed (default 0)")
    parser.set_defaults(run=run)


def _seed(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,19}", text):
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {text!r}")
    return int(text)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    target = _target(args.to)
    if target.module:
        from cnnc.export import require

        require(target.module, target.extra, f"`cnnc compile --to {args.to}`")
    destination = _destination(args.out)
    network = checked_spec(args.spec, out)
    if network is None:
        return EXIT_ERRORS
    from cnnc.backends.numpy import UnsupportedLayer

    try:
        model = network.compile(seed=args.seed)
    except UnsupportedLayer as problem:
        raise CannotRun(str(problem)) from None
    if args.weights:
        fit_weights(model, args.weights, args.spec)
    try:
        written = target.write(model, destination, bool(args.weights))
    except OSError as problem:
        raise CannotRun(f"cannot write {destination}: {problem.strerror or problem}") from None
    files = ", ".join(str(path) for path in written.files)
    out.print(f"{network.name}: wrote {files} ({written.summary})", markup=False, highlight=False, soft_wrap=True)
    return EXIT_OK


def _target(name: str) -> Target:
    if name not in TARGETS:
        raise CannotRun(f"unknown target {name!r}", "known targets: " + ", ".join(TARGETS))
    return TARGETS[name]


def _destination(name: str) -> Path:
    """The output path, checked before the work starts: its folder must exist, and it is no folder."""
    path = Path(name)
    if path.is_dir():
        raise CannotRun(f"cannot write {name}: it is a folder", "give a file name with -o")
    if not path.parent.is_dir():
        raise CannotRun(f"cannot write {name}: no folder {path.parent}", "create the folder first")
    return path


def fit_weights(model: Model, weights: str, spec: str) -> None:
    """Copy the parameters and buffers of the checkpoint ``weights`` into ``model`` (compiled from
    ``spec``); CannotRun, naming the first difference, when they are not the same arrays."""
    saved = open_model(weights)
    hint = "compile the spec the checkpoint was trained from, or leave out --weights"
    for kind, ours, theirs in (("parameter", model.params, saved.params), ("buffer", model.buffers, saved.buffers)):
        missing, unexpected = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
        if missing or unexpected:
            problem = (f"it has no {kind} {_listed(missing)}" if missing
                       else f"it has a {kind} {_listed(unexpected)} that the spec lacks")
            raise CannotRun(f"{weights} does not fit {spec}: {problem}", hint)
        for key, value in ours.items():
            if theirs[key].shape != value.shape:
                raise CannotRun(f"{weights} does not fit {spec}: `{key}` is {_shape(theirs[key].shape)} in the "
                                f"checkpoint, {_shape(value.shape)} in the spec", hint)
    for ours, theirs in ((model.params, saved.params), (model.buffers, saved.buffers)):
        for key, value in ours.items():
            value[...] = theirs[key]


def _listed(keys: list[str]) -> str:
    more = f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""
    return f"`{keys[0]}`{more}"


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "a scalar"
