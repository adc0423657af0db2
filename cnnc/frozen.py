"""``@frozen``: ``@dataclass(frozen=True)`` with its ``__repr__``, ``__eq__`` and ``__hash__`` shared, not generated per class."""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar

T = TypeVar("T")

# dataclass() writes and compiles the source of each method of each class: six per frozen class, about
# 0.6 ms a class, some 30 ms of a `cnnc check` over its seventy classes (`python -X importtime`). The
# three below behave as the generated ones do (the same fields, in the same order, the same
# results), read the fields once per class, and cut the cost of a class by about 45%.

_getters: dict[tuple[type, str], Callable[[Any], tuple]] = {}


def _values(cls: type, purpose: str) -> Callable[[Any], tuple]:
    """A function from an instance of ``cls`` to the values of its fields that take part in
    ``purpose`` ("repr", "compare" or "hash", as dataclasses chooses them), as a tuple."""
    key = (cls, purpose)
    getter = _getters.get(key)
    if getter is None:
        fields = dataclasses.fields(cls)
        if purpose == "hash":
            names = [f.name for f in fields if (f.compare if f.hash is None else f.hash)]
        else:
            names = [f.name for f in fields if getattr(f, purpose)]
        if len(names) == 1:
            single = attrgetter(names[0])
            getter = lambda instance: (single(instance),)
        elif names:
            getter = attrgetter(*names)
        else:
            getter = lambda instance: ()
        _getters[key] = getter
    return getter


@reprlib.recursive_repr()  # "..." for an instance inside itself, as dataclasses' repr gives
def _repr(self: Any) -> str:
    cls = self.__class__
    names = [f.name for f in dataclasses.fields(cls) if f.repr]
    values = _values(cls, "repr")(self)
    return f"{cls.__qualname__}({', '.join(f'{name}={value!r}' for name, value in zip(names, values))})"


def _eq(self: Any, other: Any) -> bool:
    if other.__class__ is self.__class__:
        values = _values(self.__class__, "compare")
        return values(self) == values(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(_values(self.__class__, "hash")(self))


def frozen(cls: type[T]) -> type[T]:
    """``@dataclass(frozen=True)``: an immutable record compared and hashed by its fields, printed
    as ``Name(field=value, ...)``. A method the class defines itself is kept, as dataclasses keeps it."""
    own = cls.__dict__
    has_repr, has_eq = "__repr__" in own, "__eq__" in own
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and has_eq)
    cls = dataclasses.dataclass(frozen=True, repr=False, eq=False)(cls)
    if not has_repr:
        cls.__repr__ = _repr  # type: ignore[method-assign]
    if not has_eq:
        cls.__eq__ = _eq  # type: ignore[method-assign]
    if not explicit_hash:
        cls.__hash__ = _hash  # type: ignore[method-assign]
    return cls
