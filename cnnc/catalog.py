"""The built-in layers: each one's arguments, options, defaults, accepted values and IR node.

Adding a layer means adding an entry here, an IR node in ``ir.py`` and its rule in ``analyze.py``;
the grammar never changes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from typing import Callable

from cnnc import ir
from cnnc.values import Converter, boolean, choice, padding, real, sizes, whole

REQUIRED = object()


@dataclass(frozen=True)
class Argument:
    name: str
    convert: Converter
    default: object = REQUIRED
    doc: str = ""


@dataclass(frozen=True)
class LayerSignature:
    op: str
    positional: tuple[Argument, ...]
    options: tuple[Argument, ...]
    build: Callable[..., ir.Node]  # called with the common fields and the converted arguments
    doc: str

    @property
    def arguments(self) -> tuple[Argument, ...]:
        return self.positional + self.options

    @cached_property
    def positional_names(self) -> list[tuple[str, bool]]:
        """Each positional argument's name and whether it has a default (as elaboration binds them)."""
        return [(a.name, a.default is not REQUIRED) for a in self.positional]

    @cached_property
    def names(self) -> list[str]:
        return [a.name for a in self.arguments]

    @cache  # noqa: B019 - the signatures are module constants: nothing is kept alive that would not be
    def usage(self) -> str:
        positional = " ".join(a.name.upper() if a.default is REQUIRED else f"[{a.name.upper()}]"
                              for a in self.positional)
        options = " ".join(f"{a.name}=" for a in self.options)
        return " ".join(part for part in (self.op, positional, options) if part)


def _window_options(stride_default: object) -> tuple[Argument, ...]:
    return (
        Argument("stride", sizes(1, "a stride of at least 1"), stride_default, "step between windows"),
        Argument("pad", padding, (0,), "zeros added on each side: sizes, `same` or `valid`"),
    )


_ROUND = Argument("round", choice("floor", "ceil"), "floor",
                  "`ceil` keeps a last partial window (PyTorch's ceil_mode)")
_BIAS = Argument("bias", boolean, True, "learn a bias per output")


def _conv(common, filters, kernel, stride, pad, dilation, groups, bias, round):
    return ir.Conv(**common, filters=filters, kernel=kernel, stride=stride, pad=pad, dilation=dilation,
                   groups=groups, bias=bias, ceil_mode=round == "ceil")


def _pool(mode):
    def build(common, kernel, stride, pad, round):
        return ir.Pool(**common, mode=mode, kernel=kernel, stride=stride, pad=pad, ceil_mode=round == "ceil")
    return build


def _activation(function):
    def build(common, **arguments):
        return ir.Activation(**common, function=function, **arguments)
    return build


_KERNEL = Argument("kernel", sizes(1, "a kernel size of at least 1"), doc="window size: `3` or `3x3`")

LAYERS: dict[str, LayerSignature] = {s.op: s for s in (
    LayerSignature(
        "conv",
        (Argument("filters", whole(1, "a number of filters of at least 1"), doc="output channels"), _KERNEL),
        (*_window_options((1,)),
         Argument("dilation", sizes(1, "a dilation of at least 1"), (1,), "spacing of kernel taps"),
         Argument("groups", whole(1, "a number of groups of at least 1"), 1, "channel groups"),
         _BIAS, _ROUND),
        _conv, "Convolution (cross-correlation) over every spatial dimension."),
    LayerSignature("maxpool", (_KERNEL,), (*_window_options(None), _ROUND), _pool("max"),
                   "Max pooling; the stride defaults to the kernel."),
    LayerSignature("avgpool", (_KERNEL,), (*_window_options(None), _ROUND), _pool("avg"),
                   "Average pooling (padding counts as zeros); the stride defaults to the kernel."),
    LayerSignature("globalavgpool", (), (), lambda common: ir.GlobalAvgPool(**common),
                   "Average over every spatial position: output 1x..x1xC."),
    LayerSignature("fc", (Argument("units", whole(1, "a number of units of at least 1"), doc="outputs"),),
                   (_BIAS,), lambda common, units, bias: ir.Dense(**common, units=units, bias=bias),
                   "Fully connected; flattens a spatial input first."),
    LayerSignature("flatten", (), (), lambda common: ir.Flatten(**common), "Flatten to a vector."),
    LayerSignature("relu", (), (), _activation("relu"), "max(0, x)."),
    LayerSignature("leakyrelu",
                   (Argument("slope", real(what="a slope"), 0.01, "slope for x < 0 (any number, as PyTorch)"),),
                   (), _activation("leakyrelu"), "x for x > 0, slope * x otherwise."),
    LayerSignature("sigmoid", (), (), _activation("sigmoid"), "1 / (1 + exp(-x))."),
    LayerSignature("tanh", (), (), _activation("tanh"), "tanh(x)."),
    LayerSignature("softmax", (), (), _activation("softmax"), "Softmax over channels."),
    LayerSignature("dropout",
                   (Argument("p", real(0.0, 1.0, open_maximum=True, what="a drop probability in [0, 1)"),
                             doc="probability of zeroing an activation in training"),),
                   (), lambda common, p: ir.Dropout(**common, p=p), "Inverted dropout (training only)."),
    LayerSignature("batchnorm", (),
                   (Argument("eps", real(0.0, open_minimum=True, what="an eps above 0"), 1e-5),
                    Argument("momentum", real(0.0, 1.0, what="a momentum in [0, 1]"), 0.1,
                             "weight of the new batch in the running statistics (PyTorch's convention)")),
                   lambda common, eps, momentum: ir.BatchNorm(**common, eps=eps, momentum=momentum),
                   "Batch normalisation over channels, with learned scale and shift."),
)}

# Structural forms: they take blocks, and elaboration handles each one itself.
STRUCTURES = {
    "repeat": "repeat N { ... }: the body N times; `repeat N as i { ... }` binds the 0-based index `i`",
    "residual": "residual { body } shortcut { ... }: body(x) + shortcut(x); the shortcut defaults to x",
    "concat": "concat { branch { ... } branch { ... } }: branches on the same input, joined along channels",
    "add": "add { branch { ... } branch { ... } }: the sum of two or more branches on the same input",
    "multiply": "multiply { branch { ... } branch { ... } }: the elementwise product of two or more branches "
                "on the same input, sizes of 1 broadcasting",
    "branch": "branch { ... }: one path of a concat, add or multiply",
    "shortcut": "shortcut { ... }: the path added to a residual body",
}
DIRECTIVES = {
    "network": "network NAME: the network's name (default: the file's stem)",
    "input": "input 224x224x3: spatial sizes, then channels",
    "train": "train { optimizer=sgd lr=0.05 ... }: the training recipe",
}
RESERVED = set(LAYERS) | set(STRUCTURES) | set(DIRECTIVES) | {"def"}

# The train { } section: each setting and the values it accepts.
TRAIN_SETTINGS: dict[str, Argument] = {a.name: a for a in (
    Argument("optimizer", choice("sgd", "momentum", "adam", "adamw"), doc="the update rule"),
    Argument("lr", real(0.0, open_minimum=True, what="a learning rate above 0"), doc="learning rate"),
    Argument("momentum", real(0.0, 1.0, open_maximum=True, what="a momentum in [0, 1)")),
    Argument("nesterov", boolean),
    Argument("weight_decay", real(0.0, what="a weight decay of 0 or more")),
    Argument("epochs", whole(1, "a number of epochs of at least 1")),
    Argument("batch", whole(1, "a batch size of at least 1")),
    Argument("loss", choice("crossentropy", "mse")),
    Argument("schedule", choice("constant", "step", "cosine")),
    Argument("step_size", whole(1, "a number of epochs of at least 1"), doc="epochs between decays (step)"),
    Argument("gamma", real(0.0, 1.0, open_minimum=True, what="a decay factor in (0, 1]"),
             doc="decay factor (step)"),
    Argument("val_split", real(0.0, 1.0, open_maximum=True, what="a fraction in [0, 1)")),
    Argument("seed", whole(0, "a seed of 0 or more")),
)}
