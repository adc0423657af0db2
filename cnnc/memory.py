"""The memory model: weights, activations per image, peak inference memory and training memory.

Assumptions (printed with every report and documented in docs/language.md):
- every value takes the dtype's size; flatten, slice and shuffle are views; no layer runs in place, unless
  ``inplace_activations`` (PyTorch's ``nn.ReLU(inplace=True)``): then activation functions other than
  softmax, and dropout, write over their input and own no storage (prelu does not: PyTorch's
  nn.PReLU has no inplace option);
- forward memory keeps the input and every layer output (what backpropagation needs);
- inference memory frees each tensor after its last use: weights plus the peak of live tensors;
- training memory for a batch B: B x forward memory x 2 (the activations and their gradients),
  plus the weights, their gradients and the optimizer's per-parameter state, plus the buffers.
"""

from __future__ import annotations

from cnnc import ir
from cnnc.report import Assumptions, LayerReport, Totals


IN_PLACE_KINDS = (ir.Activation, ir.Dropout)
"""What may overwrite its input (softmax excepted: frameworks keep its input). Not ir.PReLU: PyTorch's
nn.PReLU has no inplace option; not droppath: timm's DropPath and torchvision's StochasticDepth have no
in-place mode and always allocate their output."""


def owns_storage(layer: LayerReport, assumptions: Assumptions) -> bool:
    """Whether a layer's output is a tensor of its own, rather than its input's storage reused."""
    if not layer.allocates:
        return False
    node = layer.node
    in_place = isinstance(node, IN_PLACE_KINDS) and getattr(node, "function", None) != "softmax"
    return not (assumptions.inplace_activations and in_place)


def _live_peak(network: ir.Network, layers: dict[str, LayerReport], assumptions: Assumptions) -> int:
    """The largest number of elements alive at once when the layers run one after another and each
    tensor is freed after its last use. Views (flatten) share their source's storage."""
    sizes: list[int] = [network.input.size]  # tensor id -> elements it owns
    owner: list[int] = [0]  # tensor id -> the id whose storage it uses
    ops: list[tuple[int, list[int]]] = []  # (output tensor, input tensors)

    def emit(size: int, inputs: list[int], alias_of: int | None = None) -> int:
        sizes.append(0 if alias_of is not None else size)
        owner.append(owner[alias_of] if alias_of is not None else len(sizes) - 1)
        ops.append((len(sizes) - 1, inputs))
        return len(sizes) - 1

    def run(nodes: tuple[ir.Node, ...], tensor: int) -> int:
        for node in nodes:
            report = layers[node.name]
            if isinstance(node, ir.Residual):
                body = run(node.body, tensor)
                shortcut = run(node.shortcut, tensor)
                tensor = emit(report.activations, [body, shortcut])
            elif isinstance(node, ir.MERGES):  # the branch outputs live until the merge
                outputs = [run(branch, tensor) for branch in node.branches]
                tensor = emit(report.activations, outputs)
            else:
                tensor = emit(report.activations, [tensor], None if owns_storage(report, assumptions) else tensor)
        return tensor

    final = run(network.layers, 0)
    last_use = {owner[t]: index for index, (_, inputs) in enumerate(ops) for t in inputs}
    last_use[owner[final]] = len(ops)
    live = sizes[0]
    peak = live
    frees: dict[int, list[int]] = {}
    for tensor, index in last_use.items():
        frees.setdefault(index, []).append(tensor)
    for index, (output, _) in enumerate(ops):
        live += sizes[output]
        peak = max(peak, live)
        live -= sum(sizes[t] for t in frees.get(index, ()))
    return peak


def totals(network: ir.Network, layers: tuple[LayerReport, ...], assumptions: Assumptions) -> Totals:
    by_name = {layer.name: layer for layer in layers}
    width = assumptions.bytes_per_value
    params = sum(layer.params for layer in layers)
    buffers = sum(layer.buffers for layer in layers)
    stored = network.input.size + sum(layer.activations for layer in layers if owns_storage(layer, assumptions))
    weights_bytes = (params + buffers) * width
    training_bytes = (assumptions.batch * stored * 2 * width
                      + params * width * (2 + assumptions.optimizer_states) + buffers * width)
    return Totals(
        params=params,
        buffers=buffers,
        macs=sum(layer.macs for layer in layers),
        activations=sum(layer.activations for layer in layers),
        weights_bytes=weights_bytes,
        forward_bytes=stored * width,
        inference_bytes=weights_bytes + _live_peak(network, by_name, assumptions) * width,
        training_bytes=training_bytes,
    )
