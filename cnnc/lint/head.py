"""Rules on where the features meet the classifier, and on where the parameters are: W207, I301, I303."""

from __future__ import annotations

from math import prod

from cnnc import ir
from cnnc.diagnostics import Severity
from cnnc.lint.context import Finding, LintContext, head, head_receptive_field
from cnnc.lint.registry import rule
from cnnc.render.units import short

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Iterator

SMALL_FIELD = 0.5
"""W207 reports a receptive field below this fraction of the input in some dimension."""


def _dims(values) -> str:
    return "x".join(str(v) for v in values)


@rule("W207", "small-receptive-field", Severity.WARNING)
def small_receptive_field(context: LintContext) -> Iterator[Finding]:
    """Features that reach the first fc or global pool each see less than half of the input.

    ## What it does
    Takes the receptive field of the features entering the first `fc`, `flatten`, `globalavgpool`
    or `globalmaxpool` (the head) and compares it, per dimension, with the network's input. It
    reports a field smaller than half the input. The threshold leaves the classic designs alone:
    VGG-16 reaches its head with 212 of 224, AlexNet with 195 of 227, LeNet-5 with 16 of 32. To
    demand more, set a budget (B404, `--min-receptive-field`). A head with no conv or pool before
    it (a plain multilayer perceptron) is not reported. The global pool of a squeeze-excite (inside
    a `multiply`) is not the head: it gates the features, and the product of a squeeze-excite sees
    the whole input.

    ## Why is this bad?
    A head sees the image only through those features. With small receptive fields a global pool
    averages the statistics of small patches (a bag of local textures) and cannot relate the parts
    of an object, and an fc must learn every spatial relation itself, with a weight per position.
    Usually the network is too shallow, or downsamples too little, for its input size.

    ## Example
    ```cnn
    input 224x224x3
    conv 32 3x3 pad=1
    relu
    conv 64 3x3 pad=1
    relu
    globalavgpool
    fc 10
    ```

    ## Use instead
    ```cnn
    input 224x224x3
    conv 32 7x7 stride=2 pad=3
    relu
    maxpool 3 stride=2 pad=1
    conv 64 3x3 stride=2 pad=1
    relu
    conv 128 3x3 stride=2 pad=1
    relu
    conv 256 3x3 stride=2 pad=1
    relu
    conv 256 3x3 pad=1
    relu
    globalavgpool
    fc 10
    ```
    """
    row = head(context.report)
    if row is None or context.report.input.rank == 0:
        return
    field = head_receptive_field(row)
    wanted = context.report.input.spatial
    if set(field) == {1} or all(f >= SMALL_FIELD * n for f, n in zip(field, wanted)):
        return  # a field of 1: no conv or pool before the head (a plain MLP), nothing to grow
    yield Finding(f"each feature reaching `{row.name}` sees {_dims(field)} of the input's {_dims(wanted)}",
                  row.node, help="the head works on small patches; add downsampling or layers before it "
                                 "(a stride-2 layer doubles what every later layer adds to the field)")


@rule("I301", "dominant-layer", Severity.INFO)
def dominant_layer(context: LintContext) -> Iterator[Finding]:
    """One layer holds more than half of the network's parameters.

    ## What it does
    Compares each layer's parameters with the total. It is reported only when at least two layers
    have parameters.

    ## Why is this bad?
    It is not wrong, but it is where the size is: VGG-16's first fc holds 102.8M of its 138.4M
    parameters because it reads a 7x7x512 volume. Shrinking that one layer (a global average pool
    before it, as in ResNet and GoogLeNet) shrinks the network, and no other change matters much.

    ## Example
    ```cnn
    input 8x8x64
    conv 64 3x3 pad=1
    relu
    fc 256
    relu
    fc 10
    ```

    ## Use instead
    ```cnn
    input 8x8x64
    conv 64 3x3 pad=1
    relu
    conv 64 3x3 pad=1
    relu
    globalavgpool
    fc 256
    relu
    fc 10
    ```
    """
    total = context.report.totals.params
    with_params = [row for row in context.report.layers if row.params]
    if len(with_params) < 2:
        return
    largest = max(with_params, key=lambda row: row.params)
    if 2 * largest.params <= total:
        return
    hint = None
    if isinstance(largest.node, ir.Dense) and prod(largest.input.spatial) > 1:
        pooled = largest.input.channels * largest.node.units + (largest.node.units if largest.node.bias else 0)
        hint = (f"it reads a {largest.input} volume; a `globalavgpool` before it would make it "
                f"{short(pooled)}")
    yield Finding(f"`{largest.name}` holds {short(largest.params)} of the network's {short(total)} parameters "
                  f"({largest.params / total:.0%})", largest.node, help=hint)


@rule("I303", "implicit-flatten", Severity.INFO)
def implicit_flatten(context: LintContext) -> Iterator[Finding]:
    """An fc applied to a spatial volume, which flattens it without saying so.

    ## What it does
    Finds an `fc` whose input still has spatial dimensions larger than 1x1.

    ## Why is this bad?
    The fc silently flattens the volume, with a weight for every position of every channel, and
    the order it flattens in (positions then channels here) must match any weights loaded from
    elsewhere. Writing `flatten` says that is intended; a `globalavgpool` instead averages each
    channel over the positions, with far fewer weights.

    ## Example
    ```cnn
    input 7x7x512
    fc 4096
    ```

    ## Use instead
    ```cnn
    input 7x7x512
    flatten
    fc 4096
    ```
    """
    for row in context.report.layers:
        if isinstance(row.node, ir.Dense) and prod(row.input.spatial) > 1:
            units = row.node.units
            yield Finding(f"`{row.name}` flattens its {row.input} input implicitly ({row.input.size:,} features)",
                          row.node, help=f"write `flatten` before it to say so, or `globalavgpool` to average "
                                         f"over positions ({row.input.channels:,}x{units:,} weights instead of "
                                         f"{row.input.size:,}x{units:,})")
