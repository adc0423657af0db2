"""``@frozen`` records behave as ``@dataclass(frozen=True)`` ones: repr, equality, hashing, immutability."""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
import inspect
import itertools
import pickle
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import cnnc
from cnnc import frozen as frozen_module
from cnnc.api import check
from cnnc.frozen import frozen
from cnnc.parser import parse
from cnnc.reading import read_source
from cnnc.source import Source

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(ROOT.glob("examples/*.cnn")) + sorted(ROOT.glob("tests/fixtures/lint/*.cnn"))


@functools.cache
def reference_of(cls: type) -> type:
    """A subclass of ``cls`` with the __repr__, __eq__ and __hash__ that ``@dataclass(frozen=True)``
    generates (``unsafe_hash`` adds the frozen hash), under the same name."""
    namespace = {"__qualname__": cls.__qualname__, "__module__": cls.__module__}
    return dataclasses.dataclass(unsafe_hash=True)(type(cls.__name__, (cls,), namespace))


def as_reference(instance: object) -> object:
    copy = object.__new__(reference_of(type(instance)))
    copy.__dict__.update(instance.__dict__)
    return copy


def outcome(function, value):
    """``function(value)``, or the type of the exception it raised."""
    try:
        return function(value)
    except Exception as problem:  # noqa: BLE001
        return type(problem)


def records_in(value: object, found: dict[int, object]) -> None:
    """Every @frozen instance reachable from ``value`` through fields, tuples, lists and dicts."""
    if id(value) in found:
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        found[id(value)] = value
        for field in dataclasses.fields(value):
            records_in(getattr(value, field.name), found)
    elif isinstance(value, (tuple, list, frozenset, set)):
        for item in value:
            records_in(item, found)
    elif isinstance(value, dict):
        for key, item in value.items():
            records_in(key, found)
            records_in(item, found)


@pytest.fixture(scope="module")
def records() -> list[object]:
    found: dict[int, object] = {}
    for path in SPECS:
        source = read_source(str(path))
        records_in(check(source), found)
        records_in(parse(source)[0], found)
    records_in(check(Source("input 8x8x3\nconv 8 9x9\n", "bad.cnn")), found)  # an error: a Diagnostic
    return [r for r in found.values() if type(r).__hash__ is frozen_module._hash]


def test_the_pipeline_s_records_are_frozen_ones(records):
    kinds = {type(record).__name__ for record in records}
    assert {"Conv", "Pool", "Shape", "Network", "LayerReport", "Report", "Source", "Call", "Module", "Diagnostic"} <= kinds


def test_repr_equality_and_hash_are_the_dataclass_ones(records):
    compared = 0
    for record in records:
        reference = as_reference(record)
        if type(record).__repr__ is frozen_module._repr:
            assert repr(record) == repr(reference)
        assert outcome(hash, record) == outcome(hash, reference)  # a dict field: TypeError in both
        twin = object.__new__(type(record))
        twin.__dict__.update(record.__dict__)
        assert record == twin
        assert (record != twin) is False
        assert (record == 1) == (reference == 1) is False
        compared += 1
    assert compared > 500
    # and across different records of one kind, equal exactly when the dataclass ones are
    by_kind: dict[type, list[object]] = {}
    for record in records:
        by_kind.setdefault(type(record), []).append(record)
    for same_kind in by_kind.values():
        for first, second in itertools.pairwise(same_kind):
            assert (first == second) == (as_reference(first) == as_reference(second))


def test_frozen_keeps_what_a_class_defines_and_stays_immutable():
    @frozen
    class Pair:
        left: int
        right: list = dataclasses.field(default_factory=list, compare=False, repr=False)

        def __eq__(self, other):
            return True

    @frozen
    class Point:
        x: int
        y: int = 0

        def __repr__(self) -> str:
            return "here"

    assert Pair(1) == Pair(2) and Pair.__hash__ is frozen_module._hash and hash(Pair(1, [1])) == hash((1,))
    assert repr(Point(1)) == "here" and Point(1, 2) == Point(1, 2) != Point(2, 1)
    assert repr(Pair(3, [4])) == reference_of(Pair).__repr__(Pair(3, [4])) == "test_frozen_keeps_what_a_class_" \
        "defines_and_stays_immutable.<locals>.Pair(left=3)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        Point(1).x = 2  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'x'"):
        Point()  # type: ignore[call-arg]


def test_construction_and_immutability_are_the_dataclass_ones():
    def declare(decorator):
        @decorator
        class Layer:
            name: str
            sizes: tuple[int, ...] = (1,)
            options: dict = dataclasses.field(default_factory=dict, compare=False)

        return Layer

    ours, theirs = declare(frozen), declare(dataclasses.dataclass(frozen=True))
    assert str(inspect.signature(ours)) == str(inspect.signature(theirs))
    assert ours.__init__.__qualname__ == theirs.__init__.__qualname__
    for arguments, keywords in (((), {}), (("a", (2,), {}, 4), {}), (("a",), {"nme": 1}), (("a",), {"name": "b"})):
        messages = []
        for cls in (ours, theirs):
            try:
                cls(*arguments, **keywords)
            except TypeError as problem:
                messages.append(str(problem))
        assert messages[0] == messages[1] != ""
    first, second = ours("a"), ours("a", (3,))
    assert first.options == {} and first.options is not ours("a").options and second.sizes == (3,)
    for change in (lambda r: setattr(r, "name", "b"), lambda r: setattr(r, "other", 1), lambda r: delattr(r, "name")):
        messages = []
        for record in (first, theirs("a")):
            with pytest.raises(dataclasses.FrozenInstanceError) as raised:
                change(record)
            messages.append(str(raised.value))
        assert messages[0] == messages[1]
    assert dataclasses.replace(second, name="c") == ours("c", (3,))
    assert copy.deepcopy(second) == second and pickle.loads(pickle.dumps(Pickled(1))) == Pickled(1)

    class Plain(ours):  # a subclass of its own may add attributes, not change fields
        pass

    plain = Plain("a")
    plain.extra = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        plain.name = "b"
    with pytest.raises(TypeError, match="non-default argument 'y' follows default argument 'x'"):
        @frozen
        class Wrong:
            x: int = 0
            y: int


@frozen
class Pickled:
    value: int


def test_a_record_inside_itself_prints_dots():
    @frozen
    class Box:
        items: list

    box = Box([])
    box.items.append(box)
    assert repr(box) == "test_a_record_inside_itself_prints_dots.<locals>.Box(items=[...])"


def classes_of_cnnc() -> list[type]:
    found = []
    for module_info in pkgutil.walk_packages(cnnc.__path__, "cnnc."):
        if module_info.name.startswith(("cnnc.backends", "cnnc.grammar", "cnnc.__main__")):
            continue
        module = importlib.import_module(module_info.name)
        found += [value for value in vars(module).values()
                  if isinstance(value, type) and value.__module__ == module.__name__]
    return found


def test_a_record_without_a_docstring_gets_the_dataclass_one():
    generated = 0
    for cls in classes_of_cnnc():
        if cls.__hash__ is frozen_module._hash and cls.__doc__.startswith(cls.__name__ + "("):
            assert cls.__doc__ == cls.__name__ + str(inspect.signature(cls)).replace(" -> None", "")
            generated += 1
    assert generated > 20


def test_every_frozen_dataclass_in_cnnc_uses_frozen():
    # the plain decorator would bring back the generated methods and their cost
    for module_info in pkgutil.walk_packages(cnnc.__path__, "cnnc."):
        if module_info.name.startswith(("cnnc.backends", "cnnc.grammar", "cnnc.__main__")):
            continue
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module.__name__ and dataclasses.is_dataclass(value):
                params = value.__dataclass_params__
                assert not (params.frozen and params.eq), f"{module.__name__}.{value.__name__}: use @frozen"


def test_classes_of_one_shape_share_a_compiled_init_but_not_their_names_or_defaults():
    # frozen compiles one __init__ per shape and renames its parameters per class (cnnc/frozen.py)
    def declare(decorator, names, default):
        namespace = {"decorator": decorator, "field": dataclasses.field}
        exec(f"@decorator\nclass Twin:\n    {names[0]}: int\n    {names[1]}: int = {default}\n"  # noqa: S102
             f"    {names[2]}: list = field(default_factory=list)\n", namespace)
        return namespace["Twin"]

    for names, default in ((("x", "y", "z"), 1), (("a", "b", "c"), 2), (("y", "x", "w"), 3)):
        ours, theirs = declare(frozen, names, default), declare(dataclasses.dataclass(frozen=True), names, default)
        assert str(inspect.signature(ours)) == str(inspect.signature(theirs))
        assert ours(7) == ours(**{names[0]: 7}) and getattr(ours(7), names[1]) == default
        assert getattr(ours(7, 8), names[1]) == 8 and getattr(ours(7), names[2]) == []
        for arguments, keywords in (((), {}), ((1, 2, 3, 4), {}), ((1,), {names[0]: 1}), ((), {"q": 1})):
            messages = []
            for cls in (ours, theirs):
                with pytest.raises(TypeError) as raised:
                    cls(*arguments, **keywords)
                messages.append(str(raised.value))
            assert messages[0] == messages[1]


def test_dataclasses_imported_by_frozen_gets_inspect_on_first_use():
    # cnnc.frozen imports dataclasses with a stand-in for inspect (a third of a check's imports)
    code = ("import sys, cnnc.frozen\n"
            "import dataclasses\n"
            "assert 'inspect' not in sys.modules and 'ast' not in sys.modules\n"
            "@dataclasses.dataclass\n"
            "class Plain:\n"
            "    a: int\n"
            "    b: str = 'x'\n"
            "import inspect\n"
            "print(Plain.__doc__, dataclasses.inspect.signature is inspect.signature, sys.modules['inspect'] is inspect)")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout) == (0, "Plain(a: int, b: str = 'x') True True\n"), result.stderr
