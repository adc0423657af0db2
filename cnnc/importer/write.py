"""The spec's text: a comment naming the source and its producer, `network`, `input` (channels last),
then the statements, blocks indented by four spaces, `def` blocks first."""

from __future__ import annotations

import re

from cnnc.importer.fold import Call, Definition, Repeat, Text
from cnnc.importer.units import Layer
from cnnc.importer.structure import Block

INDENT = "    "


def network_name(stem: str) -> str:
    """A name the language accepts: letters, digits and `_`, not starting with a digit."""
    name = re.sub(r"\W", "_", stem, flags=re.ASCII).strip("_") or "network"
    return f"net_{name}" if name[0].isdigit() else name


def spec_text(items: list, definitions: list[Definition], name: str, input_shape: tuple[int, ...],
              source: str, producer: str, stopped: str | None = None) -> str:
    channels, *spatial = input_shape
    lines = [f"# Imported by `cnnc import` from {source} (written by {producer}).", f"network {name}",
             f"input {'x'.join(map(str, [*spatial, channels]))}", ""]
    for definition in definitions:
        parameters = ", ".join(definition.parameters)
        lines.append(f"def {definition.name}({parameters}) {{")
        lines.extend(statements(definition.body, 1))
        lines.extend(["}", ""])
    lines.extend(statements(items, 0))
    if stopped:
        lines.append(f"# cnnc import stopped here (--partial): {stopped}")
    return "\n".join(lines) + "\n"


def statements(items: list, depth: int) -> list[str]:
    pad = INDENT * depth
    lines: list[str] = []
    for item in items:
        if isinstance(item, (Layer, Call, Text)):
            lines.append(pad + item.text())
        elif isinstance(item, Repeat):
            body = statements(item.body, 0)
            if len(body) == 1:
                lines.append(f"{pad}repeat {item.count} {{ {body[0]} }}")
            else:
                lines.append(f"{pad}repeat {item.count} {{")
                lines.extend(statements(item.body, depth + 1))
                lines.append(pad + "}")
        else:
            lines.extend(_block(item, depth))
    return lines


def _block(block: Block, depth: int) -> list[str]:
    pad = INDENT * depth
    if block.kind == "residual":
        body, shortcut = block.branches
        lines = [pad + "residual {", *statements(body, depth + 1)]
        if shortcut:
            lines += [pad + "} shortcut {", *statements(shortcut, depth + 1)]
        return lines + [pad + "}"]
    lines = [pad + block.kind + " {"]
    for branch in block.branches:
        inner = statements(branch, 0)
        if not inner:
            lines.append(pad + INDENT + "branch { }")
        elif len(inner) == 1:
            lines.append(f"{pad}{INDENT}branch {{ {inner[0]} }}")
        else:
            lines += [pad + INDENT + "branch {", *statements(branch, depth + 2), pad + INDENT + "}"]
    return lines + [pad + "}"]
