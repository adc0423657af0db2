"""The standard data sets: MNIST and Fashion-MNIST (IDX files) and CIFAR-10 (the binary version, never
Python pickles), read from a given folder or from the cache, where missing files are downloaded.

- With a folder (``mnist:DIR``), only that folder is read and nothing is downloaded; each split whose
  files are there is provided: a folder holding only the t10k files gives a test set and no training
  set (see ``Splits.with_holdout``).
- Without one (``mnist``), the files live in ``<cache>/mnist`` (see ``download.cache_root``); missing files
  are downloaded first, or, with ``download=False`` or offline, a ``DataError`` says where to put them.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console

from cnnc.data.dataset import DataError, Dataset, Splits
from cnnc.data.download import REMOTES, cache_root, fetch_missing, missing_help
from cnnc.data.idx import read_idx

IDX_SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASS_NAMES = {
    "mnist": tuple(str(digit) for digit in range(10)),
    # https://github.com/zalandoresearch/fashion-mnist#labels
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                      "Bag", "Ankle boot"),
    # https://www.cs.toronto.edu/~kriz/cifar.html
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}
CIFAR_FOLDER = "cifar-10-batches-bin"
CIFAR_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR_TEST = "test_batch.bin"
CIFAR_RECORD_BYTES = 1 + 32 * 32 * 3  # a label byte, then 1024 red, 1024 green and 1024 blue bytes


def _existing(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def idx_dataset(images_path: Path, labels_path: Path, classes: tuple[str, ...], name: str) -> Dataset:
    """One split of MNIST-style IDX files: (N, rows, cols) bytes and N labels."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_path}: expected N x rows x columns bytes, found {images.ndim}-D {images.dtype}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{labels_path}: {labels.shape[0] if labels.ndim else 0:,} labels for "
                        f"{len(images):,} images in {images_path.name}")
    if labels.dtype.kind not in "iu":
        raise DataError(f"{labels_path}: labels of type {labels.dtype}, not class indices")
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        bad = int(labels.min() if labels.min() < 0 else labels.max())
        raise DataError(f"{labels_path}: label {bad} is outside [0, {len(classes)}) ({name} has "
                        f"{len(classes)} classes)")
    return Dataset(images[..., None].astype(np.float32) / 255, labels, classes, name)


def load_idx_set(name: str, directory: Path | None, download: bool = True,
                 console: Console | None = None) -> Splits:
    """MNIST or Fashion-MNIST from ``directory``, or from the cache (downloading what is missing)."""
    classes = CLASS_NAMES[name]
    if directory is None:
        directory = cache_root() / name
        remote = REMOTES[name]
        missing = [file for file in remote.files if _existing(directory, file.removesuffix(".gz")) is None]
        if missing and not download:
            raise DataError(f"{name} is not in the cache ({directory}) and downloading is off",
                            missing_help(remote, directory, missing))
        fetch_missing(remote, directory, missing, console)
    elif not directory.is_dir():
        raise DataError(f"{name}: {directory} is not a folder")
    found: dict[str, Dataset] = {}
    for split, (images_stem, labels_stem) in IDX_SPLITS.items():
        images, labels = _existing(directory, images_stem), _existing(directory, labels_stem)
        if images is None and labels is None:
            continue
        if images is None or labels is None:
            present, absent = (images_stem, labels_stem) if labels is None else (labels_stem, images_stem)
            raise DataError(f"{name}: {directory} has {present} but not {absent}",
                            f"put {absent}.gz (or the uncompressed file) beside it")
        found[split] = idx_dataset(images, labels, classes, f"{name} ({images_stem.split('-')[0]})")
    if not found:
        wanted = ", ".join(f"{stem}.gz" for pair in IDX_SPLITS.values() for stem in pair)
        raise DataError(f"{name}: no IDX files in {directory}",
                        f"expected {wanted} (gzip or uncompressed); the t10k pair alone gives a test set")
    notes = [f"{name}: " + ", ".join(f"{len(d):,} {split} examples" for split, d in found.items())
             + f" from {directory}"]
    return Splits(found.get("train"), found.get("test"), tuple(notes))


def cifar_records(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 32, 32, 3) uint8, labels (N,)) from the bytes of one CIFAR-10 binary batch."""
    if not data or len(data) % CIFAR_RECORD_BYTES:
        raise DataError(f"{where}: {len(data):,} bytes is not a whole number of {CIFAR_RECORD_BYTES}-byte "
                        "CIFAR-10 records", "is this the binary version (cifar-10-binary.tar.gz)?")
    records = np.frombuffer(data, np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= 10:
        raise DataError(f"{where}: label {labels.max()} in a 10-class data set")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def _cifar_dataset(batches: list[tuple[bytes, str]], name: str) -> Dataset:
    parts = [cifar_records(data, where) for data, where in batches]
    images = np.concatenate([images for images, _ in parts])
    labels = np.concatenate([labels for _, labels in parts])
    return Dataset(images.astype(np.float32) / 255, labels, CLASS_NAMES["cifar10"], name)


def _cifar_from_folder(folder: Path) -> dict[str, list[tuple[bytes, str]]]:
    found = {"train": [], "test": []}
    for name in CIFAR_TRAIN + (CIFAR_TEST,):
        if (folder / name).is_file():
            found["test" if name == CIFAR_TEST else "train"].append(((folder / name).read_bytes(),
                                                                     str(folder / name)))
    return found


def _cifar_from_archive(archive: Path) -> dict[str, list[tuple[bytes, str]]]:
    """The batches read straight from the archive, in memory: nothing is written, so no member path
    matters."""
    found = {"train": [], "test": []}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in CIFAR_TRAIN + (CIFAR_TEST,):
                try:
                    member = tar.getmember(f"{CIFAR_FOLDER}/{name}")
                except KeyError:
                    continue
                if member.isfile():
                    found["test" if name == CIFAR_TEST else "train"].append(
                        (tar.extractfile(member).read(), f"{archive}:{member.name}"))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{archive}: damaged archive ({exc})", "download it again") from None
    return found


def extract_cifar(archive: Path, directory: Path) -> Path:
    """Extract the six batch files (and the class names) of ``archive`` into
    ``directory/cifar-10-batches-bin``, atomically.
    Only regular files with the expected names are extracted, with tarfile's "data" filter (no absolute
    paths, no ``..``, no links) where Python provides it."""
    wanted = {f"{CIFAR_FOLDER}/{name}" for name in CIFAR_TRAIN + (CIFAR_TEST, "batches.meta.txt")}
    staging = Path(tempfile.mkdtemp(prefix=".cifar10.", dir=directory))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.name in wanted and m.isfile()]
            safety = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(staging, members=members, **safety)
        if not (staging / CIFAR_FOLDER / CIFAR_TEST).is_file():
            raise DataError(f"{archive}: no {CIFAR_FOLDER}/{CIFAR_TEST} in the archive")
        shutil.rmtree(directory / CIFAR_FOLDER, ignore_errors=True)  # an incomplete earlier extraction
        os.replace(staging / CIFAR_FOLDER, directory / CIFAR_FOLDER)
    except (tarfile.TarError, EOFError) as exc:
        raise DataError(f"{archive}: damaged archive ({exc})", "delete it and download it again") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory / CIFAR_FOLDER


def load_cifar10(directory: Path | None, download: bool = True, console: Console | None = None) -> Splits:
    """CIFAR-10 (binary version) from ``directory`` (the batch files, their ``cifar-10-batches-bin``
    folder, or ``cifar-10-binary.tar.gz``), or from the cache."""
    if directory is None:
        directory = cache_root() / "cifar10"
        if not any((folder / CIFAR_TEST).is_file() for folder in (directory, directory / CIFAR_FOLDER)):
            if not (directory / CIFAR_ARCHIVE).is_file():
                remote = REMOTES["cifar10"]
                if not download:
                    raise DataError(f"cifar10 is not in the cache ({directory}) and downloading is off",
                                    missing_help(remote, directory))
                fetch_missing(remote, directory, [CIFAR_ARCHIVE], console)
            extract_cifar(directory / CIFAR_ARCHIVE, directory)
            (directory / CIFAR_ARCHIVE).unlink()
    elif not directory.is_dir():
        raise DataError(f"cifar10: {directory} is not a folder")
    found = {"train": [], "test": []}
    for folder in (directory, directory / CIFAR_FOLDER):
        if not any(found.values()):
            found = _cifar_from_folder(folder)
    if not any(found.values()) and (directory / CIFAR_ARCHIVE).is_file():
        found = _cifar_from_archive(directory / CIFAR_ARCHIVE)
    if not any(found.values()):
        raise DataError(f"cifar10: no data_batch_*.bin or test_batch.bin in {directory}",
                        f"put the files of {CIFAR_ARCHIVE} (the binary version, not the Python one) there, "
                        "or the archive itself")
    train = _cifar_dataset(found["train"], "cifar10 (train)") if found["train"] else None
    test = _cifar_dataset(found["test"], "cifar10 (test)") if found["test"] else None
    counts = [f"{len(d):,} {label} examples" for label, d in (("train", train), ("test", test)) if d]
    return Splits(train, test, (f"cifar10: {', '.join(counts)} from {directory}",))
