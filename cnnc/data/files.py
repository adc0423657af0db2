"""Data from the user's own files: an ``.npz`` of arrays, or a folder of examples sorted into one
sub-folder per class (PNG, PGM/PPM images or ``.npy`` arrays)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnc import ir
from cnnc.data.dataset import DataError, Dataset, Splits, describe_dims
from cnnc.data.decode import IMAGE_SUFFIXES, read_image
from cnnc.data.images import conform
from cnnc.npz import NpzError, read_npy, read_npz

ARRAY_SUFFIX = ".npy"
SPLIT_FOLDERS = ("train", "test")
MAX_CLASSES = 100_000  # when neither the spec nor a `classes` array says how many


def as_examples(x: np.ndarray, where: str) -> tuple[np.ndarray, list[str]]:
    """Example values as float32: 8-bit values divided by 255 and 16-bit by 65535 (pixels to [0, 1]),
    floats and other numbers as they are."""
    scales = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
    if x.dtype in scales:
        return (x / scales[x.dtype]).astype(np.float32), [f"{where}: {x.dtype} values divided by "
                                                           f"{scales[x.dtype]:.0f} to lie in [0, 1]"]
    if x.dtype.kind not in "biuf":
        raise DataError(f"{where}: values of type {x.dtype} are not numbers")
    return x.astype(np.float32), []


def as_labels(y: np.ndarray, where: str, classes: int | None = None, whose: str = "") -> np.ndarray:
    """Class indices as int64 (N,); a column (N, 1) is accepted, whole-valued floats too. Every label
    must lie in [0, ``classes``) (``whose`` says where that number comes from), else at most
    ``MAX_CLASSES``: checked before anything is sized by the labels."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{where}: labels of shape {y.shape}", "y must hold one class index per example, "
                                                                 "shape (N,), not one-hot rows")
    whole = y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y))
    if y.dtype.kind not in "biu" and not whole:
        raise DataError(f"{where}: labels of type {y.dtype}", "y must hold integer class indices")
    if classes is None:
        classes, whose = MAX_CLASSES, f"cnnc reads at most {MAX_CLASSES:,} classes"
    if y.size and (y.min() < 0 or y.max() >= classes):
        bad = int(y.min() if y.min() < 0 else y.max())
        raise DataError(f"{where}: label {bad:,} is outside [0, {classes:,})" + (f" ({whose})" if whose else ""),
                        f"the labels must be class indices 0 to {classes - 1:,}")
    return y.astype(np.int64)


def _add_channel_axis(x: np.ndarray, shape: ir.Shape | None, where: str) -> tuple[np.ndarray, list[str]]:
    """(N, *spatial) -> (N, *spatial, 1) when that is exactly what the spec's input wants."""
    if shape is not None and shape.channels == 1 and tuple(x.shape[1:]) == shape.spatial:
        return x[..., None], [f"{where}: examples of {describe_dims(x.shape[1:])} read as {shape} "
                              "(one channel)"]
    return x, []


def load_npz(path: Path, shape: ir.Shape | None = None, num_classes: int | None = None) -> Splits:
    """Arrays ``x`` (N, *spatial, C) and ``y`` (N,) for training; optional ``x_test``/``y_test`` for
    testing and ``classes`` (names, one per class). With ``num_classes`` (the spec's outputs), labels
    must lie in [0, num_classes) and ``classes`` must not name more."""
    try:
        arrays = read_npz(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except NpzError as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})",
                        "save it with numpy.savez(path, x=..., y=...) and no object arrays") from None
    missing = [key for key in ("x", "y") if key not in arrays]
    if missing:
        raise DataError(f"{path}: no array {' or '.join(missing)} (found {', '.join(sorted(arrays)) or 'none'})",
                        "the .npz needs x (N, *spatial, channels) and y (N,) class indices")
    notes: list[str] = []
    names = tuple(str(name) for name in arrays["classes"].ravel()) if "classes" in arrays else None
    if names is not None and num_classes is not None and len(names) > num_classes:
        raise DataError(f"{path}: the `classes` array names {len(names)} classes but the spec's output has "
                        f"{num_classes}", f"make the last layer `fc {len(names)}`, or name {num_classes} classes")
    limit, whose = num_classes, f"the spec's output has {num_classes} classes"  # the labels' bound, and why
    if names is not None and (num_classes is None or len(names) < num_classes):
        limit, whose = len(names), f"the `classes` array names {len(names)}"
    labels = {key: as_labels(arrays[key], f"{path}:{key}", limit, whose) for key in ("y", "y_test") if key in arrays}
    if names is not None:
        classes = names
    else:
        highest = max((int(y.max()) for y in labels.values() if y.size), default=0)
        classes = tuple(str(k) for k in range(highest + 1))
    sets: dict[str, Dataset] = {}
    for x_key, y_key, label in (("x", "y", "train"), ("x_test", "y_test", "test")):
        if x_key not in arrays:
            continue
        if y_key not in labels:
            raise DataError(f"{path}: {x_key} has no {y_key}")
        x, converted = as_examples(arrays[x_key], f"{path}:{x_key}")
        x, reshaped = _add_channel_axis(x, shape, f"{path}:{x_key}")
        notes += converted + reshaped
        sets[label] = Dataset(x, labels[y_key], classes, f"{path.name} ({label})")
    return Splits(sets.get("train"), sets.get("test"), tuple(notes))


def _read_example(path: Path) -> np.ndarray:
    if path.suffix.lower() != ARRAY_SUFFIX:
        return read_image(path)
    try:
        array = read_npy(path)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except NpzError as exc:
        raise DataError(f"{path}: not a readable .npy file ({exc})") from None
    return as_examples(array, str(path))[0]


def _class_folders(root: Path, classes: tuple[str, ...] | None, shape: ir.Shape | None,
                   method: str, name: str) -> tuple[Dataset, list[str]]:
    """Every example under ``root/<class>/``, classes in sorted order (or the given ones)."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = classes if classes is not None else tuple(folder.name for folder in folders)
    unknown = [folder.name for folder in folders if folder.name not in names]
    if unknown:
        raise DataError(f"{root}: class folder(s) {', '.join(unknown)} are not among the training classes")
    if not names:
        raise DataError(f"{root}: no class sub-folders", "put the examples of each class in a folder named "
                                                         "after the class, e.g. DIR/cat/1.png")
    examples, labels, changed, skipped = [], [], [], 0
    for label, class_name in enumerate(names):
        if not (root / class_name).is_dir():
            continue
        for path in sorted((root / class_name).iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES + (ARRAY_SUFFIX,):
                skipped += 1
                continue
            example = _read_example(path)
            if shape is not None:
                example, notes = conform(example, shape, str(path), method)
                changed += notes[:1]
            examples.append(example)
            labels.append(label)
    if not examples:
        raise DataError(f"{root}: no examples (PNG, PGM, PPM or .npy files) in its class folders")
    first = examples[0].shape
    odd = next((i for i, example in enumerate(examples) if example.shape != first), None)
    if odd is not None:
        raise DataError(f"{root}: examples differ in size ({describe_dims(first)} and "
                        f"{describe_dims(examples[odd].shape)})", "give the spec's input size so that they "
                                                                   "are resized to it")
    notes = [f"{root}: {len(changed):,} of {len(examples):,} examples converted or resized, e.g. {changed[0]}"] \
        if changed else []
    if skipped:
        notes.append(f"{root}: ignored {skipped:,} files that are not PNG, PGM, PPM or .npy")
    return Dataset(np.stack(examples), np.array(labels, np.int64), names, name), notes


def load_folder(root: Path, shape: ir.Shape | None = None, method: str = "bilinear") -> Splits:
    """Class sub-folders under ``root``, or under ``root/train`` and ``root/test`` (then the test classes
    must be among the training ones)."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    subfolders = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if "train" not in subfolders or not subfolders <= set(SPLIT_FOLDERS):
        dataset, notes = _class_folders(root, None, shape, method, root.name)
        return Splits(dataset, None, (f"{root}: {len(dataset):,} examples in {len(dataset.classes)} classes",
                                      *notes))
    train, notes = _class_folders(root / "train", None, shape, method, f"{root.name} (train)")
    test = None
    if "test" in subfolders:
        test, more = _class_folders(root / "test", train.classes, shape, method, f"{root.name} (test)")
        notes += more
    summary = f"{root}: {len(train):,} training" + (f" and {len(test):,} test" if test else "") + \
        f" examples in {len(train.classes)} classes"
    return Splits(train, test, (summary, *notes))
