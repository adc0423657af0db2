"""Damaged, forged and foreign files through `cnnc eval`, `predict`, `train --resume` and `train --data`:
always exit 2 with a one-line reason, never a traceback or advice to unpickle, and the file left as it was."""

from __future__ import annotations

import copy
import io
import json
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import cnnc
from cnnc.checkpoint import HISTORY, ModelFileError, validate_metadata
from cnnc.data.idx import idx_bytes
from cnnc.training import HISTORY_KEYS
from command_runner import run

SPEC = "input 4x4x1; conv 2 3x3; batchnorm; relu; fc 10; softmax\n"
DATA = "synthetic:n=40,test=10,classes=10"
FORBIDDEN = ("Traceback", "internal error", "allow_pickle")
Build = Callable  # a variant: the good checkpoint's path -> the bad file's bytes, or a folder -> None


def assert_refused(code: int, out: str, err: str, name: str) -> None:
    """Exit 2, and on stderr one line that names the file (and at most a line of help)."""
    assert code == 2, err or out
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith("cnnc: error: ") and name in lines[0], err
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("  help: ")), err
    for text in (out, err):
        assert not any(word.lower() in text.lower() for word in FORBIDDEN), text


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A folder with the spec, a checkpoint of one epoch (momentum state, batchnorm buffers) and an input."""
    folder = tmp_path_factory.mktemp("trained")
    (folder / "net.cnn").write_text(SPEC, encoding="utf-8")
    code, _, err = run("train", str(folder / "net.cnn"), "--data", DATA, "--epochs", "1", "--optimizer", "momentum",
                       "--lr", "0.05", "--batch-size", "8", "--out", str(folder / "good.npz"), "--no-download")
    assert code == 0, err
    np.save(folder / "input.npy", np.zeros((4, 4, 1), np.float32))
    return folder


def arrays_of(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def savez_bytes(arrays: dict[str, np.ndarray], compressed: bool = False) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def with_meta(change) -> Build:
    """A variant: the good checkpoint saved again with ``change(meta)`` (its result, if not None)."""
    def build(good: Path) -> bytes:
        arrays = arrays_of(good)
        meta = json.loads(str(arrays["meta"]))
        changed = change(meta)
        arrays["meta"] = np.array(json.dumps(meta if changed is None else changed))
        return savez_bytes(arrays)
    return build


def with_arrays(change) -> Build:
    """A variant: the good checkpoint's arrays changed in place by ``change(arrays)``."""
    def build(good: Path) -> bytes:
        arrays = arrays_of(good)
        change(arrays)
        return savez_bytes(arrays)
    return build


def flip_bit(data: bytes, member: str) -> bytes:
    """``data``, a zip, with one bit flipped in the middle of ``member``'s stored (maybe compressed) bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    middle = info.header_offset + 30 + name_length + extra_length + info.compress_size // 2
    changed = bytearray(data)
    changed[middle] ^= 0x10
    return bytes(changed)


def flipped(member: str, compressed: bool) -> Build:
    """A variant: the good checkpoint (saved again, compressed or not) with a bit flipped in ``member``."""
    return lambda good: flip_bit(savez_bytes(arrays_of(good), compressed), member + ".npy")


def truncated(fraction: float) -> Build:
    def build(good: Path) -> bytes:
        data = good.read_bytes()
        return data[:max(1, int(len(data) * fraction))]
    return build


def _drop(key: str):
    return lambda meta: meta.pop(key) and None


def _set(**fields):
    return lambda meta: meta.update(fields)


def _set_in(part: str, **fields):
    return lambda meta: meta[part].update(fields)


def _deep(*keys: str, value: object = None, drop: bool = False):
    def change(meta):
        *path, last = keys
        place = meta
        for key in path:
            place = place[key]
        if drop:
            del place[last]
        else:
            place[last] = value
    return change


def _nan(key: str, value: float = np.nan):
    def change(arrays):
        arrays[key] = arrays[key].copy()
        arrays[key].flat[0] = value
    return change


META_VARIANTS = {
    "a number": lambda meta: 5,
    "a list": lambda meta: [meta],
    "no input": _drop("input"),
    "input []": _set(input=[]),
    "input abc": _set(input="abc"),
    "input of a huge image": _set(input=[100_000, 100_000, 1]),
    "dtype int8": _set(dtype="int8"),
    "loss foo": _set(loss="foo"),
    "seed x": _set(seed="x"),
    "seed -5": _set(seed=-5),
    "seed true": _set(seed=True),
    "name 7": _set(name=7),
    "version 2": _set(version=2),
    "optimizer without lr": _deep("optimizer", "lr", drop=True),
    "optimizer foo": _set_in("optimizer", optimizer="foo"),
    "lr nan": _set_in("optimizer", lr=float("nan")),
    "step schedule without a step": _set_in("optimizer", schedule="step"),
    "betas of three": _set_in("optimizer", betas=[0.9, 0.99, 0.999]),
    "training 5": _set(training=5),
    "training without plan": _deep("training", "plan", drop=True),
    "plan epochs x": _deep("training", "plan", value={"epochs": "x"}),
    "plan batch_size 0": _deep("training", "plan", "batch_size", value=0),
    "plan with an extra key": _deep("training", "plan", "extra", value=1),
    "data 5": _set_in("training", data=5),
    "val_split 2": _set_in("training", val_split=2),
    "progress none of its keys": _deep("training", "progress", value={}),
    "history too short": _deep("training", "progress", "history", "loss", value=[]),
    "history holds text": _deep("training", "progress", "history", "lr", value=["fast"]),
    "classes 3": _set(classes=3),
    "saved classes of numbers": _set_in("training", classes=[1, 2, 3]),
}
ARRAY_VARIANTS = {
    "wrong weight shape": lambda arrays: arrays.update({"param/fc1.weight": np.zeros((10, 3), np.float32)}),
    "wrong buffer shape": lambda arrays: arrays.update({"buffer/batchnorm1.running_var": np.ones(3, np.float32)}),
    "wrong optimizer state shape": lambda arrays: arrays.update({"optim/velocity/conv1.bias": np.zeros(5)}),
    "a missing weight": lambda arrays: arrays.pop("param/conv1.bias"),
    "an unexpected weight": lambda arrays: arrays.update({"param/conv9.weight": np.zeros(3, np.float32)}),
    "text weights": lambda arrays: arrays.update({"param/conv1.bias": np.array(["a", "b"])}),
    "NaN weight": _nan("param/conv1.weight"),
    "infinite buffer": _nan("buffer/batchnorm1.running_mean", np.inf),
    "NaN optimizer state": _nan("optim/velocity/fc1.weight"),
    "no meta": lambda arrays: arrays.pop("meta"),
    "meta of numbers": lambda arrays: arrays.update({"meta": np.arange(3)}),
    "source of numbers": lambda arrays: arrays.update({"source": np.array(5)}),
    # np.savez pickles object arrays
    "a pickled meta": lambda arrays: arrays.update({"meta": np.array([{"format": "cnnc-model"}], dtype=object)}),
    "an object weight array": lambda arrays: arrays.update({"param/conv1.bias": np.array([{}, {}], dtype=object)}),
}


def _variant_builders() -> dict[str, Build]:
    builders = {f"meta: {name}": with_meta(change) for name, change in META_VARIANTS.items()}
    builders.update({name: with_arrays(change) for name, change in ARRAY_VARIANTS.items()})
    builders.update({f"truncated to {fraction:.1%}": truncated(fraction) for fraction in (0.001, 0.1, 0.5, 0.99)})
    builders.update({f"bit flip in {member} ({'compressed' if compressed else 'plain'})": flipped(member, compressed)
                     for member in ("meta", "param/fc1.weight") for compressed in (False, True)})
    builders.update({
        "a text file": lambda good: b"input 4x4x1\nconv 2 3x3\n",
        "an empty file": lambda good: b"",
        "a .npy file": lambda good: _npy_bytes(np.zeros(3)),
        "an empty zip": lambda good: savez_bytes({}),
    })
    return builders


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


VARIANTS = _variant_builders()
COMMANDS = {
    "eval": lambda folder, model: ("eval", str(model)),
    "predict": lambda folder, model: ("predict", str(model), str(folder / "input.npy")),
    # --epochs 2: a file wrongly accepted would train on and be overwritten, which the test would see
    "train --resume": lambda folder, model: ("train", str(folder / "net.cnn"), "--resume", str(model), "--epochs",
                                             "2", "--no-download"),
}


# --- checkpoints ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS)
def test_the_good_checkpoint_is_accepted(trained, tmp_path, command):
    model = tmp_path / "model.npz"
    shutil.copy(trained / "good.npz", model)
    code, _, err = run(*COMMANDS[command](trained, model))
    assert code == 0, err


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_checkpoint_is_refused_and_left_as_it_was(trained, tmp_path, command, variant):
    model = tmp_path / "model.npz"
    model.write_bytes(VARIANTS[variant](trained / "good.npz"))
    before = model.read_bytes()
    assert_refused(*run(*COMMANDS[command](trained, model)), model.name)
    assert model.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.npz"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder_or_a_missing_file_as_checkpoint(trained, tmp_path, command):
    folder = tmp_path / "model.npz"
    folder.mkdir()
    assert_refused(*run(*COMMANDS[command](trained, folder)), folder.name)
    assert folder.is_dir() and not any(folder.iterdir())
    assert_refused(*run(*COMMANDS[command](trained, tmp_path / "absent.npz")), "absent.npz")


@pytest.mark.parametrize("variant", [name for name in VARIANTS if name.startswith("meta: ")])
def test_load_model_raises_model_file_error_for_bad_metadata(trained, tmp_path, variant):
    model = tmp_path / "model.npz"
    model.write_bytes(VARIANTS[variant](trained / "good.npz"))
    with pytest.raises(ModelFileError) as caught:
        cnnc.load_model(model)
    assert str(caught.value).startswith(f"{model}: ")


@pytest.mark.parametrize("change, message", [
    (lambda meta: 5, "the metadata must be an object, got 5"),
    (_set(classes=3), "unknown metadata field `classes`"),
    (_drop("input"), "metadata field `input` is missing"),
    (_deep("training", "plan", value={"epochs": "x"}),
     "metadata field `training.plan.epochs` must be a whole number of at least 1, got 'x'"),
    (_deep("optimizer", "lr", drop=True), "metadata field `optimizer.lr` is missing"),
    (_set(seed=-5), "metadata field `seed` must be a whole number of at least 0, got -5"),
    (_deep("training", "progress", "history", "loss", value=[]),
     "metadata field `training.progress.history.loss` must hold one value per epoch done (1), got 0"),
])
def test_metadata_problems_name_the_field(trained, change, message):
    meta = json.loads(str(arrays_of(trained / "good.npz")["meta"]))
    validate_metadata(meta)
    changed = copy.deepcopy(meta)
    result = change(changed)
    with pytest.raises(ValueError) as caught:
        validate_metadata(changed if result is None else result)
    assert str(caught.value) == message


def test_the_schema_knows_every_history_key():
    assert tuple(HISTORY) == HISTORY_KEYS


# --- data files -------------------------------------------------------------------------------------------

def _good_arrays(**changes) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {"x": rng.random((20, 4, 4, 1)).astype(np.float32), "y": np.arange(20) % 10}
    arrays.update(changes)
    return arrays


def _nan_examples() -> dict[str, np.ndarray]:
    arrays = _good_arrays()
    arrays["x"][3, 1, 1, 0] = np.nan
    return arrays


def _npz(data: bytes | None) -> Build:
    """Writes ``data.npz`` into a folder (a folder of that name for None)."""
    def build(folder: Path) -> None:
        if data is None:
            (folder / "data.npz").mkdir()
        else:
            (folder / "data.npz").write_bytes(data)
    return build


NPZ_DATA = {  # the file's bytes (np.savez pickles object arrays)
    "good": savez_bytes(_good_arrays()),
    "a huge label": savez_bytes(_good_arrays(y=np.array([10**12] + [0] * 19))),
    "a negative label": savez_bytes(_good_arrays(y=np.array([-1] + [0] * 19))),
    "a label beyond the spec": savez_bytes(_good_arrays(y=np.array([10] + [0] * 19))),
    "a label beyond the class names": savez_bytes(_good_arrays(classes=np.array(["a", "b", "c"]))),
    "more class names than the spec": savez_bytes(_good_arrays(classes=np.array([str(i) for i in range(11)]))),
    "a huge float label": savez_bytes(_good_arrays(y=np.array([1e30] + [0.0] * 19))),
    "a huge test label": savez_bytes(_good_arrays(x_test=np.zeros((2, 4, 4, 1)), y_test=np.array([0, 2**62]))),
    "object examples": savez_bytes(_good_arrays(x=np.array([None] * 20, dtype=object))),
    "object labels": savez_bytes(_good_arrays(y=np.array([None] * 20, dtype=object))),
    "no x": savez_bytes({"y": np.arange(20) % 10}),
    "no y": savez_bytes({"x": np.zeros((20, 4, 4, 1))}),
    "NaN in x": savez_bytes(_nan_examples()),
    "examples of the wrong size": savez_bytes(_good_arrays(x=np.zeros((20, 4, 5, 1)))),
    "fewer labels than examples": savez_bytes(_good_arrays(y=np.arange(5))),
    "fractional labels": savez_bytes(_good_arrays(y=np.full(20, 0.5))),
    "one-hot labels": savez_bytes(_good_arrays(y=np.eye(10)[np.arange(20) % 10])),
    "complex examples": savez_bytes(_good_arrays(x=np.zeros((20, 4, 4, 1), np.complex64))),
    "a text file": b"x,y\n1,2\n",
    "an empty file": b"",
    "truncated": savez_bytes(_good_arrays())[:700],
    "a bit flip": flip_bit(savez_bytes(_good_arrays()), "x.npy"),
    "a bit flip (compressed)": flip_bit(savez_bytes(_good_arrays(), compressed=True), "x.npy"),
    "a folder": None,
}


def _idx_folder(images: bytes | None = None, labels: bytes | None = None) -> Build:
    """MNIST-like raw IDX files of 4x4 images: a good pair, or the given bytes instead."""
    def build(folder: Path) -> None:
        rng = np.random.default_rng(1)
        base = folder / "mnist"
        base.mkdir()
        good_images = idx_bytes(rng.integers(0, 256, (20, 4, 4), dtype=np.uint8))
        good_labels = idx_bytes((np.arange(20) % 10).astype(np.uint8))
        (base / "train-images-idx3-ubyte").write_bytes(good_images if images is None else images)
        (base / "train-labels-idx1-ubyte").write_bytes(good_labels if labels is None else labels)
    return build


_IMAGES = idx_bytes(np.zeros((20, 4, 4), np.uint8))
_LABELS = idx_bytes((np.arange(20) % 10).astype(np.uint8))
IDX_DATA = {
    "good": _idx_folder(),
    "truncated images": _idx_folder(images=_IMAGES[:100]),
    "truncated labels": _idx_folder(labels=_LABELS[:12]),
    "a header cut short": _idx_folder(images=_IMAGES[:6]),
    "wrong magic": _idx_folder(images=b"\x12\x34" + _IMAGES[2:]),
    "images longer than their header": _idx_folder(images=_IMAGES + b"\0" * 16),
    "fewer labels than images": _idx_folder(labels=idx_bytes(np.zeros(5, np.uint8))),
    "a label out of range": _idx_folder(labels=idx_bytes(np.array([200] + [0] * 19, np.uint8))),
    "a negative label": _idx_folder(labels=idx_bytes(np.array([-1] + [0] * 19, np.int8))),
    "float labels": _idx_folder(labels=idx_bytes(np.zeros(20, np.float32))),
    "images of one dimension": _idx_folder(images=idx_bytes(np.zeros(320, np.uint8))),
    "damaged gzip": _idx_folder(images=b"\x1f\x8b" + b"\0" * 40),
    "a text file": _idx_folder(images=b"hello, these are images\n"),
    "an empty file": _idx_folder(labels=b""),
}
DATA_SOURCES = {**{f"npz: {name}": (_npz(data), "data.npz") for name, data in NPZ_DATA.items()},
                **{f"idx: {name}": (build, "mnist") for name, build in IDX_DATA.items()}}
DATA_COMMANDS = {
    "train": lambda folder, source: ("train", str(folder / "net.cnn"), "--data", source, "--epochs", "1",
                                     "--out", str(folder / "out" / "new.npz"), "--no-download"),
    "eval": lambda folder, source: ("eval", str(folder / "good.npz"), "--data", source, "--no-download"),
}


def _source(folder: Path, name: str) -> str:
    return f"mnist:{folder / name}" if name == "mnist" else str(folder / name)


@pytest.mark.parametrize("command", DATA_COMMANDS)
@pytest.mark.parametrize("source", DATA_SOURCES)
def test_a_bad_data_file_is_refused(trained, tmp_path, source, command):
    build, name = DATA_SOURCES[source]
    for file in ("net.cnn", "good.npz"):
        shutil.copy(trained / file, tmp_path / file)
    build(tmp_path)
    checkpoint = (tmp_path / "good.npz").read_bytes()
    code, out, err = run(*DATA_COMMANDS[command](tmp_path, _source(tmp_path, name)))
    if source.endswith(": good"):
        assert code == 0, err
        return
    shown = "mnist" if name == "mnist" else name
    assert_refused(code, out, err, shown)
    assert (tmp_path / "good.npz").read_bytes() == checkpoint
    assert not (tmp_path / "out" / "new.npz").exists()
