"""``@frozen``: ``@dataclass(frozen=True)`` at a quarter of its cost: the methods shared or written in one piece."""

from __future__ import annotations

import reprlib
import sys
from collections.abc import Callable
from operator import attrgetter
from types import CodeType, FunctionType, ModuleType
TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")


class _InspectOnFirstUse(ModuleType):
    """Stands in for ``inspect`` in dataclasses: imports it when one of its names is first used."""

    def __getattr__(self, name: str) -> Any:
        import inspect

        return getattr(inspect, name)


def _import_dataclasses() -> ModuleType:
    """dataclasses, imported with a stand-in for ``inspect``: dataclasses uses it only to write a docstring
    for a class without one (which ``frozen`` writes itself), and inspect with ast, dis and tokenize is
    some 6 ms of a `cnnc check` (a third of its imports). Anything else importing inspect gets the real
    one. cnnc's modules take ``field`` and ``replace`` from here, so that dataclasses loads here first."""
    if "dataclasses" in sys.modules or "inspect" in sys.modules:
        import dataclasses
        return dataclasses
    sys.modules["inspect"] = _InspectOnFirstUse("inspect")
    try:
        import dataclasses
    finally:
        del sys.modules["inspect"]
    return dataclasses


dataclasses = _import_dataclasses()
field, replace = dataclasses.field, dataclasses.replace

# dataclass(frozen=True) writes and compiles the source of six methods for each class (__init__,
# __repr__, __eq__, __hash__, __setattr__, __delattr__), about 0.5 ms a class: some 30 ms of a
# `cnnc check`, which loads seventy of them (`python -X importtime`). Here dataclasses only collects
# the fields; __init__ is compiled from a source of one function, and the other five are shared by
# every class. Each behaves as the generated one does: the same fields in the same order, the same
# results and messages.

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


def _setattr(self: Any, name: str, value: Any) -> None:
    cls = self.__class__
    if cls in _FROZEN or name in cls.__dataclass_fields__:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)  # an attribute of its own in a plain subclass


def _delattr(self: Any, name: str) -> None:
    cls = self.__class__
    if cls in _FROZEN or name in cls.__dataclass_fields__:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
    object.__delattr__(self, name)


_FROZEN: set[type] = set()
class _Factory:
    def __repr__(self) -> str:  # as dataclasses shows it in a signature
        return "<factory>"


_FACTORY = _Factory()  # the default of a parameter whose field has a default_factory


# One compiled __init__ per shape of class (how many fields, which have a default_factory, a
# __post_init__ or not), its parameters renamed and its defaults given per class (a code object does not
# say which parameters have defaults): compiling a function for each class cost some 5 ms of a `cnnc
# check`'s seventy classes, which have a dozen shapes.
_TEMPLATES: dict[tuple[str, bool], CodeType] = {}


def _template(kinds: str, post_init: bool) -> CodeType:
    """The code of ``__init__(self, p0, p1, ...)`` setting the field named by the constant ``"@0"``
    to ``p0`` and so on: ``kinds`` has a letter per field, ``v`` (the value given or the default) or
    ``f`` (a default_factory, ``_factory_<index>`` in the function's globals)."""
    key = (kinds, post_init)
    code = _TEMPLATES.get(key)
    if code is None:
        parameters, lines = ["self"], []
        for index, kind in enumerate(kinds):
            parameters.append(f"p{index}")
            value = f"_factory_{index}() if p{index} is _FACTORY else p{index}" if kind == "f" else f"p{index}"
            lines.append(f"    _set(self, '@{index}', {value})")
        if post_init:
            lines.append("    self.__post_init__()")
        source = f"def __init__({', '.join(parameters)}):\n" + ("\n".join(lines) or "    pass") + "\n"
        namespace: dict[str, Any] = {}
        exec(source, namespace)  # noqa: S102 - our own source, as dataclasses does
        code = _TEMPLATES[key] = namespace["__init__"].__code__
    return code


def _init(cls: type) -> Callable[..., None]:
    """The ``__init__`` dataclasses writes for a frozen class: a parameter per field, in order, with
    its default (a default_factory called when the argument is left out), each value set past the
    frozen ``__setattr__``; then ``__post_init__`` if the class has one."""
    namespace: dict[str, Any] = {"_set": object.__setattr__, "_FACTORY": _FACTORY}
    fields = dataclasses.fields(cls)
    kinds, defaults, defaulted = [], [], None
    for index, field in enumerate(fields):
        if not field.init or field.kw_only:
            raise TypeError(f"@frozen does not make {cls.__qualname__}.{field.name}: init=False or kw_only")
        if field.default is not dataclasses.MISSING:
            kinds.append("v")
            defaults.append(field.default)
            defaulted = field.name
        elif field.default_factory is not dataclasses.MISSING:
            kinds.append("f")
            defaults.append(_FACTORY)
            namespace[f"_factory_{index}"] = field.default_factory
            defaulted = field.name
        elif defaulted is not None:  # the message dataclasses gives
            raise TypeError(f"non-default argument {field.name!r} follows default argument {defaulted!r}")
        else:
            kinds.append("v")
    template = _template("".join(kinds), hasattr(cls, "__post_init__"))
    names = tuple(field.name for field in fields)
    constants = tuple(names[int(constant[1:])] if isinstance(constant, str) and constant.startswith("@") else constant
                      for constant in template.co_consts)
    qualname = f"{cls.__qualname__}.__init__"
    renamed = {"co_qualname": qualname} if hasattr(template, "co_qualname") else {}  # Python 3.11+
    code = template.replace(co_varnames=("self", *names), co_consts=constants, **renamed)
    init = FunctionType(code, namespace, "__init__", tuple(defaults) or None)
    init.__qualname__ = qualname
    init._frozen_made = True  # its signature is the fields' (see _text_signature)
    init.__annotations__ = {**{field.name: field.type for field in fields}, "return": None}
    return init


def _text_signature(cls: type) -> str:
    """``str(inspect.signature(cls))`` without its ``-> None``, as dataclasses writes it into the
    docstring of a class that has none; written directly when every annotation is a string (`from
    __future__ import annotations`), which spares the cost of inspect."""
    fields = dataclasses.fields(cls)
    if cls.__init__ is cls.__dict__.get("__init__") and getattr(cls.__init__, "_frozen_made", False) \
            and all(isinstance(f.type, str) for f in fields):
        parts = []
        for field in fields:
            default = field.default if field.default is not dataclasses.MISSING else (
                _FACTORY if field.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
            parts.append(f"{field.name}: {field.type!r}" + ("" if default is dataclasses.MISSING else f" = {default!r}"))
        return f"({', '.join(parts)})"
    import inspect

    try:
        return str(inspect.signature(cls)).replace(" -> None", "")
    except (TypeError, ValueError):
        return ""


def frozen(cls: type[T]) -> type[T]:
    """``@dataclass(frozen=True)``: an immutable record compared and hashed by its fields, printed
    as ``Name(field=value, ...)``. A method the class defines itself is kept, as dataclasses keeps it.
    (``__dataclass_params__`` says ``frozen=False``: immutability is this decorator's, not dataclasses'.)"""
    own = cls.__dict__
    undocumented = not own.get("__doc__")
    has_init, has_repr, has_eq = "__init__" in own, "__repr__" in own, "__eq__" in own
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and has_eq)
    if "__setattr__" in own or "__delattr__" in own:  # the message dataclasses gives
        raise TypeError(f"Cannot overwrite attribute __setattr__ in class {cls.__name__}")
    if undocumented:
        cls.__doc__ = "?"  # dataclasses would read a signature for it now, before __init__ is made
    cls = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
    _FROZEN.add(cls)
    cls.__setattr__ = _setattr  # type: ignore[method-assign,assignment]
    cls.__delattr__ = _delattr  # type: ignore[method-assign,assignment]
    if not has_init:
        cls.__init__ = _init(cls)  # type: ignore[misc]
    if undocumented:  # dataclasses names the class and its signature, read before __init__ was made
        cls.__doc__ = cls.__name__ + _text_signature(cls)
    if not has_repr:
        cls.__repr__ = _repr  # type: ignore[method-assign]
    if not has_eq:
        cls.__eq__ = _eq  # type: ignore[method-assign]
    if not explicit_hash:
        cls.__hash__ = _hash  # type: ignore[method-assign]
    return cls
