"""cnnc's optimizers (``cnnc.optim``) applied to torch tensors: the same update rules, settings and state."""

from __future__ import annotations

import math

import torch

from cnnc import optim


class TorchSteps:
    """Updates torch parameters as ``optimizer`` (a ``cnnc.optim`` SGD, Adam or AdamW) updates NumPy
    arrays: its settings, its current rate (``set_epoch``) and its step count are read from it and
    the count advanced, so a run may move between backends. The per-parameter state (velocity, m,
    v) lives here as torch tensors keyed by torch parameter name, zero until first used, as cnnc's."""

    def __init__(self, optimizer: optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.state: dict[str, dict[str, torch.Tensor]] = {name: {} for name in optimizer.state_names}

    def slot(self, name: str, key: str, like: torch.Tensor) -> torch.Tensor:
        found = self.state[name].get(key)
        if found is None:
            found = self.state[name][key] = torch.zeros_like(like)
        return found

    @torch.no_grad()
    def step(self, params: dict[str, torch.Tensor]) -> None:
        """One step from the parameters' ``.grad``."""
        self.optimizer.steps += 1
        update = self._sgd if isinstance(self.optimizer, optim.SGD) else self._adam
        for key, param in params.items():
            update(key, param, param.grad)

    def _sgd(self, key: str, param: torch.Tensor, grad: torch.Tensor) -> None:
        sgd: optim.SGD = self.optimizer
        if sgd.weight_decay:
            grad = grad + sgd.weight_decay * param
        if sgd.momentum:
            velocity = self.slot("velocity", key, param)
            velocity.mul_(sgd.momentum).add_(grad)
            grad = grad + sgd.momentum * velocity if sgd.nesterov else velocity
        param.sub_(sgd.rate * grad)

    def _adam(self, key: str, param: torch.Tensor, grad: torch.Tensor) -> None:
        adam: optim.Adam = self.optimizer
        beta1, beta2 = adam.betas
        if adam.weight_decay and adam.decoupled:
            param.mul_(1 - adam.rate * adam.weight_decay)
        elif adam.weight_decay:
            grad = grad + adam.weight_decay * param
        m, v = self.slot("m", key, param), self.slot("v", key, param)
        m.mul_(beta1).add_((1 - beta1) * grad)
        v.mul_(beta2).add_((1 - beta2) * grad * grad)
        correction1 = 1 - beta1 ** adam.steps
        correction2 = 1 - beta2 ** adam.steps
        denominator = v.sqrt() / math.sqrt(correction2) + adam.eps
        param.sub_((adam.rate / correction1) * (m / denominator))
