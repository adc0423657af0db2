"""The options of a windowed layer (`pad=`, `round=`) that give the padding and output size an ONNX
node has: symmetric pads, `pad=same`'s odd pixel after, or `round=ceil`'s last window past the end."""

from __future__ import annotations

from math import ceil

from cnnc.shapes import Window


def sizes(values) -> str:
    """``3`` when every dimension is 3, else ``1x7``."""
    values = [int(v) for v in values]
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def _floor_output(n: int, before: int, after: int, span: int, stride: int) -> int:
    return (n + before + after - span) // stride + 1


def _ceil_output(n: int, pad: int, span: int, stride: int) -> int:
    """The output size of `pad=` and `round=ceil` as the analysis computes it (``cnnc.shapes.Window``)."""
    return Window(n, span, stride, pad, pad, 1, True).output


def _same(n: int, span: int, stride: int) -> tuple[int, int]:
    out = ceil(n / stride)
    total = max((out - 1) * stride + span - n, 0)
    return total // 2, total - total // 2


def padding_options(inputs, outputs, kernel, stride, dilation, begins, ends, ceil_mode: bool = False,
                    prefer_ceil: bool = False) -> dict | None:
    """``{"pad": ..., "round": "ceil"}`` (defaults left out) reproducing an ONNX window of these pads
    and output sizes, or None when no option of the language does (an asymmetric pad, say). Where both
    say it, `pad=same` comes first for convolutions, `round=ceil` (``prefer_ceil``) for pools."""
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    dims = list(zip(inputs, outputs, spans, stride, begins, ends))
    if not ceil_mode and all(b == e for _, _, _, _, b, e in dims):
        return {"pad": sizes(begins)} if any(begins) else {}
    if ceil_mode and all(b == e for _, _, _, _, b, e in dims):
        if all(_ceil_output(n, b, span, s) == o for n, o, span, s, b, _ in dims):
            return {**({"pad": sizes(begins)} if any(begins) else {}), "round": "ceil"}
        return None
    padded = {"pad": sizes(begins)} if any(begins) else {}
    ceil_form = all(e >= b for *_, b, e in dims) and all(
        _ceil_output(n, b, span, s) == _floor_output(n, b, e, span, s) == o for n, o, span, s, b, e in dims)
    same_form = all(_same(n, span, s) == (b, e) and o == ceil(n / s) for n, o, span, s, b, e in dims)
    if ceil_form and (prefer_ceil or not same_form):
        return {**padded, "round": "ceil"}
    return {"pad": "same"} if same_form else None
