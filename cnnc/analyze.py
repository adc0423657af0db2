"""IR to Report: shapes, parameters, multiply-accumulates and receptive fields, layer by layer."""

from __future__ import annotations

from math import prod

from cnnc import ir
from cnnc.diagnostics import Diagnostic, Note, call_site_notes, error
from cnnc.frozen import frozen
from cnnc.memory import totals
from cnnc.report import Assumptions, LayerReport, Report
from cnnc.shapes import Window, channels_last, windows
from cnnc.source import START
from cnnc.values import MAX_MAGNITUDE


class _ShapeError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic


Reach = tuple
"""One dimension's window, (first, first_step, last, last_step): output position ``p`` sees the input
positions from ``first + p * first_step`` to ``last + p * last_step`` (both included; ``first`` is negative
where padding comes first). An ordinary path has both steps equal to its jump; a window fixed to the
whole input has both 0; merging paths of different jumps can make them differ. Values may be Fractions
after an upsampling layer."""


@frozen
class _State:
    """What flows from layer to layer: the shape, one Reach per spatial dimension, and the jump the
    layer reported (which a layer that sees its whole input multiplies by the size)."""

    shape: ir.Shape
    reach: tuple[Reach, ...]
    jump: tuple


def _exact(value):
    """An int for a whole Fraction; ints and other Fractions unchanged. (fractions is imported where a
    value is not an int: most networks never need it, and it costs a start ~1.5 ms.)"""
    if type(value) is int:
        return value
    from fractions import Fraction

    return int(value) if type(value) is Fraction and value.denominator == 1 else value


def _quotient(numerator, denominator: int):
    """``numerator / denominator`` exactly: an int when it divides (the usual case), else a Fraction."""
    if type(numerator) is int and numerator % denominator == 0:
        return numerator // denominator
    from fractions import Fraction

    return _exact(Fraction(numerator) / denominator)


def _figures(reach: tuple[Reach, ...], shape: ir.Shape, fixed: tuple) -> tuple[tuple, tuple]:
    """The reported receptive field and jump: the widest window over the valid output positions (the
    first or the last, both ends being affine), and the larger of the two steps. A window fixed to the
    whole input (both steps 0) reports the jump ``fixed`` gives for it (the one before, or for a layer
    that sees its whole input, that times the size), so that the report's jump stays positive."""
    fields, jumps = [], []
    spatial = shape.spatial
    for axis, (first, first_step, last, last_step) in enumerate(reach):
        width = last - first
        if first_step != last_step and axis < len(spatial):
            width = max(width, width + (spatial[axis] - 1) * (last_step - first_step))
        step = max(first_step, last_step)
        fields.append(width + 1 if type(width) is int else _exact(width + 1))
        jumps.append((step if type(step) is int else _exact(step)) or fixed[axis])
    return tuple(fields), tuple(jumps)


def _fail(code: str, node: ir.Node, message: str, help: str | None = None,
          notes: tuple[Note, ...] = ()) -> _ShapeError:
    return _ShapeError(error(code, message, node.span, help, notes + call_site_notes(node.origin)))


class _Analyzer:
    def __init__(self, network: ir.Network) -> None:
        self.layers: list[LayerReport] = []
        self.diagnostics: list[Diagnostic] = []
        self.input = network.input
        self.input_span = network.input_span

    def run(self, nodes: tuple[ir.Node, ...], state: _State, depth: int = 0) -> _State:
        for node in nodes:
            state = self.node(node, state, depth)
        return state

    def node(self, node: ir.Node, state: _State, depth: int) -> _State:
        if isinstance(node, ir.Residual):
            return self.residual(node, state, depth)
        if isinstance(node, ir.Concat):
            return self.concat(node, state, depth)
        if isinstance(node, (ir.Add, ir.Multiply)):
            return self.elementwise(node, state, depth)
        result = _analyze_layer(node, state, self)
        reach = result.pop("reach", state.reach)
        receptive_field, jump = _figures(reach, result["output"], result.pop("jump", state.jump))
        layer = LayerReport(node=node, depth=depth, input=state.shape, receptive_field=receptive_field, jump=jump,
                            **result)
        too_large = _too_large(layer)
        if too_large:
            raise _fail("E006", node, f"`{node.name}` is too large to analyze: its {too_large} exceeds 10**100",
                        "check the sizes and strides")
        self.layers.append(layer)
        return _State(layer.output, reach, layer.jump)

    def residual(self, node: ir.Residual, state: _State, depth: int) -> _State:
        body = self.run(node.body, state, depth + 1)
        shortcut = self.run(node.shortcut, state, depth + 1)
        if body.shape != shortcut.shape:
            notes = []
            if node.body:
                notes.append(Note(f"the body ends here with {body.shape}", node.body[-1].span))
            if node.shortcut:
                notes.append(Note(f"the shortcut ends here with {shortcut.shape}", node.shortcut[-1].span))
            hint = ("give the shortcut a projection, such as `shortcut { conv "
                    f"{body.shape.channels} 1x1 stride=... }}`, so both paths end in the same shape")
            raise _fail("E102", node,
                        f"residual shapes do not match: the body gives {body.shape}, "
                        f"the shortcut {'gives' if node.shortcut else 'passes the input'} {shortcut.shape}",
                        hint, tuple(notes))
        return self.merged(node, state, body.shape, [body, shortcut], depth)

    def concat(self, node: ir.Concat, state: _State, depth: int) -> _State:
        outputs = [self.run(branch, state, depth + 1) for branch in node.branches]
        first = outputs[0].shape
        for index, branch in enumerate(outputs[1:], start=2):
            if branch.shape.spatial != first.spatial:
                notes = tuple(Note(f"branch {i} ends here with {out.shape}", b[-1].span)
                              for i, (b, out) in enumerate(zip(node.branches, outputs), start=1) if b)
                raise _fail("E102", node,
                            f"concat branches differ in spatial size: branch 1 gives {first}, "
                            f"branch {index} gives {branch.shape}",
                            "branches join along channels, so every other size must match: "
                            "adjust the strides or padding (`pad=same` keeps the size at stride 1)", notes)
        shape = ir.Shape(first.spatial, sum(out.shape.channels for out in outputs))
        return self.merged(node, state, shape, outputs, depth)

    def elementwise(self, node: ir.Add | ir.Multiply, state: _State, depth: int) -> _State:
        """``add``: every branch gives the same shape. ``multiply``: per dimension (the spatial sizes
        and the channels) the sizes are equal or 1, and the output has the larger; a flat vector of C
        values stands for 1x..x1xC."""
        outputs = [self.run(branch, state, depth + 1) for branch in node.branches]
        shapes = [out.shape for out in outputs]
        shape = _broadcast(shapes) if isinstance(node, ir.Multiply) else (
            shapes[0] if all(s == shapes[0] for s in shapes) else None)
        if shape is None:
            notes = tuple(Note(f"branch {i} ends here with {out.shape}", b[-1].span)
                          for i, (b, out) in enumerate(zip(node.branches, outputs), start=1) if b)
            listed = ", ".join(f"branch {i} gives {s}" for i, s in enumerate(shapes, start=1))
            if isinstance(node, ir.Multiply):
                raise _fail("E102", node, f"multiply branch shapes do not broadcast: {listed}",
                            "per dimension the sizes must be equal or 1 (squeeze-excite: a 1x1xC branch "
                            "scales an HxWxC one)", notes)
            raise _fail("E102", node, f"add branch shapes differ: {listed}",
                        "every branch must end in the same shape: adjust the strides, padding or filters",
                        notes)
        return self.merged(node, state, shape, outputs, depth)

    def merged(self, node: ir.Node, state: _State, shape: ir.Shape, paths: list[_State], depth: int) -> _State:
        """The report row of a residual, concat, add or multiply; its field is the union of its paths'."""
        reach = _union(shape, paths)
        fixed = tuple(max([p.jump[axis] for p in paths if axis < p.shape.rank and p.shape.spatial[axis] == n]
                          or [p.jump[axis] for p in paths]) for axis, n in enumerate(shape.spatial))
        fixed = fixed or tuple(max(values) for values in zip(*(p.jump for p in paths)))
        receptive_field, jump = _figures(reach, shape, fixed)
        merged = LayerReport(node=node, depth=depth, input=state.shape, output=shape, params=0, buffers=0, macs=0,
                             receptive_field=receptive_field, jump=jump)
        self.layers.append(merged)
        return _State(shape, reach, jump)


def _too_large(layer: LayerReport) -> str | None:
    """The first figure of a layer beyond what cnnc reports (10**100), if any: every later figure is
    a sum, a maximum or a product of two capped ones, so none can outgrow what Python prints."""
    if max(layer.output.size, layer.params, 2 * layer.macs, *layer.receptive_field, *layer.jump) <= MAX_MAGNITUDE:
        return None
    figures = (("output size", layer.activations), ("parameter count", layer.params),
               ("multiply-accumulate count", layer.macs), ("FLOP count", layer.flops),
               ("receptive field", max(layer.receptive_field, default=0)),
               ("jump (the input step between adjacent outputs)", max(layer.jump, default=0)))
    return next((what for what, value in figures if value > MAX_MAGNITUDE), None)


def _broadcast(shapes: list[ir.Shape]) -> ir.Shape | None:
    """The shape of an elementwise product of ``shapes`` (a flat vector as 1x..x1xC), or None when some
    dimension has two sizes other than 1."""
    rank = max(shape.rank for shape in shapes)
    dims = []
    for shape in shapes:
        if shape.rank not in (0, rank):
            return None
        dims.append(shape.dims if shape.rank else (1,) * rank + (shape.channels,))
    output = []
    for sizes in zip(*dims):
        larger = set(sizes) - {1}
        if len(larger) > 1:
            return None
        output.append(larger.pop() if larger else 1)
    return ir.Shape(tuple(output[:-1]), output[-1])


def _union(shape: ir.Shape, paths: list[_State]) -> tuple[Reach, ...]:
    """The window of a merge: per dimension, the union of the windows its paths see. A path whose size
    is 1 where the output's is larger (broadcast by `multiply`), or a flat vector, gives every output
    position the same window (steps 0). The union's first position is the lowest of the paths' (concave
    in p) and its last the highest (convex): both are taken exactly at the first and the last output
    position and joined by a line, which contains the union everywhere between."""
    reach = []
    for axis in range(len(paths[0].reach)):
        size = shape.spatial[axis] if axis < shape.rank else 1
        ends = []
        for path in paths:
            first, first_step, last, last_step = path.reach[axis]
            if axis >= path.shape.rank or path.shape.spatial[axis] == 1 < size:
                first_step = last_step = 0
            ends.append((first, first_step, last, last_step))
        if size == 1:
            reach.append((min(e[0] for e in ends), max(e[1] for e in ends),
                               max(e[2] for e in ends), max(e[3] for e in ends)))
            continue
        q = size - 1
        first0, firstq = min(e[0] for e in ends), min(e[0] + q * e[1] for e in ends)
        last0, lastq = max(e[2] for e in ends), max(e[2] + q * e[3] for e in ends)
        reach.append((first0, _quotient(firstq - first0, q), last0, _quotient(lastq - last0, q)))
    return tuple(reach)


def _unchanged(state: _State, **figures) -> dict:
    result = {"output": state.shape, "params": 0, "buffers": 0, "macs": 0}
    result.update(figures)
    return result


def _whole_input(state: _State) -> dict:
    """The window of a layer that sees every position of its input at once: fixed (steps 0). Its jump
    is reported as the input's times its size, the step a next window of the same kind would take."""
    if state.shape.rank == 0:
        return {"jump": state.jump, "input_field": _figures(state.reach, state.shape, state.jump)[0]}
    reach = tuple((first, 0, last + (n - 1) * last_step, 0)
                  for (first, _, last, last_step), n in zip(state.reach, state.shape.spatial))
    return {"reach": reach, "jump": tuple(_exact(j * n) for j, n in zip(state.jump, state.shape.spatial)),
            "input_field": _figures(state.reach, state.shape, state.jump)[0]}


class _ByType:
    """``functools.singledispatch`` on the first argument's class (the rule registered for it, else for its
    nearest base), without typing: Python 3.11's ``register`` imports typing to look for a union type, some
    3 ms of every `cnnc check`."""

    def __init__(self, default) -> None:
        self.registry = {object: default}
        self._found: dict[type, object] = {}
        self.__doc__ = default.__doc__

    def register(self, cls: type):
        def add(rule):
            self.registry[cls] = rule
            self._found.clear()
            return rule
        return add

    def dispatch(self, cls: type):
        rule = self._found.get(cls)
        if rule is None:
            rule = self._found[cls] = next(self.registry[base] for base in cls.__mro__ if base in self.registry)
        return rule

    def __call__(self, node, *args):
        return self.dispatch(node.__class__)(node, *args)


@_ByType
def _analyze_layer(node: ir.Node, state: _State, analyzer: _Analyzer) -> dict:
    """The figures of one layer (everything in LayerReport but the node, depth and input)."""
    return _unchanged(state)  # activations and dropout keep the shape


def rank_mismatch(node: ir.Node, state: _State, setting: str, values: tuple[int, ...],
                  analyzer: _Analyzer) -> _ShapeError:
    """E103 for a setting with neither one value nor one per spatial dimension. One more than the
    input has usually means the input lacks its channels (`input 224x224` for a 224x224 image)."""
    rank = state.shape.rank
    written = "x".join(map(str, values))
    message = (f"{setting} {written} has {len(values)} dimensions, but the input {state.shape} has {rank} spatial "
               f"dimension{'s' if rank != 1 else ''}")
    hint = f"give one {setting} per spatial dimension, or a single number for all of them"
    declared, notes = analyzer.input, ()
    if declared is not None and len(values) == rank + 1 == declared.rank + 1:
        if declared.channels > 4:  # the last size looks like a size, not like channels
            hint = (f"`input {declared}` is {rank} spatial dimension{'s' if rank != 1 else ''} "
                    f"({'x'.join(map(str, declared.spatial))}) of {declared.channels} channels: did you mean "
                    f"`input {declared}x1` (or x3 for colour)? sizes come first, channels last")
            if analyzer.input_span is not None:
                notes = (Note("the input is declared here", analyzer.input_span),)
        elif setting == "kernel":
            hint = (f"a kernel covers every input channel: give its size in the {rank} spatial "
                    f"dimension{'s' if rank != 1 else ''} only, such as `{'x'.join(map(str, values[:rank]))}`")
    return _fail("E103", node, message, hint, notes)


def _spatial_windows(node: ir.Conv | ir.Pool, state: _State, stride, dilation,
                     analyzer: _Analyzer) -> tuple[Window, ...]:
    shape = state.shape
    if shape.rank == 0:
        raise _fail("E103", node, f"`{node.kind}` needs a spatial input, but its input is a flat vector of "
                                  f"{shape.channels}",
                    f"move `{node.kind}` before the `fc`/`flatten` that removes the spatial dimensions")
    result = windows(shape.spatial, node.kernel, stride, node.pad, dilation, node.ceil_mode)
    if result is None:
        for setting, values in (("kernel", node.kernel), ("stride", stride), ("pad", node.pad),
                                ("dilation", dilation)):
            if isinstance(values, tuple) and len(values) not in (1, shape.rank):
                raise rank_mismatch(node, state, setting, values, analyzer)
        raise AssertionError("windows() found no mismatching setting")  # pragma: no cover
    failing = [axis for axis, window in enumerate(result, start=1) if window.output <= 0]
    if failing:
        window = result[failing[0] - 1]
        same_everywhere = len(failing) == len(result) and len(set(result)) == 1
        where = "" if len(result) == 1 or same_everywhere else f" in spatial dimension {failing[0]}"
        hint = (f"the input here is {shape}; use a smaller kernel or stride, add padding (`pad=same` keeps the "
                f"size), or remove a downsampling layer before it")
        meant = channels_last(analyzer.input) if analyzer.input is not None and failing[0] == 1 else None
        notes: tuple[Note, ...] = ()
        if meant is not None:  # `input 1x28x28` from PyTorch: the 1 is the channels, not a size
            hint = (f"`input {analyzer.input}` is read as sizes {'x'.join(map(str, analyzer.input.spatial))} and "
                    f"{analyzer.input.channels} channels: did you mean `input {meant}`? sizes come first, channels "
                    "last")
            notes = (Note("the input is declared here", analyzer.input_span),) if analyzer.input_span else ()
        raise _fail("E101", node, f"`{node.name}` output size is not positive{where}: {window.arithmetic()}", hint,
                    notes)
    return result


def _every_window_reads_input(node: ir.Pool, found: tuple[Window, ...]) -> None:
    """E106 for a max pool whose first or last window, along some dimension, reads only padding."""
    for axis, window in enumerate(found, start=1):
        side = window.padding_only
        if side is not None:
            pad = window.pad_before if side == "first" else window.pad_after
            where = "" if len(set(found)) == 1 else f" in spatial dimension {axis}"
            raise _fail("E106", node, f"`{node.name}`'s {side} window{where} reads only padding (a window of "
                                      f"{window.span} in a padding of {pad}): it has no value to take the "
                                      "maximum of",
                        f"pad by less than the window's span ({window.span}): `pad={(window.span - 1) // 2}` "
                        f"keeps the windows centred, or take a larger kernel")


def _scaled(state: _State, factors) -> tuple:
    """The state's jump times a factor per dimension: what a layer reports for a fixed window."""
    return tuple(_exact(j * f) for j, f in zip(state.jump, factors))


def _window_reach(state: _State, found: tuple[Window, ...]) -> tuple[Reach, ...]:
    """Output q of a window reads the inputs q*stride - pad_before .. q*stride - pad_before + span - 1."""
    return tuple((first - w.pad_before * first_step, first_step * w.stride,
                       last + (w.span - 1 - w.pad_before) * last_step, last_step * w.stride)
                 for (first, first_step, last, last_step), w in zip(state.reach, found))


@_analyze_layer.register(ir.Conv)
def _(node: ir.Conv, state: _State, analyzer: _Analyzer) -> dict:
    found = _spatial_windows(node, state, node.stride, node.dilation, analyzer)
    channels = state.shape.channels
    for what, count in (("input channels", channels), ("filters", node.filters)):
        if count % node.groups:
            analyzer.diagnostics.append(error(
                "E104", f"groups={node.groups} does not divide the {count} {what}", node.span,
                f"choose groups that divide both the {channels} input channels and the {node.filters} filters "
                f"(depthwise: groups={channels} with a multiple of {channels} filters)", call_site_notes(node.origin)))
    output = ir.Shape(tuple(w.output for w in found), node.filters)
    weights_per_filter = (channels // node.groups) * prod(w.kernel for w in found)
    return {"output": output, "params": node.filters * weights_per_filter + (node.filters if node.bias else 0),
            "buffers": 0, "macs": prod(output.spatial) * node.filters * weights_per_filter,
            "reach": _window_reach(state, found), "jump": _scaled(state, (w.stride for w in found)),
            "padding": tuple((w.pad_before, w.pad_after) for w in found)}


@_analyze_layer.register(ir.Pool)
def _(node: ir.Pool, state: _State, analyzer: _Analyzer) -> dict:
    found = _spatial_windows(node, state, node.strides, (1,), analyzer)
    if node.mode == "max":
        _every_window_reads_input(node, found)
    output = ir.Shape(tuple(w.output for w in found), state.shape.channels)
    return _unchanged(state, output=output, reach=_window_reach(state, found),
                      jump=_scaled(state, (w.stride for w in found)),
                      padding=tuple((w.pad_before, w.pad_after) for w in found))


@_analyze_layer.register(ir.GlobalAvgPool)
def _(node: ir.GlobalAvgPool, state: _State, analyzer: _Analyzer) -> dict:
    if state.shape.rank == 0:
        raise _fail("E103", node, f"`globalavgpool` needs a spatial input, but its input is a flat vector of "
                                  f"{state.shape.channels}", "remove it, or move it before the `fc`/`flatten`")
    return _unchanged(state, output=ir.Shape((1,) * state.shape.rank, state.shape.channels), **_whole_input(state))


@_analyze_layer.register(ir.Dense)
def _(node: ir.Dense, state: _State, analyzer: _Analyzer) -> dict:
    features = state.shape.size
    return {"output": ir.Shape((), node.units), "params": features * node.units + (node.units if node.bias else 0),
            "buffers": 0, "macs": features * node.units, **_whole_input(state)}


@_analyze_layer.register(ir.Flatten)
def _(node: ir.Flatten, state: _State, analyzer: _Analyzer) -> dict:
    # The vector stands for the whole volume: `flatten; fc` and `fc` must report the same field.
    return _unchanged(state, output=ir.Shape((), state.shape.size), allocates=False, **_whole_input(state))


@_analyze_layer.register(ir.BatchNorm)
def _(node: ir.BatchNorm, state: _State, analyzer: _Analyzer) -> dict:
    channels = state.shape.channels
    return _unchanged(state, params=2 * channels, buffers=2 * channels)


@_analyze_layer.register(ir.PReLU)
def _(node: ir.PReLU, state: _State, analyzer: _Analyzer) -> dict:
    return _unchanged(state, params=1 if node.shared else state.shape.channels)


def analyze(network: ir.Network, assumptions: Assumptions = Assumptions()) -> Report:
    """Analyze a network whose input is known. Shape errors end the walk at the failing layer; the
    layers before it are still reported."""
    assert network.input is not None
    rank = network.input.rank
    start = _State(network.input, ((0, 1, 0, 1),) * rank, (1,) * rank)
    analyzer = _Analyzer(network)
    if network.input.size > MAX_MAGNITUDE:
        analyzer.diagnostics.append(error("E006", "the input is too large to analyze: it has more than "
                                          "10**100 elements", network.input_span or START, "check the sizes"))
        return Report(network.name, network.input, None, (), None, assumptions, tuple(analyzer.diagnostics))
    output: ir.Shape | None
    try:
        output = analyzer.run(network.layers, start).shape
    except _ShapeError as failure:
        analyzer.diagnostics.append(failure.diagnostic)
        output = None
    layers = tuple(analyzer.layers)
    summary = totals(network, layers, assumptions) if output is not None else None
    if summary is not None:
        figures = {**vars(summary), "flops": summary.flops}
        too_large = [name for name, value in figures.items() if value > MAX_MAGNITUDE]
        if too_large:
            analyzer.diagnostics.append(error(
                "E006", f"the network is too large to report: its {too_large[0].replace('_', ' ')} exceed 10**100",
                network.input_span or START, "check the input size and the batch"))
            summary = None
    return Report(network.name, network.input, output, layers, summary, assumptions,
                  tuple(analyzer.diagnostics))


from cnnc import analyze_layers  # noqa: E402,F401 - registers the rules of the newer layers (it imports this module)
