"""The imported weights as a cnnc checkpoint: the written spec is elaborated, and each of its layers,
in the order the language names them, takes the arrays its ONNX nodes held (already in cnnc's layouts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cnnc.errors import CannotRun

if TYPE_CHECKING:
    from cnnc.api import Network
    from cnnc.importer.units import Layer
    from cnnc.model import Model


def check_spec(text: str, path: str) -> Network:
    """The written spec, checked (an error here is cnnc's own fault: CannotRun with the first one)."""
    from cnnc.api import Network, Options, check
    from cnnc.source import Source

    checked = check(Source(text, path), Options())
    if not checked.ok:
        first = next(d for d in checked.diagnostics if d.is_error)
        line = text.splitlines()[first.span.line - 1] if first.span else ""
        raise CannotRun(f"the spec written from {path} has an error: {first.code} {first.message} "
                        f"(in `{line.strip()}`)",
                        "this is a bug in cnnc import; please report it with the model")
    return Network(checked)


def fill_model(network: Network, layers: list[Layer], seed: int = 0) -> Model:
    """``network`` compiled, its parameters and buffers those of ``layers`` (float32)."""
    from cnnc import ir

    model = network.compile(seed=seed)
    arrays = {**model.params, **model.buffers}
    named = [node for node in ir.walk(network.ir.layers) if not isinstance(node, (ir.Residual, *ir.MERGES))]
    if len(named) != len(layers):
        raise CannotRun(f"the spec has {len(named)} layers where the model has {len(layers)}",
                        "this is a bug in cnnc import; please report it with the model")
    for node, layer in zip(named, layers):
        for suffix, value in layer.weights.items():
            key = f"{node.name}.{suffix}"
            if key not in arrays or arrays[key].shape != np.shape(value):
                raise CannotRun(f"`{key}` of {np.shape(value)} does not fit the spec's "
                                f"{arrays[key].shape if key in arrays else 'layer'}",
                                "this is a bug in cnnc import; please report it with the model")
            arrays[key][...] = value
    return model


def save_checkpoint(network: Network, layers: list[Layer], path: str) -> None:
    """The model as ``cnnc train`` would save it before its first epoch (the default recipe: momentum,
    one epoch of batches of 32), so that ``cnnc eval`` and ``cnnc train --resume`` (fine-tuning) take it."""
    from dataclasses import asdict

    from cnnc import optim
    from cnnc.checkpoint import save_model
    from cnnc.training import Plan

    model = fill_model(network, layers)
    model.optimizer = optim.from_recipe({})
    state = {"plan": asdict(Plan(epochs=1, batch_size=32, seed=0)), "recipe": {}, "data": None, "val_split": 0.0}
    save_model(model, path, training=state)
