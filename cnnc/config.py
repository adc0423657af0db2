"""Project configuration: `[tool.cnnc]` in pyproject.toml or a cnnc.toml found by walking up from a
spec, and how the command line's choices combine with it (the command line wins)."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager

from cnnc.diagnostics import ERROR_CODES, Severity
from cnnc.frozen import field, frozen
from cnnc.lint import RULES, Budgets, LintSettings
from cnnc.lint.registry import closest_code
from cnnc.report import DTYPE_BYTES
from cnnc.values import MAX_MAGNITUDE

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

KEYS = ("select", "ignore", "severity", "max-params", "max-macs", "max-memory", "min-receptive-field",
        "dtype", "batch-size", "inplace-activations")
DEPRECATED = {"batch": "batch-size"}  # old name: new name; still read, with a warning


class ConfigError(Exception):
    """A configuration cannot be used (a bad file, key, value or code): cnnc exits with code 2."""


@frozen
class Selection:
    """One layer of rule selection: `select` replaces what came before when given; `ignore` removes."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()


@frozen
class Config:
    """A validated configuration; ``path`` (the file's) is None when no file was found."""

    path: str | None = None
    selection: Selection = Selection()
    severities: dict[str, Severity] = field(default_factory=dict)
    budgets: Budgets = Budgets()
    dtype: str | None = None
    batch: int | None = None
    inplace_activations: bool = False
    warnings: tuple[str, ...] = ()  # located, one line each (a deprecated setting)


# Quantities ------------------------------------------------------------------------------

_SI = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_BINARY = {"KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}


def _quantity(text: object, units: dict[str, int], suffix: str, what: str) -> int:
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise ValueError(f"expected {what}, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        match = re.fullmatch(rf"\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*([A-Za-z]*?)\s*(?:{suffix})?\s*", text,
                             re.IGNORECASE)
        if match is None or match.group(2).upper() not in units:
            raise ValueError(f"expected {what}, got {text!r}")
        number = match.group(1).replace("_", "")
        if len(number.split(".")[0].lstrip("0")) > len(str(MAX_MAGNITUDE)):  # before Python converts it
            raise ValueError(f"expected {what} of at most 10**100, got {_shortened(text)}")
        from fractions import Fraction

        value = round(Fraction(number) * units[match.group(2).upper()])  # exact: no float overflow
    if value < 1:
        raise ValueError(f"expected {what} of at least 1, got {text!r}")
    if value > MAX_MAGNITUDE:
        raise ValueError(f"expected {what} of at most 10**100, got {_shortened(text)}")
    return value


def _shortened(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:16]}...{text[-16:]} ({len(text):,} characters)"


def parse_count(text: object) -> int:
    """``5M`` -> 5,000,000: a count with an SI suffix (K, M, G, T)."""
    return _quantity(text, _SI, "", "a count such as 5M or 600M")


def parse_bytes(text: object) -> int:
    """``2GB`` -> 2,000,000,000 and ``2GiB`` -> 2,147,483,648: bytes with an SI or binary suffix."""
    return _quantity(text, {**_SI, **_BINARY}, "B", "a size such as 2GB, 512MB or 8GiB")


# Rule selection --------------------------------------------------------------------------

def _known(selector: str) -> set[str]:
    """The codes a selector means: `ALL`, a code, a prefix of codes (`W`, `W2`) or a rule's name."""
    text = selector.strip()
    if text.upper() == "ALL":
        return set(RULES)
    named = {code for code, rule in RULES.items() if rule.name == text.lower()}
    return named or {code for code in RULES if code.startswith(text.upper())}


def _specificity(selector: str) -> int:
    text = selector.strip()
    if text.upper() == "ALL":
        return 0
    return 4 if not re.fullmatch(r"[A-Za-z][0-9]*", text) else len(text)


def check_selectors(selectors: Iterable[str], where: str) -> None:
    """Raise ValueError naming the first selector that means no rule."""
    for selector in selectors:
        if _known(selector):
            continue
        if selector.strip().upper() in ERROR_CODES or selector.strip().upper().startswith("E"):
            raise ValueError(f"`{selector}` in {where} is an error code: errors are always reported")
        close = closest_code(selector)
        hint = f" (did you mean `{close}`?)" if close else ""
        raise ValueError(f"unknown rule `{selector}` in {where}{hint}; `cnnc rules` lists them")


def enabled_codes(layers: Iterable[Selection]) -> frozenset[str]:
    """Apply selection layers in order (config, then command line). Within a layer, broader
    selectors apply first and a more specific one wins (`select = ["W"]`, `ignore = ["W204"]`);
    at equal specificity `ignore` wins."""
    enabled = set(RULES)
    for layer in layers:
        if layer.select is not None:
            enabled = set()
        changes = [(selector, True) for selector in layer.select or ()] + [(s, False) for s in layer.ignore]
        for selector, on in sorted(changes, key=lambda change: (_specificity(change[0]), not change[1])):
            codes = _known(selector)
            enabled = enabled | codes if on else enabled - codes
    return frozenset(enabled)


def lint_settings(config: Config, command_line: Selection = Selection(), budgets: Budgets = Budgets()) -> LintSettings:
    """The settings for one spec: the config's, with the command line's selection and budgets on top."""
    merged = Budgets(**{name: getattr(budgets, name) if getattr(budgets, name) is not None
                        else getattr(config.budgets, name) for name in Budgets.__dataclass_fields__})
    return LintSettings(enabled_codes([config.selection, command_line]), dict(config.severities), merged)


# Settings --------------------------------------------------------------------------------

class _SettingError(Exception):
    """A bad setting, with the key path (under the cnnc table) that holds it."""

    def __init__(self, key: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.key, self.message = key, message


@contextmanager
def _setting(*key: str) -> Iterator[None]:
    """Inside: a ValueError is about this setting."""
    try:
        yield
    except ValueError as problem:
        raise _SettingError(key, str(problem)) from None


class _Locator:
    """Turns a setting's key into `file:line:column: ` (the key's position in the file's text, found
    when a message needs it: a valid configuration is not scanned)."""

    def __init__(self, path: str | None, text: str | None, base: tuple[str, ...]) -> None:
        self.path, self.text, self.base = path, text, base

    def where(self, key: tuple[str, ...]) -> str:
        if self.path is None:
            return ""
        from cnnc.toml_positions import key_positions, locate

        position = locate(key_positions(self.text) if self.text else {}, self.base + key)
        return f"{shown_path(self.path)}:{position[0]}:{position[1]}: " if position else f"{shown_path(self.path)}: "


def _strings(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"`{key}` must be a list of rule codes, such as [\"W2\", \"I301\"]")
    return tuple(value)


def _severities(value: object) -> dict[str, Severity]:
    if not isinstance(value, dict):
        raise ValueError("`severity` must be a table, such as { W204 = \"error\" }")
    found = {}
    for key, level in value.items():
        with _setting("severity", key):
            check_selectors([key], "`severity`")
            if level not in {s.value for s in Severity}:
                raise ValueError(f"`severity.{key}` must be \"error\", \"warning\" or \"info\", not {level!r}")
        for code in _known(key):
            found[code] = Severity(level)
    return found


def _batch_size(table: dict, locator: _Locator, warnings: list[str]) -> int | None:
    """`batch-size`, or the deprecated `batch` (with a warning)."""
    if "batch" in table:
        if "batch-size" in table:
            raise _SettingError(("batch",), "`batch` is the old name of `batch-size`: keep only `batch-size`")
        warnings.append(f"{locator.where(('batch',))}`batch` is deprecated: rename it `batch-size`")
    key = "batch-size" if "batch-size" in table else "batch"
    batch = table.get(key)
    with _setting(key):
        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
            raise ValueError(f"`{key}` must be a whole number of at least 1, not {batch!r}")
    return batch


def _budget(table: dict, key: str, parse) -> int | None:
    with _setting(key):
        try:
            return parse(table[key]) if key in table else None
        except ValueError as problem:
            raise ValueError(f"`{key}`: {problem}") from None


def parse_config(table: dict, path: str | os.PathLike | None = None, text: str | None = None,
                 base: tuple[str, ...] = ()) -> Config:
    """Validate the cnnc settings of a file; raise ConfigError for anything unknown or malformed,
    located at the offending key (``pyproject.toml:14:1: ``) when the file's text is given;
    ``base`` is where the settings sit in it (``("tool", "cnnc")`` in a pyproject.toml)."""
    path = None if path is None else os.fspath(path)
    locator = _Locator(path, text, base)
    warnings: list[str] = []
    try:
        for key in table:
            with _setting(key):
                if key not in KEYS and key not in DEPRECATED:
                    from difflib import get_close_matches

                    close = get_close_matches(key, KEYS, n=1)
                    hint = f" (did you mean `{close[0]}`?)" if close else ""
                    raise ValueError(f"unknown setting `{key}`{hint}; the settings are {', '.join(KEYS)}")
        with _setting("select"):
            select = _strings(table["select"], "select") if "select" in table else None
            check_selectors(select or (), "`select`")
        with _setting("ignore"):
            ignore = _strings(table.get("ignore", []), "ignore")
            check_selectors(ignore, "`ignore`")
        dtype = table.get("dtype")
        with _setting("dtype"):
            if dtype is not None and dtype not in DTYPE_BYTES:
                raise ValueError(f"`dtype` must be one of {', '.join(DTYPE_BYTES)}, not {dtype!r}")
        batch = _batch_size(table, locator, warnings)
        budgets = Budgets(params=_budget(table, "max-params", parse_count), macs=_budget(table, "max-macs", parse_count),
                          memory=_budget(table, "max-memory", parse_bytes),
                          receptive_field=_budget(table, "min-receptive-field", parse_count))
        inplace = table.get("inplace-activations", False)
        with _setting("inplace-activations"):
            if not isinstance(inplace, bool):
                raise ValueError(f"`inplace-activations` must be true or false, not {inplace!r}")
        with _setting("severity"):
            severities = _severities(table.get("severity", {}))
    except _SettingError as problem:
        raise ConfigError(f"{locator.where(problem.key)}{problem.message}") from None
    return Config(path, Selection(select, ignore), severities, budgets, dtype, batch, inplace, tuple(warnings))


# Files -----------------------------------------------------------------------------------
# Paths are strings handled with os.path: pathlib (with urllib.parse, ipaddress and fnmatch, which it imports)
# would be a good part of a `cnnc check`'s start-up in an installed (wheel) cnnc.

def shown_path(path: str | os.PathLike) -> str:
    """A configuration's path as messages show it: from the working folder when it is inside it."""
    try:
        real, here = os.path.realpath(path), os.path.realpath(os.getcwd())
        if os.path.commonpath([real, here]) == here:
            return os.path.relpath(real, here)
    except (ValueError, OSError):
        pass
    return os.fspath(path)


# Where a pyproject.toml can name `tool.cnnc`: a `[tool.cnnc]` or `[tool]` header, a dotted `tool.cnnc` key, or an
# inline `tool = {...}`. A pyproject.toml without any of them is not read as TOML (tomllib is a good part of a
# `cnnc check`'s start-up, and most projects' pyproject.toml have no cnnc settings).
_MAY_NAME_TOOL_CNNC = re.compile(r"""["']?\btool["']?\s*(?:\.\s*["']?cnnc\b|\]|=)""")


def _read_toml(path: str) -> tuple[dict, str]:
    """A file's TOML document and its text; a TOML error is located at its line and column.
    A pyproject.toml whose text cannot hold `tool.cnnc` reads as an empty document (tomllib unloaded)."""
    try:
        with open(path, "rb") as file:
            raw = file.read()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{shown_path(path)}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line, column = raw.count(b"\n", 0, exc.start) + 1, exc.start - raw.rfind(b"\n", 0, exc.start)
        raise ConfigError(f"{shown_path(path)}:{line}:{column}: not valid TOML: not UTF-8 (byte "
                          f"{raw[exc.start]:#04x})") from None
    if os.path.basename(path) == "pyproject.toml" and not _MAY_NAME_TOOL_CNNC.search(text):
        return {}, text
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        message = " ".join(str(exc).split())  # one line
        found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if found:
            where = f"{shown_path(path)}:{found.group(1)}:{found.group(2)}"
            message = message[:found.start()]
        else:
            where = shown_path(path)
            message = message.replace(" (at end of document)", " at the end of the file")
        raise ConfigError(f"{where}: not valid TOML: {message}") from None


def _tool_cnnc(data: dict) -> dict | None:
    tool = data.get("tool")
    table = tool.get("cnnc") if isinstance(tool, dict) else None
    return table if isinstance(table, dict) else None


def _cnnc_table(path: str) -> tuple[dict | None, str]:
    """The cnnc settings of a file (all of a cnnc.toml, or `[tool.cnnc]` of a pyproject.toml) and its text."""
    data, text = _read_toml(path)
    return (_tool_cnnc(data), text) if os.path.basename(path) == "pyproject.toml" else (data, text)


def _found_config(start: str) -> tuple[str, dict, str] | None:
    """The nearest cnnc.toml, or pyproject.toml with a `[tool.cnnc]` table, in ``start`` (a folder, or a
    file's folder) or above it, with its settings and text (each file read once). In one folder, cnnc.toml
    comes first."""
    folder = os.path.realpath(start)
    folder = folder if os.path.isdir(folder) else os.path.dirname(folder)
    while True:
        for name in ("cnnc.toml", "pyproject.toml"):
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                table, text = _cnnc_table(candidate)
                if table is not None:
                    return candidate, table, text
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def find_config(start: str | os.PathLike) -> Path | None:
    """The nearest cnnc.toml, or pyproject.toml with a `[tool.cnnc]` table, in the spec's folder or
    above it. In one folder, cnnc.toml comes first."""
    found = _found_config(os.fspath(start))
    if found is None:
        return None
    from pathlib import Path

    return Path(found[0])


def _config(path: str, table: dict | None, text: str) -> Config:
    base = ("tool", "cnnc") if os.path.basename(path) == "pyproject.toml" else ()
    return parse_config(table or {}, path, text, base)


def load_config(path: str | os.PathLike) -> Config:
    """The configuration in one file (a cnnc.toml, or a pyproject.toml's `[tool.cnnc]`)."""
    path = os.fspath(path)
    return _config(path, *_cnnc_table(path))


class ConfigFinder:
    """Finds and loads the configuration of each spec, once per folder."""

    def __init__(self, explicit: str | None = None) -> None:
        self.explicit = load_config(explicit) if explicit is not None else None
        self.by_folder: dict[str, Config] = {}

    def for_spec(self, spec: str) -> Config:
        if self.explicit is not None:
            return self.explicit
        folder = os.getcwd() if spec == "-" else os.path.dirname(os.path.realpath(spec))
        if folder not in self.by_folder:
            found = _found_config(folder)
            self.by_folder[folder] = _config(*found) if found else Config()
        return self.by_folder[folder]
