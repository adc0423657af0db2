"""The IR's layer nodes: one frozen dataclass per kind of layer, with its settings and a short
human summary of them (``describe``)."""

from __future__ import annotations


from cnnc.frozen import frozen
from cnnc.ir.base import Layer, Padding, Sizes, padding_text, same_sizes, sizes_text

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Literal


@frozen
class Conv(Layer):
    filters: int
    kernel: Sizes
    stride: Sizes = (1,)
    pad: Padding = (0,)
    dilation: Sizes = (1,)
    groups: int = 1
    bias: bool = True
    ceil_mode: bool = False

    kind = "conv"

    def describe(self) -> str:
        parts = [f"{self.filters} {sizes_text(self.kernel)}"]
        if self.stride != (1,):
            parts.append(f"stride {sizes_text(self.stride)}")
        if self.pad != (0,):
            parts.append(f"pad {padding_text(self.pad)}")
        if self.dilation != (1,):
            parts.append(f"dilation {sizes_text(self.dilation)}")
        if self.groups != 1:
            parts.append(f"groups {self.groups}")
        if not self.bias:
            parts.append("no bias")
        if self.ceil_mode:
            parts.append("ceil")
        return ", ".join(parts)


@frozen
class Pool(Layer):
    mode: Literal["max", "avg"]
    kernel: Sizes
    stride: Sizes | None = None  # None: the kernel
    pad: Padding = (0,)
    ceil_mode: bool = False

    @property
    def kind(self) -> str:  # type: ignore[override]
        return f"{self.mode}pool"

    @property
    def strides(self) -> Sizes:
        return self.kernel if self.stride is None else self.stride

    def describe(self) -> str:
        parts = [sizes_text(self.kernel)]
        if not same_sizes(self.strides, self.kernel):
            parts.append(f"stride {sizes_text(self.strides)}")
        if self.pad != (0,):
            parts.append(f"pad {padding_text(self.pad)}")
        if self.ceil_mode:
            parts.append("ceil")
        return ", ".join(parts)


@frozen
class GlobalAvgPool(Layer):
    kind = "globalavgpool"


@frozen
class GlobalMaxPool(Layer):
    kind = "globalmaxpool"


@frozen
class AdaptivePool(Layer):
    """PyTorch's adaptive pooling: output i of n inputs to o outputs reads [floor(i n/o), ceil((i+1) n/o))."""

    mode: Literal["max", "avg"]
    size: Sizes

    @property
    def kind(self) -> str:  # type: ignore[override]
        return f"adaptive{self.mode}pool"

    def describe(self) -> str:
        return sizes_text(self.size)


@frozen
class Dense(Layer):
    units: int
    bias: bool = True

    kind = "fc"

    def describe(self) -> str:
        return f"{self.units}" + ("" if self.bias else ", no bias")


@frozen
class Flatten(Layer):
    kind = "flatten"


if TYPE_CHECKING:
    ActivationFunction = Literal["relu", "leakyrelu", "sigmoid", "tanh", "softmax", "relu6", "silu", "hardswish",
                                 "hardsigmoid", "mish", "selu", "gelu", "elu"]
else:  # typing is not imported at run time (start-up)
    ActivationFunction = str


@frozen
class Activation(Layer):
    """A parameter-free elementwise function (softmax: over the channels)."""

    function: ActivationFunction
    slope: float = 0.01  # leakyrelu only
    alpha: float = 1.0  # elu only
    approximate: Literal["none", "tanh"] = "none"  # gelu only

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.function

    def describe(self) -> str:
        if self.function == "leakyrelu":
            return f"{self.slope:g}"
        if self.function == "elu" and self.alpha != 1.0:
            return f"alpha {self.alpha:g}"
        if self.function == "gelu" and self.approximate != "none":
            return f"{self.approximate} approximation"
        return ""


@frozen
class PReLU(Layer):
    """x for x > 0, a * x otherwise, with a learned slope per channel (one if ``shared``)."""

    shared: bool = False

    kind = "prelu"

    def describe(self) -> str:
        return "shared slope" if self.shared else ""


@frozen
class Dropout(Layer):
    p: float

    kind = "dropout"

    def describe(self) -> str:
        return f"{self.p:g}"


@frozen
class BatchNorm(Layer):
    eps: float = 1e-5
    momentum: float = 0.1

    kind = "batchnorm"


@frozen
class LayerNorm(Layer):
    """Normalise the channels at every position (ConvNeXt's LayerNorm2d; a flat vector's features)."""

    eps: float = 1e-5
    affine: bool = True

    kind = "layernorm"

    def describe(self) -> str:
        return "" if self.affine else "no affine"


@frozen
class GroupNorm(Layer):
    """Normalise each group of channels over its channels and every position, per example."""

    groups: int
    eps: float = 1e-5
    affine: bool = True

    kind = "groupnorm"

    def describe(self) -> str:
        return f"{self.groups} groups" + ("" if self.affine else ", no affine")


@frozen
class InstanceNorm(Layer):
    """Normalise each channel over the positions, per example; no running statistics."""

    eps: float = 1e-5
    affine: bool = False

    kind = "instancenorm"

    def describe(self) -> str:
        return "affine" if self.affine else ""


@frozen
class LocalResponseNorm(Layer):
    """PyTorch's LocalResponseNorm: x / (k + alpha/size * sum of x^2 over a window of channels)^beta."""

    size: int
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    kind = "lrn"

    def describe(self) -> str:
        return f"{self.size}"


@frozen
class LayerScale(Layer):
    """A learned multiplier per channel (ConvNeXt's gamma)."""

    init: float = 1e-6

    kind = "layerscale"


@frozen
class DropPath(Layer):
    """Stochastic depth: in training, zero each example with probability p and scale the rest by
    1 / (1 - p); the identity in evaluation."""

    p: float

    kind = "droppath"

    def describe(self) -> str:
        return f"{self.p:g}"


@frozen
class Upsample(Layer):
    """Nearest or (bi/tri)linear upsampling by a factor per dimension, or to a given size."""

    factor: Sizes | None = None  # exactly one of factor and size
    size: Sizes | None = None
    mode: Literal["nearest", "linear"] = "nearest"
    align_corners: bool = False  # linear only

    kind = "upsample"

    def describe(self) -> str:
        parts = [f"x{sizes_text(self.factor)}" if self.factor is not None else f"to {sizes_text(self.size)}"]
        if self.mode != "nearest":
            parts.append(self.mode + (", align corners" if self.align_corners else ""))
        return ", ".join(parts)


@frozen
class Deconv(Layer):
    """Transposed convolution, as PyTorch's ConvTranspose."""

    filters: int
    kernel: Sizes
    stride: Sizes = (1,)
    pad: Sizes = (0,)
    output_pad: Sizes = (0,)
    dilation: Sizes = (1,)
    groups: int = 1
    bias: bool = True

    kind = "deconv"

    def describe(self) -> str:
        parts = [f"{self.filters} {sizes_text(self.kernel)}"]
        for what, values, default in (("stride", self.stride, (1,)), ("pad", self.pad, (0,)),
                                      ("output pad", self.output_pad, (0,))):
            if values != default:
                parts.append(f"{what} {sizes_text(values)}")
        if self.dilation != (1,):
            parts.append(f"dilation {sizes_text(self.dilation)}")
        if self.groups != 1:
            parts.append(f"groups {self.groups}")
        if not self.bias:
            parts.append("no bias")
        return ", ".join(parts)


@frozen
class PixelShuffle(Layer):
    """(*spatial, C) -> (*spatial * R, C / R**rank), as PyTorch's PixelShuffle."""

    factor: int

    kind = "pixelshuffle"

    def describe(self) -> str:
        return f"{self.factor}"


@frozen
class Slice(Layer):
    """Channels [start, stop): a view."""

    start: int
    stop: int

    kind = "slice"

    def describe(self) -> str:
        return f"{self.start}:{self.stop}"


@frozen
class Shuffle(Layer):
    """ShuffleNet's channel shuffle: channels seen as G x C/G, transposed, flattened."""

    groups: int

    kind = "shuffle"

    def describe(self) -> str:
        return f"{self.groups} groups"
