"""cnnc's networks for other engines: a compiled model (``Network.compile()`` or a ``cnnc train``
checkpoint) as a PyTorch module (``to_torch``) or an ONNX file (``to_onnx``).

Exports are channels-first, as the other engines lay data out: (batch, C, *spatial) where cnnc's
arrays are (batch, *spatial, C). ``to_onnx`` raises ``MissingExtra`` (an ImportError) naming the
extra to install when the onnx package is missing."""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

from cnnc.atomic import write_atomically
from cnnc.errors import CannotRun

if TYPE_CHECKING:
    import onnx
    from torch import nn

    from cnnc.model import Model

__all__ = ["MissingExtra", "ModelTooLarge", "to_onnx", "to_torch"]

PROTOBUF_LIMIT = 2**31 - 1  # bytes: the largest ONNX file without external data


class MissingExtra(CannotRun, ImportError):
    """An optional package an export needs is not installed; ``help`` says which extra to install."""


class ModelTooLarge(CannotRun, ValueError):
    """A model over what its file format can hold."""


def require(module: str, extra: str, feature: str) -> object:
    """Import ``module`` (an optional dependency), or raise MissingExtra naming ``cnnc[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{feature} needs the `{module}` package, which is not installed",
                           f"pip install 'cnnc[{extra}]'") from None


def to_torch(model: Model, channels_last: bool = False) -> nn.Module:
    """``model`` as a ``torch.nn.Module`` holding copies of its weights, in its dtype (float32 or
    float64). By default the module is the class ``cnnc compile --to torch`` writes: channels-first
    inputs and outputs, (N, C, *spatial) as torch's layers take them, each layer an attribute named as
    in the report, so that ``state_dict()`` has cnnc's parameter names (``conv1.weight``).
    ``channels_last=True`` gives a module on cnnc's own layout, (N, *spatial, C), instead.
    Raises TypeError for a ``model`` that is not a ``cnnc.model.Model``, ImportError without torch."""
    from cnnc.arguments import bad_argument, flag
    from cnnc.model import Model

    if not isinstance(model, Model):
        raise TypeError(bad_argument("model", "a cnnc.model.Model (from Network.compile or cnnc.load_model)", model))
    if flag(channels_last, "channels_last"):
        from cnnc.backends.torch_export import to_torch as channels_last_module

        return channels_last_module(model)
    from cnnc.backends.torch_source import torch_module

    return torch_module(model)


def to_onnx(model: Model, path: str | os.PathLike) -> onnx.ModelProto:
    """Write ``model`` to ``path`` as an ONNX model (opset 18, float32) and return it.

    Input ``input``: (batch, C, *spatial), channels first (NCW, NCHW, NCDHW), with a dynamic batch
    dimension; output ``output``: (batch, C, *spatial), or (batch, C) for a flat output. Node and value
    names keep the report's layer names (``conv1``, ``conv1/pad``); weights keep cnnc's names
    (``conv1.weight``) in PyTorch's layouts. Dropout and drop path are the identity, batchnorm uses
    its running statistics: the model computes ``model.predict``. The file is written through a
    temporary file in the same folder and a rename. Raises MissingExtra without the ``onnx`` package,
    ModelTooLarge past protobuf's 2 GiB, OSError if ``path`` cannot be written, TypeError for a
    ``model`` that is not a cnnc model."""
    from cnnc.arguments import bad_argument, path_argument
    from cnnc.model import Model

    if not isinstance(model, Model):
        raise TypeError(bad_argument("model", "a cnnc.model.Model (from Network.compile() or a checkpoint)", model))
    path = path_argument(path)
    require("onnx", "onnx", "the ONNX export")
    from cnnc.backends.onnx import model_proto

    proto = model_proto(model)
    size = proto.ByteSize()
    if size > PROTOBUF_LIMIT:
        raise ModelTooLarge(f"{model.network.name} is {size:,} bytes as ONNX, past the 2 GiB that one ONNX file "
                            "can hold", "ONNX's external data format is not supported yet")
    write_atomically(path, lambda file: file.write(proto.SerializeToString()))
    return proto
