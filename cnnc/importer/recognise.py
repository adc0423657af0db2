"""ONNX nodes as the language's layers: each pattern of nodes becomes one ``Unit`` (a layer with its
weights in cnnc's layouts, or a merge of several values). Exporters' detours that compute nothing
(Identity, a Pad folded into the window after it, a flat vector viewed as 1x1 for a product) are
aliases, not units."""

from __future__ import annotations

import numpy as np

from cnnc.importer import activations
from cnnc.importer.patterns import SIMPLE, Patterns
from cnnc.importer.read import Graph, Node, NotImportable
from cnnc.importer.units import Layer, Unit, number
from cnnc.importer.windows import padding_options, sizes
from cnnc.shapes import Window


REGION_REACH = 48  # nodes after a value's first use that a written-out activation may span


class Recogniser(Patterns):
    """Walks the graph's nodes in order, matching patterns anchored at each node not yet used."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.constants = graph.constants
        self.uses = graph.consumers()
        self.alias: dict[str, str] = {}
        self.pads: dict[int, tuple[list[int], list[int]]] = {}  # a window node's folded Pad
        self.channels_first: dict[str, tuple[int, ...]] = {}  # flat values in ONNX's (C, *spatial) order
        self.flattened: dict[str, tuple[str, tuple[int, ...]]] = {}  # Flatten before an fc: its spatial source
        self.used: set[int] = set()
        self.units: list[Unit] = []
        self.index = {id(node): index for index, node in enumerate(graph.nodes)}

    # helpers -------------------------------------------------------------------------------------
    def value(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def shape(self, name: str) -> tuple[int, ...]:
        return self.graph.shapes[name]

    def constant(self, node: Node, index: int) -> np.ndarray | None:
        if index >= len(node.inputs) or not node.inputs[index]:
            return None
        return self.constants.get(node.inputs[index])

    def data_inputs(self, node: Node) -> list[str]:
        return [name for name in node.inputs if name and name not in self.constants]

    def only_use(self, name: str) -> Node | None:
        uses = self.uses.get(name, [])
        if len(uses) == 1 and name != self.graph.output and id(uses[0]) not in self.used:
            return uses[0]
        return None

    def emit(self, node: Node, output: str, layer: Layer, source: str | None = None) -> None:
        source = source if source is not None else self.data_inputs(node)[0]
        self.units.append(Unit([self.value(source)], output, node, layer=layer))

    def unread(self) -> set[str]:
        """After a failure: the values that the failing node and the nodes never reached read."""
        nodes = [self.current, *(node for node in self.graph.nodes if id(node) not in self.used)]
        return {self.value(name) for node in nodes for name in node.inputs if name and name not in self.constants}

    def refuse(self, node: Node, why: str) -> NotImportable:
        return NotImportable(f"{node.where()}: {why}")

    # the walk -----------------------------------------------------------------------------------
    def run(self) -> tuple[list[Unit], str, str]:
        for node in self.graph.nodes:
            if id(node) in self.used:
                continue
            self.used.add(id(node))
            self.current = node
            if not self._activation_region(node):
                self._match(node)
        return self.units, self.value(self.graph.input), self.value(self.graph.output)

    def _match(self, node: Node) -> None:
        handler = getattr(self, f"_{node.op.lower()}", None)
        if handler is None:
            simple = SIMPLE.get(node.op)
            if simple is None:
                raise self.refuse(node, f"the {node.op} operator has no layer in the language")
            return self.emit(node, node.outputs[0], Layer(simple))
        handler(node)

    def _activation_region(self, node: Node) -> bool:
        """A value used by several elementwise nodes that join again (``x * Sigmoid(x)``): the nodes up
        to the latest value that equals one of the language's activations become that activation."""
        data = list(dict.fromkeys(self.data_inputs(node)))
        if node.op not in activations.ELEMENTWISE or len(data) != 1 or len(self.uses.get(data[0], [])) < 2:
            return False
        x = data[0]
        region: list[Node] = []
        values: dict[str, np.ndarray] = {x: activations.GRID}
        start = self.index[id(node)]
        for candidate in self.graph.nodes[start:start + REGION_REACH]:
            if id(candidate) in self.used and candidate is not node or candidate.op not in activations.ELEMENTWISE:
                continue
            if not any(name in values for name in candidate.inputs):
                continue
            operands = []
            for name in candidate.inputs:
                if name in values:
                    operands.append(values[name])
                elif name in self.constants and self.constants[name].size == 1:
                    operands.append(np.float64(self.constants[name].reshape(())))
                elif not name:
                    operands.append(None)
                else:
                    operands = None
                    break
            result = operands and activations.evaluate(candidate.op, candidate.attributes, operands)
            if result is None or operands is None:
                continue
            region.append(candidate)
            values[candidate.outputs[0]] = np.broadcast_to(result, activations.GRID.shape)
            if len(region) > 12:
                break
        for end in range(len(region), 1, -1):
            inside = region[:end]
            exit_value = inside[-1].outputs[0]
            forked = sum(name == x for member in inside for name in member.inputs) >= 2  # not a chain: relu; relu
            name = forked and activations.identify(values[exit_value])
            if name and self._closed(inside, exit_value, x):
                for member in inside:
                    self.used.add(id(member))
                op, *options = name.split()
                self.emit(node, exit_value, Layer(op, (), dict(option.split("=") for option in options)), x)
                return True
        return False

    def _closed(self, nodes: list[Node], exit_value: str, x: str) -> bool:
        """Whether the nodes compute ``exit_value`` alone: no value of theirs but it is used outside."""
        inside = {id(n) for n in nodes}
        for member in nodes:
            for value in member.outputs:
                if value == exit_value:
                    continue
                if value == self.graph.output or any(id(use) not in inside for use in self.uses.get(value, [])):
                    return False
        return True

    # single nodes and patterns -----------------------------------------------------------------
    def _identity(self, node: Node) -> None:
        self.alias[node.outputs[0]] = node.inputs[0]
        if node.inputs[0] in self.channels_first:
            self.channels_first[node.outputs[0]] = self.channels_first[node.inputs[0]]

    def _dropout(self, node: Node) -> None:
        ratio = self.constant(node, 1)
        p = float(ratio) if ratio is not None else 0.5
        self.emit(node, node.outputs[0], Layer("dropout", (number(p),)))
        if node.inputs[0] in self.channels_first:
            self.channels_first[node.outputs[0]] = self.channels_first[node.inputs[0]]

    def _pad(self, node: Node) -> None:
        use = self.only_use(node.outputs[0])
        pads, fill = self.constant(node, 1), self.constant(node, 2)
        rank = len(self.shape(node.inputs[0])) - 1
        if (use is None or use.op not in ("Conv", "MaxPool", "AveragePool") or pads is None
                or node.attributes.get("mode", b"constant") not in (b"constant", "constant") or len(node.inputs) > 3):
            raise self.refuse(node, "a Pad the language can only say as the padding of the conv or pool after it")
        pads = [int(p) for p in pads]
        if any(pads[:2]) or any(pads[rank + 2:rank + 4]) or min(pads) < 0:
            raise self.refuse(node, "padding along the batch or the channels, or cropping")
        value = 0.0 if fill is None else float(fill)
        if (use.op == "MaxPool" and value > -3e38) or (use.op != "MaxPool" and value != 0.0):
            raise self.refuse(node, f"padding with {value} before a {use.op}")
        self.pads[id(use)] = (pads[2:rank + 2], pads[rank + 4:])
        self.alias[node.outputs[0]] = node.inputs[0]

    def _window(self, node: Node, kernel: list[int]) -> tuple[dict, list[int]]:
        """Stride, padding and rounding options of a Conv or pool node (Pad before it included)."""
        rank = len(kernel)
        source = self.value(self.data_inputs(node)[0])
        inputs, outputs = self.shape(source)[1:], self.shape(node.outputs[0])[1:]
        if node.attributes.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"", ""):
            mode = node.attributes["auto_pad"]
            mode = mode.decode() if isinstance(mode, bytes) else mode
            if mode == "VALID":
                pads = [0] * (2 * rank)
            elif mode == "SAME_UPPER":
                options = {"pad": "same"}
                stride = list(node.attributes.get("strides", [1] * rank))
                return ({"stride": sizes(stride)} if any(s != 1 for s in stride) else {}) | options, stride
            else:
                raise self.refuse(node, f"auto_pad={mode}, which puts the odd pixel before")
        else:
            pads = list(node.attributes.get("pads", [0] * (2 * rank)))
        begins, ends = pads[:rank], pads[rank:]
        if id(node) in self.pads:
            before, after = self.pads[id(node)]
            begins = [a + b for a, b in zip(begins, before)]
            ends = [a + b for a, b in zip(ends, after)]
        stride = list(node.attributes.get("strides", [1] * rank))
        dilation = list(node.attributes.get("dilations", [1] * rank))
        ceil_mode = bool(node.attributes.get("ceil_mode", 0))
        if node.op == "MaxPool" and any(Window(n, k, s, b, e, 1, ceil_mode).padding_only
                                        for n, k, s, b, e in zip(inputs, kernel, stride, begins, ends)):
            raise self.refuse(node, "a MaxPool window that reads only padding, with no value to take the maximum "
                                    "of (the language refuses it: E106)")
        found = padding_options(inputs, outputs, kernel, stride, dilation, begins, ends, ceil_mode,
                                prefer_ceil=node.op != "Conv")
        if found is None:
            raise self.refuse(node, f"padding {begins} before and {ends} after, which no `pad=` or `round=` says")
        return found, stride

    def _conv(self, node: Node) -> None:
        weight = self.constant(node, 1)
        if weight is None:
            raise self.refuse(node, "a Conv whose weight is computed, not stored")
        kernel = list(node.attributes.get("kernel_shape", weight.shape[2:]))
        options, stride = self._window(node, kernel)
        rank = len(kernel)
        layer = Layer("conv", (weight.shape[0], sizes(kernel)))
        if any(s != 1 for s in stride):
            layer.options["stride"] = sizes(stride)
        layer.options.update(options)
        dilation = list(node.attributes.get("dilations", [1] * rank))
        if any(d != 1 for d in dilation):
            layer.options["dilation"] = sizes(dilation)
        if node.attributes.get("group", 1) != 1:
            layer.options["groups"] = node.attributes["group"]
        layer.weights["weight"] = np.moveaxis(weight, (0, 1), (-1, -2))
        output = self._bias(node, layer, self.constant(node, 2), weight.shape[0])
        self.emit(node, output, layer)

    def _bias(self, node: Node, layer: Layer, bias: np.ndarray | None, channels: int) -> str:
        """The layer's bias: its own, or a per-channel constant added right after (ConvTranspose's
        exporters, MatMul + Add); ``bias=false`` without either."""
        output = node.outputs[0]
        use = self.only_use(output)
        if bias is None and use is not None and use.op == "Add" and len(self.data_inputs(use)) == 1:
            added = next(self.constants[name] for name in use.inputs if name in self.constants)
            if added.size == channels and added.shape[:1] in ((channels,), (1,)) or added.shape == (channels,):
                self.used.add(id(use))
                bias, output = added.reshape(channels), use.outputs[0]
        if bias is None:
            layer.options["bias"] = "false"
        else:
            layer.weights["bias"] = bias.reshape(channels)
        return output

    def _convtranspose(self, node: Node) -> None:
        weight = self.constant(node, 1)
        if weight is None or "output_shape" in node.attributes:
            raise self.refuse(node, "a ConvTranspose with a computed weight or an output_shape")
        kernel = list(node.attributes.get("kernel_shape", weight.shape[2:]))
        rank = len(kernel)
        group = node.attributes.get("group", 1)
        pads = list(node.attributes.get("pads", [0] * (2 * rank)))
        extra = list(node.attributes.get("output_padding", [0] * rank))
        begins, ends = pads[:rank], pads[rank:]
        output_pad = [b - e + x for b, e, x in zip(begins, ends, extra)]
        if min(output_pad) < 0:
            raise self.refuse(node, f"padding {begins} before and {ends} after, more after than before")
        layer = Layer("deconv", (weight.shape[1] * group, sizes(kernel)))
        for key, values, default in (("stride", node.attributes.get("strides", [1] * rank), 1), ("pad", begins, 0),
                                     ("output_pad", output_pad, 0),
                                     ("dilation", node.attributes.get("dilations", [1] * rank), 1)):
            if any(v != default for v in values):
                layer.options[key] = sizes(values)
        if group != 1:
            layer.options["groups"] = group
        layer.weights["weight"] = np.moveaxis(weight, (0, 1), (-1, -2))
        output = self._bias(node, layer, self.constant(node, 2), weight.shape[1] * group)
        self.emit(node, output, layer)

    def _pool(self, node: Node, op: str) -> None:
        kernel = list(node.attributes["kernel_shape"])
        if any(d != 1 for d in node.attributes.get("dilations", [1])):
            raise self.refuse(node, "a dilated pool")
        options, stride = self._window(node, kernel)
        padded = "pad" in options or id(node) in self.pads
        if op == "avgpool" and padded and not node.attributes.get("count_include_pad", 0) and id(node) not in self.pads:
            raise self.refuse(node, "an average pool that leaves the padding out of its divisor "
                                    "(count_include_pad=0); the language's counts it, as PyTorch's default")
        layer = Layer(op, (sizes(kernel),))
        if stride != kernel:
            layer.options["stride"] = sizes(stride)
        layer.options.update(options)
        output = node.outputs[0]
        use = self.only_use(output)
        if op == "avgpool" and id(node) in self.pads and use is not None and use.op == "Mul":
            correction = [self.constants[name] for name in use.inputs if name in self.constants]
            if correction and correction[0].shape == self.shape(output)[1:]:
                self.used.add(id(use))  # the divisor of windows hanging past the padding (cnnc's exporter)
                output = use.outputs[0]
        self.emit(node, output, layer)

    def _maxpool(self, node: Node) -> None:
        self._pool(node, "maxpool")

    def _averagepool(self, node: Node) -> None:
        self._pool(node, "avgpool")

    def _reducemean(self, node: Node) -> None:
        self._global(node, "globalavgpool")

    def _reducemax(self, node: Node) -> None:
        self._global(node, "globalmaxpool")

    def _global(self, node: Node, op: str) -> None:
        rank = len(self.shape(node.inputs[0])) - 1
        axes = self.constant(node, 1)
        axes = list(node.attributes.get("axes", [])) if axes is None else [int(a) for a in axes]
        if rank == 0 or sorted(a % (rank + 2) for a in axes) != list(range(2, rank + 2)):
            raise self.refuse(node, f"a {node.op} over axes {axes}; the language reduces all spatial axes only")
        self.emit(node, node.outputs[0], Layer(op))
        if not node.attributes.get("keepdims", 1):
            self.units[-1].output = node.outputs[0] + "/kept"
            self.units.append(Unit([node.outputs[0] + "/kept"], node.outputs[0], node, layer=Layer("flatten")))
            self.graph.shapes[node.outputs[0] + "/kept"] = self.shape(node.outputs[0]) + (1,) * rank

    def _gemm(self, node: Node) -> None:
        weight = self.constant(node, 1)
        if weight is None or node.attributes.get("transA", 0) or node.attributes.get("alpha", 1.0) != 1.0 \
                or node.attributes.get("beta", 1.0) != 1.0:
            raise self.refuse(node, "a Gemm that is not x @ W + b with a stored W")
        weight = weight.T if node.attributes.get("transB", 0) else weight  # (features, units)
        self._dense(node, weight, self.constant(node, 2))

    def _matmul(self, node: Node) -> None:
        weight = self.constant(node, 1)
        source = self.data_inputs(node)
        if weight is None or weight.ndim != 2 or len(source) != 1 or len(self.shape(source[0])) != 1:
            raise self.refuse(node, "a MatMul that is not a flat vector times a stored matrix")
        self._dense(node, weight, None)

    def _dense(self, node: Node, weight: np.ndarray, bias: np.ndarray | None) -> None:
        source = self.value(self.data_inputs(node)[0])
        units = weight.shape[1]
        layer = Layer("fc", (units,))
        source, order = self.flattened.get(source, (source, self.channels_first.get(source)))
        if order is not None:  # ONNX flattened (C, *spatial); cnnc flattens (*spatial, C)
            weight = np.moveaxis(weight.reshape(*order, units), 0, -2).reshape(-1, units)
        layer.weights["weight"] = weight
        output = self._bias(node, layer, bias, units)
        self.emit(node, output, layer, source)

    def _flatten(self, node: Node) -> None:
        source = self.value(node.inputs[0])
        shape = self.shape(source)
        if node.attributes.get("axis", 1) != 1:
            raise self.refuse(node, "a Flatten that keeps more than the batch")
        self._flat_view(node, source, shape)

    def _flat_view(self, node: Node, source: str, shape: tuple[int, ...]) -> None:
        """(N, C, *spatial) to (N, C * size): an fc's own flattening when an fc reads it, else `flatten`."""
        use = self.only_use(node.outputs[0])
        if len(shape) > 1 and use is not None and use.op in ("Gemm", "MatMul"):
            self.flattened[node.outputs[0]] = (source, shape)
            return
        if len(shape) > 1 and any(d != 1 for d in shape[1:]):
            self.channels_first[node.outputs[0]] = shape
        self.emit(node, node.outputs[0], Layer("flatten"), source)

    def _transpose(self, node: Node) -> None:
        perm = list(node.attributes.get("perm", []))
        rank = len(self.shape(node.inputs[0])) - 1
        use = self.only_use(node.outputs[0])
        if rank and perm == [0, *range(2, rank + 2), 1] and use is not None:
            if use.op == "Flatten" and use.attributes.get("axis", 1) == 1:
                self.used.add(id(use))
                return self.emit(node, use.outputs[0], Layer("flatten"))
            if use.op == "LayerNormalization" and use.attributes.get("axis", -1) in (-1, rank + 1):
                back = self.only_use(use.outputs[0])
                if back is not None and back.op == "Transpose" and list(back.attributes.get("perm", [])) == \
                        [0, rank + 1, *range(1, rank + 1)]:
                    self.used.update((id(use), id(back)))
                    return self.emit(node, back.outputs[0], self._layernorm_layer(use))
        raise self.refuse(node, f"a Transpose {perm} that is not part of a flatten, layernorm or shuffle")

    def _layernormalization(self, node: Node) -> None:
        if len(self.shape(node.inputs[0])) != 1:
            raise self.refuse(node, "a LayerNormalization over the spatial axes; the language normalises channels")
        self.emit(node, node.outputs[0], self._layernorm_layer(node))

    def _layernorm_layer(self, node: Node) -> Layer:
        layer = Layer("layernorm")
        eps = node.attributes.get("epsilon", 1e-5)
        if abs(eps - 1e-5) > 1e-9:
            layer.options["eps"] = number(eps)
        if self.constant(node, 2) is None:
            layer.options["affine"] = "false"
        else:
            layer.weights.update(weight=self.constant(node, 1), bias=self.constant(node, 2))
        return layer


def recognise(graph: Graph) -> tuple[list[Unit], str, str]:
    """The graph's units in order, its input value and its output value."""
    return Recogniser(graph).run()
