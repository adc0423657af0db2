"""Window arithmetic: the output size (n - f + 2p)/s + 1 per spatial dimension, `same` padding and
PyTorch's ceil mode. Pure functions on Python integers, shared by the analyzer, the lint rules and
the backends."""

from __future__ import annotations

from functools import cached_property, lru_cache

from cnnc.frozen import frozen
from cnnc.ir import Padding, Shape, Sizes

FEW_CHANNELS = 4
"""A first size up to this looks like a channel count (grey 1, RGB 3, RGBA 4) rather than a size."""
IMAGE_SIZE = 8
"""Sizes from this up look like the sizes of an image rather than like its channels."""


def per_dimension(values: Sizes, rank: int) -> tuple[int, ...] | None:
    """``values`` with one entry per spatial dimension; None when the count does not match."""
    if len(values) == rank:
        return tuple(values)
    if len(values) == 1:
        return tuple(values) * rank
    return None


def channels_last(shape: Shape) -> Shape | None:
    """The input meant when ``shape`` looks written channels first, as PyTorch writes it (`3x224x224`
    for `224x224x3`): a first size of 1 to FEW_CHANNELS, and every later size and the channels at
    least IMAGE_SIZE. None when it does not look so."""
    if shape.rank == 0 or not 1 <= shape.spatial[0] <= FEW_CHANNELS or min(shape.dims[1:]) < IMAGE_SIZE:
        return None
    return Shape((*shape.spatial[1:], shape.channels), shape.spatial[0])


def effective_kernel(kernel: int, dilation: int) -> int:
    """The span of a dilated kernel: d(k - 1) + 1."""
    return dilation * (kernel - 1) + 1


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow/PyTorch `same`: the output is ceil(n / s); the odd pixel of padding goes after."""
    output = -(-size // stride)
    total = max((output - 1) * stride + effective_kernel(kernel, dilation) - size, 0)
    return total // 2, total - total // 2


@frozen
class Window:
    """One spatial dimension of a conv or pool: everything the output size depends on."""

    size: int
    kernel: int
    stride: int
    pad_before: int
    pad_after: int
    dilation: int = 1
    ceil_mode: bool = False

    @cached_property  # a Window is frozen and shared (``windows`` is cached)
    def span(self) -> int:
        return effective_kernel(self.kernel, self.dilation)

    @property
    def padded(self) -> int:
        return self.size + self.pad_before + self.pad_after

    @cached_property
    def output(self) -> int:
        """PyTorch's rule: floor((n + pads - span) / s) + 1, or with ceil_mode the ceiling, minus
        the extra window if it would start inside the right padding. Ceil never gives fewer windows
        than floor (a conv padded by at least its span keeps its whole windows of padding)."""
        reach = self.padded - self.span
        floor_output = reach // self.stride + 1
        if not self.ceil_mode:
            return floor_output
        output = -(-reach // self.stride) + 1
        if output > max(floor_output, 0) and (output - 1) * self.stride >= self.size + self.pad_before:
            output -= 1
        return output

    @property
    def padding_only(self) -> str | None:
        """``first`` or ``last`` when that window reads only padding (none of the input's positions), else
        None: a max pool has no value there (E106)."""
        if self.span <= self.pad_before:
            return "first"
        if (self.output - 1) * self.stride - self.pad_before >= self.size:
            return "last"
        return None

    def arithmetic(self) -> str:
        """The output-size formula with this dimension's numbers, for diagnostics."""
        pads = (f"2*{self.pad_before}" if self.pad_before == self.pad_after
                else f"{self.pad_before}+{self.pad_after}")
        kernel = (str(self.kernel) if self.dilation == 1
                  else f"{self.span} (kernel {self.kernel} dilated {self.dilation})")
        rounding = "ceil" if self.ceil_mode else "floor"
        return (f"{rounding}(({self.size} - {kernel} + {pads}) / {self.stride}) + 1 = {self.output}")


@lru_cache(maxsize=4096)
def windows(sizes: tuple[int, ...], kernel: Sizes, stride: Sizes, pad: Padding, dilation: Sizes,
            ceil_mode: bool) -> tuple[Window, ...] | None:
    """The per-dimension windows of a conv or pool over ``sizes``; None when a setting's rank does
    not match (the caller reports which). Cached: the analyzer and several lint rules ask for the
    same layer's windows, and a repeated block asks for the same windows over and over."""
    rank = len(sizes)
    kernels, strides, dilations = (per_dimension(v, rank) for v in (kernel, stride, dilation))
    if kernels is None or strides is None or dilations is None:
        return None
    if pad == "same":
        pads = [same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernels, strides, dilations)]
    else:
        explicit = per_dimension(pad, rank)
        if explicit is None:
            return None
        pads = [(p, p) for p in explicit]
    return tuple(Window(n, k, s, before, after, d, ceil_mode)
                 for n, k, s, (before, after), d in zip(sizes, kernels, strides, pads, dilations))
