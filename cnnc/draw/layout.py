"""The exact layout of a series-parallel graph: sequences stacked top to bottom, branch groups side by
side and rejoined at a join box, and the arrows between them.

Every item sits centred in the column its parent gives it. An arrow leaves the bottom middle of a box and
enters the top middle of the next; it crosses only the empty band between two rows of its own column, and an
empty branch (an identity shortcut) is an empty column of its own that the arrow runs down. So no arrow
crosses a box, and no two boxes overlap, by construction (the tests check both on the numbers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

ROW_GAP = 28  # px between two rows of a sequence
COLUMN_GAP = 18  # px between two branches
EMPTY_WIDTH = 24  # px: the column of an empty branch

Point = tuple[float, float]


@dataclass
class Box:
    """A box of a given size; ``x`` and ``y`` (its top left corner) are set by ``place``."""

    id: str
    width: float
    height: float
    x: float = 0.0
    y: float = 0.0

    @property
    def center_x(self) -> float:
        return self.x + self.width / 2

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass
class Sequence:
    """Items one below the other, each feeding the next."""

    items: list[Item]
    width: float = 0.0
    height: float = 0.0
    x: float = 0.0
    y: float = 0.0


@dataclass
class Branches:
    """Sequences side by side on one input, rejoined at ``join`` below them."""

    branches: list[Sequence]
    join: Box
    width: float = 0.0
    height: float = 0.0
    branches_height: float = 0.0
    x: float = 0.0
    y: float = 0.0


Item = Union[Box, Sequence, Branches]


@dataclass
class Edge:
    source: Box
    target: Box
    points: list[Point] = field(default_factory=list)


def measure(item: Item) -> None:
    """Set the width and height of ``item`` and everything in it."""
    if isinstance(item, Box):
        return
    if isinstance(item, Sequence):
        for child in item.items:
            measure(child)
        if not item.items:
            item.width, item.height = EMPTY_WIDTH, 0.0
            return
        item.width = max(child.width for child in item.items)
        item.height = sum(child.height for child in item.items) + ROW_GAP * (len(item.items) - 1)
        return
    for branch in item.branches:
        measure(branch)
    side_by_side = sum(branch.width for branch in item.branches) + COLUMN_GAP * (len(item.branches) - 1)
    item.width = max(side_by_side, item.join.width)
    item.branches_height = max(branch.height for branch in item.branches)
    item.height = item.branches_height + ROW_GAP + item.join.height


def place(item: Item, x: float, y: float, width: float) -> None:
    """Put ``item`` (measured) with its top at ``y``, centred in the column from ``x`` of ``width``."""
    left = x + (width - item.width) / 2
    if isinstance(item, Box):
        item.x, item.y = left, y
        return
    item.x, item.y = left, y
    if isinstance(item, Sequence):
        for child in item.items:
            place(child, left, y, item.width)
            y += child.height + ROW_GAP
        return
    side_by_side = sum(branch.width for branch in item.branches) + COLUMN_GAP * (len(item.branches) - 1)
    column = x + (width - side_by_side) / 2
    for branch in item.branches:
        place(branch, column, y, branch.width)
        column += branch.width + COLUMN_GAP
    place(item.join, x, y + item.branches_height + ROW_GAP, width)


def exit_box(item: Item) -> Box:
    """The box whose output leaves ``item`` (a non-empty one)."""
    while not isinstance(item, Box):
        item = item.join if isinstance(item, Branches) else item.items[-1]
    return item


def entries(item: Item) -> list[tuple[Box, list[Point]]]:
    """The boxes that take ``item``'s input, each with the bends an arrow takes on the way: an empty
    branch passes its input down its own column to the join."""
    if isinstance(item, Box):
        return [(item, [])]
    if isinstance(item, Sequence):
        return entries(item.items[0])
    found = []
    for branch in item.branches:
        if branch.items:
            found += entries(branch.items[0])
        else:
            middle = branch.x + branch.width / 2
            found.append((item.join, [(middle, item.y), (middle, item.y + item.branches_height)]))
    return found


def edges(item: Item) -> list[Edge]:
    """Every arrow inside ``item`` (placed), in drawing order."""
    found: list[Edge] = []
    if isinstance(item, Box):
        return found
    if isinstance(item, Sequence):
        for child in item.items:
            found += edges(child)
        for before, after in zip(item.items, item.items[1:]):
            source = exit_box(before)
            for target, bends in entries(after):
                found.append(Edge(source, target, [(source.center_x, source.bottom), *bends,
                                                   (target.center_x, target.y)]))
        return found
    bottom = item.y + item.branches_height
    for branch in item.branches:
        if not branch.items:
            continue
        found += edges(branch)
        source = exit_box(branch)
        points = [(source.center_x, source.bottom)]
        if source.bottom < bottom:
            points.append((source.center_x, bottom))
        found.append(Edge(source, item.join, points + [(item.join.center_x, item.join.y)]))
    return found


def boxes(item: Item) -> list[Box]:
    """Every box of ``item``, in drawing order."""
    if isinstance(item, Box):
        return [item]
    if isinstance(item, Sequence):
        return [box for child in item.items for box in boxes(child)]
    return [box for branch in item.branches for box in boxes(branch)] + [item.join]


def lay_out(item: Item, x: float = 0.0, y: float = 0.0) -> None:
    """Measure and place ``item`` with its top left corner at (x, y)."""
    measure(item)
    place(item, x, y, item.width)
