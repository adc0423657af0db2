"""Rules on the windows of convolutions, pools and transposed convolutions: W201, W202, W203, W208, W210."""

from __future__ import annotations

from math import prod

from cnnc import ir
from cnnc.diagnostics import Severity
from cnnc.lint.context import Finding, LintContext, dimension_names, layer_windows, sizes
from cnnc.lint.coverage import (fitting_pad, fitting_stride, lost_at_end, output_formula, read_by_a_sibling,
                                skipped_between, with_pad, with_stride)
from cnnc.lint.registry import rule
from cnnc.report import LayerReport
from cnnc.shapes import Window, per_dimension

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Iterator


def _windowed(context: LintContext) -> Iterator[tuple[LayerReport, tuple[Window, ...]]]:
    for row in context.report.layers:
        found = layer_windows(row)
        if found:
            yield row, found


def _dims(values) -> str:
    """A window's size in every dimension: ``3x3``."""
    return "x".join(str(v) for v in values)


def _singular(name: str) -> str:
    first, _, rest = name.partition(" ")
    return f"{first[:-1]} {rest}".strip()


def _joined(items: list[str], conjunction: str = "and") -> str:
    """``rows and columns``; ``a, b or c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {conjunction} " + items[-1]


def _option(name: str, values: list[int]) -> str:
    return f"`{name}={sizes(values)}`"


@rule("W201", "stride-drops-input", Severity.WARNING)
def stride_drops_input(context: LintContext) -> Iterator[Finding]:
    """A conv or pool whose windows stop short of the end of its input, so the last rows or columns are never read.

    ## What it does
    Works out (n - f + 2p)/s + 1 for every dimension of every convolution and pool. When it is not
    a whole number, floor rounding drops the last, partial window. If what the dropped window
    would have covered includes real input (not only padding), those rows or columns never reach
    the output. The finding counts them and suggests a padding or stride that fits.

    Only real input counts: ResNet's stride-2 layers drop a column of padding, which is harmless
    and not reported. Nothing is reported with `round=ceil`, for dimensions where the window is
    shorter than the stride (W202 reports those), or inside a residual or concat when another
    path of the same block reads every input.

    ## Why is this bad?
    The network never sees part of every image: "stride 3 doesn't fit" a 7-wide input with a
    3-wide filter (CS231n). The original AlexNet's 11x11 stride-4 first layer on a 224x224 image
    gives (224 - 11)/4 + 1 = 54.25: its windows reach 223 of the 224 rows and columns, which is why
    the input is often quoted as 227x227 instead.

    ## Example
    ```cnn
    input 224x224x3
    conv 96 11x11 stride=4
    ```

    ## Use instead
    ```cnn
    input 224x224x3
    conv 96 11x11 stride=4 pad=2
    ```
    """
    shielded = read_by_a_sibling(context)
    for row, found in _windowed(context):
        if row.name in shielded:
            continue
        lossy = [axis for axis, w in enumerate(found) if lost_at_end(w) and not skipped_between(w)]
        if not lossy:
            continue
        names = dimension_names(len(found))
        parts = [_last(lost_at_end(found[axis]), names[axis]) for axis in lossy]
        groups: dict[tuple[str, int, int, int], list[str]] = {}
        for axis in lossy:
            window = found[axis]
            key = (output_formula(window), window.output, window.size - lost_at_end(window), window.size)
            groups.setdefault(key, []).append(names[axis])
        reasons = [f"{formula} rounds down to {output}: the windows reach {reached} of the {size} {_joined(dims)}"
                   for (formula, output, reached, size), dims in groups.items()]
        yield Finding(f"`{row.name}` never reads {_joined(parts)} of its {row.input} input", row.node,
                      help="; ".join(reasons) + f"; {_fixes(row.node, found, lossy)}")


def _last(lost: int, plural: str) -> str:
    return f"the last {_singular(plural)}" if lost == 1 else f"the last {lost} {plural}"


def _fixes(node: ir.Node, found: tuple[Window, ...], lossy: list[int]) -> str:
    """Settings that lose nothing: a padding, a stride, or ceil rounding for a pool."""
    options = []
    pads = [fitting_pad(w) if axis in lossy else w.pad_before for axis, w in enumerate(found)]
    if None not in pads and all(lost_at_end(with_pad(w, p)) == 0 for w, p in zip(found, pads)):
        options.append(_option("pad", pads))
    strides = [fitting_stride(w) if axis in lossy else w.stride for axis, w in enumerate(found)]
    if None not in strides and all(lost_at_end(with_stride(w, s)) == 0 for w, s in zip(found, strides)):
        options.append(_option("stride", strides))
    if isinstance(node, ir.Pool):
        options.append("`round=ceil`")
    if not options:
        return "another kernel size, stride or input size would fit"
    return f"{_joined(options, 'or')} would read all of it"


@rule("W202", "pool-gaps", Severity.WARNING)
def pool_gaps(context: LintContext) -> Iterator[Finding]:
    """A pool or conv whose window is shorter than its stride, so the positions between windows are never read.

    ## What it does
    Compares each window (its dilated span) with its stride, per dimension. A stride longer than the
    window skips `stride - window` positions between one window and the next. Nothing is reported
    inside a residual or concat when another path of the same block reads every input: ResNet's
    1x1 stride-2 projection shortcut skips 3 of every 4 positions, but the body's 3x3 stride-2
    convolution beside it reads them.

    ## Why is this bad?
    The skipped positions never reach the output: `maxpool 2 stride=3` reads 4 of every 9 inputs of
    an image and throws the rest away, and a 1x1 stride-2 convolution on its own reads one position
    in four ("Bag of Tricks for Image Classification", He et al. 2019, replaces it for that reason).

    ## Example
    ```cnn
    input 32x32x16
    maxpool 2 stride=3
    ```

    ## Use instead
    ```cnn
    input 32x32x16
    maxpool 3 stride=3
    ```
    """
    shielded = read_by_a_sibling(context)
    for row, found in _windowed(context):
        if row.name in shielded:
            continue
        names = dimension_names(len(found))
        gappy = [(names[axis], w) for axis, w in enumerate(found) if skipped_between(w)]
        if not gappy:
            continue
        groups: dict[tuple[int, int, int], list[str]] = {}
        for name, window in gappy:
            groups.setdefault((skipped_between(window), window.stride, window.span), []).append(name)
        read = prod(min(w.span, w.stride) / w.stride for w in found)
        parts = [f"{skip} of every {stride} {_joined(dims)}" for (skip, stride, _), dims in groups.items()]
        spans = _dims(w.span for w in found)
        strides = sizes(w.stride for w in found)
        yield Finding(
            f"`{row.name}` skips {_joined(parts)}: its {spans} window is shorter than its stride {strides}",
            row.node,
            help=f"it reads {read:.0%} of its input; a window at least as long as the stride "
                 f"(or a stride of at most {sizes(w.span for w in found)}) reads all of it")


@rule("W203", "even-kernel-same", Severity.WARNING)
def even_kernel_same(context: LintContext) -> Iterator[Finding]:
    """An even kernel with `pad=same`, which pads one side more than the other.

    ## What it does
    Finds convolutions and pools with `pad=same` whose kernel is even in some dimension and whose
    padding there comes out uneven. `same` needs kernel - 1 zeros at stride 1: an odd number for an
    even kernel, so the extra one goes after (as in TensorFlow and PyTorch).

    ## Why is this bad?
    The output is shifted by half a pixel against the input, and the shift adds up layer after
    layer; features drift towards one corner. Frameworks also disagree on which side gets the
    extra zero, so weights do not carry over between them.

    ## Example
    ```cnn
    input 32x32x3
    conv 16 2x2 pad=same
    ```

    ## Use instead
    ```cnn
    input 32x32x3
    conv 16 3x3 pad=same
    ```
    """
    for row, found in _windowed(context):
        if getattr(row.node, "pad", None) != "same":
            continue
        uneven = [w for w in found if w.span % 2 == 0 and w.pad_before != w.pad_after]
        if not uneven:
            continue
        kernel = _dims(w.span for w in found)
        before = sizes(w.pad_before for w in found)
        after = sizes(w.pad_after for w in found)
        yield Finding(f"`{row.name}` pads unevenly: `pad=same` with its even {kernel} kernel adds {before} "
                      f"before and {after} after", row.node,
                      help="the output shifts by half a position; use an odd kernel "
                           f"({_dims(w.span + 1 if w.span % 2 == 0 else w.span for w in found)}) "
                           "or give the padding explicitly")


MAX_WINDOWS = 100_000
"""W208 gives up on a dimension with more windows than this overlapping its input (none in practice)."""


def _taps_meeting_input(window: Window) -> int | None:
    """How many of the kernel's taps along this dimension ever land on real input; None when there
    are too many windows to tell."""
    if window.output <= 0:
        return window.kernel
    step, pad, size, dilation = window.stride, window.pad_before, window.size, window.dilation
    first = max(0, -(-(pad - window.span + 1) // step))  # the first window reaching the input
    last = min(window.output - 1, (pad + size - 1) // step)  # the last window starting inside it
    inside = -(-pad // step)  # the first window that starts on the input; if it overhangs, all later ones do
    if inside < window.output and inside * step - pad + window.span <= size:
        return window.kernel
    if last - first + 1 > MAX_WINDOWS:
        return None
    intervals = []
    for index in range(first, last + 1):
        start = index * step - pad
        low, high = max(0, -(-(-start) // dilation)), min(window.kernel - 1, (size - 1 - start) // dilation)
        if low <= high:
            intervals.append((low, high))
    used, reach = 0, -1
    for low, high in sorted(intervals):
        if high > reach:
            used += high - max(low, reach + 1) + 1
            reach = high
    return used


@rule("W208", "kernel-exceeds-input", Severity.WARNING)
def kernel_exceeds_input(context: LintContext) -> Iterator[Finding]:
    """A window larger than its input, so that some of its weights only ever see padding.

    ## What it does
    Finds convolutions and pools whose window is so much larger than its input (possibly with
    padding, or ceil rounding) that some kernel positions fall on padding wherever the window is;
    and transposed convolutions (`deconv`) whose padding crops away every output that some kernel
    positions write to, wherever the input is.

    ## Why is this bad?
    The weights at those positions multiply zeros in every image: they cost parameters and
    multiply-accumulates and learn nothing. It usually means the input has been downsampled too far
    for the layer, as when a network designed for 224x224 images runs on 32x32 ones and its last
    3x3 convolutions see a 1x1 map.

    ## Example
    ```cnn
    input 1x1x512
    conv 512 3x3 pad=1
    ```

    ## Use instead
    ```cnn
    input 1x1x512
    conv 512 1x1
    ```
    """
    for row, found in _windowed(context):
        used = [_taps_meeting_input(w) for w in found]
        if None in used or all(u == w.kernel for u, w in zip(used, found)):
            continue
        positions, meeting = prod(w.kernel for w in found), prod(used)
        kernel = _dims(w.kernel for w in found)
        larger = any(w.span > w.size for w in found)
        where = f"is larger than its {row.input} input" if larger else f"overhangs its {row.input} input"
        message = (f"`{row.name}`'s {kernel} window {where}: {positions - meeting} of its {positions} "
                   "positions only ever see padding")
        if isinstance(row.node, ir.Conv):
            per_position = (row.input.channels // row.node.groups) * row.node.filters
            hint = (f"{per_position * (positions - meeting):,} of its weights never meet data; use a smaller "
                    "kernel, or keep more resolution before this layer")
        else:
            hint = "use a smaller window, or keep more resolution before this layer"
        yield Finding(message, row.node, help=hint)
    yield from _deconv_taps_cropped(context)


def _deconv_geometry(row: LayerReport) -> list[tuple[int, ...]]:
    """Per dimension: input size, kernel, stride, pad, dilation and output size of a deconv row."""
    node, rank = row.node, row.input.rank
    settings = [per_dimension(v, rank) for v in (node.kernel, node.stride, node.pad, node.dilation)]
    return list(zip(row.input.spatial, *settings, row.output.spatial))


def _taps_writing_output(size: int, kernel: int, stride: int, pad: int, dilation: int, output: int) -> int | None:
    """How many taps of a transposed convolution write to an output that is kept (input i, tap t write
    output i*s - p + t*d); None when the kernel is too long to tell."""
    if kernel > MAX_WINDOWS:
        return None
    used = 0
    for tap in range(kernel):
        low = max(0, -(-(pad - tap * dilation) // stride))  # the first input landing at output 0 or later
        high = min(size - 1, (pad + output - 1 - tap * dilation) // stride)  # the last landing before the end
        used += low <= high
    return used


def _deconv_taps_cropped(context: LintContext) -> Iterator[Finding]:
    for row in context.report.layers:
        if not isinstance(row.node, ir.Deconv) or row.input.rank == 0:
            continue
        geometry = _deconv_geometry(row)
        used = [_taps_writing_output(*dimension) for dimension in geometry]
        if None in used or all(u == k for u, (_, k, *_) in zip(used, geometry)):
            continue
        positions, meeting = prod(k for _, k, *_ in geometry), prod(used)
        kernel = _dims(k for _, k, *_ in geometry)
        node = row.node
        per_position = (row.input.channels // node.groups) * node.filters
        yield Finding(f"`{row.name}`'s {kernel} kernel is larger than its {row.input} input allows: "
                      f"{positions - meeting} of its {positions} positions only ever write to the cropped "
                      f"padding", node,
                      help=f"{per_position * (positions - meeting):,} of its weights never reach the output; "
                           "use less padding or a smaller kernel")


@rule("W210", "deconv-checkerboard", Severity.WARNING)
def deconv_checkerboard(context: LintContext) -> Iterator[Finding]:
    """A transposed convolution whose kernel is not a multiple of its stride, so its outputs overlap unevenly.

    ## What it does
    Counts, for a `deconv` with a stride above 1, how many kernel taps reach each output position:
    with taps d apart and outputs written s apart, the count depends on the position modulo the
    stride. When the counts differ (a kernel that is not a multiple of the stride, or a dilation
    that shares a factor with it), the rule reports it. Dimensions whose input is a single position
    (nothing overlaps there) are not counted.

    ## Why is this bad?
    Positions that receive more taps get systematically larger values than their neighbours: the
    checkerboard artifacts of Odena, Dumoulin and Olah, "Deconvolution and Checkerboard Artifacts"
    (Distill, 2016). Training can learn to hide them, but they tend to persist, and a stack of such
    layers compounds them.

    ## Example
    ```cnn
    input 8x8x64
    deconv 32 3 stride=2 pad=1 output_pad=1
    ```

    ## Use instead
    ```cnn
    input 8x8x64
    deconv 32 4 stride=2 pad=1
    ```
    A kernel divisible by the stride (4 at stride 2) overlaps evenly; so does `upsample 2`
    followed by a `conv ... pad=same`, the resize-convolution the paper recommends.
    """
    for row in context.report.layers:
        if not isinstance(row.node, ir.Deconv) or row.input.rank == 0:
            continue
        uneven = []
        for axis, (size, kernel, stride, _, dilation, _) in enumerate(_deconv_geometry(row)):
            if stride == 1 or size == 1 or kernel > MAX_WINDOWS:
                continue
            counts = [0] * stride
            for tap in range(kernel):
                counts[tap * dilation % stride] += 1
            if len(set(counts)) > 1:
                uneven.append((axis, kernel, stride, min(counts), max(counts)))
        if not uneven:
            continue
        names = dimension_names(row.input.rank)
        _, kernel, stride, fewest, most = uneven[0]
        where = "" if row.input.rank == 1 else f" along the {_joined([names[a] for a, *_ in uneven])}"
        yield Finding(f"`{row.name}`'s kernel {kernel} is not a multiple of its stride {stride}{where}: "
                      f"outputs receive between {fewest} and {most} taps, in a checkerboard pattern", row.node,
                      help=f"use a kernel divisible by the stride (such as {-(-kernel // stride) * stride}), or "
                           "`upsample` followed by a `conv ... pad=same`")
