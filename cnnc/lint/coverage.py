"""Which input positions a conv or pool never reads: the end cut off by floor rounding, the gaps
left by a stride longer than the window, and which of those a parallel path reads instead."""

from __future__ import annotations


from cnnc import ir
from cnnc.lint.context import LintContext, branches, layer_windows
from cnnc.shapes import Window

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:
    from fractions import Fraction


def lost_at_end(window: Window) -> int:
    """Real input positions after the last window (floor rounding dropped them); dropped padding
    does not count. With the windows at padded offsets 0, s, ..., (out - 1)s, coverage ends at
    (out - 1)s + span, and the real input ends at pad_before + n."""
    covered = (window.output - 1) * window.stride + window.span
    return max(0, window.pad_before + window.size - covered)


def skipped_between(window: Window) -> int:
    """Positions skipped between consecutive windows: the stride minus the window's span."""
    return max(0, window.stride - window.span)


def exact_output(window: Window) -> Fraction:
    """(n - f + 2p)/s + 1 before rounding (fractions imported only for a finding's message)."""
    from fractions import Fraction

    return Fraction(window.padded - window.span, window.stride) + 1


def output_formula(window: Window) -> str:
    """``(224 - 11 + 2*0)/4 + 1 = 54.25``, with the window's numbers."""
    pads = (f"2*{window.pad_before}" if window.pad_before == window.pad_after
            else f"{window.pad_before}+{window.pad_after}")
    value = exact_output(window)
    shown = f"{float(value):.3f}".rstrip("0").rstrip(".")
    return f"({window.size} - {window.span} + {pads})/{window.stride} + 1 = {shown}"


def with_pad(window: Window, pad: int) -> Window:
    return Window(window.size, window.kernel, window.stride, pad, pad, window.dilation, window.ceil_mode)


def with_stride(window: Window, stride: int) -> Window:
    return Window(window.size, window.kernel, stride, window.pad_before, window.pad_after, window.dilation,
                  window.ceil_mode)


SEARCH = 64
"""How many paddings or strides around the current ones the suggestions try."""


def fitting_pad(window: Window) -> int:
    """The smallest symmetric padding, at least the current one, that loses no real input. A
    padding of stride - 1 always fits: what floor rounding drops is then at most padding."""
    start = max(window.pad_before, window.pad_after)
    for pad in range(start, min(start + SEARCH, window.stride)):
        candidate = with_pad(window, pad)
        if candidate.output > 0 and lost_at_end(candidate) == 0:
            return pad
    return max(start, window.stride - 1)


def fitting_stride(window: Window) -> int | None:
    """The stride nearest the current one that loses no real input: at least 2 (stride 1 is no fix
    for a layer meant to downsample), no longer than the window, the longer on a tie."""
    nearby = range(max(2, window.stride - SEARCH), min(window.span, window.stride + SEARCH) + 1)
    candidates = [s for s in nearby if s != window.stride and lost_at_end(with_stride(window, s)) == 0]
    return min(candidates, key=lambda s: (abs(s - window.stride), -s)) if candidates else None


def skips_input(context: LintContext, node: ir.Node, known: dict[str, bool] | None = None) -> bool:
    """Whether some input position of ``node`` is never read on its way through. A residual or
    concat skips input only when every one of its paths does."""
    known = {} if known is None else known
    if node.name not in known:
        paths = branches(node)
        if paths:
            known[node.name] = all(any(skips_input(context, inner, known) for inner in path) for path in paths)
        else:
            found = layer_windows(context.row(node))
            known[node.name] = bool(found) and any(lost_at_end(w) or skipped_between(w) for w in found)
    return known[node.name]


def read_by_a_sibling(context: LintContext) -> frozenset[str]:
    """Layers inside a residual or concat of which another path reads every input position, so the
    block as a whole loses nothing: ResNet's 1x1 stride-2 projection shortcut skips 3 of every 4
    positions, which the body's 3x3 stride-2 convolution reads."""
    shielded: set[str] = set()
    known: dict[str, bool] = {}

    def path_skips(path: tuple[ir.Node, ...]) -> bool:
        return any(skips_input(context, node, known) for node in path)

    def visit(path: tuple[ir.Node, ...], covered: bool) -> None:
        for node in path:
            paths = branches(node)
            skipping = [path_skips(inner) for inner in paths]
            for index, inner in enumerate(paths):
                sibling_reads_all = any(not skips for number, skips in enumerate(skipping) if number != index)
                visit(inner, covered or sibling_reads_all)
            if covered and not paths:
                shielded.add(node.name)

    visit(context.network.layers, False)
    return frozenset(shielded)
