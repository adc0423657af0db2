"""The analysis rules of the normalisations, global and adaptive pools, upsampling layers and
channel views: one ``_analyze_layer`` rule each, as in ``cnnc.analyze``.

A layer that enlarges the spatial sizes divides the jump, which may then be a fraction of an input
pixel (kept exact as a Fraction; a field is reported as its ceiling)."""

from __future__ import annotations

from math import gcd, prod

from cnnc import ir
from cnnc.analyze import (
    _analyze_layer,
    _Analyzer,
    _exact,
    _fail,
    _scaled,
    _State,
    _unchanged,
    _whole_input,
    rank_mismatch,
)
from cnnc.diagnostics import call_site_notes, error
from cnnc.shapes import per_dimension


def _needs_spatial(node: ir.Node, state: _State) -> None:
    if state.shape.rank == 0:
        raise _fail("E103", node, f"`{node.kind}` needs a spatial input, but its input is a flat vector of "
                                  f"{state.shape.channels}", f"move `{node.kind}` before the `fc`/`flatten` that "
                                                             "removes the spatial dimensions")


@_analyze_layer.register(ir.LayerNorm)
def _(node: ir.LayerNorm, state: _State, analyzer: _Analyzer) -> dict:
    return _unchanged(state, params=2 * state.shape.channels if node.affine else 0)


@_analyze_layer.register(ir.GroupNorm)
def _(node: ir.GroupNorm, state: _State, analyzer: _Analyzer) -> dict:
    channels = state.shape.channels
    if channels % node.groups:
        analyzer.diagnostics.append(error(
            "E104", f"groupnorm's {node.groups} groups do not divide the {channels} channels", node.span,
            f"choose a number of groups that divides {channels} (32 is common; 1 normalises every channel "
            f"together, {channels} each channel alone)", call_site_notes(node.origin)))
    return _unchanged(state, params=2 * channels if node.affine else 0)


@_analyze_layer.register(ir.InstanceNorm)
def _(node: ir.InstanceNorm, state: _State, analyzer: _Analyzer) -> dict:
    _needs_spatial(node, state)
    return _unchanged(state, params=2 * state.shape.channels if node.affine else 0)


@_analyze_layer.register(ir.LocalResponseNorm)
def _(node: ir.LocalResponseNorm, state: _State, analyzer: _Analyzer) -> dict:
    _needs_spatial(node, state)
    return _unchanged(state)


@_analyze_layer.register(ir.LayerScale)
def _(node: ir.LayerScale, state: _State, analyzer: _Analyzer) -> dict:
    return _unchanged(state, params=state.shape.channels)


@_analyze_layer.register(ir.GlobalMaxPool)
def _(node: ir.GlobalMaxPool, state: _State, analyzer: _Analyzer) -> dict:
    _needs_spatial(node, state)
    return _unchanged(state, output=ir.Shape((1,) * state.shape.rank, state.shape.channels), **_whole_input(state))


def adaptive_windows(size: int, output: int) -> tuple[int, int]:
    """The largest window of an adaptive pool from ``size`` to ``output`` positions, and the step
    between windows cnnc counts for it: size // output (at least 1), exact when output divides size."""
    whole, rest = divmod(size, output)  # window i is whole + ceil(((i n) mod o + rest) / o) long
    largest = whole if rest == 0 else whole + (2 if rest > gcd(size, output) else 1)
    return largest, max(1, whole)


@_analyze_layer.register(ir.AdaptivePool)
def _(node: ir.AdaptivePool, state: _State, analyzer: _Analyzer) -> dict:
    _needs_spatial(node, state)
    rank = state.shape.rank
    if len(node.size) not in (1, rank):
        raise rank_mismatch(node, state, "size", node.size, analyzer)
    output = node.size * rank if len(node.size) == 1 else node.size
    found = [adaptive_windows(n, o) for n, o in zip(state.shape.spatial, output)]
    reach = tuple((first, first_step * step, last + (window - 1) * last_step, last_step * step)
                  for (first, first_step, last, last_step), (window, step) in zip(state.reach, found))
    return _unchanged(state, output=ir.Shape(tuple(output), state.shape.channels), reach=reach,
                      jump=_scaled(state, (step for _, step in found)))


def _per_dimension(node: ir.Node, state: _State, setting: str, values: ir.Sizes,
                   analyzer: _Analyzer) -> tuple[int, ...]:
    found = per_dimension(values, state.shape.rank)
    if found is None:
        raise rank_mismatch(node, state, setting, values, analyzer)
    return found


def _not_positive(node: ir.Node, state: _State, sizes: tuple[int, ...], arithmetic: list[str], hint: str) -> None:
    failing = [axis for axis, size in enumerate(sizes) if size <= 0]
    if failing:
        where = "" if len(sizes) == 1 else f" in spatial dimension {failing[0] + 1}"
        raise _fail("E101", node, f"`{node.name}` output size is not positive{where}: {arithmetic[failing[0]]}",
                    f"the input here is {state.shape}; {hint}")


@_analyze_layer.register(ir.Upsample)
def _(node: ir.Upsample, state: _State, analyzer: _Analyzer) -> dict:
    from fractions import Fraction

    _needs_spatial(node, state)
    inputs = state.shape.spatial
    if node.factor is not None:
        factors = _per_dimension(node, state, "factor", node.factor, analyzer)
        sizes = tuple(n * f for n, f in zip(inputs, factors))
        arithmetic = [f"{n} * {f} = {n * f}" for n, f in zip(inputs, factors)]
    else:
        sizes = _per_dimension(node, state, "size", node.size, analyzer)
        arithmetic = [f"size {o}" for o in sizes]
    _not_positive(node, state, sizes, arithmetic, "use a factor or size of at least 1")
    # nearest: each output copies one input; linear: it mixes two neighbours unless the size is unchanged
    spans = tuple(2 if node.mode == "linear" and o != n and n > 1 else 1 for n, o in zip(inputs, sizes))
    reach = tuple((first, _exact(Fraction(first_step) * n / o), last + (span - 1) * last_step,
                        _exact(Fraction(last_step) * n / o))
                  for (first, first_step, last, last_step), span, n, o in zip(state.reach, spans, inputs, sizes))
    return _unchanged(state, output=ir.Shape(sizes, state.shape.channels), reach=reach,
                      jump=_scaled(state, (Fraction(n, o) for n, o in zip(inputs, sizes))))


def deconv_growth(kernel: int, stride: int, dilation: int) -> int:
    """How many more input positions (beyond one) reach one output of a transposed convolution: the
    taps that reach an output are those with t*d = r (mod s) for one residue r, every (s/g)-th tap with
    g = gcd(d, s); taps s/g apart read inputs d/g apart."""
    g = gcd(dilation, stride)
    return (kernel - 1) // (stride // g) * (dilation // g)


@_analyze_layer.register(ir.Deconv)
def _(node: ir.Deconv, state: _State, analyzer: _Analyzer) -> dict:
    from fractions import Fraction

    _needs_spatial(node, state)
    settings = {setting: _per_dimension(node, state, setting, getattr(node, setting), analyzer)
                for setting in ("kernel", "stride", "pad", "output_pad", "dilation")}
    kernel, stride, pad, output_pad, dilation = settings.values()
    for axis, (extra, s, d) in enumerate(zip(output_pad, stride, dilation)):
        if extra >= s and extra >= d:
            where = "" if len(output_pad) == 1 else f" in spatial dimension {axis + 1}"
            raise _fail("E003", node, f"output_pad {extra} must be smaller than the stride ({s}) or the "
                                      f"dilation ({d}){where}",
                        "output_pad picks one of the output sizes a stride allows (PyTorch's rule): "
                        f"use output_pad={max(s, d) - 1} or less")
    inputs = state.shape.spatial
    sizes = tuple((n - 1) * s - 2 * p + d * (k - 1) + e + 1
                  for n, s, p, d, k, e in zip(inputs, stride, pad, dilation, kernel, output_pad))
    arithmetic = [f"({n} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {e} + 1 = {o}"
                  for n, s, p, d, k, e, o in zip(inputs, stride, pad, dilation, kernel, output_pad, sizes)]
    _not_positive(node, state, sizes, arithmetic, "use less padding or a larger kernel or stride")
    channels = state.shape.channels
    for what, count in (("input channels", channels), ("filters", node.filters)):
        if count % node.groups:
            analyzer.diagnostics.append(error(
                "E104", f"groups={node.groups} does not divide the {count} {what}", node.span,
                f"choose groups that divide both the {channels} input channels and the {node.filters} filters",
                call_site_notes(node.origin)))
    weights_per_input = (node.filters // node.groups) * prod(kernel)
    reach = tuple((first, _exact(Fraction(first_step) / s), last + deconv_growth(k, s, d) * last_step,
                        _exact(Fraction(last_step) / s))
                  for (first, first_step, last, last_step), k, s, d in zip(state.reach, kernel, stride, dilation))
    return {"output": ir.Shape(sizes, node.filters),
            "params": channels * weights_per_input + (node.filters if node.bias else 0),
            "buffers": 0, "macs": prod(inputs) * channels * weights_per_input,
            "reach": reach, "jump": _scaled(state, (Fraction(1, s) for s in stride))}


@_analyze_layer.register(ir.PixelShuffle)
def _(node: ir.PixelShuffle, state: _State, analyzer: _Analyzer) -> dict:
    from fractions import Fraction

    _needs_spatial(node, state)
    shape, r = state.shape, node.factor
    block = r ** shape.rank
    if shape.channels % block:
        raise _fail("E104", node, f"pixelshuffle {r} needs channels divisible by {r}**{shape.rank} = {block}, "
                                  f"but its input has {shape.channels}",
                    f"give the layer before it a multiple of {block} channels "
                    f"(such as {max(1, shape.channels // block) * block})")
    reach = tuple((first, _exact(Fraction(first_step) / r), last, _exact(Fraction(last_step) / r))
                  for first, first_step, last, last_step in state.reach)
    return _unchanged(state, output=ir.Shape(tuple(n * r for n in shape.spatial), shape.channels // block),
                      reach=reach, jump=_scaled(state, (Fraction(1, r),) * shape.rank))


@_analyze_layer.register(ir.Slice)
def _(node: ir.Slice, state: _State, analyzer: _Analyzer) -> dict:
    channels = state.shape.channels
    if node.stop > channels:
        raise _fail("E003", node, f"slice {node.start} {node.stop} reaches past the {channels} channels of its "
                                  f"input {state.shape}",
                    f"channels are numbered 0 to {channels - 1}: TO is at most {channels}")
    return _unchanged(state, output=ir.Shape(state.shape.spatial, node.stop - node.start), allocates=False)


@_analyze_layer.register(ir.Shuffle)
def _(node: ir.Shuffle, state: _State, analyzer: _Analyzer) -> dict:
    channels = state.shape.channels
    if channels % node.groups:
        raise _fail("E104", node, f"shuffle {node.groups} needs channels divisible by {node.groups}, but its "
                                  f"input has {channels}",
                    "choose a number of groups that divides the channels (ShuffleNet uses the groups of the "
                    "grouped convolution before it)")
    return _unchanged(state, allocates=False)
