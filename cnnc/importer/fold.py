"""Folding repeated stretches as a person would write them: the stretch of top-level statements whose
text, numbers aside, comes back most often (counted in lines saved) becomes a `def` whose parameters
are the numbers that differ between its uses, named for what it holds (``conv_bn_relu``, ``squeeze_excite``);
then runs of identical statements become `repeat`."""

from __future__ import annotations

import re
from dataclasses import dataclass

NUMBER = re.compile(r"(?<![\w.x-])-?\d+(?:\.\d+)?(?:e-?\d+)?(?![\w.x])")
MAX_DEFINITIONS = 8


@dataclass
class Call:
    """A use of a `def`: ``name args``."""

    name: str
    args: tuple

    def text(self) -> str:
        return " ".join([self.name, *map(str, self.args)])


@dataclass
class Repeat:
    count: int
    body: list


@dataclass
class Definition:
    name: str
    parameters: list[str]
    body: list  # statements, rendered as text lines inside the def (one ``Text`` each)


@dataclass
class Text:
    """A statement already written out (a def's body)."""

    line: str

    def text(self) -> str:
        return self.line


def _lines(items: list) -> list[str]:
    from cnnc.importer.write import statements

    return statements(items, 0)


def _template(lines: list[str]) -> tuple[str, list[str]]:
    """The text with each number as ``#``, and the numbers."""
    text = "\n".join(lines)
    return NUMBER.sub("#", text), NUMBER.findall(text)


def _parameter_name(text: str, start: int) -> str:
    """What a number at ``start`` is, from the words before it: `conv #` filters (c), `stride=#` stride."""
    before = text[:start]
    option = re.search(r"(\w+)=$", before)
    if option:
        return option.group(1)
    words = re.findall(r"[\w.()*+-]+", before.splitlines()[-1] if before.splitlines() else "")
    if not words:
        return "n"
    op, position = words[0], len(words)
    return {("conv", 1): "c", ("deconv", 1): "c", ("conv", 2): "k", ("deconv", 2): "k", ("fc", 1): "units",
            ("slice", 1): "start", ("slice", 2): "stop", ("dropout", 1): "p", ("droppath", 1): "p",
            ("upsample", 1): "factor"}.get((op, position), "n")


def fold(items: list, reserved: set[str] = frozenset()) -> tuple[list, list[Definition]]:
    """``items`` with repeated stretches as calls of new definitions, then repeats."""
    definitions: list[Definition] = []
    while len(definitions) < MAX_DEFINITIONS:
        found = _best_stretch(items, units_only=True) or _best_stretch(items)
        if found is None:
            break
        length, starts = found
        definition, calls = _define("block", [items[s:s + length] for s in starts])
        name = _definition_name(_describe(definition.body), {d.name for d in definitions} | set(reserved))
        definition.name = name
        for call in calls:
            call.name = name
        definitions.append(definition)
        for start, call in sorted(zip(starts, calls), key=lambda pair: -pair[0]):
            items = items[:start] + [call] + items[start + length:]
    return _repeats(items), definitions


def _definition_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base2``, ``base3``... when taken."""
    name, index = base, 2
    while name in taken:
        name, index = f"{base}{index}", index + 1
    return name


SHORT = {"batchnorm": "bn", "layernorm": "ln", "groupnorm": "gn", "instancenorm": "in", "layerscale": "scale"}
"""How a trailer is spelled in a def's name: ``conv; batchnorm; relu`` is ``conv_bn_relu``."""


def _describe(body: list[Text]) -> str:
    """A name for a def from its statements: a layer and its trailers (``conv_bn_silu``; ``dwconv_bn_relu``
    for a convolution with as many groups as filters), a squeeze-excite ``multiply`` (``squeeze_excite``), a
    ``residual`` (``residual_block``); else ``block``."""
    statements = [line.text() for line in body if line.text().strip() and not line.text()[0].isspace()
                  and line.text().strip() != "}"]  # a block's inner lines are indented, its brace closes it
    heads = [statement.split(maxsplit=1)[0] for statement in statements]
    text = "\n".join(line.text() for line in body)
    if heads == ["multiply"] and "globalavgpool" in text and "sigmoid" in text:
        return "squeeze_excite"
    if not heads or not all(head in TRAILERS for head in heads[1:]):
        return "block"
    first = heads[0]
    if first == "residual":
        return "_".join(["residual_block", *(SHORT.get(head, head) for head in heads[1:])])
    if first not in ("conv", "deconv", "fc") or len(heads) == 1:  # a layer alone: its op is no def's name
        return "block"
    words = statements[0].split()
    if first == "conv" and len(words) > 1 and f"groups={words[1]}" in words:
        first = "dwconv"
    return "_".join([first, *(SHORT.get(head, head) for head in heads[1:])])


def _best_stretch(items: list, units_only: bool = False) -> tuple[int, list[int]] | None:
    """The (length, starts) of the stretch whose definition saves the most lines, if any saves some;
    between equals, the one that starts with a block or a layer with weights and has the fewest
    parameters (a downsampling block then the blocks after it, rather than a shifted window).
    ``units_only``: only one statement with the norms and activations after it (`conv; batchnorm;
    relu`, a residual block and its relu), which are tried first, as a person names the small parts."""
    texts = [_lines([item]) for item in items]
    keys = [_template(lines)[0] for lines in texts]
    best, best_score = None, None
    for length in range(1, len(items) // 2 + 1):
        seen: dict[tuple, list[int]] = {}
        for start in range(len(items) - length + 1):
            if units_only and not _unit(items, start, length):
                continue
            key = tuple(keys[start:start + length])
            starts = seen.setdefault(key, [])
            if not starts or starts[-1] + length <= start:
                starts.append(start)
        for key, starts in seen.items():
            starts = [s for s in starts if not _trailer(items, s) and not _trailer(items, s + length)]
            if len(starts) < 2:
                continue
            lines = sum(len(texts[i]) for i in range(starts[0], starts[0] + length))
            if lines < 3 and length == 1:
                continue
            saving = len(starts) * lines - (lines + 3 + len(starts))
            if saving <= 0 or best_score is not None and saving < best_score[0]:
                continue
            definition, _ = _define("f", [items[s:s + length] for s in starts])
            if not definition.parameters and all(b - a == length for a, b in zip(starts, starts[1:])):
                continue  # one run of the same statements: a repeat says it without a def
            score = (saving, _weighty(items[starts[0]]), -len(definition.parameters),
                     -sum(line.text().count("*") for line in definition.body))
            if best_score is None or score > best_score:
                best, best_score = (length, starts), score
    return best


TRAILERS = {"batchnorm", "layernorm", "groupnorm", "instancenorm", "lrn", "relu", "sigmoid", "tanh", "leakyrelu",
            "softmax", "relu6", "silu", "hardswish", "hardsigmoid", "mish", "selu", "gelu", "elu", "prelu", "dropout",
            "droppath", "layerscale"}


def _trailer(items: list, index: int) -> bool:
    """Whether ``items[index]`` belongs with the layer before it (a norm, an activation): no def starts there."""
    return index < len(items) and getattr(items[index], "op", None) in TRAILERS


NORMS = {"batchnorm", "layernorm", "groupnorm", "instancenorm", "lrn"}


def _unit(items: list, start: int, length: int) -> bool:
    """One statement and the trailers after it; a norm after a block starts what comes next."""
    if _trailer(items, start):
        return False
    block = not hasattr(items[start], "op")
    return all(_trailer(items, i) and not (block and items[i].op in NORMS) for i in range(start + 1, start + length))


def _weighty(item) -> bool:
    """A block, a call, or a layer with weights: where a person starts a def."""
    return not hasattr(item, "weights") or bool(item.weights)


def _define(name: str, stretches: list[list]) -> tuple[Definition, list[Call]]:
    """A definition of the stretches' common text, each number that differs between them a parameter
    (one per distinct series of values; a whole multiple of another's written as its product)."""
    templates = [_template(_lines(stretch)) for stretch in stretches]
    text = "\n".join(_lines(stretches[0]))
    positions = list(NUMBER.finditer(text))
    columns = list(zip(*(numbers for _, numbers in templates)))
    parameters: list[str] = []
    series: list[tuple] = []
    replacement: list[str | None] = []
    for match, column in zip(positions, columns):
        if len(set(column)) == 1:
            replacement.append(None)
            continue
        if column in series:
            replacement.append(parameters[series.index(column)])
            continue
        multiple = _multiple(column, series, parameters)
        if multiple:
            replacement.append(multiple)
            continue
        base = _parameter_name(text, match.start())
        chosen, index = base, 2
        while chosen in parameters:
            chosen, index = f"{base}{index}", index + 1
        parameters.append(chosen)
        series.append(column)
        replacement.append(chosen)
    body = list(text)
    for match, new in sorted(zip(positions, replacement), key=lambda pair: -pair[0].start()):
        if new is not None:
            body[match.start():match.end()] = new
    lines = "".join(body).split("\n")
    calls = [Call(name, tuple(values[i] for values in series)) for i in range(len(stretches))]
    return Definition(name, parameters, [Text(line) for line in lines]), calls


def _multiple(column: tuple, series: list[tuple], parameters: list[str]) -> str | None:
    for values, parameter in zip(series, parameters):
        if all(_whole(v) and _whole(b) and int(b) != 0 for v, b in zip(column, values)):
            ratios = {int(v) / int(b) for v, b in zip(column, values)}
            if len(ratios) == 1:
                ratio = ratios.pop()
                if ratio == int(ratio) and ratio > 1:
                    return f"({parameter} * {int(ratio)})"
    return None


def _whole(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _repeats(items: list) -> list:
    """Runs of identical statements (or stretches of them) as `repeat N { ... }`."""
    texts = ["\n".join(_lines([item])) for item in items]
    result: list = []
    index = 0
    while index < len(items):
        best_length, best_count = 1, 1
        for length in range(1, 4):
            count = 1
            while texts[index + count * length:index + (count + 1) * length] == texts[index:index + length] \
                    and index + (count + 1) * length <= len(items):
                count += 1
            if count > 1 and count * length > best_count * best_length:
                best_length, best_count = length, count
        if best_count > 1:
            result.append(Repeat(best_count, items[index:index + best_length]))
            index += best_count * best_length
        else:
            result.append(items[index])
            index += 1
    return result
