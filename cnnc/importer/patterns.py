"""The recogniser's patterns for normalisations, activations of one node, merges, views of the
channels (shuffle, slice, split, pixel shuffle) and resampling: methods named after the op they
start at, mixed into ``Recogniser``."""

from __future__ import annotations

import numpy as np

from cnnc.importer import activations
from cnnc.importer.read import Node
from cnnc.importer.units import Layer, Unit, number
from cnnc.importer.windows import sizes


class Patterns:
    """Handlers ``_<op>(node)``; the recogniser supplies ``emit``, ``constant``, ``shape``, ``refuse``..."""

    def _batchnormalization(self, node: Node) -> None:
        arrays = [self.constant(node, index) for index in range(1, 5)]
        if any(array is None for array in arrays) or len(node.outputs) > 1 and any(node.outputs[1:]):
            raise self.refuse(node, "a BatchNormalization in training mode or with computed statistics")
        layer = Layer("batchnorm")
        eps, momentum = node.attributes.get("epsilon", 1e-5), 1 - node.attributes.get("momentum", 0.9)
        if abs(eps - 1e-5) > 1e-9:
            layer.options["eps"] = number(eps)
        if abs(momentum - 0.1) > 1e-6:
            layer.options["momentum"] = number(momentum)
        layer.weights.update(zip(("weight", "bias", "running_mean", "running_var"), arrays))
        self.emit(node, node.outputs[0], layer)

    def _instancenormalization(self, node: Node) -> None:
        scale, shift = self.constant(node, 1), self.constant(node, 2)
        layer = Layer("instancenorm")
        eps = node.attributes.get("epsilon", 1e-5)
        if abs(eps - 1e-5) > 1e-9:
            layer.options["eps"] = number(eps)
        if scale is None or shift is None:
            raise self.refuse(node, "an InstanceNormalization with a computed scale or shift")
        learned = any(node.inputs[i].endswith((".weight", ".bias")) for i in (1, 2))
        if learned or not (np.all(scale == 1) and np.all(shift == 0)):
            layer.options["affine"] = "true"
            layer.weights.update(weight=scale, bias=shift)
        self.emit(node, node.outputs[0], layer)

    def _lrn(self, node: Node) -> None:
        layer = Layer("lrn", (node.attributes["size"],))
        for key, attribute, default in (("alpha", "alpha", 1e-4), ("beta", "beta", 0.75), ("k", "bias", 1.0)):
            value = node.attributes.get(attribute, default)
            if abs(value - default) > 1e-7 * max(1.0, abs(default)):
                layer.options[key] = number(value)
        self.emit(node, node.outputs[0], layer)

    def _leakyrelu(self, node: Node) -> None:
        slope = node.attributes.get("alpha", 0.01)
        self.emit(node, node.outputs[0], Layer("leakyrelu", (number(slope),) if abs(slope - 0.01) > 1e-8 else ()))

    def _elu(self, node: Node) -> None:
        alpha = node.attributes.get("alpha", 1.0)
        self.emit(node, node.outputs[0], Layer("elu", (number(alpha),) if abs(alpha - 1) > 1e-7 else ()))

    def _selu(self, node: Node) -> None:
        alpha, gamma = node.attributes.get("alpha", 1.67326), node.attributes.get("gamma", 1.0507)
        if abs(alpha - activations.SELU_ALPHA) > 1e-5 or abs(gamma - activations.SELU_SCALE) > 1e-5:
            raise self.refuse(node, "a Selu with other constants than PyTorch's nn.SELU")
        self.emit(node, node.outputs[0], Layer("selu"))

    def _hardsigmoid(self, node: Node) -> None:
        alpha, beta = node.attributes.get("alpha", 0.2), node.attributes.get("beta", 0.5)
        if abs(alpha - 1 / 6) > 1e-6 or abs(beta - 0.5) > 1e-6:
            raise self.refuse(node, f"a HardSigmoid of slope {alpha:g}; the language's is PyTorch's (1/6)")
        self.emit(node, node.outputs[0], Layer("hardsigmoid"))

    def _gelu(self, node: Node) -> None:
        approximate = _text(node.attributes.get("approximate", "none"))
        self.emit(node, node.outputs[0], Layer("gelu", (), {"approximate": "tanh"} if approximate == "tanh" else {}))

    def _clip(self, node: Node) -> None:
        low, high = self.constant(node, 1), self.constant(node, 2)
        low = node.attributes.get("min", -np.inf) if low is None else float(low)
        high = node.attributes.get("max", np.inf) if high is None else float(high)
        if low == 0 and high == 6:
            return self.emit(node, node.outputs[0], Layer("relu6"))
        if low == 0 and high == np.inf:
            return self.emit(node, node.outputs[0], Layer("relu"))
        raise self.refuse(node, f"a Clip to [{low:g}, {high:g}]; the language has relu and relu6")

    def _softmax(self, node: Node) -> None:
        rank = len(self.shape(node.inputs[0]))
        if node.attributes.get("axis", -1) % (rank + 1) != 1:
            raise self.refuse(node, "a Softmax over another axis than the channels")
        self.emit(node, node.outputs[0], Layer("softmax"))

    def _prelu(self, node: Node) -> None:
        slope = self.constant(node, 1)
        if slope is None:
            raise self.refuse(node, "a PRelu with a computed slope")
        layer = Layer("prelu", (), {"shared": "true"} if slope.size == 1 else {})
        layer.weights["weight"] = slope.reshape(-1)
        self.emit(node, node.outputs[0], layer)

    def _mul(self, node: Node) -> None:
        data = self.data_inputs(node)
        if len(data) == 2:
            return self._merge(node, "multiply")
        factor = next(self.constants[name] for name in node.inputs if name in self.constants)
        channels = self.shape(data[0])[0]
        rank = len(self.shape(data[0])) - 1
        if factor.size == channels and factor.shape in ((channels,), (channels, *(1,) * rank)):
            values = factor.reshape(-1)
            layer = Layer("layerscale", (), {} if np.any(values != values[0]) or abs(values[0] - 1e-6) < 1e-12
                          else {"init": number(values[0])})
            layer.weights["gamma"] = values
            return self.emit(node, node.outputs[0], layer)
        raise self.refuse(node, f"a product with a constant of shape {factor.shape}, not one value per channel")

    def _add(self, node: Node) -> None:
        if len(self.data_inputs(node)) != 2:
            raise self.refuse(node, "an Add of a constant that follows no conv, deconv or fc without bias")
        self._merge(node, "add")

    def _sum(self, node: Node) -> None:
        self._merge(node, "add")

    def _concat(self, node: Node) -> None:
        rank = len(self.shape(node.outputs[0]))
        if node.attributes["axis"] % (rank + 1) != 1 or len(self.data_inputs(node)) != len(node.inputs):
            raise self.refuse(node, "a Concat along another axis than the channels, or of a constant")
        self._merge(node, "concat")

    def _merge(self, node: Node, kind: str) -> None:
        self.units.append(Unit([self.value(name) for name in node.inputs], node.outputs[0], node, merge=kind))

    def _unsqueeze(self, node: Node) -> None:
        self._view_for_product(node)

    def _view_for_product(self, node: Node) -> None:
        """A flat (N, C) viewed as (N, C, 1, ..): the language's `multiply` broadcasts it by itself."""
        source, out = self.shape(node.inputs[0]), self.shape(node.outputs[0])
        uses = self.uses.get(node.outputs[0], [])
        if len(source) == 1 and out[0] == source[0] and all(d == 1 for d in out[1:]) and uses \
                and all(use.op == "Mul" and len(self.data_inputs(use)) == 2 for use in uses):
            self.alias[node.outputs[0]] = node.inputs[0]
            return
        raise self.refuse(node, f"a reshape from {source} to {out} that is no layer of the language")

    def _reshape(self, node: Node) -> None:
        source, out = self.shape(node.inputs[0]), self.shape(node.outputs[0])
        if len(out) == 1 and len(source) > 1:
            return self._flat_view(node, self.value(node.inputs[0]), source)
        use = self.only_use(node.outputs[0])
        if use is not None and use.op == "Transpose" and len(out) == len(source) + 1 and out[2:] == source[1:]:
            groups = out[0]
            back = self.only_use(use.outputs[0])
            if list(use.attributes.get("perm", [])) == [0, 2, 1, *range(3, len(out) + 1)] and back is not None \
                    and back.op == "Reshape" and self.shape(back.outputs[0]) == source:
                self.used.update((id(use), id(back)))
                return self.emit(node, back.outputs[0], Layer("shuffle", (groups,)))
        if use is not None and use.op == "InstanceNormalization" and len(out) == 2:
            return self._groupnorm(node, use, source)
        self._view_for_product(node)

    def _groupnorm(self, node: Node, normalise: Node, source: tuple[int, ...]) -> None:
        """Reshape to (N, G, rest), InstanceNormalization, Reshape back, then a per-channel scale and shift."""
        back = self.only_use(normalise.outputs[0])
        if back is None or back.op != "Reshape" or self.shape(back.outputs[0]) != source:
            raise self.refuse(normalise, "an InstanceNormalization over groups not reshaped back")
        groups, channels = self.shape(node.outputs[0])[0], source[0]
        layer = Layer("groupnorm", (groups,))
        eps = normalise.attributes.get("epsilon", 1e-5)
        if abs(eps - 1e-5) > 1e-9:
            layer.options["eps"] = number(eps)
        self.used.update((id(normalise), id(back)))
        output = back.outputs[0]
        scale = self.only_use(output)
        shift = scale and self.only_use(scale.outputs[0])
        if scale is not None and shift is not None and scale.op == "Mul" and shift.op == "Add":
            weight = [self.constants[n] for n in scale.inputs if n in self.constants]
            bias = [self.constants[n] for n in shift.inputs if n in self.constants]
            if weight and bias and weight[0].size == channels and bias[0].size == channels:
                self.used.update((id(scale), id(shift)))
                layer.weights.update(weight=weight[0].reshape(-1), bias=bias[0].reshape(-1))
                output = shift.outputs[0]
        if not layer.weights:
            layer.options["affine"] = "false"
        self.emit(node, output, layer)

    def _resize(self, node: Node) -> None:
        source, out = self.shape(node.inputs[0]), self.shape(node.outputs[0])
        mode = _text(node.attributes.get("mode", "nearest"))
        coordinates = _text(node.attributes.get("coordinate_transformation_mode", "half_pixel"))
        layer = Layer("upsample")
        nearest = _text(node.attributes.get("nearest_mode", "round_prefer_floor"))
        if mode == "nearest" and coordinates == "asymmetric" and nearest == "floor":
            pass
        elif mode == "linear" and coordinates in ("pytorch_half_pixel", "half_pixel", "align_corners"):
            layer.options["mode"] = "linear"
            if coordinates == "align_corners":
                layer.options["align_corners"] = "true"
        else:
            raise self.refuse(node, f"a Resize ({mode}, {coordinates}) that PyTorch's nearest or linear is not")
        if source[0] != out[0]:
            raise self.refuse(node, "a Resize of the channels")
        if all(o % n == 0 for n, o in zip(source[1:], out[1:])):
            layer.args = (sizes([o // n for n, o in zip(source[1:], out[1:])]),)
        else:
            layer.options = {"size": "x".join(map(str, out[1:])), **layer.options}
        self.emit(node, node.outputs[0], layer)

    def _depthtospace(self, node: Node) -> None:
        if _text(node.attributes.get("mode", "DCR")) != "CRD":
            raise self.refuse(node, "a DepthToSpace in DCR order; the language's pixelshuffle is CRD (PyTorch's)")
        self.emit(node, node.outputs[0], Layer("pixelshuffle", (node.attributes["blocksize"],)))

    def _split(self, node: Node) -> None:
        channels = self.shape(node.inputs[0])[0]
        if node.attributes.get("axis", 0) != 1:
            raise self.refuse(node, "a Split along another axis than the channels")
        parts = self.constant(node, 1)
        parts = [int(p) for p in parts] if parts is not None else [self.shape(out)[0] for out in node.outputs]
        start = 0
        for output, size in zip(node.outputs, parts):
            self.emit(node, output, Layer("slice", (start, start + size)), node.inputs[0])
            start += size
        if start != channels:
            raise self.refuse(node, "a Split that leaves channels out")

    def _slice(self, node: Node) -> None:
        starts, ends, axes, steps = (self.constant(node, index) for index in (1, 2, 3, 4))
        channels = self.shape(node.inputs[0])[0]
        if starts is None or ends is None or axes is None or list(axes) != [1] or (steps is not None and list(steps)
                                                                                   != [1]):
            raise self.refuse(node, "a Slice that is not a range of channels")
        start, stop = (int(max(0, min(v if v >= 0 else channels + v, channels))) for v in (starts[0], ends[0]))
        self.emit(node, node.outputs[0], Layer("slice", (start, stop)))


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


SIMPLE = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish", "Mish": "mish",
          "GlobalAveragePool": "globalavgpool", "GlobalMaxPool": "globalmaxpool"}
