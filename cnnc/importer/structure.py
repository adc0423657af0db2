"""The units' graph as nested sequences: every fork of a value must join again at one merge, whose
branches become a `residual`, `add`, `multiply` or `concat` block (series-parallel structure). A
graph that forks and joins any other way is refused, naming the merge where it fails."""

from __future__ import annotations

from dataclasses import dataclass

from cnnc.importer.read import NotImportable
from cnnc.importer.units import Layer, Unit


@dataclass
class Block:
    """``kind`` is residual, add, multiply or concat; a residual's branches are body, then shortcut."""

    kind: str
    branches: list[list]


Sequence = list  # of Layer | Block


class Structure:
    def __init__(self, units: list[Unit], source: str, output: str, unread: set[str] = frozenset()) -> None:
        self.units, self.source, self.output = units, source, output
        self.unread = unread  # with --partial: values that nodes not recognised read, where the prefix ends
        self.producer = {unit.output: unit for unit in units}
        self.uses: dict[str, list[Unit]] = {}
        for unit in units:
            for value in unit.inputs:
                self.uses.setdefault(value, []).append(unit)
        self.order = {id(unit): index for index, unit in enumerate(units)}
        self._postdominators()

    def _postdominators(self) -> None:
        """For each unit, the units every path from it to the output passes through (itself included)."""
        self.after: dict[int, set[int]] = {}
        for unit in reversed(self.units):
            successors = self.uses.get(unit.output, [])
            common: set[int] | None = None
            for successor in successors:
                found = self.after[id(successor)]
                common = set(found) if common is None else common & found
            self.after[id(unit)] = (common or set()) | {self.order[id(unit)]}

    def join(self, uses: list[Unit]) -> Unit | None:
        common = set.intersection(*(self.after[id(unit)] for unit in uses))
        return self.units[min(common)] if common else None

    prefix: Sequence = []  # the top-level items before a failure (for --partial)

    def sequence(self, value: str, until: Unit | None, partial: bool = False) -> tuple[Sequence, str]:
        """The items from ``value`` on, to the value that ``until`` reads (or the graph's output).
        ``partial``: the recognised units end early; stop where they do."""
        items: Sequence = []
        if until is None:
            self.prefix = items
        while True:
            uses = self.uses.get(value, [])
            if until is not None and uses and all(use is until for use in uses):
                return items, value
            if until is None and (value == self.output or value in self.unread):
                return items, value
            if not uses and partial:
                return items, value
            if not uses:
                raise NotImportable(f"value {value!r} leads nowhere", "the graph has more than one output")
            if len(uses) == 1 and uses[0].layer is not None:
                items.append(uses[0].layer)
                value = uses[0].output
                continue
            merge = self.join(uses) if len(uses) > 1 else uses[0]
            if merge is None or merge.merge is None or merge is until:
                where = (merge or uses[0]).node
                raise NotImportable(f"{where.where()}: the graph is not series-parallel there (a value forks "
                                    "and its paths do not join at one merge)")
            items.append(self.block(value, uses, merge))
            value = merge.output

    def block(self, value: str, uses: list[Unit], merge: Unit) -> Block:
        """The block of ``value``'s ``uses`` that join at ``merge``. Uses that meet one another at an
        earlier merge first make that merge's block, nested as the start of one branch."""
        branches: dict[int, Sequence] = {}
        free = list(range(len(merge.inputs)))
        groups: dict[int, tuple[Unit, list[Unit]]] = {}
        direct: list[Unit] = []
        for use in uses:
            inner = self._meeting(use, uses, merge)
            if inner is None:
                direct.append(use)
            else:
                groups.setdefault(id(inner), (inner, []))[1].append(use)
        starts: list[tuple[Sequence, str]] = []
        for inner, members in groups.values():
            nested = self.block(value, members, inner)
            tail, end = self.sequence(inner.output, merge)
            starts.append(([nested, *tail], end))
        for use in direct:
            starts.append(([], value) if use is merge else self.sequence_from(use, merge))
        for branch, end in starts:
            slot = next((i for i in free if merge.inputs[i] == end), None)
            if slot is None:
                raise NotImportable(f"{merge.node.where()}: the graph is not series-parallel there")
            free.remove(slot)
            branches[slot] = branch
        if free:
            raise NotImportable(f"{merge.node.where()}: the graph is not series-parallel there (an input of this "
                                "merge comes from outside the block)")
        ordered = [branches[i] for i in range(len(merge.inputs))]
        if merge.merge == "add" and len(ordered) == 2:
            if not ordered[0] and ordered[1]:
                ordered.reverse()
            return Block("residual", ordered)
        return Block(merge.merge, ordered)

    def _meeting(self, use: Unit, uses: list[Unit], merge: Unit) -> Unit | None:
        """The outermost block inside ``merge``'s that ``use`` shares with others of ``uses``: of the merges
        where ``use``'s paths first meet another use's (their nearest common successor), the last before
        ``merge``; None when ``use`` meets the others only at ``merge``. A merge further down a path that
        has already joined (a residual after a residual) is not a meeting."""
        limit = self.order[id(merge)]
        meetings = []
        for other in uses:
            common = self.after[id(use)] & self.after[id(other)] if other is not use else set()
            first = min(common, default=limit)
            if first < limit and self.units[first].merge is not None:
                meetings.append(first)
        return self.units[max(meetings)] if meetings else None

    def sequence_from(self, unit: Unit, until: Unit) -> tuple[Sequence, str]:
        if unit.layer is None:
            raise NotImportable(f"{unit.node.where()}: the graph is not series-parallel there")
        items, end = self.sequence(unit.output, until)
        return [unit.layer, *items], end


def chains_joined(units: list[Unit], output: str) -> list[Unit]:
    """Binary Add and Mul chains as one merge: ``(a + b) + c``, as exporters write a sum or product of
    several values, is one `add` of three branches (the inner sum used only there). Tried when the
    units as they are do not nest: ``residual { residual { .. } }`` is also an Add of an Add."""
    producer = {unit.output: unit for unit in units}
    uses: dict[str, int] = {}
    for unit in units:
        for value in unit.inputs:
            uses[value] = uses.get(value, 0) + 1
    absorbed: set[int] = set()
    joined: dict[int, Unit] = {}
    for unit in units:
        if unit.merge not in ("add", "multiply"):
            continue
        inputs = []
        for value in unit.inputs:
            inner = joined.get(id(producer.get(value)), producer.get(value))
            if inner is not None and inner.merge == unit.merge and uses[value] == 1 and value != output:
                inputs.extend(inner.inputs)
                absorbed.add(id(producer[value]))
            else:
                inputs.append(value)
        joined[id(unit)] = Unit(inputs, unit.output, unit.node, merge=unit.merge)
    return [joined.get(id(unit), unit) for unit in units if id(unit) not in absorbed]


def layers_in_order(items: Sequence) -> list[Layer]:
    """Every layer, in the order the language names them (a residual's body before its shortcut)."""
    found: list[Layer] = []
    for item in items:
        if isinstance(item, Block):
            for branch in item.branches:
                found.extend(layers_in_order(branch))
        else:
            found.append(item)
    return found
