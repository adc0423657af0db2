"""Saving a model to one ``.npz`` (weights, buffers, optimizer state, the spec's text, metadata)
and loading it back, rebuilt from the embedded spec."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from cnnc import ir, optim
from cnnc.errors import CannotRun
from cnnc.model import Model

FORMAT = "cnnc-model"
VERSION = 1


class ModelFileError(CannotRun, ValueError):
    """A model file that cannot be loaded: not a cnnc model, or arrays that do not fit its spec."""


def save_model(model: Model, path: str | Path, training: dict | None = None) -> None:
    """Write ``model`` to ``path`` through a temporary file in the same folder and a rename, so a
    crash never leaves a partial file behind. ``training``: the state of an unfinished run (see
    ``cnnc.commands.train``), kept in the metadata and given back as ``model.run_state``."""
    path = Path(path)
    optimizer = model.optimizer
    meta = {"format": FORMAT, "version": VERSION, "name": model.network.name, "dtype": model.dtype.name,
            "loss": model.loss, "seed": model.seed, "input": list(model.network.report.input.dims),
            "source_path": model.network.source.path,
            "optimizer": optimizer.config() if optimizer else None, "training": training}
    arrays = {"meta": np.array(json.dumps(meta)), "source": np.array(model.network.source.text)}
    arrays.update({f"param/{key}": value for key, value in model.params.items()})
    arrays.update({f"buffer/{key}": value for key, value in model.buffers.items()})
    if optimizer:
        for slot, values in optimizer.state.items():
            arrays.update({f"optim/{slot}/{key}": value for key, value in values.items()})
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(descriptor, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_model(path: str | Path) -> Model:
    """A model rebuilt from the spec saved in ``path``, with its weights, buffers and optimizer
    state. Raises ModelFileError for a file that is not a cnnc model or whose arrays do not match
    the spec's shapes, OSError if unreadable, and SpecError if the embedded spec has errors."""
    from cnnc.api import loads

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, ValueError, EOFError) as problem:
        raise ModelFileError(f"{path}: not a cnnc model file ({problem})") from None
    if "meta" not in arrays or "source" not in arrays:
        raise ModelFileError(f"{path}: not a cnnc model file (no `meta` or `source` entry)")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except json.JSONDecodeError as problem:
        raise ModelFileError(f"{path}: unreadable metadata ({problem})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ModelFileError(f"{path}: not a cnnc model file of version {VERSION}")
    dims = meta["input"]
    network = loads(str(arrays.pop("source")), name=meta["name"], input=ir.Shape(tuple(dims[:-1]), dims[-1]))
    model = Model(network, seed=meta["seed"], dtype=meta["dtype"], loss=meta["loss"])
    model.run_state = meta.get("training")
    _restore(path, "param", arrays, model.params)
    _restore(path, "buffer", arrays, model.buffers)
    if meta.get("optimizer"):
        model.optimizer = optim.from_config(meta["optimizer"])
        for slot in model.optimizer.state:
            found = {key[len(f"optim/{slot}/"):]: value for key, value in arrays.items()
                     if key.startswith(f"optim/{slot}/")}
            unknown = sorted(set(found) - set(model.params))
            if unknown:
                raise ModelFileError(f"{path}: optimizer state for unknown parameters: {', '.join(unknown)}")
            for key, value in found.items():
                _check_shape(path, f"optimizer {slot} of `{key}`", value, model.params[key])
                model.optimizer.state[slot][key] = value.astype(model.dtype)
    return model


def _restore(path: str | Path, prefix: str, arrays: dict[str, np.ndarray], into: dict[str, np.ndarray]) -> None:
    found = {key[len(prefix) + 1:]: value for key, value in arrays.items() if key.startswith(prefix + "/")}
    missing = sorted(set(into) - set(found))
    unexpected = sorted(set(found) - set(into))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected)}")
        raise ModelFileError(f"{path}: the {prefix}s do not match the embedded spec: {'; '.join(parts)}")
    for key, value in found.items():
        _check_shape(path, f"{prefix} `{key}`", value, into[key])
    for key, value in found.items():
        into[key][...] = value


def _check_shape(path: str | Path, what: str, value: np.ndarray, expected: np.ndarray) -> None:
    if value.shape != expected.shape:
        raise ModelFileError(f"{path}: {what} has shape {value.shape}, but the spec gives it {expected.shape}")
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise ModelFileError(f"{path}: {what} holds {value.dtype} values, not numbers")
