"""cnnc's analysis against PyTorch's own counts.

Each example is rebuilt by hand in plain PyTorch (torchvision is not used) and run once on a batch of
1; forward hooks record every layer's output shape, its parameters, its batch-norm buffers
(``running_mean`` and ``running_var``: ``num_batches_tracked`` is a step counter, not an activation
statistic, and cnnc does not count it) and its multiply-accumulates (conv: output elements x
in_channels/groups x kernel volume; linear: in x out). The rows must equal cnnc's report row for row.
Receptive fields are measured from gradients, and random conv/pool stacks are checked with hypothesis.
"""

from __future__ import annotations

from functools import partial
from math import ceil, prod
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cnnc  # noqa: E402
from cnnc.api import check  # noqa: E402
from cnnc.source import Source  # noqa: E402

nn = torch.nn
F = torch.nn.functional

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


class Residual(nn.Module):
    """body(x) + shortcut(x); the shortcut defaults to the identity."""

    def __init__(self, body: nn.Module, shortcut: nn.Module | None = None) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut if shortcut is not None else nn.Identity()

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class ImplicitFlatten(nn.Flatten):
    """The flattening a cnnc `fc` does by itself: torch's Linear needs it as a module, but it is no
    layer of the spec, so it records no row (an explicit `flatten` in a spec is a plain nn.Flatten)."""


class Concat(nn.Module):
    """Branches on the same input, joined along channels."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class Sum(nn.Module):
    """cnnc's `add`: the sum of the branches."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return sum(branch(x) for branch in self.branches)


class Product(nn.Module):
    """cnnc's `multiply`: the broadcast product of the branches."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        product = None
        for branch in self.branches:
            out = branch(x)
            if out.dim() == 2 and x.dim() > 2:  # a flat vector of C values as (1, C, 1, .., 1)
                out = out.reshape(*out.shape, *(1,) * (x.dim() - 2))
            product = out if product is None else product * out
        return product


class Slice(nn.Module):
    """cnnc's `slice FROM TO`: channels FROM to TO - 1 (ShuffleNetV2's `x.chunk(2, dim=1)`)."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x):
        return x[:, self.start:self.stop]


class ChannelShuffle(nn.Module):
    """torchvision's `channel_shuffle(x, groups)`: view (G, C/G), transpose, flatten."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, *spatial = x.shape
        x = x.view(n, self.groups, c // self.groups, *spatial).transpose(1, 2).contiguous()
        return x.view(n, c, *spatial)


class ChannelLayerNorm(nn.LayerNorm):
    """ConvNeXt's LayerNorm2d: LayerNorm over the channels at every position."""

    def forward(self, x):
        return super().forward(x.movedim(1, -1)).movedim(-1, 1) if x.dim() > 2 else super().forward(x)


class LayerScale(nn.Module):
    """ConvNeXt's gamma."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), 1e-6))

    def forward(self, x):
        return x * self.gamma.reshape(-1, *(1,) * (x.dim() - 2))


class StochasticDepth(nn.Module):
    """torchvision's StochasticDepth(p, "row"): the identity in evaluation, which is what is counted."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty(x.shape[0], *(1,) * (x.dim() - 1), device=x.device).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


# The hand-built networks -----------------------------------------------------------------------

def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10), nn.Softmax(dim=1))


def classifier(features: int, hidden: int, classes: int, dropout_first: bool = False) -> list[nn.Module]:
    """AlexNet/VGG/C3D heads: flatten, two hidden layers with ReLU and dropout, the classes, softmax."""
    if dropout_first:  # torchvision's AlexNet: dropout before each of the first two linear layers
        layers = [nn.Dropout(0.5), nn.Linear(features, hidden), nn.ReLU(),
                  nn.Dropout(0.5), nn.Linear(hidden, hidden), nn.ReLU()]
    else:
        layers = [nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(0.5),
                  nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5)]
    return [nn.Flatten(), *layers, nn.Linear(hidden, classes), nn.Softmax(dim=1)]


def alexnet_features(widths=(96, 256, 384, 384, 256), first=(11, 4, 0), pool=nn.MaxPool2d) -> list[nn.Module]:
    kernel, stride, padding = first
    a, b, c, d, e = widths
    return [nn.Conv2d(3, a, kernel, stride, padding), nn.ReLU(), pool(3, 2),
            nn.Conv2d(a, b, 5, padding=2), nn.ReLU(), pool(3, 2),
            nn.Conv2d(b, c, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c, d, 3, padding=1), nn.ReLU(),
            nn.Conv2d(d, e, 3, padding=1), nn.ReLU(), pool(3, 2)]


def alexnet():
    return nn.Sequential(*alexnet_features(), *classifier(256 * 6 * 6, 4096, 1000))


def alexnet_torchvision():
    features = alexnet_features((64, 192, 384, 256, 256), first=(11, 4, 2))
    return nn.Sequential(*features, *classifier(256 * 6 * 6, 4096, 1000, dropout_first=True))


def vgg16_features(widths=(64, 128, 256, 512, 512), pool=nn.MaxPool2d) -> list[nn.Module]:
    layers: list[nn.Module] = []
    channels = 3
    for width, convs in zip(widths, (2, 2, 3, 3, 3)):
        for _ in range(convs):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        layers.append(pool(2))
    return layers


def vgg16():
    return nn.Sequential(*vgg16_features(), *classifier(512 * 7 * 7, 4096, 1000))


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0, relu: bool = True):
    layers = [nn.Conv2d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm2d(cout)]
    return layers + [nn.ReLU()] if relu else layers


def projection(cin: int, cout: int, stride: int) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(*conv_bn(cin, cout, 1, stride, relu=False))


def resnet_head(channels: int) -> list[nn.Module]:
    return [nn.AdaptiveAvgPool2d(1), ImplicitFlatten(), nn.Linear(channels, 1000), nn.Softmax(dim=1)]


def resnet18_layers(pool=nn.MaxPool2d) -> list[nn.Module]:
    layers = [*conv_bn(3, 64, 7, 2, 3), pool(3, 2, 1)]
    channels = 64
    for width, stride in [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]:
        body = nn.Sequential(*conv_bn(channels, width, 3, stride, 1), *conv_bn(width, width, 3, 1, 1, relu=False))
        layers += [Residual(body, projection(channels, width, stride)), nn.ReLU()]
        channels = width
    return layers


def resnet18():
    return nn.Sequential(*resnet18_layers(), *resnet_head(512))


def resnet50():
    layers = [*conv_bn(3, 64, 7, 2, 3), nn.MaxPool2d(3, 2, 1)]
    channels = 64
    for width, blocks, first_stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for index in range(blocks):
            stride = first_stride if index == 0 else 1
            body = nn.Sequential(*conv_bn(channels, width, 1), *conv_bn(width, width, 3, stride, 1),
                                 *conv_bn(width, 4 * width, 1, relu=False))
            layers += [Residual(body, projection(channels, 4 * width, stride)), nn.ReLU()]
            channels = 4 * width
    return nn.Sequential(*layers, *resnet_head(2048))


def googlenet():
    def basic(cin, cout, kernel, stride=1, padding=0):
        return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding, bias=False),
                             nn.BatchNorm2d(cout, eps=0.001), nn.ReLU())

    def inception(cin, c1, c3_reduce, c3, c5_reduce, c5, pool_projection):
        return Concat(basic(cin, c1, 1),
                      nn.Sequential(basic(cin, c3_reduce, 1), basic(c3_reduce, c3, 3, padding=1)),
                      nn.Sequential(basic(cin, c5_reduce, 1), basic(c5_reduce, c5, 3, padding=1)),
                      nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), basic(cin, pool_projection, 1)))

    return nn.Sequential(
        basic(3, 64, 7, 2, 3), nn.MaxPool2d(3, 2, ceil_mode=True),
        basic(64, 64, 1), basic(64, 192, 3, padding=1), nn.MaxPool2d(3, 2, ceil_mode=True),
        inception(192, 64, 96, 128, 16, 32, 32), inception(256, 128, 128, 192, 32, 96, 64),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        inception(480, 192, 96, 208, 16, 48, 64), inception(512, 160, 112, 224, 24, 64, 64),
        inception(512, 128, 128, 256, 24, 64, 64), inception(512, 112, 144, 288, 32, 64, 64),
        inception(528, 256, 160, 320, 32, 128, 128),
        nn.MaxPool2d(2, 2, ceil_mode=True),
        inception(832, 256, 160, 320, 32, 128, 128), inception(832, 384, 192, 384, 48, 128, 128),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1024, 1000), nn.Softmax(dim=1))


def inception_mini():
    def module(cin, cout, kernel, stride=1, padding=0):
        return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding), nn.BatchNorm2d(cout), nn.ReLU())

    def inception(cin, c1, c3):
        return Concat(module(cin, c1, 1), module(cin, c3, 3, padding=1))

    def downsample(cin, c3):
        return Concat(module(cin, c3, 3, 2, 1), nn.MaxPool2d(3, 2, 1))

    return nn.Sequential(
        module(3, 96, 3, padding=1), inception(96, 32, 32), inception(64, 32, 48), downsample(80, 80),
        inception(160, 112, 48), inception(160, 96, 64), inception(160, 80, 80), inception(160, 48, 96),
        downsample(144, 96), inception(240, 176, 160), inception(336, 176, 160),
        nn.AdaptiveAvgPool2d(1), ImplicitFlatten(), nn.Linear(336, 10), nn.Softmax(dim=1))


def mobilenet_v1():
    layers = conv_bn(3, 32, 3, 2, 1)
    plan = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
            *[(512, 512, 1)] * 5, (512, 1024, 2), (1024, 1024, 1)]
    for cin, cout, stride in plan:
        layers += [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(),
                   *conv_bn(cin, cout, 1)]
    return nn.Sequential(*layers, nn.AvgPool2d(7), ImplicitFlatten(), nn.Linear(1024, 1000), nn.Softmax(dim=1))


def m5_layers(pool=nn.MaxPool1d) -> list[nn.Module]:
    layers: list[nn.Module] = []
    channels = 1
    for width, kernel, stride in [(128, 80, 4), (128, 3, 1), (256, 3, 1), (512, 3, 1)]:
        layers += [nn.Conv1d(channels, width, kernel, stride, bias=False), nn.BatchNorm1d(width), nn.ReLU(), pool(4)]
        channels = width
    return layers


def m5_audio():
    return nn.Sequential(*m5_layers(), nn.AdaptiveAvgPool1d(1), ImplicitFlatten(), nn.Linear(512, 10),
                         nn.Softmax(dim=1))


def c3d_features(widths=(64, 128, 256, 512, 512), pool=nn.MaxPool3d) -> list[nn.Module]:
    layers: list[nn.Module] = []
    channels = 3
    for stage, (width, convs) in enumerate(zip(widths, (1, 1, 2, 2, 2))):
        for _ in range(convs):
            layers += [nn.Conv3d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        if stage == 0:
            layers.append(pool((1, 2, 2)))
        elif stage == 4:
            layers.append(pool(2, padding=(0, 1, 1)))
        else:
            layers.append(pool(2))
    return layers


def dcgan_generator():
    """PyTorch's DCGAN tutorial generator (nz=100, ngf=64, nc=3)."""
    layers = []
    for cin, cout, stride, padding in ((100, 512, 1, 0), (512, 256, 2, 1), (256, 128, 2, 1), (128, 64, 2, 1)):
        layers += [nn.ConvTranspose2d(cin, cout, 4, stride, padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*layers, nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False), nn.Tanh())


def shufflenet_v2():
    """torchvision's shufflenet_v2_x1_0: stages_repeats (4, 8, 4), stages_out_channels
    (24, 116, 232, 464, 1024); `x.chunk(2, dim=1)` is two Slices, `x.mean([2, 3])` a global pool."""
    def depthwise(channels, stride):
        return [nn.Conv2d(channels, channels, 3, stride, 1, groups=channels, bias=False), nn.BatchNorm2d(channels)]

    def branch2(cin, half, stride):
        return [*conv_bn(cin, half, 1), *depthwise(half, stride), *conv_bn(half, half, 1)]

    def unit(cin, cout, stride):
        half = cout // 2
        if stride == 1:
            joined = Concat(Slice(0, half), nn.Sequential(Slice(half, cout), *branch2(half, half, 1)))
        else:
            joined = Concat(nn.Sequential(*depthwise(cin, stride), *conv_bn(cin, half, 1)),
                            nn.Sequential(*branch2(cin, half, stride)))
        return [joined, ChannelShuffle(2)]

    layers = [*conv_bn(3, 24, 3, 2, 1), nn.MaxPool2d(3, 2, 1)]
    channels = 24
    for repeats, width in zip((4, 8, 4), (116, 232, 464)):
        layers += unit(channels, width, 2)
        for _ in range(repeats - 1):
            layers += unit(width, width, 1)
        channels = width
    return nn.Sequential(*layers, *conv_bn(464, 1024, 1), *resnet_head(1024))


def convnext_tiny():
    """torchvision's convnext_tiny: channels (96, 192, 384, 768), depths (3, 3, 9, 3). The block's
    channels-last nn.Linear layers are written as the equivalent 1x1 convolutions (same weights and
    MACs; a Linear on a permuted tensor would be a different row kind and shape for the hooks)."""
    def block(c, p):
        return Residual(nn.Sequential(
            nn.Conv2d(c, c, 7, padding=3, groups=c), ChannelLayerNorm(c, eps=1e-6), nn.Conv2d(c, 4 * c, 1), nn.GELU(),
            nn.Conv2d(4 * c, c, 1), LayerScale(c), StochasticDepth(p)))

    layers = [nn.Conv2d(3, 96, 4, 4), ChannelLayerNorm(96, eps=1e-6)]
    block_id, channels = 0, 96
    for width, depth in zip((96, 192, 384, 768), (3, 3, 9, 3)):
        if width != channels:
            layers += [ChannelLayerNorm(channels, eps=1e-6), nn.Conv2d(channels, width, 2, 2)]
            channels = width
        for _ in range(depth):
            layers.append(block(width, 0.1 * block_id / 17.0))
            block_id += 1
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), ChannelLayerNorm(768, eps=1e-6), nn.Flatten(),
                         nn.Linear(768, 1000), nn.Softmax(dim=1))


def c3d():
    return nn.Sequential(*c3d_features(), *classifier(512 * 4 * 4, 4096, 487))


def unet():
    """milesial/Pytorch-UNet's UNet(n_channels=1, n_classes=2, bilinear=False), its skips written as
    nested concats: x1 = inc(x), x2..x5 = down1..down4, then up_i(x, skip) = double_conv(cat([skip,
    deconv(x)])) (Up's F.pad adds nothing at 256x256), as in UNet.forward."""
    def double_conv(cin, cout):
        return [*conv_bn(cin, cout, 3, padding=1), *conv_bn(cout, cout, 3, padding=1)]

    def down(cin, cout):
        return [nn.MaxPool2d(2), *double_conv(cin, cout)]

    def up(cin):
        return nn.ConvTranspose2d(cin, cin // 2, kernel_size=2, stride=2)

    def level(width: int) -> nn.Module:
        """The skip at `width` channels joined with the deeper levels' up-convolved output."""
        if width == 512:
            deeper = [*down(512, 1024), up(1024)]
        else:
            deeper = [*down(width, 2 * width), level(2 * width), *double_conv(4 * width, 2 * width), up(2 * width)]
        return Concat(nn.Identity(), nn.Sequential(*deeper))

    return nn.Sequential(*double_conv(1, 64), level(64), *double_conv(128, 64), nn.Conv2d(64, 2, kernel_size=1))


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's `_make_divisible`: the nearest multiple of divisor, at least divisor, not below 90%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_norm_activation(cin, cout, kernel, stride=1, groups=1, activation=None, norm=nn.BatchNorm2d):
    """torchvision's Conv2dNormActivation: a bias-free conv with padding (kernel - 1) // 2, a batch
    norm, and the activation when there is one."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False), norm(cout)]
    return nn.Sequential(*layers, activation()) if activation is not None else nn.Sequential(*layers)


def squeeze_excitation(channels, squeeze, activation=nn.ReLU, scale=nn.Sigmoid):
    """torchvision's SqueezeExcitation: input * scale(fc2(activation(fc1(avgpool(input)))))."""
    return Product(nn.Identity(), nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, squeeze, 1), activation(),
                                                nn.Conv2d(squeeze, channels, 1), scale()))


def mobilenet_v3_small():
    """torchvision's mobilenet_v3_small (width 1.0): InvertedResidual blocks from _mobilenet_v3_conf."""
    norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
    layers = [conv_norm_activation(3, 16, 3, 2, activation=nn.Hardswish, norm=norm)]
    plan = [(16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
            (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
            (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
            (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1)]
    for cin, kernel, expanded, cout, use_se, nonlinearity, stride in plan:
        activation = nn.Hardswish if nonlinearity == "HS" else nn.ReLU
        block = []
        if expanded != cin:
            block.append(conv_norm_activation(cin, expanded, 1, activation=activation, norm=norm))
        block.append(conv_norm_activation(expanded, expanded, kernel, stride, expanded, activation, norm))
        if use_se:
            block.append(squeeze_excitation(expanded, make_divisible(expanded // 4), scale=nn.Hardsigmoid))
        block.append(conv_norm_activation(expanded, cout, 1, norm=norm))
        body = nn.Sequential(*block)
        layers.append(Residual(body) if stride == 1 and cin == cout else body)
    layers.append(conv_norm_activation(96, 576, 1, activation=nn.Hardswish, norm=norm))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), ImplicitFlatten(), nn.Linear(576, 1024), nn.Hardswish(),
                         nn.Dropout(0.2), nn.Linear(1024, 1000))


def efficientnet_b0():
    """torchvision's efficientnet_b0: MBConv blocks from its MBConvConfig table, batch norms with
    PyTorch's defaults, stochastic depth 0.2 * block / 16 on the residual blocks."""
    layers = [conv_norm_activation(3, 32, 3, 2, activation=nn.SiLU)]
    plan = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
            (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]
    total = sum(stage[-1] for stage in plan)
    block_id = 0
    for expand, kernel, first_stride, cin, cout, count in plan:
        for index in range(count):
            stride = first_stride if index == 0 else 1
            expanded = make_divisible(cin * expand)
            block = []
            if expanded != cin:
                block.append(conv_norm_activation(cin, expanded, 1, activation=nn.SiLU))
            block += [conv_norm_activation(expanded, expanded, kernel, stride, expanded, nn.SiLU),
                      squeeze_excitation(expanded, max(1, cin // 4), activation=nn.SiLU),
                      conv_norm_activation(expanded, cout, 1)]
            if stride == 1 and cin == cout:
                layers.append(Residual(nn.Sequential(*block, StochasticDepth(0.2 * block_id / total))))
            else:
                layers.append(nn.Sequential(*block))
            block_id += 1
            cin = cout
    layers.append(conv_norm_activation(320, 1280, 1, activation=nn.SiLU))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, 1000))


MODELS = {
    "lenet5": lenet5, "alexnet": alexnet, "alexnet_torchvision": alexnet_torchvision, "vgg16": vgg16,
    "resnet18": resnet18, "resnet50": resnet50, "googlenet": googlenet, "inception_mini": inception_mini,
    "mobilenet_v1": mobilenet_v1, "m5_audio": m5_audio, "c3d": c3d,
    "dcgan_generator": dcgan_generator, "unet": unet, "mobilenet_v3_small": mobilenet_v3_small,
    "efficientnet_b0": efficientnet_b0, "shufflenet_v2": shufflenet_v2, "convnext_tiny": convnext_tiny,
}

# Measuring the torch models --------------------------------------------------------------------

KINDS = [
    ((nn.Conv1d, nn.Conv2d, nn.Conv3d), "conv"),
    ((nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d), "deconv"),
    ((nn.Tanh,), "tanh"),
    ((nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d), "maxpool"),
    ((nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d), "avgpool"),
    ((nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d), "globalavgpool"),
    ((nn.Linear,), "fc"),
    ((ImplicitFlatten,), None),
    ((nn.Flatten,), "flatten"),
    ((nn.ReLU,), "relu"),
    ((nn.Softmax,), "softmax"),
    ((nn.ReLU6,), "relu6"),
    ((nn.SiLU,), "silu"),
    ((nn.Hardswish,), "hardswish"),
    ((nn.Hardsigmoid,), "hardsigmoid"),
    ((nn.Mish,), "mish"),
    ((nn.SELU,), "selu"),
    ((nn.GELU,), "gelu"),
    ((nn.ELU,), "elu"),
    ((nn.PReLU,), "prelu"),
    ((nn.Dropout,), "dropout"),
    ((StochasticDepth,), "droppath"),
    ((nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d), "batchnorm"),
    ((Residual,), "residual"),
    ((Concat,), "concat"),
    ((Sum,), "add"),
    ((Product,), "multiply"),
    ((nn.Sigmoid,), "sigmoid"),
    ((Slice,), "slice"),
    ((ChannelShuffle,), "shuffle"),
    ((ChannelLayerNorm,), "layernorm"),
    ((LayerScale,), "layerscale"),
]


def cnnc_kind(module: nn.Module) -> str | None:
    """The cnnc layer a torch module stands for; None for plumbing (Sequential, Identity, the
    flattening before a Linear)."""
    for types, kind in KINDS:
        if isinstance(module, types):
            return kind
    return None


def own_params(module: nn.Module) -> int:
    if isinstance(module, (Residual, Concat, Sum, Product)):
        return 0  # the add/concat row; its children are rows of their own
    return sum(p.numel() for p in module.parameters(recurse=False))


def statistics_buffers(module: nn.Module) -> int:
    """running_mean and running_var; num_batches_tracked is deliberately left out."""
    return sum(b.numel() for name, b in module.named_buffers(recurse=False) if name in ("running_mean", "running_var"))


def macs(module: nn.Module, output, inputs=()) -> int:
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        return deconv_macs(module, inputs)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return output.numel() * (module.in_channels // module.groups) * prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    return 0


def cnnc_dims(shape) -> tuple[int, ...]:
    """torch's (1, C, *spatial) as cnnc's (*spatial, C)."""
    return (*shape[2:], shape[1])


def torch_rows(model: nn.Module, dims: tuple[int, ...]) -> list[tuple]:
    """(kind, output dims, params, buffers, MACs) for every layer, in the order they ran."""
    rows: list[tuple] = []

    def record(module, inputs, output):
        rows.append((cnnc_kind(module), cnnc_dims(output.shape), own_params(module),
                     statistics_buffers(module), macs(module, output, inputs)))

    handles = [m.register_forward_hook(record) for m in model.modules() if cnnc_kind(m) is not None]
    try:
        model.eval()
        with torch.no_grad():
            model(torch.randn(1, dims[-1], *dims[:-1]))
    finally:
        for handle in handles:
            handle.remove()
    return rows


def cnnc_rows(report) -> list[tuple]:
    return [(layer.kind, layer.output.dims, layer.params, layer.buffers, layer.macs) for layer in report.layers]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_example_matches_torch(name):
    report = cnnc.load(EXAMPLES / f"{name}.cnn").report
    torch.manual_seed(0)
    model = MODELS[name]()
    rows = torch_rows(model, report.input.dims)
    assert rows == cnnc_rows(report)
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report.totals.buffers == sum(statistics_buffers(m) for m in model.modules())
    assert report.totals.macs == sum(row[4] for row in rows)


ACTIVATIONS_SPEC = """input 32x32x3
conv 16 3 stride=2 pad=1
prelu
conv 16 3 pad=1 groups=16 bias=false
prelu shared=true
conv 24 1
relu6
conv 24 3 pad=1
silu
conv 32 3 stride=2
hardswish
conv 32 1
hardsigmoid
conv 32 3 pad=same
mish
conv 48 3
selu
conv 48 1
gelu
conv 64 1
gelu approximate=tanh
conv 64 3
elu
conv 64 1
elu 0.5
globalavgpool
fc 10
prelu
"""


def activations_net():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1), nn.PReLU(16), nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False), nn.PReLU(),
        nn.Conv2d(16, 24, 1), nn.ReLU6(), nn.Conv2d(24, 24, 3, padding=1), nn.SiLU(),
        nn.Conv2d(24, 32, 3, 2), nn.Hardswish(), nn.Conv2d(32, 32, 1), nn.Hardsigmoid(),
        nn.Conv2d(32, 32, 3, padding="same"), nn.Mish(), nn.Conv2d(32, 48, 3), nn.SELU(), nn.Conv2d(48, 48, 1),
        nn.GELU(), nn.Conv2d(48, 64, 1), nn.GELU(approximate="tanh"), nn.Conv2d(64, 64, 3), nn.ELU(),
        nn.Conv2d(64, 64, 1), nn.ELU(0.5), nn.AdaptiveAvgPool2d(1), ImplicitFlatten(), nn.Linear(64, 10),
        nn.PReLU(10))


def test_activations_match_torch():
    """Every activation of language v2 in one network, row for row against the same torch modules:
    prelu's C slopes (nn.PReLU(C)) or one (nn.PReLU()), no parameters for the others."""
    report = check(Source(ACTIVATIONS_SPEC)).report
    model = activations_net()
    rows = torch_rows(model, report.input.dims)
    assert rows == cnnc_rows(report)
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report.totals.macs == sum(row[4] for row in rows)


SE_BLOCK = """input 14x12x16
conv 32 3 stride=2 pad=1 bias=false
batchnorm
relu
add {
  branch {
    conv 32 3 pad=1
    multiply {
      branch { }
      branch { globalavgpool; conv 8 1; relu; conv 32 1; sigmoid }
    }
  }
  branch { }
  branch { conv 32 1 bias=false; batchnorm }
}
multiply {
  branch { globalavgpool; flatten; fc 8; relu; fc 32; sigmoid }
  branch { }
}
globalavgpool
fc 10
"""


def se_block():
    """SE_BLOCK by hand: squeeze-excite with 1x1 convs (as torchvision's SqueezeExcitation) and with
    fc layers on the pooled vector (as Hu et al., 2018), inside a three-way add."""
    return nn.Sequential(
        nn.Conv2d(16, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        Sum(nn.Sequential(nn.Conv2d(32, 32, 3, 1, 1),
                          Product(nn.Identity(), nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(32, 8, 1), nn.ReLU(),
                                                               nn.Conv2d(8, 32, 1), nn.Sigmoid()))),
            nn.Identity(),
            nn.Sequential(nn.Conv2d(32, 32, 1, bias=False), nn.BatchNorm2d(32))),
        Product(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 8), nn.ReLU(), nn.Linear(8, 32),
                              nn.Sigmoid()), nn.Identity()),
        nn.AdaptiveAvgPool2d(1), ImplicitFlatten(), nn.Linear(32, 10))


def test_add_and_multiply_match_torch():
    report = check(Source(SE_BLOCK)).report
    torch.manual_seed(0)
    model = se_block()
    rows = torch_rows(model, report.input.dims)
    assert rows == cnnc_rows(report)
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report.totals.buffers == sum(statistics_buffers(m) for m in model.modules())
    assert report.output.dims == (10,)


def test_every_example_has_a_torch_model():
    assert sorted(path.stem for path in EXAMPLES.glob("*.cnn")) == sorted(MODELS)


# Receptive fields measured from gradients -----------------------------------------------------

def measured_receptive_field(layers: list[nn.Module], input_dims: tuple[int, ...]) -> tuple[int, ...]:
    """How far the input reaches the centre unit of the last layer's output, from the gradient of a
    network whose convolutions average (all weights 1/fan-in, no bias) and whose pools average, so no
    path can cancel or be skipped by a max. float64 keeps the smallest contributions above zero."""
    model = nn.Sequential(*layers).double().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                module.weight.fill_(1.0 / module.weight[0].numel())
                if module.bias is not None:
                    module.bias.zero_()
    x = torch.ones(1, input_dims[-1], *input_dims[:-1], dtype=torch.float64, requires_grad=True)
    output = model(x)
    centre = tuple(size // 2 for size in output.shape[2:])
    output[(0, slice(None), *centre)].sum().backward()
    reached = x.grad[0].abs().sum(dim=0) > 0
    extents = []
    for axis in range(reached.dim()):
        others = tuple(a for a in range(reached.dim()) if a != axis)
        touched = reached.any(dim=others) if others else reached
        indices = touched.nonzero().flatten()
        first, last = int(indices.min()), int(indices.max())
        assert 0 < first and last < reached.shape[axis] - 1, "the field reaches the border: use a larger input"
        extents.append(last - first + 1)
    return tuple(extents)


def avgpool_2d(kernel, stride=None, padding=0, ceil_mode=False):
    return nn.AvgPool2d(kernel, stride, padding, ceil_mode)


@pytest.mark.parametrize("pool", [1, 2, 3])
def test_vgg16_first_pools_receptive_field_full_width(pool):
    """The first three pools of the full-width network on a 64x64 image: 6, 16 and 44 pixels."""
    features = vgg16_features(pool=avgpool_2d)
    end = [index for index, module in enumerate(features) if isinstance(module, nn.AvgPool2d)][pool - 1]
    report = cnnc.load(EXAMPLES / "vgg16.cnn").report
    measured = measured_receptive_field(features[:end + 1], (64, 64, 3))
    assert measured == report.layer(f"maxpool{pool}").receptive_field == ((6, 6), (16, 16), (44, 44))[pool - 1]


def test_vgg16_every_pool_receptive_field():
    """All five pools at 224x224. The receptive field does not depend on the channels, so the layers
    keep VGG-16's kernels, strides and padding with 2 channels each (float64 at full width would take
    far longer); 212 at pool5 is the published figure."""
    report = cnnc.load(EXAMPLES / "vgg16.cnn").report
    features = vgg16_features(widths=(2, 2, 2, 2, 2), pool=avgpool_2d)
    pools = [index for index, module in enumerate(features) if isinstance(module, nn.AvgPool2d)]
    measured = [measured_receptive_field(features[:end + 1], (224, 224, 3)) for end in pools]
    expected = [report.layer(f"maxpool{n}").receptive_field for n in range(1, 6)]
    assert measured == expected
    assert measured[-1] == (212, 212)


def test_resnet18_stem_receptive_field():
    """The stem and the first two stages at full width, on 160x160: residual rows take the union of
    the body's and the shortcut's fields, which the gradient measures directly."""
    report = cnnc.load(EXAMPLES / "resnet18.cnn").report
    layers = resnet18_layers(pool=avgpool_2d)
    checkpoints = {"conv1": 1, "maxpool1": 4, "residual1": 5, "residual2": 7, "residual3": 9, "residual4": 11}
    for name, end in checkpoints.items():
        assert measured_receptive_field(layers[:end], (160, 160, 3)) == report.layer(name).receptive_field, name
    assert report.layer("maxpool1").receptive_field == (11, 11)


def test_alexnet_receptive_field():
    """CS231n's AlexNet to pool5 (2 channels a layer): 195, the published figure. At 227x227 the
    centre unit's field touches the border, so the image is 32 pixels larger (one more pool5 unit)."""
    report = cnnc.load(EXAMPLES / "alexnet.cnn").report
    layers = alexnet_features(widths=(2, 2, 2, 2, 2), pool=avgpool_2d)
    assert measured_receptive_field(layers, (259, 259, 3)) == report.layer("maxpool3").receptive_field == (195, 195)


def test_one_and_three_dimensional_receptive_fields():
    m5 = cnnc.load(EXAMPLES / "m5_audio.cnn").report
    layers = m5_layers(pool=lambda k: nn.AvgPool1d(k))
    assert measured_receptive_field(layers[:8], (2000, 1)) == m5.layer("maxpool2").receptive_field
    video = cnnc.load(EXAMPLES / "c3d.cnn").report
    layers = c3d_features(widths=(2, 2, 2, 2, 2), pool=lambda k, padding=0: nn.AvgPool3d(k, padding=padding))
    assert measured_receptive_field(layers[:6], (16, 40, 40, 3)) == video.layer("maxpool2").receptive_field


# The normalisations, drop path and adaptive pools of issue 9 -------------------------------------

NORMS_AND_POOLS = {
    "input 9x7x8\nlayernorm": [ChannelLayerNorm(8)],
    "input 9x7x8\nlayernorm affine=false": [ChannelLayerNorm(8, elementwise_affine=False)],
    "input 10\nlayernorm": [nn.LayerNorm(10)],
    "input 9x7x8\ngroupnorm 4": [nn.GroupNorm(4, 8)],
    "input 9x7x8\ngroupnorm 2 affine=false": [nn.GroupNorm(2, 8, affine=False)],
    "input 5x5x5x6\ngroupnorm 3": [nn.GroupNorm(3, 6)],
    "input 9x7x8\ninstancenorm": [nn.InstanceNorm2d(8)],
    "input 9x8\ninstancenorm affine=true": [nn.InstanceNorm1d(8, affine=True)],
    "input 4x5x6x8\ninstancenorm affine=true": [nn.InstanceNorm3d(8, affine=True)],
    "input 9x7x8\nlrn 5": [nn.LocalResponseNorm(5)],
    "input 9x7x8\nlayerscale": [LayerScale(8)],
    "input 9x7x8\ndroppath 0.2": [nn.Identity()],  # timm's DropPath: no parameters, the shape kept
    "input 9x7x8\nglobalmaxpool": [nn.AdaptiveMaxPool2d(1)],
    "input 9x8\nglobalmaxpool": [nn.AdaptiveMaxPool1d(1)],
    "input 9x7x8\nadaptiveavgpool 4x3": [nn.AdaptiveAvgPool2d((4, 3))],
    "input 9x7x8\nadaptivemaxpool 5": [nn.AdaptiveMaxPool2d(5)],
    "input 3x4x8\nadaptiveavgpool 6x9": [nn.AdaptiveAvgPool2d((6, 9))],
    "input 10x8\nadaptivemaxpool 3": [nn.AdaptiveMaxPool1d(3)],
    "input 5x6x7x8\nadaptivemaxpool 2x3x4": [nn.AdaptiveMaxPool3d((2, 3, 4))],
}


@pytest.mark.parametrize("spec", NORMS_AND_POOLS, ids=[s.replace("\n", "; ") for s in NORMS_AND_POOLS])
def test_norms_and_pools_count_as_torch(spec):
    """Output shape, parameters and buffers (every buffer: instance norm keeps no running statistics)."""
    report = cnnc.loads(spec).report
    model = nn.Sequential(*NORMS_AND_POOLS[spec]).eval()
    dims = report.input.dims
    x = torch.randn(1, dims[-1], *dims[:-1]) if len(dims) > 1 else torch.randn(1, dims[0])
    with torch.no_grad():
        output = model(x)
    (row,) = report.layers
    assert row.output.dims == (cnnc_dims(output.shape) if output.dim() > 2 else (output.shape[1],))
    assert row.params == sum(p.numel() for p in model.parameters())
    assert row.buffers == sum(b.numel() for b in model.buffers()) == 0
    assert row.macs == 0


def test_adaptive_pool_receptive_field_when_the_output_divides_the_input():
    """Windows of n/o with a stride of n/o: the field is exact, as for an ordinary pool."""
    report = cnnc.loads("input 32x32x2\nconv 2 3 pad=1\nadaptiveavgpool 8\nconv 2 3 pad=1").report
    layers = [nn.Conv2d(2, 2, 3, padding=1), nn.AdaptiveAvgPool2d(8), nn.Conv2d(2, 2, 3, padding=1)]
    assert measured_receptive_field(layers, (32, 32, 2)) == report.layers[-1].receptive_field == (14, 14)





# Receptive fields through merges whose windows start apart --------------------------------------

def _conv1d(kernel, stride=1, padding=0, dilation=1):
    return nn.Conv1d(1, 1, kernel, stride, padding, dilation, bias=False)


def _same_at_stride_2():
    """`conv 1 3 stride=2 pad=same` on an even length: no padding before, one after."""
    return nn.Sequential(nn.ConstantPad1d((0, 1), 0.0), _conv1d(3, 2))


_MERGES = {"concat": Concat, "add": Sum, "multiply": Product, "residual": Sum}
_OFFSET_BRANCHES = [
    # (cnnc branches, torch branches)
    (("conv 1 3 stride=2 pad=1", "conv 1 3 stride=2 pad=same"), lambda: (_conv1d(3, 2, 1), _same_at_stride_2())),
    (("conv 1 5 stride=2 pad=2", "conv 1 2 stride=2", "conv 1 3 stride=2 pad=same"),
     lambda: (_conv1d(5, 2, 2), _conv1d(2, 2), _same_at_stride_2())),
    (("conv 1 3 dilation=3 pad=3", "conv 1 3 pad=same", "avgpool 3 stride=1 pad=1"),
     lambda: (_conv1d(3, 1, 3, 3), _conv1d(3, 1, 1), nn.AvgPool1d(3, 1, 1))),
]


@pytest.mark.parametrize("merge", list(_MERGES))
@pytest.mark.parametrize("branches, torch_branches", _OFFSET_BRANCHES)
@pytest.mark.parametrize("after", ["", "conv 1 3 stride=2 pad=1"])
def test_receptive_field_through_merges_is_the_union_of_windows(merge, branches, torch_branches, after):
    """The gradient of the centre output reaches the union of the branches' windows, wherever each
    starts; a layer after the merge widens the union by its own window."""
    if merge == "residual":
        if len(branches) != 2:
            pytest.skip("a residual has two paths")
        spec = f"residual {{ {branches[0]} }} shortcut {{ {branches[1]} }}"
    else:
        spec = f"{merge} {{\n" + "".join(f"  branch {{ {b} }}\n" for b in branches) + "}"
    report = check(Source(f"input 40x1\n{spec}\n{after}")).report
    channels = len(branches) if merge == "concat" else 1
    layers = [_MERGES[merge](*torch_branches())]
    if after:
        layers.append(nn.Conv1d(channels, 1, 3, 2, 1, bias=False))
    assert measured_receptive_field(layers, (40, 1)) == report.layers[-1].receptive_field


def test_receptive_field_through_merges_in_two_dimensions():
    text = ("input 24x24x1\nadd {\n  branch { conv 1 3x2 stride=2 pad=1x0 }\n  branch { conv 1 3x2 stride=2 pad=same }\n"
            "}\nconv 1 3 pad=1")
    report = check(Source(text)).report
    layers = [Sum(nn.Sequential(nn.ZeroPad2d((0, 0, 1, 1)), nn.Conv2d(1, 1, (3, 2), 2, bias=False)),
                  nn.Sequential(nn.ZeroPad2d((0, 0, 0, 1)), nn.Conv2d(1, 1, (3, 2), 2, bias=False))),
              nn.Conv2d(1, 1, 3, 1, 1, bias=False)]
    assert measured_receptive_field(layers, (24, 24, 1)) == report.layers[-1].receptive_field == (8, 6)


def test_squeeze_excite_receptive_field_is_the_whole_input():
    text = "input 12x10x4\nmultiply {\n  branch { }\n  branch { globalavgpool; conv 2 1; relu; conv 4 1; sigmoid }\n}"
    report = check(Source(text)).report
    assert report.layers[-1].receptive_field == (12, 10)
    model = nn.Sequential(Product(nn.Identity(), nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(4, 2, 1),
                                                               nn.ReLU(), nn.Conv2d(2, 4, 1), nn.Sigmoid())))
    x = torch.rand(1, 4, 12, 10, dtype=torch.float64, requires_grad=True)
    model.double()(x)[0, :, 6, 5].sum().backward()
    assert bool((x.grad[0].abs().sum(dim=0) > 0).all())  # every input position reaches the centre

# Random conv/pool stacks -------------------------------------------------------------------------

def _per_dimension(values: tuple[int, ...], rank: int) -> tuple[int, ...]:
    return values * rank if len(values) == 1 else values


def _text(values: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in values)


@st.composite
def stacks(draw):
    """A random input and 1-3 conv/pool layers; each layer a dict of its settings and spec line."""
    rank = draw(st.integers(1, 3))
    sizes = tuple(draw(st.lists(st.integers(3, 24 if rank < 3 else 10), min_size=rank, max_size=rank)))
    input_channels = channels = draw(st.integers(1, 6))

    def per_dim(low, high):
        count = draw(st.sampled_from((1, rank)))
        return tuple(draw(st.lists(st.integers(low, high), min_size=count, max_size=count)))

    layers = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(("conv", "conv", "maxpool", "avgpool")))
        kernel = per_dim(1, 5)
        stride = per_dim(1, 3)
        ceil_mode = draw(st.booleans())
        layer = {"kind": kind, "kernel": kernel, "stride": stride, "ceil": ceil_mode}
        if kind == "conv":
            groups = draw(st.sampled_from([g for g in range(1, channels + 1) if channels % g == 0]))
            filters = groups * draw(st.integers(1, 3))
            dilation = per_dim(1, 3)
            pad = "same" if draw(st.booleans()) else per_dim(0, 3)
            bias = draw(st.booleans())
            layer.update(filters=filters, groups=groups, dilation=dilation, pad=pad, bias=bias)
            line = (f"conv {filters} {_text(kernel)} stride={_text(stride)} dilation={_text(dilation)} "
                    f"groups={groups} bias={'true' if bias else 'false'}")
            channels = filters
        else:
            full = _per_dimension(kernel, rank)
            # torch rejects pool padding above half the kernel
            pad = "same" if draw(st.booleans()) else tuple(draw(st.integers(0, k // 2)) for k in full)
            layer.update(pad=pad)
            default_stride = draw(st.booleans())
            if default_stride:
                layer["stride"] = kernel
            line = f"{kind} {_text(kernel)}" + ("" if default_stride else f" stride={_text(stride)}")
        line += f" pad={pad if pad == 'same' else _text(pad)} round={'ceil' if ceil_mode else 'floor'}"
        layer["line"] = line
        layers.append(layer)
    return sizes, input_channels, layers


def _ceil_output(size: int, span: int, stride: int, before: int, after: int) -> int:
    """PyTorch's ceil_mode rule (nn.MaxPool docs): ceil((n + pads - span) / s) + 1, less one when the
    last window would start in the right padding."""
    output = ceil((size + before + after - span) / stride) + 1
    if (output - 1) * stride >= size + before:
        output -= 1
    return output


def _pad(x, pads):
    """F.pad with per-dimension (before, after) pairs, first spatial dimension first."""
    flat = [amount for pair in reversed(pads) for amount in pair]
    return F.pad(x, flat) if any(flat) else x


def torch_layer(x, layer: dict, resolved_padding):
    """Run one random layer in torch. `pad=same` with stride 1 uses torch's own `padding="same"`;
    with a larger stride it pads explicitly by the amounts cnnc reports (checked separately against
    the definition of `same`: ceil(n / s) outputs). A conv with `round=ceil` (no torch equivalent)
    pads the extra on the right so torch's floor gives PyTorch's ceil-mode count."""
    rank = x.dim() - 2
    kernel, stride = _per_dimension(layer["kernel"], rank), _per_dimension(layer["stride"], rank)
    if layer["kind"] != "conv":
        pool = {("max", 1): F.max_pool1d, ("max", 2): F.max_pool2d, ("max", 3): F.max_pool3d,
                ("avg", 1): F.avg_pool1d, ("avg", 2): F.avg_pool2d, ("avg", 3): F.avg_pool3d}
        function = pool[(layer["kind"][:3], rank)]
        if layer["pad"] == "same":
            return function(_pad(x, resolved_padding), kernel, stride, 0, ceil_mode=layer["ceil"])
        return function(x, kernel, stride, _per_dimension(layer["pad"], rank), ceil_mode=layer["ceil"])
    conv = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]
    dilation = _per_dimension(layer["dilation"], rank)
    groups = layer["groups"]
    weight = torch.randn(layer["filters"], x.shape[1] // groups, *kernel)
    bias = torch.randn(layer["filters"]) if layer["bias"] else None
    if layer["pad"] == "same" and all(s == 1 for s in stride):
        return conv(x, weight, bias, 1, "same", dilation, groups)
    if layer["pad"] == "same":
        pads = list(resolved_padding)
    else:
        pads = [(p, p) for p in _per_dimension(layer["pad"], rank)]
    if layer["ceil"]:
        for axis, (size, k, s, d) in enumerate(zip(x.shape[2:], kernel, stride, dilation)):
            span = d * (k - 1) + 1
            before, after = pads[axis]
            needed = (_ceil_output(size, span, s, before, after) - 1) * s + span - (size + before + after)
            pads[axis] = (before, after + max(needed, 0))
    return conv(_pad(x, pads), weight, bias, stride, 0, dilation, groups)


def torch_params(layer: dict, in_channels: int, rank: int) -> int:
    if layer["kind"] != "conv":
        return 0
    weights = layer["filters"] * (in_channels // layer["groups"]) * prod(_per_dimension(layer["kernel"], rank))
    return weights + (layer["filters"] if layer["bias"] else 0)


# Found by this test: with `round=ceil`, cnnc dropped a window that starts in the right padding even
# when `round=floor` keeps it (5 outputs with floor, 4 with ceil); ceil now never gives fewer.
CONV_PADDED_BEYOND_ITS_KERNEL = {
    "kind": "conv", "kernel": (1,), "stride": (1,), "ceil": True, "filters": 1, "groups": 1, "dilation": (1,),
    "pad": (1,), "bias": False, "line": "conv 1 1 stride=1 dilation=1 groups=1 bias=false pad=1 round=ceil"}


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
@example(((3, 3), 1, [CONV_PADDED_BEYOND_ITS_KERNEL]))
def test_random_stacks_match_torch(stack):
    sizes, channels, layers = stack
    text = "\n".join([f"input {_text(sizes + (channels,))}", *(layer["line"] for layer in layers)])
    checked = check(Source(text, "<random>"))
    assert checked.report is not None, [d.message for d in checked.diagnostics]
    analyzed = checked.report.layers
    x = torch.randn(1, channels, *sizes)
    for index, layer in enumerate(layers):
        if index == len(analyzed):  # cnnc rejected this layer: torch must reject it too
            assert [d.code for d in checked.diagnostics] == ["E101"], text
            with pytest.raises(RuntimeError):
                torch_layer(x, layer, None)
            return
        found = analyzed[index]
        if layer["kind"] == "avgpool" and x.dim() == 5 and any(
                n < k for n, k in zip(x.shape[2:], _per_dimension(layer["kernel"], 3))):
            return  # torch's avg_pool3d alone rejects a kernel larger than the unpadded input
        if layer["pad"] == "same":
            strides = _per_dimension(layer["stride"], len(sizes))
            assert found.output.spatial == tuple(-(-n // s) for n, s in zip(found.input.spatial, strides))
        params = torch_params(layer, x.shape[1], len(sizes))
        x = torch_layer(x, layer, found.padding)
        assert found.output.dims == cnnc_dims(x.shape), text
        assert found.params == params, text
    assert checked.ok and len(analyzed) == len(layers)


# Upsampling, transposed convolution and channel views (issue 9) ---------------------------------

def _exported(spec: str):
    """cnnc's model of ``spec`` with every weight positive (no path can cancel), exported to torch."""
    model = cnnc.loads(spec).compile(dtype="float64", seed=0)
    for array in model.params.values():
        np.copyto(array, np.abs(array) + 0.1)
    from cnnc.backends.torch_export import to_torch

    return model, to_torch(model).eval()


def widest_field(spec: str, borders: bool = False) -> tuple[int, ...]:
    """The widest extent of the input that reaches any one output position, per spatial dimension, over
    every output position (a fractional jump makes the extent depend on where the output lies, so the
    centre alone does not show the widest). Extents touching the input's borders count only with
    ``borders`` (after a squeeze-excite every output sees the whole input, borders and all)."""
    model, module = _exported(spec)
    report = model.network.report
    x = torch.ones(1, *report.input.dims, dtype=torch.float64, requires_grad=True)
    output = module(x)
    widest = [0] * report.input.rank
    for position in np.ndindex(*report.output.spatial):
        if x.grad is not None:
            x.grad.zero_()
        output[(0, *position)].sum().backward(retain_graph=True)
        reached = x.grad[0].abs().sum(dim=-1) > 0
        if not reached.any():
            continue  # an output no input reaches (only the bias): taps d apart at a stride sharing a factor
        for axis in range(reached.dim()):
            others = tuple(a for a in range(reached.dim()) if a != axis)
            indices = (reached.any(dim=others) if others else reached).nonzero().flatten()
            first, last = int(indices.min()), int(indices.max())
            if borders or (0 < first and last < reached.shape[axis] - 1):
                widest[axis] = max(widest[axis], last - first + 1)
    return tuple(widest)


@pytest.mark.parametrize(("spec", "field"), [
    ("input 24x1\ndeconv 1 4 stride=2 pad=1", (2,)),  # DCGAN's layer: 2 inputs reach each output
    ("input 24x1\ndeconv 1 3 stride=2", (2,)),
    ("input 24x1\ndeconv 1 3 stride=2 dilation=2", (3,)),  # every tap lands on even outputs
    ("input 24x1\ndeconv 1 2 stride=2 dilation=3", (1,)),  # taps 3 apart at stride 2: never together
    ("input 24x1\ndeconv 1 5 stride=3 dilation=2", (3,)),  # taps 0 and 6 meet at one output, inputs 2 apart
    ("input 24x1\ndeconv 1 3", (3,)),  # stride 1: as a convolution
    ("input 24x1\nconv 1 3\ndeconv 1 4 stride=2\nconv 1 3", (5,)),
    ("input 24x1\nupsample 2\nconv 1 3", (2,)),
    ("input 24x1\nupsample 2\nconv 1 4", (3,)),  # 1 + 3/2, rounded up
    ("input 24x1\nupsample 3\nconv 1 5", (3,)),
    ("input 24x1\nupsample 2 mode=linear\nconv 1 3", (3,)),
    ("input 24x1\nupsample 3 mode=linear align_corners=true", (2,)),
    ("input 12x4\npixelshuffle 2\nconv 1 3", (2,)),
    ("input 10x10x1\ndeconv 1 4x3 stride=2x1\nupsample 2x1", (2, 3)),
])
def test_upsampling_receptive_fields_match_torch_gradients(spec, field):
    report = cnnc.loads(spec).report
    assert report.layers[-1].reported_field == widest_field(spec) == field


SE = "multiply {\n  branch { }\n  branch { globalavgpool; conv 2 1; relu; conv 8 1; sigmoid }\n}\n"


@pytest.mark.parametrize(("spec", "field"), [
    ("input 16x16x8\n" + SE + "conv 8 3 pad=1", (16, 16)),  # not 18: the product already sees everything
    ("input 16x16x8\n" + SE + "globalavgpool", (16, 16)),  # not 33
    ("input 16x16x8\n" + SE + "conv 8 3 stride=2 pad=1", (16, 16)),
    ("input 16x12x8\nresidual {\n  conv 8 1\n  " + SE.replace("\n", "\n  ") + "conv 8 3 pad=1\n}\nconv 8 3 pad=1",
     (16, 12)),  # the shortcut's window lies inside the body's fixed one
    ("input 16x16x8\nconv 8 3\n" + SE + "conv 8 3 pad=1\nmaxpool 2", (16, 16)),  # 14x14 after the conv
])
def test_receptive_fields_after_a_squeeze_excite_match_torch_gradients(spec, field):
    report = cnnc.loads(spec).report
    assert report.layers[-1].reported_field == widest_field(spec, borders=True) == field


def deconv_macs(module: nn.Module, inputs) -> int:
    """A transposed convolution: every input element meets (F/groups) x kernel volume weights."""
    return inputs[0].numel() * (module.out_channels // module.groups) * prod(module.kernel_size)


@pytest.mark.parametrize(("spec", "build"), [
    ("input 1x1x100\ndeconv 512 4 bias=false", lambda: nn.ConvTranspose2d(100, 512, 4, bias=False)),
    ("input 4x4x512\ndeconv 256 4 stride=2 pad=1", lambda: nn.ConvTranspose2d(512, 256, 4, 2, 1)),
    ("input 7x5x6\ndeconv 9 3x2 stride=2x1 pad=1x0 output_pad=1x0 dilation=2x1 groups=3",
     lambda: nn.ConvTranspose2d(6, 9, (3, 2), (2, 1), (1, 0), (1, 0), groups=3, dilation=(2, 1))),
    ("input 9x4\ndeconv 2 5 stride=3 pad=2 output_pad=2", lambda: nn.ConvTranspose1d(4, 2, 5, 3, 2, 2)),
    ("input 3x4x5x2\ndeconv 4 3 stride=2 dilation=3 output_pad=2",
     lambda: nn.ConvTranspose3d(2, 4, 3, 2, output_padding=2, dilation=3)),
    ("input 5x6x3\nupsample 2", lambda: nn.Upsample(scale_factor=2)),
    ("input 5x6x3\nupsample 3x1 mode=linear", lambda: nn.Upsample(scale_factor=(3, 1), mode="bilinear")),
    ("input 5x6x3\nupsample size=7x13 mode=linear align_corners=true",
     lambda: nn.Upsample(size=(7, 13), mode="bilinear", align_corners=True)),
    ("input 7x3\nupsample size=4", lambda: nn.Upsample(size=4)),
    ("input 2x3x4x3\nupsample 2 mode=linear", lambda: nn.Upsample(scale_factor=2, mode="trilinear")),
    ("input 5x6x18\npixelshuffle 3", lambda: nn.PixelShuffle(3)),
])
def test_resampling_layers_match_torch_counts(spec, build):
    layer = cnnc.loads(spec).report.layers[0]
    module = build()
    x = torch.randn(1, layer.input.channels, *layer.input.spatial)
    output = module(x)
    assert layer.output.dims == cnnc_dims(output.shape)
    assert layer.params == sum(p.numel() for p in module.parameters())
    assert layer.buffers == sum(b.numel() for b in module.buffers()) == 0
    assert layer.macs == (deconv_macs(module, (x,)) if isinstance(module, nn.modules.conv._ConvTransposeNd) else 0)


def test_slice_and_shuffle_are_views_that_match_torch():
    """ShuffleNetV2's unit: split the channels, transform one half, join, shuffle (torchvision's
    channel_shuffle: view (G, C/G), transpose, flatten)."""
    spec = ("input 8x8x16\nconcat {\n branch {\n slice 0 8\n }\n branch {\n slice 8 16\n conv 8 1\n }\n}\n"
            "shuffle 2")
    model, module = _exported(spec)
    x = torch.randn(1, 8, 8, 16, dtype=torch.float64)
    conv = module.body[0].branches[1][1]
    left, right = x[..., :8].movedim(-1, 1), conv(x[..., 8:].movedim(-1, 1))
    joined = torch.cat([left, right], dim=1)
    expected = joined.view(1, 2, 8, 8, 8).transpose(1, 2).reshape(1, 16, 8, 8).movedim(1, -1)
    torch.testing.assert_close(module(x), expected)
    report = model.network.report
    assert [(row.kind, row.allocates) for row in report.layers if row.kind in ("slice", "shuffle")] == [
        ("slice", False), ("slice", False), ("shuffle", False)]
    assert report.totals.params == 8 * 8 + 8
