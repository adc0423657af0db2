"""Saving a model to one ``.npz`` (weights, buffers, optimizer state, the spec's text, metadata)
and loading it back, rebuilt from the embedded spec."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple, Union

import numpy as np

from cnnc import ir, optim
from cnnc.backends.numpy.kernel import UnsupportedLayer
from cnnc.atomic import write_atomically
from cnnc.errors import CannotRun
from cnnc.frozen import frozen
from cnnc.input_statistics import InputStatistics
from cnnc.model import DTYPES, LOSSES, Model
from cnnc.npz import NpzError, read_npz

FORMAT = "cnnc-model"
VERSION = 1
SMALL_MODEL = 10**6  # weights allocated before the file's arrays are checked against them

if TYPE_CHECKING:
    from cnnc.api import Network


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
    if model.input_statistics is not None:
        meta["input_statistics"] = model.input_statistics.to_json()
    arrays = {"meta": np.array(json.dumps(meta)), "source": np.array(model.network.source.text)}
    arrays.update({f"param/{key}": value for key, value in model.params.items()})
    arrays.update({f"buffer/{key}": value for key, value in model.buffers.items()})
    if optimizer:
        for slot, values in optimizer.state.items():
            arrays.update({f"optim/{slot}/{key}": value for key, value in values.items()})
    write_atomically(path, lambda file: np.savez(file, **arrays))


def load_model(path: str | Path, backend: str = "numpy") -> Model:
    """A model rebuilt from the spec saved in ``path``, with its weights, buffers and optimizer
    state. Raises ModelFileError for a file that is not a cnnc model, whose metadata does not fit
    ``METADATA``, or whose arrays do not match the spec's shapes or hold NaN or infinite values;
    OSError if unreadable, and SpecError if the embedded spec has errors. ``backend``: numpy or numba
    (the same file serves both)."""
    try:
        arrays = read_npz(path)
    except NpzError as problem:
        raise ModelFileError(f"{path}: not a cnnc model file ({problem})") from None
    if "meta" not in arrays or "source" not in arrays:
        raise ModelFileError(f"{path}: not a cnnc model file (no `meta` or `source` entry)")
    meta = _metadata(path, _text(path, arrays.pop("meta"), "meta"))
    from cnnc.api import loads

    dims = meta["input"]
    network = loads(_text(path, arrays.pop("source"), "source"), name=meta["name"],
                    input=ir.Shape(tuple(dims[:-1]), dims[-1]))
    _check_size(path, network, arrays)
    try:
        model = Model(network, seed=meta["seed"], dtype=meta["dtype"], loss=meta["loss"], backend=backend,
                      draw_weights=False)  # every parameter is restored below
    except UnsupportedLayer as problem:
        raise ModelFileError(f"{path}: {problem}") from None
    model.run_state = meta.get("training")
    model.input_statistics = _input_statistics(path, meta.get("input_statistics"), network.report.input.channels)
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
                _check_array(path, f"optimizer {slot} of `{key}`", value, model.params[key])
                model.optimizer.state[slot][key] = value.astype(model.dtype)
    return model


def _input_statistics(path: str | Path, data: dict | None, channels: int) -> InputStatistics | None:
    """The training data's statistics (None in a file written before they were kept, or by ``Model.save``
    before ``fit``), one value per channel of the spec's input."""
    if data is None:
        return None
    for key in ("mean", "mean_spread", "std", "std_spread"):
        if len(data[key]) != channels:
            raise ModelFileError(f"{path}: metadata field `input_statistics.{key}` must hold one value per input "
                                 f"channel ({channels}), got {len(data[key])}")
    return InputStatistics.from_json(data)


def _text(path: str | Path, value: np.ndarray, key: str) -> str:
    if value.dtype.kind != "U" or value.ndim != 0:
        raise ModelFileError(f"{path}: not a cnnc model file (its `{key}` entry is not a text)")
    return str(value)


def _metadata(path: str | Path, text: str) -> dict:
    """The metadata, checked against ``METADATA`` so that nothing read from it later can fail."""
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as problem:  # ValueError: bad JSON, or an integer of 4,300+ digits
        raise ModelFileError(f"{path}: unreadable metadata ({problem})") from None
    if type(meta) is dict and (meta.get("format") != FORMAT or meta.get("version") != VERSION):
        raise ModelFileError(f"{path}: not a cnnc model file of version {VERSION}")
    try:
        validate_metadata(meta)
    except ValueError as problem:
        raise ModelFileError(f"{path}: {problem}") from None
    return meta


def _check_size(path: str | Path, network: Network, arrays: dict[str, np.ndarray]) -> None:
    """Before a large model is allocated, make sure that the file holds as many weights (an edited
    `input` must not make cnnc allocate gigabytes for a small file)."""
    totals = network.report.totals
    expected = totals.params + totals.buffers
    held = sum(value.size for key, value in arrays.items() if key.startswith(("param/", "buffer/")))
    if expected > max(held, SMALL_MODEL):
        raise ModelFileError(f"{path}: the embedded spec has {expected:,} weights, but the file holds {held:,}")


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
        _check_array(path, f"{prefix} `{key}`", value, into[key])
    for key, value in found.items():
        if value.dtype == into[key].dtype and value.flags.c_contiguous and value.flags.writeable:
            into[key] = value  # the array read from the file takes the place of the model's zeros: no copy
        else:
            into[key][...] = value


def _check_array(path: str | Path, what: str, value: np.ndarray, expected: np.ndarray) -> None:
    """The spec's shape, real numbers, and no NaN or infinity."""
    if value.shape != expected.shape:
        raise ModelFileError(f"{path}: {what} has shape {value.shape}, but the spec gives it {expected.shape}")
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise ModelFileError(f"{path}: {what} holds {value.dtype} values, not numbers")
    # a finite sum means finite values (a NaN or an infinity makes it NaN or infinite); an overflowing sum is
    # looked at value by value. One pass without a temporary array of the size of the weights.
    if value.dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):  # no RuntimeWarning printed for a NaN or an overflow
            total = value.sum()
        if not np.isfinite(total) and not np.isfinite(value).all():
            raise ModelFileError(f"{path}: {what} holds NaN or infinite values")


# The metadata's schema -------------------------------------------------------------------------
# A dict is a JSON object with exactly the keys listed (one ending in "?" may be missing), a one-item
# list a JSON array of such items, a Rule one value, OrNull a value that may also be null.


class Rule(NamedTuple):
    """A value that ``test`` accepts, ``expected`` in words for the message."""

    expected: str
    test: Callable[[object], bool]


@frozen
class OrNull:
    schema: Schema


Schema = Union[Rule, OrNull, list, dict]


def whole(low: int) -> Rule:
    return Rule(f"a whole number of at least {low}", lambda v: type(v) is int and v >= low)


def number(expected: str, within: Callable[[float], bool] = lambda v: True) -> Rule:
    """A finite number (never a boolean) that ``within`` accepts."""
    return Rule(expected, lambda v: type(v) in (int, float) and math.isfinite(v) and within(v))


def one_of(*names: str) -> Rule:
    return Rule("one of " + ", ".join(f'"{name}"' for name in names), lambda v: type(v) is str and v in names)


TEXT = Rule("a text", lambda v: type(v) is str)
FLAG = Rule("true or false", lambda v: type(v) is bool)
OBJECT = Rule("an object", lambda v: type(v) is dict)
SIZES = Rule("a list of sizes of at least 1 (spatial sizes, then channels)",
             lambda v: type(v) is list and len(v) > 0 and all(type(d) is int and d >= 1 for d in v))
FRACTION = number("a number in [0, 1]", lambda v: 0 <= v <= 1)
BELOW_ONE = number("a number in [0, 1)", lambda v: 0 <= v < 1)
POSITIVE = number("a number above 0", lambda v: v > 0)
NOT_NEGATIVE = number("a number of at least 0", lambda v: v >= 0)

OPTIMIZER = {  # ``optim.Optimizer.config()``, read back by ``optim.from_config``
    "optimizer": one_of("sgd", "adam", "adamw"), "lr": POSITIVE, "weight_decay?": NOT_NEGATIVE,
    "steps?": whole(0), "epoch?": whole(0), "schedule?": one_of("constant", "step", "cosine"),
    "step_size?": whole(1), "gamma?": number("a number in (0, 1]", lambda v: 0 < v <= 1),
    "epochs?": OrNull(whole(1)), "min_factor?": FRACTION, "momentum?": BELOW_ONE, "nesterov?": FLAG,
    "betas?": Rule("two numbers in [0, 1)", lambda v: type(v) is list and len(v) == 2
                   and all(BELOW_ONE.test(beta) for beta in v)),
    "eps?": POSITIVE}
HISTORY = {"loss": [number("a number")], "accuracy": [OrNull(FRACTION)], "val_loss": [OrNull(number("a number"))],
           "val_accuracy": [OrNull(FRACTION)], "lr": [NOT_NEGATIVE], "seconds": [NOT_NEGATIVE],
           "images": [whole(0)]}  # ``training.HISTORY_KEYS``
TRAINING = {  # the run state of ``cnnc train`` (see ``cnnc.commands.train``)
    "plan": {"epochs": whole(1), "batch_size": whole(1), "seed?": whole(0), "shuffle?": FLAG},
    "recipe?": OBJECT, "data?": OrNull(TEXT), "val_split?": BELOW_ONE, "classes?": [TEXT], "holdout_seed?": whole(0),
    "progress?": {"epoch": whole(0), "batch": whole(0), "loss_sum": NOT_NEGATIVE, "correct": whole(0),
                  "counted": whole(0), "seen": whole(0), "seconds": NOT_NEGATIVE, "history": HISTORY}}
INPUT_STATISTICS = {  # ``InputStatistics.to_json()``: the training data's, for ``cnnc predict``
    "examples": whole(1), "mean": [number("a number")], "mean_spread": [NOT_NEGATIVE], "std": [NOT_NEGATIVE],
    "std_spread": [NOT_NEGATIVE], "low": number("a number"), "high": number("a number")}
METADATA = {"format": TEXT, "version": whole(1), "name": TEXT, "dtype": one_of(*DTYPES), "loss": one_of(*LOSSES),
            "seed": whole(0), "input": SIZES, "source_path?": OrNull(TEXT), "optimizer?": OrNull(OPTIMIZER),
            "training?": OrNull(TRAINING), "input_statistics?": OrNull(INPUT_STATISTICS)}


def validate_metadata(meta: object) -> None:
    """Raise ValueError naming the first field of ``meta`` that ``METADATA`` does not accept, or a
    field that disagrees with another."""
    _validate(meta, METADATA, "")
    optimizer = meta.get("optimizer") or {}
    if optimizer.get("schedule") == "step" and not {"step_size", "gamma"} <= set(optimizer):
        raise ValueError("metadata field `optimizer` has a step schedule without `step_size` and `gamma`")
    progress = (meta.get("training") or {}).get("progress")
    if progress:
        for key, values in progress["history"].items():
            if len(values) != progress["epoch"]:
                raise ValueError(f"metadata field `training.progress.history.{key}` must hold one value per "
                                 f"epoch done ({progress['epoch']}), got {len(values)}")


def _validate(value: object, schema: Schema, where: str) -> None:
    field = f"metadata field `{where}`" if where else "the metadata"
    if isinstance(schema, OrNull):
        if value is not None:
            _validate(value, schema.schema, where)
    elif isinstance(schema, Rule):
        if not schema.test(value):
            raise ValueError(f"{field} must be {schema.expected}, got {_show(value)}")
    elif isinstance(schema, list):
        if type(value) is not list:
            raise ValueError(f"{field} must be a list, got {_show(value)}")
        for index, item in enumerate(value):
            _validate(item, schema[0], f"{where}[{index}]")
    else:
        if type(value) is not dict:
            raise ValueError(f"{field} must be an object, got {_show(value)}")
        fields = {key.removesuffix("?"): part for key, part in schema.items()}
        inside = f"{where}." if where else ""
        for key in value:
            if key not in fields:
                raise ValueError(f"unknown metadata field `{inside}{key[:60]}`")
        for key, part in fields.items():
            if key in value:
                _validate(value[key], part, inside + key)
            elif key in schema:  # listed without "?"
                raise ValueError(f"metadata field `{inside}{key}` is missing")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
