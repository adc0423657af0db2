"""A cnnc model trained by torch: its weights and optimizer state moved into a torch module, and back."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from cnnc.backends.torch_train.layout import TorchLayout
from cnnc.backends.torch_train.network import (
    TORCH_DTYPES,
    Masks,
    are_labels,
    batch_loss,
    batch_targets,
    channels_first,
    hits,
    seed_dropout,
)
from cnnc.backends.torch_train.optimizers import TorchSteps
from torch import nn

EVALUATION_BATCH = 256  # as Model.evaluate


class TorchTrainer:
    """``model`` (a ``cnnc.model.Model`` with an optimizer) trained by torch on ``device``: the
    exporter's module holds copies of its weights, ``store`` copies them back (with the buffers and
    the optimizer's state), so ``model.save`` writes the same checkpoint the NumPy backend writes.
    With a process group (``world.size > 1``) the module is wrapped in DistributedDataParallel,
    batchnorm made SyncBatchNorm on CUDA."""

    def __init__(self, model, world) -> None:
        self.model, self.world = model, world
        network = model.network
        self.layout = TorchLayout(network.ir, network.report, model.params, model.buffers)
        self.holder = self.layout.module  # parameters and buffers under the layout's names
        self.masks = Masks(device=world.device)
        seed_dropout(self.holder, self.masks)
        if world.size > 1 and world.device.type == "cuda":
            self.holder = nn.SyncBatchNorm.convert_sync_batchnorm(self.holder)
        self.holder.to(device=world.device, dtype=TORCH_DTYPES[model.dtype.name])
        self.fused = model.loss == "crossentropy"
        body = self.holder.body
        self.net: nn.Module = body[:-1] if self.fused and model.program.ends_in_softmax else body
        self.output_dims = tuple(network.report.output.dims)
        self.steps = TorchSteps(model.optimizer)
        self._parameters = dict(self.holder.named_parameters())  # the same tensors for the whole run
        self.load()
        self.trained: nn.Module = self.net
        if world.size > 1:
            ids = [world.device.index] if world.device.type == "cuda" else None
            # DDP's default: rank 0's buffers (batchnorm's statistics) broadcast before every forward pass.
            self.trained = nn.parallel.DistributedDataParallel(self.net, device_ids=ids)
            # A conv weight with one input channel has equivalent strides that DDP's check takes for a mismatch.
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")

    # Weights between the model and the module ------------------------------------------------

    def _values(self) -> dict[str, torch.Tensor]:
        found = dict(self.holder.named_parameters())
        found.update({name: b for name, b in self.holder.named_buffers() if name in self.layout.places})
        return found

    def parameters(self) -> dict[str, torch.Tensor]:
        return self._parameters

    @torch.no_grad()
    def load(self) -> None:
        """The model's parameters, buffers and optimizer state into the module."""
        model, values = self.model, self._values()
        shapes = {name: value.shape for name, value in values.items()}
        for name, array in self.layout.to_torch({**model.params, **model.buffers}, shapes).items():
            values[name].copy_(torch.from_numpy(array))
        for slot, arrays in model.optimizer.state.items():
            self.steps.state[slot] = {name: torch.from_numpy(array.copy()).to(values[name])
                                      for name, array in self.layout.to_torch(arrays, shapes).items()}

    @torch.no_grad()
    def store(self) -> None:
        """The module's parameters, buffers and optimizer state into the model (in place, as NumPy arrays)."""
        model = self.model
        values = {name: value.detach().cpu().numpy() for name, value in self._values().items()}
        for key, array in self.layout.to_cnnc(values, model.dtype).items():
            (model.params if key in model.params else model.buffers)[key][...] = array
        for slot, tensors in self.steps.state.items():
            arrays = {name: tensor.cpu().numpy() for name, tensor in tensors.items()}
            model.optimizer.state[slot] = self.layout.to_cnnc(arrays, model.dtype)

    # Steps and scores -------------------------------------------------------------------------

    def _inputs(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(channels_first(x).astype(self.model.dtype, copy=False)).to(self.world.device)

    def _targets(self, y: np.ndarray) -> torch.Tensor:
        labels = are_labels(y, self.output_dims, self.model.loss)
        targets = batch_targets(y, self.output_dims, self.model.loss, labels, self.model.dtype)
        return torch.from_numpy(targets).to(self.world.device)

    def loss_terms(self, examples: int) -> int:
        """How many terms the mean loss of ``examples`` averages: positions for cross-entropy, values for mse."""
        return examples * math.prod(self.output_dims[:-1] if self.fused else self.output_dims)

    def forward_backward(self, x: np.ndarray, y: np.ndarray, global_examples: int) -> tuple[float, tuple[int, int]]:
        """Gradients of the global batch's mean loss from this worker's part of it (``x``, ``y``):
        the summed loss over the global count, times the workers (DDP averages across them).
        Returns the part's summed loss and its (correct, counted) hits."""
        self.trained.train()
        for param in self._parameters.values():
            param.grad = None
        outputs = self.trained(self._inputs(x))
        total = batch_loss(outputs, self._targets(y), self.model.loss)
        (total * (self.world.size / self.loss_terms(global_examples))).backward()
        found = hits(outputs.detach(), y, self.output_dims, are_labels(y, self.output_dims, self.model.loss))
        return float(total.detach()), found or (0, 0)

    def nonfinite_gradient(self) -> str | None:
        """The cnnc name of a parameter whose gradient holds NaN or infinity, if any."""
        params = self.parameters()
        if bool(torch.stack([param.grad.sum() for param in params.values()]).isfinite().all()):
            return None  # a sum is finite only if every value is (one pass, no temporary)
        finite = torch.stack([param.grad.isfinite().all() for param in params.values()])
        if bool(finite.all()):
            return None  # finite values whose sum overflowed
        name = list(params)[int((~finite).nonzero()[0])]
        return self.layout.places[name][0]

    def step(self) -> None:
        self.steps.step(self.parameters())

    @torch.no_grad()
    def score(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int, int]:
        """Evaluation mode over ``x`` (this worker's part): summed loss, correct, counted."""
        self.net.eval()
        total, correct, counted = 0.0, 0, 0
        for start in range(0, len(x), EVALUATION_BATCH):
            part_x, part_y = x[start:start + EVALUATION_BATCH], y[start:start + EVALUATION_BATCH]
            outputs = self.net(self._inputs(part_x))
            total += float(batch_loss(outputs, self._targets(part_y), self.model.loss))
            found = hits(outputs, part_y, self.output_dims, are_labels(part_y, self.output_dims, self.model.loss))
            if found:
                correct, counted = correct + found[0], counted + found[1]
        return total, correct, counted
