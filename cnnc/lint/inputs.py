"""Rules on the declared input: W211."""

from __future__ import annotations

from collections.abc import Iterator

from cnnc import ir
from cnnc.diagnostics import Note, Severity
from cnnc.lint.context import Finding, LintContext, layer_windows
from cnnc.lint.registry import rule
from cnnc.report import LayerReport
from cnnc.shapes import Window, channels_last
from cnnc.source import START


def _first_window(context: LintContext) -> tuple[LayerReport, Window] | None:
    """The first conv or pool and its window along the first spatial dimension."""
    for row in context.report.layers:
        found = layer_windows(row)
        if found:
            return row, found[0]
    return None


def _described(shape: ir.Shape) -> str:
    sizes = "x".join(str(size) for size in shape.spatial)
    if shape.rank == 1:
        return f"a signal of {sizes} position{'s' if shape.spatial[0] != 1 else ''}"
    return f"a {sizes} {'image' if shape.rank == 2 else 'volume'}"


@rule("W211", "channels-first-input", Severity.WARNING)
def channels_first_input(context: LintContext) -> Iterator[Finding]:
    """An input written channels first, as in PyTorch (`input 3x224x224`): to cnnc, a 3x224 image with 224 channels.

    ## What it does
    cnnc reads `input 224x224x3` as spatial sizes, then channels. PyTorch writes the channels first
    (N, C, H, W), and `input 3x224x224` is then a valid spec of another network: a 3x224 image with
    224 channels. This rule reports an input whose first size is small (1 to 4, the channels of
    grey, RGB or RGBA images), whose channels and other sizes are all at least 8, and whose first
    convolution or pool slides a window wider than 1 along that first dimension (for a 1-D signal,
    a window wider than the signal).

    Real networks with a small first size are left alone: a 4x4x512 or 1x1x2048 feature map has
    small sizes everywhere, a sentence of 100 words as a 1x100 image with 300 channels is
    convolved with 1xk windows, a multilayer perceptron has no window at all, and a 1-D signal of
    3 positions convolved with windows of 3 or less may be meant.

    Lint runs on specs without errors only: when the channels-first input leaves a layer with no
    output at all (`input 1x28x28` with a 5x5 conv and a pool), the error (E101) says the same.

    ## Why is this bad?
    The spec checks and trains, but it is not the network meant: every figure is wrong (ResNet's
    first layer, `conv 64 7x7 stride=2 pad=3 bias=false`, has 702,464 parameters on `3x224x224`
    instead of 9,408), and the only hint is a warning about a window larger than its input (W208),
    if any.

    ## Example
    ```cnn
    input 3x32x32
    conv 16 3x3 pad=1
    ```

    ## Use instead
    ```cnn
    input 32x32x3
    conv 16 3x3 pad=1
    ```
    """
    shape = context.network.input
    meant = channels_last(shape) if shape is not None else None
    first = _first_window(context) if meant is not None else None
    if first is None:
        return
    row, window = first
    if row.input.rank != shape.rank or row.input.spatial[0] != shape.spatial[0]:
        return  # the first dimension changed before the first window: the network treats it as a size
    if window.span <= 1 or (shape.rank == 1 and window.span <= shape.spatial[0]):
        return
    kernel = "x".join(str(size) for size in row.node.kernel)
    note = Note(f"`{row.name}` slides its {kernel} window along that first dimension of {shape.spatial[0]}",
                row.span)
    declared = context.network.input_span
    written = f"input {meant}" if declared else f"--input {meant}"  # no `input` line: the command line gave it
    yield Finding(f"the input {shape} is {_described(shape)} with {shape.channels} channels", span=declared or START,
                  help=f"did you mean `{written}`? sizes come first, channels last (PyTorch writes channels first)",
                  notes=(note,))
