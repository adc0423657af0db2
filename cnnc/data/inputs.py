"""The inputs of ``cnnc predict``: ``.npy`` arrays (one example or a batch) and PNG/PGM/PPM images, fitted
to the spec's input with a message for each conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnc import ir
from cnnc.data.dataset import DataError, describe_dims
from cnnc.data.decode import IMAGE_SUFFIXES
from cnnc.data.files import as_examples
from cnnc.data.images import load_image
from cnnc.npz import NpzError, read_npy


def _array_examples(path: Path, shape: ir.Shape) -> tuple[np.ndarray, list[str]]:
    try:
        array = read_npy(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except NpzError as exc:
        raise DataError(f"{path}: not a readable .npy file ({exc})") from None
    array, notes = as_examples(array, str(path))
    dims = shape.dims
    if array.shape == dims:
        return array[None], notes
    if array.shape[1:] == dims:
        return array, notes
    if shape.channels == 1 and array.shape[-shape.rank:] == shape.spatial and array.ndim in (shape.rank,
                                                                                             shape.rank + 1):
        batch = array[..., None] if array.ndim == shape.rank + 1 else array[None, ..., None]
        return batch, notes + [f"{path}: {describe_dims(array.shape)} read as {shape} (one channel)"]
    raise DataError(f"{path}: an array of shape {describe_dims(array.shape)} does not fit the spec's input {shape}",
                    f"save one example as {describe_dims(dims)} or a batch as Nx{describe_dims(dims)}")


def load_inputs(paths: list[str | Path], shape: ir.Shape,
                method: str = "bilinear") -> tuple[np.ndarray, list[str], list[str]]:
    """(examples (N, *spatial, C) float32, a name for each example, notes about conversions)."""
    batches, names, notes = [], [], []
    for name in paths:
        path = Path(name)
        if path.suffix.lower() == ".npy":
            batch, more = _array_examples(path, shape)
            names += [str(path)] if len(batch) == 1 else [f"{path}[{i}]" for i in range(len(batch))]
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            image, more = load_image(path, shape, method)
            batch = image[None]
            names.append(str(path))
        else:
            raise DataError(f"{path}: cnnc predict reads .npy arrays and PNG, PGM or PPM images")
        batches.append(batch)
        notes += more
    if not batches:
        raise DataError("no inputs given")
    return np.concatenate(batches).astype(np.float32), names, notes
