"""SOURCE strings (``--data``): what they mean and how each is loaded into ``Splits``.

SOURCE syntax:

    mnist[:DIR]            MNIST IDX files (gzip or raw) from DIR, else from <cache>/mnist, downloaded if missing
    fashion-mnist[:DIR]    Fashion-MNIST, likewise (<cache>/fashion-mnist)
    cifar10[:DIR]          CIFAR-10, binary version: DIR holds data_batch_*.bin/test_batch.bin, their
                           cifar-10-batches-bin folder, or cifar-10-binary.tar.gz; else <cache>/cifar10
    synthetic[:K=V,...]    generated oriented bars and edges, sized to the spec's input; keys:
                             n=2000        training examples (fewer by default for very large inputs)
                             test=N        test examples (default n/4)
                             classes=K     number of classes (default: the spec's outputs, else 4)
                             seed=0        the generator's seed (the test set uses seed+1)
                             noise=0.05    standard deviation of the added Gaussian noise
                             shape=28x28x1 example size (default: the spec's input)
    PATH.npz               arrays x (N, *spatial, C) and y (N,); optional x_test, y_test, classes
    DIR                    a folder with one sub-folder of examples per class (PNG, PGM/PPM or .npy), or
                           with train/ and test/ folders that each hold such class folders

<cache> is $CNNC_DATA, else the user's cache directory (see ``download.cache_root``). A dataset name
wins over a folder of the same name: write ``./mnist`` for a folder called mnist. With DIR, nothing is
downloaded and only the splits whose files are in DIR are provided (MNIST's t10k files alone give a test
set and no training set: ``Splits.with_holdout`` then trains on the first 80% and tests on the rest).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import field
from pathlib import Path

from rich.console import Console

from cnnc import ir
from cnnc.data.dataset import DataError, Splits
from cnnc.data.files import load_folder, load_npz
from cnnc.data.standard import load_cifar10, load_idx_set
from cnnc.data.synthetic import synthetic_splits
from cnnc.frozen import frozen

DATASETS = ("mnist", "fashion-mnist", "cifar10", "synthetic")
ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}
SYNTHETIC_KEYS = {"n": int, "test": int, "classes": int, "seed": int, "noise": float, "shape": str}
SYNTHETIC_MINIMUMS = {"n": 1, "test": 1, "classes": 2, "noise": 0}
SYNTAX_HELP = ("a SOURCE is mnist[:DIR], fashion-mnist[:DIR], cifar10[:DIR], synthetic[:n=2000,classes=K,"
               "seed=0] (K: the spec's number of outputs), a PATH.npz, or a folder of class sub-folders")


@frozen
class DataSource:
    """A parsed SOURCE: ``kind`` is a dataset name, "npz" or "folder"; ``path`` the DIR or file, if any;
    ``options`` the synthetic settings."""

    kind: str
    path: Path | None = None
    options: dict[str, object] = field(default_factory=dict)
    text: str = ""


def parse_shape(text: str) -> ir.Shape:
    """``28x28x1`` as a shape: spatial sizes, then channels."""
    if not re.fullmatch(r"[1-9][0-9]*(x[1-9][0-9]*)+", text):
        raise DataError(f"synthetic: shape {text!r} is not like 28x28x1",
                        "give spatial sizes then channels, separated by x")
    dims = tuple(int(part) for part in text.split("x"))
    return ir.Shape(dims[:-1], dims[-1])


def _synthetic_options(text: str) -> dict[str, object]:
    options: dict[str, object] = {}
    for item in filter(None, text.split(",")):
        key, equals, value = item.partition("=")
        key = key.strip()
        if key not in SYNTHETIC_KEYS:
            close = difflib.get_close_matches(key, SYNTHETIC_KEYS, n=1)
            raise DataError(f"synthetic: unknown setting {key!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
                            f"settings are {', '.join(f'{k}=...' for k in SYNTHETIC_KEYS)}")
        if not equals:
            raise DataError(f"synthetic: setting {key!r} needs a value, like {key}=...")
        try:
            options[key] = SYNTHETIC_KEYS[key](value.strip())
        except ValueError:
            kind = {int: "a whole number", float: "a number"}[SYNTHETIC_KEYS[key]]
            raise DataError(f"synthetic: {key}={value} is not {kind}") from None
        if key in SYNTHETIC_MINIMUMS and not options[key] >= SYNTHETIC_MINIMUMS[key]:  # NaN fails too
            raise DataError(f"synthetic: {key} must be at least {SYNTHETIC_MINIMUMS[key]}")
        if key == "shape":
            options[key] = parse_shape(str(options[key]))
    return options


def parse_source(text: str) -> DataSource:
    """The meaning of a SOURCE string; ``DataError`` for one that names nothing."""
    name, colon, rest = text.partition(":")
    name = ALIASES.get(name.lower(), name.lower())
    if name in DATASETS:
        if name == "synthetic":
            return DataSource("synthetic", None, _synthetic_options(rest), text)
        if colon and not rest:
            raise DataError(f"{text!r}: the folder after ':' is empty", f"write {name} or {name}:DIR")
        return DataSource(name, Path(rest).expanduser() if rest else None, {}, text)
    path = Path(text).expanduser()
    if path.suffix.lower() == ".npz":
        return DataSource("npz", path, {}, text)
    if path.is_dir():
        return DataSource("folder", path, {}, text)
    close = difflib.get_close_matches(name, DATASETS, n=1)
    if close:
        raise DataError(f"unknown data source {text!r}; did you mean {close[0]!r}?", SYNTAX_HELP)
    if path.exists():
        raise DataError(f"{text}: not an .npz file or a folder", SYNTAX_HELP)
    raise DataError(f"unknown data source {text!r}: no such file or folder", SYNTAX_HELP)


def load_source(source: str | DataSource, input_shape: ir.Shape | None = None, num_classes: int | None = None,
                *, download: bool = True, console: Console | None = None, resize: str = "bilinear") -> Splits:
    """The examples a SOURCE names.

    ``input_shape`` and ``num_classes`` are the spec's: they size ``synthetic`` data, fit images in class
    folders (with a note for each kind of change), bound an ``.npz``'s labels (checked before anything is
    sized by them), and, when both are given, the result is validated
    against them (``DataError`` before any training; warnings become notes). ``download=False`` never
    touches the network; ``console`` shows download progress.
    """
    parsed = parse_source(source) if isinstance(source, str) else source
    if parsed.kind == "synthetic":
        options = parsed.options
        shape = options.get("shape") or input_shape or ir.Shape((28, 28), 1)
        classes = options.get("classes") or num_classes or 4
        splits = synthetic_splits(shape, classes, options.get("n"), options.get("test"),
                                  options.get("seed", 0), options.get("noise", 0.05))
    elif parsed.kind in ("mnist", "fashion-mnist"):
        splits = load_idx_set(parsed.kind, parsed.path, download, console)
    elif parsed.kind == "cifar10":
        splits = load_cifar10(parsed.path, download, console)
    elif parsed.kind == "npz":
        splits = load_npz(parsed.path, input_shape, num_classes)
    else:
        splits = load_folder(parsed.path, input_shape, resize)
    if input_shape is not None and num_classes is not None:
        warnings = splits.validate(input_shape, num_classes)
        splits = Splits(splits.train, splits.test, splits.notes + warnings)
    return splits
