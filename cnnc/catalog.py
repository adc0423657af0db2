"""The built-in layers: each one's arguments, options, defaults, accepted values and IR node.

Adding a layer means adding an entry here, an IR node in ``ir.py`` and its rule in ``analyze.py``;
the grammar never changes."""

from __future__ import annotations

from functools import cache, cached_property

from cnnc import ir
from cnnc.frozen import frozen
from cnnc.values import BadValue, Converter, boolean, choice, padding, real, sizes, transposed_padding, whole

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Callable

REQUIRED = object()


@frozen
class Argument:
    name: str
    convert: Converter
    default: object = REQUIRED
    doc: str = ""


@frozen
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


def _upsample(common, factor, mode, align_corners, size):
    if (factor is None) == (size is None):
        raise BadValue("`upsample` needs exactly one of FACTOR and `size=`" if factor is None else
                       "`upsample` takes a FACTOR or a `size=`, not both",
                       hint="write `upsample 2` (twice the size) or `upsample size=32x32`")
    if align_corners is not None and mode == "nearest":
        raise BadValue("`align_corners=` applies to `mode=linear` only",
                       hint="remove it, or write `mode=linear` (PyTorch rejects align_corners with nearest too)")
    return ir.Upsample(**common, factor=factor, size=size, mode=mode, align_corners=bool(align_corners))


def _slice(common, **bounds):
    if bounds["from"] >= bounds["to"]:
        raise BadValue(f"`slice {bounds['from']} {bounds['to']}` keeps no channels",
                       hint="FROM must be below TO: `slice 0 16` keeps channels 0 to 15")
    return ir.Slice(**common, start=bounds["from"], stop=bounds["to"])


_KERNEL = Argument("kernel", sizes(1, "a kernel size of at least 1"), doc="window size: `3` or `3x3`")


def _adaptive(mode):
    def build(common, size):
        return ir.AdaptivePool(**common, mode=mode, size=size)
    return build


_OUTPUT_SIZE = Argument("size", sizes(1, "an output size of at least 1"), doc="output size: `7` or `7x7`")
_EPS = Argument("eps", real(0.0, open_minimum=True, what="an eps above 0"), 1e-5, "added to the variance")


def _affine(default: bool) -> Argument:
    return Argument("affine", boolean, default, "learn a scale and shift per channel")

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
    LayerSignature("globalmaxpool", (), (), lambda common: ir.GlobalMaxPool(**common),
                   "Maximum over every spatial position: output 1x..x1xC."),
    LayerSignature("adaptiveavgpool", (_OUTPUT_SIZE,), (), _adaptive("avg"),
                   "Average pooling to a given output size, with PyTorch's adaptive windows."),
    LayerSignature("adaptivemaxpool", (_OUTPUT_SIZE,), (), _adaptive("max"),
                   "Max pooling to a given output size, with PyTorch's adaptive windows."),
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
    LayerSignature("relu6", (), (), _activation("relu6"), "min(max(0, x), 6) (nn.ReLU6)."),
    LayerSignature("silu", (), (), _activation("silu"), "x * sigmoid(x), also called swish (nn.SiLU)."),
    LayerSignature("hardswish", (), (), _activation("hardswish"), "x * relu6(x + 3) / 6 (nn.Hardswish)."),
    LayerSignature("hardsigmoid", (), (), _activation("hardsigmoid"), "relu6(x + 3) / 6 (nn.Hardsigmoid)."),
    LayerSignature("mish", (), (), _activation("mish"), "x * tanh(softplus(x)) (nn.Mish)."),
    LayerSignature("selu", (), (), _activation("selu"),
                   "scale * (x for x > 0, alpha * (exp(x) - 1) otherwise), PyTorch's constants (nn.SELU)."),
    LayerSignature("gelu", (),
                   (Argument("approximate", choice("none", "tanh"), "none",
                             "`none`: x * Phi(x) with the exact normal CDF; `tanh`: the tanh approximation"),),
                   _activation("gelu"), "x * Phi(x), Phi the standard normal CDF (nn.GELU)."),
    LayerSignature("elu",
                   (Argument("alpha", real(what="an alpha"), 1.0,
                             "alpha * (exp(x) - 1) for x <= 0 (any number, as PyTorch)"),),
                   (), _activation("elu"), "x for x > 0, alpha * (exp(x) - 1) otherwise (nn.ELU)."),
    LayerSignature("prelu", (),
                   (Argument("shared", boolean, False, "one slope for every channel instead of one per channel"),),
                   lambda common, shared: ir.PReLU(**common, shared=shared),
                   "x for x > 0, a * x otherwise, a learned per channel from 0.25 (nn.PReLU)."),
    LayerSignature("dropout",
                   (Argument("p", real(0.0, 1.0, open_maximum=True, what="a drop probability in [0, 1)"),
                             doc="probability of zeroing an activation in training"),),
                   (), lambda common, p: ir.Dropout(**common, p=p), "Inverted dropout (training only)."),
    LayerSignature(
        "upsample", (Argument("factor", sizes(0, "an upsampling factor of 0 or more"), None,
                              "output = input * factor per dimension: `2` or `2x1`"),),
        (Argument("mode", choice("nearest", "linear"), "nearest", "`linear`: (bi/tri)linear by rank"),
         Argument("align_corners", boolean, None, "linear only: PyTorch's align_corners (default false)"),
         Argument("size", sizes(0, "an output size of 0 or more"), None, "the output size instead of a factor")),
        _upsample, "Upsampling by a factor or to a size, as PyTorch's nn.Upsample."),
    LayerSignature(
        "deconv",
        (Argument("filters", whole(1, "a number of filters of at least 1"), doc="output channels"), _KERNEL),
        (Argument("stride", sizes(1, "a stride of at least 1"), (1,), "step between windows in the output"),
         Argument("pad", transposed_padding, (0,), "removed from each side of the output: sizes"),
         Argument("output_pad", sizes(0, "an output padding of 0 or more"), (0,),
                  "added to one side of the output; below the stride or the dilation"),
         Argument("dilation", sizes(1, "a dilation of at least 1"), (1,), "spacing of kernel taps"),
         Argument("groups", whole(1, "a number of groups of at least 1"), 1, "channel groups"),
         _BIAS),
        lambda common, **arguments: ir.Deconv(**common, **arguments),
        "Transposed convolution, as PyTorch's ConvTranspose."),
    LayerSignature("pixelshuffle", (Argument("factor", whole(1, "an upscale factor of at least 1"),
                                             doc="each spatial size grows by it; channels shrink by factor**rank"),),
                   (), lambda common, factor: ir.PixelShuffle(**common, factor=factor),
                   "Sub-pixel upsampling, as PyTorch's nn.PixelShuffle: channels into space."),
    LayerSignature("slice", (Argument("from", whole(0, "a channel index of 0 or more"), doc="first channel kept"),
                             Argument("to", whole(1, "a channel index of at least 1"), doc="channel after the last")),
                   (), _slice, "Channels [FROM, TO): a view (ShuffleNetV2's split)."),
    LayerSignature("shuffle", (Argument("groups", whole(1, "a number of groups of at least 1"),
                                        doc="channels seen as GROUPS x C/GROUPS, transposed"),),
                   (), lambda common, groups: ir.Shuffle(**common, groups=groups),
                   "ShuffleNet's channel shuffle: a view of the channels in another order."),
    LayerSignature("batchnorm", (),
                   (Argument("eps", real(0.0, open_minimum=True, what="an eps above 0"), 1e-5),
                    Argument("momentum", real(0.0, 1.0, what="a momentum in [0, 1]"), 0.1,
                             "weight of the new batch in the running statistics (PyTorch's convention)")),
                   lambda common, eps, momentum: ir.BatchNorm(**common, eps=eps, momentum=momentum),
                   "Batch normalisation over channels, with learned scale and shift."),
    LayerSignature("layernorm", (), (_EPS, _affine(True)),
                   lambda common, eps, affine: ir.LayerNorm(**common, eps=eps, affine=affine),
                   "Layer normalisation over the channels at every position (a flat vector: its features)."),
    LayerSignature("groupnorm",
                   (Argument("groups", whole(1, "a number of groups of at least 1"),
                             doc="channel groups; must divide the channels"),),
                   (_EPS, _affine(True)),
                   lambda common, groups, eps, affine: ir.GroupNorm(**common, groups=groups, eps=eps, affine=affine),
                   "Group normalisation: each group of channels over its channels and positions."),
    LayerSignature("instancenorm", (), (_EPS, _affine(False)),
                   lambda common, eps, affine: ir.InstanceNorm(**common, eps=eps, affine=affine),
                   "Instance normalisation: each channel over its positions; no running statistics."),
    LayerSignature("lrn", (Argument("size", whole(1, "a window of at least 1 channel"), doc="channels in the window"),),
                   (Argument("alpha", real(0.0, what="an alpha of 0 or more"), 1e-4,
                             "scale of the sum of squares (divided by the size, as PyTorch)"),
                    Argument("beta", real(what="an exponent"), 0.75, "exponent"),
                    Argument("k", real(0.0, open_minimum=True, what="a k above 0"), 1.0, "additive constant")),
                   lambda common, size, alpha, beta, k: ir.LocalResponseNorm(**common, size=size, alpha=alpha,
                                                                             beta=beta, k=k),
                   "Local response normalisation across channels (PyTorch's LocalResponseNorm)."),
    LayerSignature("layerscale", (), (Argument("init", real(what="an initial scale"), 1e-6,
                                               "initial value of every multiplier"),),
                   lambda common, init: ir.LayerScale(**common, init=init),
                   "A learned multiplier per channel (ConvNeXt's gamma)."),
    LayerSignature("droppath",
                   (Argument("p", real(0.0, 1.0, open_maximum=True, what="a drop probability in [0, 1)"),
                             doc="probability of zeroing a whole example in training"),),
                   (), lambda common, p: ir.DropPath(**common, p=p),
                   "Stochastic depth: drops a whole example's value in training (scaled by 1/(1-p))."),
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
