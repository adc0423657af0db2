"""Rules on the order of layers along a path: W204, W205, W206, W209, I302."""

from __future__ import annotations


from cnnc import ir
from cnnc.diagnostics import Note, Severity
from cnnc.lint.context import Finding, LintContext, branches, layer_windows, sizes
from cnnc.lint.registry import rule

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Iterator

LINEAR = (ir.BatchNorm, ir.Dropout, ir.Flatten, ir.GlobalAvgPool, ir.LayerScale, ir.DropPath, ir.Upsample,
          ir.PixelShuffle, ir.Slice, ir.Shuffle)
"""Layers that are linear (affine) in their input, so they do not separate two linear layers."""
WEIGHTED = (ir.Conv, ir.Deconv, ir.Dense)
"""Layers with a weight matrix: linear maps of their own."""
PER_CHANNEL_CONSTANT = (ir.Flatten, ir.Upsample, ir.Slice, ir.Shuffle)
"""Layers after which a value constant over a channel stays constant over its channel."""


def _passes_linearity(node: ir.Node) -> bool:
    return isinstance(node, LINEAR) or (isinstance(node, (ir.Pool, ir.AdaptivePool)) and node.mode == "avg")


def _factorized(context: LintContext, first: ir.Node, second: ir.Node) -> bool:
    """Two linear layers that are deliberately one factorized layer: a grouped (depthwise)
    convolution then a 1x1 one (Xception's separable convolution), or a narrow middle that both
    neighbours are wider than (MobileNetV2's linear bottleneck)."""
    if (isinstance(first, ir.Conv) and first.groups > 1 and isinstance(second, ir.Conv)
            and set(second.kernel) == {1}):
        return True
    first_row, second_row = context.row(first), context.row(second)
    middle = first_row.output.channels
    first_width = first_row.input.channels if isinstance(first, (ir.Conv, ir.Deconv)) else first_row.input.size
    return middle < first_width and middle < second_row.output.channels


@rule("W204", "linear-stack", Severity.WARNING)
def linear_stack(context: LintContext) -> Iterator[Finding]:
    """Two linear layers (conv, deconv or fc) with no nonlinearity between them.

    ## What it does
    Follows each path of the network and finds a conv, deconv or fc that comes after another one
    with only linear layers between them (batchnorm, dropout, droppath, layerscale, flatten, average
    pools, upsample, pixelshuffle, slice, shuffle). A residual, concat, add or multiply ends the
    search; the branches of a `multiply` (a product, as in squeeze-excite) start a new one. Not
    reported: a grouped (depthwise) convolution followed by a 1x1 convolution (Xception's separable
    convolution), and a narrow layer between two wider ones (MobileNetV2's linear bottleneck): those
    are deliberate factorizations.

    ## Why is this bad?
    A linear map of a linear map is one linear map: the two layers can represent nothing that
    one layer could not, so the depth adds cost but no expressive power. Usually an activation was
    forgotten.

    ## Example
    ```cnn
    input 32x32x3
    conv 32 3x3 pad=1
    conv 32 3x3 pad=1
    relu
    ```

    ## Use instead
    ```cnn
    input 32x32x3
    conv 32 3x3 pad=1
    relu
    conv 32 3x3 pad=1
    relu
    ```
    """
    found: list[Finding] = []

    def visit(path: tuple[ir.Node, ...], previous: ir.Node | None) -> None:
        for node in path:
            if branches(node):
                # a product of branches is no linear map of its input: a squeeze-excite's 1x1 conv after a
                # conv is the gate, not a second linear layer
                for inner in branches(node):
                    visit(inner, None if isinstance(node, ir.Multiply) else previous)
                previous = None
            elif isinstance(node, WEIGHTED):
                if previous is not None and not _factorized(context, previous, node):
                    found.append(Finding(
                        f"`{node.name}` follows `{previous.name}` with no nonlinearity between them, so the "
                        "two are one linear map", node,
                        help="add an activation such as `relu` between them, or merge them into one layer",
                        notes=(Note(f"`{previous.name}` is here", previous.span),)))
                previous = node
            elif not _passes_linearity(node):
                previous = None

    visit(context.network.layers, None)
    yield from found


def _pairs(context: LintContext, skipping: tuple[type, ...] = ()) -> Iterator[tuple[ir.Node, ir.Node]]:
    """Consecutive layers along every path, looking through the layers of the ``skipping`` types."""
    for path in context.paths():
        kept = [node for node in path if not isinstance(node, skipping)]
        yield from zip(kept, kept[1:])


@rule("W205", "bias-before-batchnorm", Severity.WARNING)
def bias_before_batchnorm(context: LintContext) -> Iterator[Finding]:
    """A conv, deconv or fc with a bias right before batchnorm, which cancels the bias.

    ## What it does
    Finds a conv, deconv or fc with `bias=true` (the default) followed directly by `batchnorm` (a
    `flatten`, `upsample`, `slice` or `shuffle` between them changes nothing: a bias stays constant
    over its channel), and counts the wasted parameters.

    ## Why is this bad?
    Batch normalisation subtracts each channel's mean over the batch, and a bias adds the same
    constant to every value of its channel: the mean absorbs it, so the bias gets no gradient that
    matters and changes no output. Batchnorm's own learned shift (beta) does its job. The
    parameters, their gradients and optimizer state are wasted.

    ## Example
    ```cnn
    input 32x32x3
    conv 64 3x3 pad=1
    batchnorm
    relu
    ```

    ## Use instead
    ```cnn
    input 32x32x3
    conv 64 3x3 pad=1 bias=false
    batchnorm
    relu
    ```
    """
    for before, after in _pairs(context, skipping=PER_CHANNEL_CONSTANT):
        if isinstance(before, WEIGHTED) and before.bias and isinstance(after, ir.BatchNorm):
            count = before.units if isinstance(before, ir.Dense) else before.filters
            yield Finding(f"the {count:,} biases of `{before.name}` are cancelled by `{after.name}`, which "
                          "subtracts each channel's mean", before,
                          help=f"write `bias=false`: batchnorm's learned shift does the bias's job ({count:,} "
                               "parameters saved)",
                          notes=(Note(f"`{after.name}` is here", after.span),))


@rule("W206", "softmax-not-last", Severity.WARNING)
def softmax_not_last(context: LintContext) -> Iterator[Finding]:
    """A softmax anywhere but at the very end of the network.

    ## What it does
    Finds a `softmax` that another layer follows, or one inside a residual or concat.

    ## Why is this bad?
    Softmax turns the final scores into probabilities that sum to 1. In the middle of a network it
    squashes the features of all channels against each other, saturates easily and starves later
    layers of gradient; a layer after the final softmax (a dropout, say) means the output is no
    longer a probability distribution.

    ## Example
    ```cnn
    input 784
    fc 10
    softmax
    dropout 0.5
    ```

    ## Use instead
    ```cnn
    input 784
    dropout 0.5
    fc 10
    softmax
    ```
    """
    top = context.network.layers
    for index, node in enumerate(top):
        if _is_softmax(node) and index < len(top) - 1:
            following = top[index + 1]
            yield Finding(f"`{following.name}` follows `{node.name}`: softmax belongs at the end of the network",
                          node, help="move the softmax to the end, or leave it out and train with a "
                                     "cross-entropy loss on the scores",
                          notes=(Note(f"`{following.name}` is here", following.span),))
        for inner in branches(node):
            for nested in ir.walk(inner):
                if _is_softmax(nested):
                    yield Finding(f"`{nested.name}` is inside `{node.name}`: softmax belongs at the end of the "
                                  "network", nested, help="use an activation such as `relu` here")


def _is_softmax(node: ir.Node) -> bool:
    return isinstance(node, ir.Activation) and node.function == "softmax"


@rule("W209", "softmax-single-channel", Severity.WARNING)
def softmax_single_channel(context: LintContext) -> Iterator[Finding]:
    """A softmax over a single channel, whose output is always 1.

    ## What it does
    Finds a `softmax` whose input has one channel (a flat vector of 1, or a spatial input with one
    channel): softmax runs over the channels, so it normalises each value against itself alone.

    ## Why is this bad?
    exp(x) / exp(x) is 1 whatever x is: the output is a constant, no gradient flows back through
    it, and nothing before it can learn. This is usually a binary classifier written with one
    output unit, which wants a `sigmoid` (the probability of the positive class), or a softmax over
    two units.

    ## Example
    ```cnn
    input 100
    fc 1
    softmax
    ```

    ## Use instead
    ```cnn
    input 100
    fc 1
    sigmoid
    ```
    """
    for node in ir.walk(context.network.layers):
        if _is_softmax(node) and context.row(node).input.channels == 1:
            yield Finding(f"`{node.name}` is a softmax over a single channel: its output is always 1", node,
                          help="use `sigmoid` for one output unit, or give the layer before it two or more "
                               "outputs")


def _merged_maxpool(context: LintContext, first: ir.Node, second: ir.Node) -> tuple[list[int], list[int]] | None:
    """The kernel and stride of the single max pool equal to ``first`` then ``second``, or None when
    they are not exactly one pool (padding, ceil rounding, or gaps between the first's windows)."""
    inner, outer = layer_windows(context.row(first)), layer_windows(context.row(second))
    for window in (*inner, *outer):
        if window.pad_before or window.pad_after or window.ceil_mode:
            return None
    if any(w.kernel < w.stride for w in inner):
        return None
    kernel = [a.kernel + (b.kernel - 1) * a.stride for a, b in zip(inner, outer)]
    stride = [a.stride * b.stride for a, b in zip(inner, outer)]
    return kernel, stride


@rule("I302", "stacked-maxpool", Severity.INFO)
def stacked_maxpool(context: LintContext) -> Iterator[Finding]:
    """Two max pools in a row, which are one larger max pool.

    ## What it does
    Finds a max pool directly after another one and works out the single pool they equal: windows
    of k1 + (k2 - 1)s1 at stride s1 s2. Only reported when the two are exactly that pool (no
    padding, floor rounding, and a first window at least as long as its stride).

    ## Why is this bad?
    The maximum of maxima over overlapping windows is the maximum over their union, so the second
    pool adds a layer, a stored activation and a pass over memory for nothing. Often one of them
    was meant to be something else.

    ## Example
    ```cnn
    input 32x32x16
    maxpool 2
    maxpool 2
    ```

    ## Use instead
    ```cnn
    input 32x32x16
    maxpool 4
    ```
    """
    for first, second in _pairs(context):
        if not all(isinstance(n, ir.Pool) and n.mode == "max" for n in (first, second)):
            continue
        merged = _merged_maxpool(context, first, second)
        if merged is None:
            continue
        kernel, stride = merged
        written = f"maxpool {sizes(kernel)}" + ("" if kernel == stride else f" stride={sizes(stride)}")
        yield Finding(f"`{first.name}` and `{second.name}` in a row are one max pool: `{written}`", second,
                      help=f"replace both with `{written}`: the same output from one layer",
                      notes=(Note(f"`{first.name}` is here", first.span),))
