"""Fitting images to a spec's input: channel conversion (grey, grey+alpha, RGB, RGBA) and resizing
(nearest or bilinear), each reported in a message so that nothing happens silently."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnc import ir
from cnnc.data.dataset import DataError, describe_dims
from cnnc.data.decode import read_image

# ITU-R BT.601 luma weights for RGB -> grey.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)
CHANNEL_NAMES = {1: "greyscale", 2: "greyscale+alpha", 3: "RGB", 4: "RGBA"}
RESIZE_METHODS = ("bilinear", "nearest")


def convert_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """(..., C) image with 1 to 4 channels as ``channels`` channels. Alpha is applied over a black
    background when dropped, RGB becomes grey by BT.601 luma, grey is repeated into RGB, and an added
    alpha channel is opaque."""
    have = image.shape[-1]
    if have == channels:
        return image
    if have not in CHANNEL_NAMES or channels not in CHANNEL_NAMES:
        raise DataError(f"cannot convert an image with {have} channels to {channels} channels",
                        "images convert between 1 (grey), 2 (grey+alpha), 3 (RGB) and 4 (RGBA) channels")
    colour, alpha = (image[..., :-1], image[..., -1:]) if have in (2, 4) else (image, None)
    if alpha is not None and channels not in (2, 4):
        colour = colour * alpha
    if colour.shape[-1] == 3 and channels in (1, 2):
        colour = (colour @ LUMA_WEIGHTS)[..., None]
    elif colour.shape[-1] == 1 and channels in (3, 4):
        colour = np.repeat(colour, 3, axis=-1)
    if channels in (2, 4):
        alpha = alpha if alpha is not None else np.ones(colour.shape[:-1] + (1,), np.float32)
        colour = np.concatenate([colour, alpha], axis=-1)
    return colour.astype(np.float32)


def _axis_weights(size_in: int, size_out: int, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (low, high) and the weight of ``high`` for each output position, sampling at pixel
    centres (the convention of OpenCV's and PIL's resize without antialiasing)."""
    scaled = (np.arange(size_out) + 0.5) * (size_in / size_out)  # output pixel centres, in input pixels
    if method == "nearest":
        nearest = np.minimum(np.floor(scaled), size_in - 1).astype(np.int64)
        return nearest, nearest, np.zeros(size_out, np.float32)
    centres = np.clip(scaled - 0.5, 0, size_in - 1)
    low = np.floor(centres).astype(np.int64)
    high = np.minimum(low + 1, size_in - 1)
    return low, high, (centres - low).astype(np.float32)


def resize(image: np.ndarray, spatial: tuple[int, ...], method: str = "bilinear") -> np.ndarray:
    """(*spatial_in, C) -> (*spatial, C), one axis at a time (separable: bilinear in 2-D, linear in 1-D,
    trilinear in 3-D). ``method`` is "bilinear" or "nearest"."""
    if method not in RESIZE_METHODS:
        raise DataError(f"unknown resize method {method!r}", f"use one of {', '.join(RESIZE_METHODS)}")
    if image.ndim - 1 != len(spatial):
        raise DataError(f"cannot resize a {image.ndim - 1}-D image to {describe_dims(spatial)}")
    out = image.astype(np.float32)
    for axis, size in enumerate(spatial):
        if out.shape[axis] == size:
            continue
        low, high, weight = _axis_weights(out.shape[axis], size, method)
        shape = [1] * out.ndim
        shape[axis] = size
        weight = weight.reshape(shape)
        out = np.take(out, low, axis=axis) * (1 - weight) + np.take(out, high, axis=axis) * weight
    return out.astype(np.float32)


def conform(image: np.ndarray, shape: ir.Shape, name: str = "image",
            method: str = "bilinear") -> tuple[np.ndarray, list[str]]:
    """``image`` (*spatial, C) fitted to ``shape``: channels converted and spatial sizes resized, with
    a message for each change. A rank that differs is a ``DataError`` (nothing sensible to do)."""
    notes: list[str] = []
    if image.ndim - 1 != shape.rank:
        raise DataError(f"{name} is {image.ndim - 1}-D ({describe_dims(image.shape)}) but the spec's input is "
                        f"{shape.rank}-D ({shape})")
    if image.shape[-1] != shape.channels:
        before = CHANNEL_NAMES.get(image.shape[-1], f"{image.shape[-1]} channels")
        image = convert_channels(image, shape.channels)
        notes.append(f"{name}: converted {before} to {CHANNEL_NAMES[shape.channels]} for the spec's input {shape}")
    if tuple(image.shape[:-1]) != shape.spatial:
        before = describe_dims(image.shape[:-1])
        image = resize(image, shape.spatial, method)
        notes.append(f"{name}: resized {before} to {describe_dims(shape.spatial)} ({method}) for the spec's "
                     f"input {shape}")
    return image, notes


def load_image(path: str | Path, shape: ir.Shape | None = None,
               method: str = "bilinear") -> tuple[np.ndarray, list[str]]:
    """A PNG/PGM/PPM file as float32 (H, W, C) in [0, 1], fitted to ``shape`` when given; with the
    messages about what was converted."""
    image = read_image(path)
    if shape is None:
        return image, []
    return conform(image, shape, str(path), method)
