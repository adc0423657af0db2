"""Weights between cnnc's layout (NumPy, channels-last) and the exported torch module's, exactly, both ways."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch
from cnnc.backends.torch_export import Exported, export

from cnnc import ir
from cnnc.report import Report


class TorchLayout:
    """Where every value of every cnnc parameter and buffer sits in the torch module the exporter
    builds. The exporter only moves values (transposes, reshapes, permutations), never computes with
    them, so exporting each value's own index (float64 holds every index exactly) shows where it
    goes: ``places[torch name] = (cnnc key, positions)``, the torch tensor's values being the cnnc
    array's flat values at ``positions``. Converting is then indexing, exact in both directions."""

    def __init__(self, network: ir.Network, report: Report, params: Mapping[str, np.ndarray],
                 buffers: Mapping[str, np.ndarray]) -> None:
        self.shapes = {key: value.shape for key, value in {**params, **buffers}.items()}
        self.param_keys = tuple(params)
        keys = list(self.shapes)
        starts = np.cumsum([0] + [int(np.prod(self.shapes[key])) for key in keys])
        indices = {key: np.arange(start, stop, dtype=np.float64).reshape(self.shapes[key])
                   for key, start, stop in zip(keys, starts[:-1], starts[1:])}
        self.module: Exported = export(network, report, {key: indices[key] for key in params},
                                       {key: indices[key] for key in buffers}, torch.float64)
        self.places: dict[str, tuple[str, np.ndarray]] = {}
        uses = np.zeros(int(starts[-1]), dtype=np.int64)
        for name, tensor in _named_values(self.module):
            flat = tensor.detach().numpy().reshape(-1).astype(np.int64)
            owners = np.searchsorted(starts, flat, side="right") - 1
            if flat.size == 0 or owners.min() != owners.max():
                raise ValueError(f"the torch tensor `{name}` does not come from one cnnc array")
            key = keys[int(owners[0])]
            self.places[name] = (key, flat - starts[owners[0]])
            np.add.at(uses, flat, 1)
        unused = [key for key, start, stop in zip(keys, starts[:-1], starts[1:]) if (uses[start:stop] != 1).any()]
        if unused:
            raise ValueError(f"the torch module does not hold every value of {', '.join(unused)} exactly once")
        self.torch_names = {key: name for name, (key, _) in self.places.items()}

    def to_torch(self, arrays: Mapping[str, np.ndarray], shapes: Mapping[str, torch.Size]) -> dict[str, np.ndarray]:
        """cnnc arrays (any subset of the keys) as torch's: {torch name: array of ``shapes[name]``}."""
        found = {}
        for key, value in arrays.items():
            name = self.torch_names[key]
            found[name] = np.asarray(value).reshape(-1)[self.places[name][1]].reshape(tuple(shapes[name]))
        return found

    def to_cnnc(self, tensors: Mapping[str, np.ndarray], like: np.dtype) -> dict[str, np.ndarray]:
        """Torch arrays (any subset of the names) as cnnc's: {cnnc key: array of the key's shape}."""
        found = {}
        for name, value in tensors.items():
            key, positions = self.places[name]
            flat = np.empty(int(np.prod(self.shapes[key])), dtype=like)
            flat[positions] = np.asarray(value).reshape(-1)
            found[key] = flat.reshape(self.shapes[key])
        return found


def _named_values(module: torch.nn.Module) -> Iterable[tuple[str, torch.Tensor]]:
    """Parameters and buffers by name, without batchnorm's step counter (cnnc has none: its momentum is fixed)."""
    yield from module.named_parameters()
    for name, buffer in module.named_buffers():
        if not name.endswith("num_batches_tracked"):
            yield name, buffer
