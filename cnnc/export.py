"""cnnc's networks for other engines: ``to_torch`` (a PyTorch module holding a model's weights)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from cnnc.model import Model


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


__all__ = ["to_torch"]
