"""Writing SVG 1.1 by hand: text metrics for a monospace font, escaping, numbers, the document frame.

No browser measures the text here, so widths are estimated from a per-character advance that is at
least that of every font the style names (DejaVu Sans Mono, Menlo and Liberation Mono advance 0.602 em,
Consolas 0.55 em): a text fits its box in any of them, with a little room to spare."""

from __future__ import annotations

import re
import unicodedata

FONT_SIZE = 12  # px
LINE_HEIGHT = 16  # px between baselines; a line's ink (ascent + descent) is about 14 px at 12 px
ASCENT = 12  # px from the top of a line to its baseline
FONT_FAMILY = '"DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace'
ASCII_ADVANCE = 0.625  # em per ASCII character: above 0.602, the widest advance of the fonts named
WIDE_ADVANCE = 1.25  # em: an East Asian wide character, drawn by whatever fallback font has it
OTHER_ADVANCE = 1.0  # em: any other character outside ASCII (a fallback font may be proportional)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def clean(text: str) -> str:
    """Text without the characters XML 1.0 forbids and with whitespace runs as one space."""
    return " ".join(_CONTROL.sub("?", text).split())


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """The widest the text can be drawn, in px, at ``size`` px in the style's fonts."""
    ems = 0.0
    for character in text:
        if character < "\x80":
            ems += ASCII_ADVANCE
        elif unicodedata.combining(character):
            continue
        elif unicodedata.east_asian_width(character) in "WF":
            ems += WIDE_ADVANCE
        else:
            ems += OTHER_ADVANCE
    return ems * size


def shortened(text: str, width: float, size: float = FONT_SIZE) -> str:
    """``text``, cut with ``...`` so that it fits ``width`` px."""
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "...", size) > width:
        text = text[:-1]
    return text + "..."


def wrapped(text: str, width: float, size: float = FONT_SIZE, most: int | None = None) -> list[str]:
    """``text`` on as many lines as it needs to fit ``width`` px (at most ``most``, the last cut with
    ``...``), broken at spaces."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and text_width(candidate, size) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    if most is not None and len(lines) > most:
        lines = lines[:most - 1] + [shortened(" ".join(lines[most - 1:]) + "...", width, size)]
    return [shortened(line, width, size) for line in lines]


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def number(value: float) -> str:
    """A coordinate to 0.1 px, the same text for the same value on every platform."""
    rounded = round(value * 10) / 10
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


_ID_CHARACTER = re.compile(r"[^A-Za-z0-9_.-]")


class Ids:
    """Layer names as valid, unique XML ids: characters outside [A-Za-z0-9_.-] become ``-``, an id
    not starting with a letter or ``_`` gets ``_`` before it, and a repeated id gets ``-2``, ``-3``..."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def make(self, name: str) -> str:
        base = _ID_CHARACTER.sub("-", name) or "_"
        if not (base[0].isalpha() or base[0] == "_"):
            base = "_" + base
        candidate, number_ = base, 1
        while candidate in self.taken:
            number_ += 1
            candidate = f"{base}-{number_}"
        self.taken.add(candidate)
        return candidate


STYLE = f"""
text {{ font-family: {FONT_FAMILY}; font-size: {FONT_SIZE}px; fill: #111827; }}
text.title {{ font-weight: bold; }}
text.size {{ font-size: {FONT_SIZE - 1}px; fill: #374151; }}
.edge {{ fill: none; stroke: #4b5563; stroke-width: 1.2; }}
.projection {{ fill: none; stroke: #9ca3af; stroke-width: 0.8; stroke-dasharray: 3 2; }}
rect.box {{ stroke: #374151; stroke-width: 1; }}
.flagged rect.box {{ stroke: #dc2626; stroke-width: 2.5; }}
.flagged.warning rect.box {{ stroke: #d97706; }}
.flagged polygon.face {{ stroke: #dc2626; stroke-width: 2.5; }}
.totals text {{ fill: #374151; }}
""".strip("\n")

ARROW_MARKER = ('<marker id="cnnc-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="8" markerHeight="8" '
                'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#4b5563"/></marker>')


def document(width: float, height: float, body: list[str], title: str) -> str:
    """The whole SVG file: root element, title, style, the arrowhead, then ``body``."""
    w, h = number(width), number(height)
    head = [  # no XML declaration: UTF-8 is XML's default, and a page can embed the text as it is
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
        f"<title>{escape(title)}</title>",
        f"<defs><style type=\"text/css\"><![CDATA[\n{STYLE}\n]]></style>{ARROW_MARKER}</defs>",
        f'<rect class="background" x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>',
    ]
    return "\n".join(head + body + ["</svg>"]) + "\n"


def text_element(x: float, y: float, text: str, css_class: str | None = None, anchor: str | None = None) -> str:
    """A ``<text>`` with its baseline at ``y``."""
    attributes = f' class="{css_class}"' if css_class else ""
    if anchor:
        attributes += f' text-anchor="{anchor}"'
    return f'<text x="{number(x)}" y="{number(y)}"{attributes}>{escape(text)}</text>'
