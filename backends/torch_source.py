"""`cnnc compile --to torch`: a network as a readable, standalone PyTorch source file (one ``nn.Module``
named after the network, channels-first), and a model's weights as a ``state_dict`` file beside it.

Every layer is an attribute named as in the report (``self.conv1``), so the ``state_dict``'s keys are
cnnc's parameter names (``conv1.weight``). ``forward`` is plain code: residual, concat, add and
multiply blocks are sums, ``torch.cat`` and products of named intermediate values, and the layers a
call of a spec's ``def`` block expanded to (four or more) become a helper method named after the
block (``basic_1``), documented with the call's text."""

from __future__ import annotations

import keyword
import linecache
import os
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnc import ir
from cnnc.backends.torch_layers import Code, feature_order, layer_arrays, layer_code
from cnnc.errors import CannotRun
from cnnc.report import LayerReport, Report
from cnnc.source import Source

if TYPE_CHECKING:
    from cnnc.api import Network
    from cnnc.model import Model

HELPER_LAYERS = 4
"""A block call that expands to at least this many layers (blocks counted) gets a helper method."""

_PER_FEATURE = (ir.BatchNorm, ir.LayerNorm, ir.LayerScale, ir.PReLU)
_ORDER_FREE = (ir.Activation, ir.Dropout, ir.DropPath)
_INDENT = " " * 4

SUPPORT = {
    "LayerScale": '''class LayerScale(nn.Module):
    """A learned multiplier per channel (ConvNeXt's gamma)."""

    def __init__(self, channels: int, init: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(-1, *[1] * (x.dim() - 2))
''',
    "DropPath": '''class DropPath(nn.Module):
    """Stochastic depth: in training, each example is zeroed with probability p and the others
    scaled by 1 / (1 - p); the identity in evaluation."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device) >= self.p
        return x * keep / (1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"
''',
}
"""Modules torch does not have, written into the generated file when a layer needs them."""


def class_name(network: str) -> str:
    """A PEP 8 class name for the network: its words capitalised (``mobilenet_v3_small`` ->
    ``MobilenetV3Small``), ASCII letters and digits only, ``Net`` before a leading digit and after a
    name that Python or the generated file already uses."""
    ascii_text = unicodedata.normalize("NFKD", network).encode("ascii", "ignore").decode()  # nét -> net
    words = [word for word in re.split(r"[^A-Za-z0-9]+", ascii_text) if word]
    name = "".join(word[0].upper() + word[1:] for word in words) or "Net"
    if name[0].isdigit():
        name = "Net" + name
    if keyword.iskeyword(name) or name in SUPPORT or name in ("F", "Tensor"):
        name += "Net"
    return name


def feature_orders(layers: tuple[ir.Node, ...], reports: dict[str, LayerReport]) -> tuple[dict, set[str]]:
    """(orders, torch_order): the feature order (``feature_order``) of every layer that reads a flat
    vector in torch's (C, *spatial) order rather than cnnc's (*spatial, C): an `fc` on a volume; and a
    `flatten` followed, through activations, dropout and per-feature layers (batchnorm, layernorm,
    layerscale, prelu), by an `fc`, with those layers. Such a `flatten` is written as torch's
    (``torch_order`` names it); any other keeps cnnc's order so that what follows sees cnnc's vector."""
    orders: dict[str, np.ndarray] = {}
    torch_order: set[str] = set()

    def visit(nodes: tuple[ir.Node, ...]) -> None:
        for index, node in enumerate(nodes):
            if isinstance(node, ir.Residual):
                visit(node.body)
                visit(node.shortcut)
            elif isinstance(node, ir.MERGES):
                for branch in node.branches:
                    visit(branch)
            elif isinstance(node, (ir.Dense, ir.Flatten)):
                order = feature_order(reports[node.name].input)
                if order is not None and isinstance(node, ir.Dense):
                    orders[node.name] = order
                elif order is not None:
                    readers = _feature_readers(nodes[index + 1:])
                    if readers:
                        torch_order.add(node.name)
                        orders.update((reader.name, order) for reader in readers)

    visit(layers)
    return orders, torch_order


def _feature_readers(following: tuple[ir.Node, ...]) -> list[ir.Node]:
    """The per-feature layers up to and including the `fc` that reads a flattened vector; [] if
    something else comes first."""
    readers = []
    for node in following:
        if isinstance(node, ir.Dense):
            return [*readers, node]
        if isinstance(node, _PER_FEATURE):
            readers.append(node)
        elif not isinstance(node, _ORDER_FREE):
            return []
    return []


def _quoted(text: str) -> str:
    """``text`` safe inside a triple-quoted docstring: backslashes, quotes and control characters escaped."""
    return repr(text)[1:-1].replace('"', '\\"')


def _shape(shape: ir.Shape) -> str:
    return f"(N, {', '.join(map(str, (shape.channels, *shape.spatial)))})"


class _Writer:
    """Builds the class's ``__init__`` lines, ``forward`` and helper methods in one walk of the IR."""

    def __init__(self, network: ir.Network, report: Report, source: Source | None) -> None:
        self.source = source
        self.reports = {layer.name: layer for layer in report.layers}
        _, self.torch_order = feature_orders(network.layers, self.reports)
        self.init: list[str] = []
        self.helpers: list[list[str]] = []
        self.support: set[str] = set()
        self.taken = set(self.reports)
        self.calls: Counter[str] = Counter()

    def sequence(self, nodes: tuple[ir.Node, ...], depth: int, source: str, target: str) -> tuple[list[str], str]:
        """Lines computing ``nodes`` on the value ``source`` into ``target``; (lines, the name of the
        result): ``source`` itself for no nodes. ``depth``: the block calls already taken apart."""
        lines: list[str] = []
        current = source
        for frame, run in _runs(nodes, depth):
            if frame is None:
                for node in run:
                    lines += self.node(node, current, target)
                    current = target
            elif sum(1 for _ in ir.walk(run)) >= HELPER_LAYERS:
                lines.append(f"{target} = self.{self.helper(frame, run, depth + 1)}({current})")
                current = target
            else:
                found, current = self.sequence(run, depth + 1, current, target)
                lines += found
        return lines, current

    def helper(self, frame: ir.Frame, run: tuple[ir.Node, ...], depth: int) -> str:
        """A method for one block call's layers; its name."""
        name = frame.block
        while f"{name}_{self.calls[name] + 1}" in self.taken:
            self.calls[name] += 1
        self.calls[name] += 1
        method = f"{name}_{self.calls[name]}"
        self.taken.add(method)
        index = len(self.helpers)
        self.helpers.append([])
        lines, result = self.sequence(run, depth, "x", "x")
        call = frame.block
        if self.source is not None and frame.span.line == frame.span.end_line:
            call = self.source.line_text(frame.span.line)[frame.span.column - 1:frame.span.end_column - 1]
        self.helpers[index] = [f"def {method}(self, x: torch.Tensor) -> torch.Tensor:",
                               f'    """`{_quoted(call)}`, line {frame.span.line}."""',
                               *(_INDENT + line for line in lines), f"    return {result}"]
        return method

    def branch(self, nodes: tuple[ir.Node, ...], depth: int, source: str, target: str) -> tuple[list[str], str]:
        """A path of a block; one that is a single call (``self.conv3(x)``) is written inline."""
        lines, result = self.sequence(nodes, depth, source, target)
        if len(lines) == 1 and lines[0].startswith(f"{target} = ") and "  # " not in lines[0]:
            return [], lines[0][len(target) + 3:]
        return lines, result

    def node(self, node: ir.Node, source: str, target: str) -> list[str]:
        depth = len(node.origin)
        if isinstance(node, ir.Residual):
            body_lines, body = self.branch(node.body, depth, source, node.name)
            shortcut_lines, shortcut = self.branch(node.shortcut, depth, source, f"{node.name}_shortcut")
            return [*body_lines, *shortcut_lines, f"{target} = {body} + {shortcut}"]
        if isinstance(node, ir.MERGES):
            lines, values = [], []
            rank = self.reports[node.name].output.rank
            for number, branch in enumerate(node.branches, start=1):
                found, value = self.branch(branch, depth, source, f"{node.name}_branch{number}")
                lines += found
                shape = self.reports[branch[-1].name].output if branch else self.reports[node.name].input
                if isinstance(node, ir.Multiply):
                    value = f"({value})" if " + " in value or " * " in value else value
                    if rank and not shape.rank:  # (N, C) as (N, C, 1, ..)
                        value += f"[:, :{', None' * rank}]"
                values.append(value)
            if isinstance(node, ir.Concat):
                return [*lines, f"{target} = torch.cat([{', '.join(values)}], dim=1)"]
            return [*lines, f"{target} = {(' + ' if isinstance(node, ir.Add) else ' * ').join(values)}"]
        code = self.code(node)
        self.declare(node, code)
        comment = "" if code.module is not None else f"  # {node.name}"
        return [f"{target} = {self.call(node, code, source)}{comment}"]

    def code(self, node: ir.Node) -> Code:
        return layer_code(node, self.reports[node.name], node.name in self.torch_order)

    def declare(self, node: ir.Node, code: Code) -> None:
        if code.module is not None:
            self.init.append(f"self.{node.name} = {code.module}")
        if code.support:
            self.support.add(code.support)

    @staticmethod
    def call(node: ir.Node, code: Code, source: str) -> str:
        return code.call.replace("{self}", f"self.{node.name}").replace("{x}", source)


def _runs(nodes: tuple[ir.Node, ...], depth: int):
    """Consecutive nodes grouped by the block call at ``depth`` they came from (None: written at this
    level); each call of a `repeat` is a run of its own."""
    run: list[ir.Node] = []
    frame = None
    for node in nodes:
        found = node.origin[depth] if len(node.origin) > depth else None
        if run and (found, found and found.call) != (frame, frame and frame.call):
            yield frame, tuple(run)
            run = []
        frame = found
        run.append(node)
    if run:
        yield frame, tuple(run)


def torch_source(network: ir.Network, report: Report, source: Source | None = None,
                 weights: str | None = None) -> str:
    """The text of the PyTorch file for ``network``. ``source``: the spec (block calls are quoted
    from it); ``weights``: the name of the state_dict file written beside it, for the docstring."""
    writer = _Writer(network, report, source)
    lines, result = writer.sequence(network.layers, 0, "x", "x")
    name = class_name(network.name)
    origin = f" ({_quoted(Path(source.path).name)})" if source is not None and source.path != "<string>" else ""
    weights_file = _quoted(weights) if weights else f"{network.name}.pt"
    text = [f'"""The network `{_quoted(network.name)}`{origin} in PyTorch, written by `cnnc compile --to torch`.',
            "", f"    model = {name}()",
            f'    model.load_state_dict(torch.load("{weights_file}", weights_only=True))', "",
            "Inputs and outputs are channels first, as torch's layers; layer names are cnnc's.",
            '"""', "", "import torch", "from torch import nn"]
    body = writer.init + lines + [line for method in writer.helpers for line in method]
    if any("F.pad(" in line for line in body):
        text.append("from torch.nn import functional as F")
    for support in sorted(writer.support):
        text += ["", "", *SUPPORT[support].rstrip("\n").split("\n")]
    text += ["", "", f"class {name}(nn.Module):",
             f'    """`{_quoted(network.name)}`: {_shape(report.input)} -> {_shape(report.output)}."""', "",
             "    def __init__(self) -> None:", "        super().__init__()",
             *(2 * _INDENT + line for line in writer.init), "",
             "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
             *(2 * _INDENT + line for line in lines), f"        return {result}"]
    for method in writer.helpers:
        text += ["", *(_INDENT + line for line in method)]
    return "\n".join(text) + "\n"


def torch_arrays(network: ir.Network, report: Report, params: dict[str, np.ndarray],
                 buffers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The generated module's ``state_dict`` as NumPy arrays: cnnc's parameters and buffers (or any
    arrays of their shapes, such as gradients) in torch's layouts, under the same names."""
    reports = {layer.name: layer for layer in report.layers}
    orders, _ = feature_orders(network.layers, reports)
    arrays = {**params, **buffers}
    state: dict[str, np.ndarray] = {}
    for node in ir.walk(network.layers):
        state.update(layer_arrays(node, arrays, orders.get(node.name)))
    return state


def torch_module(model: Model):
    """``model`` as an instance of its generated class, holding copies of its weights in its dtype."""
    import torch

    network = model.network
    text = torch_source(network.ir, network.report, network.source)
    filename = f"<cnnc: {network.name}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)  # for inspect and tracebacks
    namespace: dict = {"__name__": f"cnnc_torch_{class_name(network.name)}"}
    exec(compile(text, filename, "exec"), namespace)  # noqa: S102 (text generated above from the IR)
    with torch.device("meta"):  # no memory and no initialisation: every tensor comes from the model
        module = namespace[class_name(network.name)]()
    state = torch_arrays(network.ir, network.report, model.params, model.buffers)
    module.load_state_dict({key: torch.from_numpy(value.copy()) for key, value in state.items()}, assign=True)
    return module


def write_torch_source(target: Network | Model, path: str | os.PathLike) -> list[Path]:
    """Write ``target``'s PyTorch source to ``path`` and, for a ``Model``, its weights (a
    ``state_dict`` of tensors, ``torch.save``) to ``path`` with the suffix ``.pt``; each file through
    a temporary file and a rename, so none is left half written. Returns the paths written. Raises
    ``CannotRun`` when a file cannot be written or PyTorch, needed for the weights, is missing."""
    from cnnc.model import Model

    model = target if isinstance(target, Model) else None
    network = model.network if model is not None else target
    path = Path(path)
    weights = path.with_suffix(".pt") if model is not None else None
    if weights == path:
        raise CannotRun(f"{path}: the source file and its weights would both be {path.name}",
                        help="give the source file the suffix .py")
    text = torch_source(network.ir, network.report, network.source, weights.name if weights else None)
    writes: list[tuple[Path, Callable]] = [(path, lambda file: file.write(text.encode("utf-8")))]
    if model is not None:
        try:
            import torch
        except ImportError:
            raise CannotRun("writing the weights needs PyTorch",
                            help="pip install 'cnnc[torch]', or compile without --weights") from None
        state = torch_arrays(network.ir, network.report, model.params, model.buffers)
        tensors = {key: torch.from_numpy(value) for key, value in state.items()}
        writes.append((weights, lambda file: torch.save(tensors, file)))
    _write_all(writes)
    return [written for written, _ in writes]


def _write_all(writes: list[tuple[Path, Callable]]) -> None:
    """Each file written to a temporary file in its folder, then all renamed into place (after
    every write has succeeded, so a failure leaves each file as it was)."""
    for path, _ in writes:
        if path.is_dir():
            raise CannotRun(f"cannot write {path}: it is a folder")
    temporaries: list[tuple[str, Path]] = []
    path = writes[0][0]
    try:
        for path, write in writes:
            descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temporaries.append((temporary, path))
            with os.fdopen(descriptor, "wb") as file:
                write(file)
                file.flush()
                os.fsync(file.fileno())
        for temporary, path in temporaries:
            os.replace(temporary, path)
    except OSError as problem:
        raise CannotRun(f"cannot write {path}: {problem.strerror or problem}") from None
    finally:
        for temporary, _ in temporaries:
            Path(temporary).unlink(missing_ok=True)
