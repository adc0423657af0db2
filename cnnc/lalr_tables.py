"""The tables of the parser's fast path (``cnnc.lalr_driver``): exported from the parser Lark builds
for our grammar, kept in cnnc's cache folder, read back without importing Lark.

The file (``parser/fast-*.marshal`` in the cache folder) holds the grammar's text, Lark's version
and the options it was built from; a file that does not match all three, or cannot be read, is built
again with Lark (once per grammar and Lark version) and rewritten. Reading it needs no
Lark: Lark's version is read from its ``__init__.py`` without importing it. Any failure to build,
write or read the tables leaves the parsing to Lark, never an error."""

from __future__ import annotations

import marshal
import os
import sys
import zlib

from cnnc.cache import user_cache_path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

FORMAT = 1  # raised whenever the layout of the exported tables changes


def tables_folder() -> Path | None:
    """Where the parser's tables are kept: ``parser`` in cnnc's cache folder (``$CNNC_CACHE_DIR``,
    else the platform's user cache folder: ``~/.cache/cnnc`` on Linux); None without a home folder."""
    folder = _tables_folder()
    if folder is None:
        return None
    from pathlib import Path

    return Path(folder)


def _tables_folder() -> str | None:
    """``tables_folder()`` as a string (pathlib unloaded: it is a good part of a `cnnc check`'s start-up)."""
    try:
        return os.path.join(user_cache_path(), "parser")
    except RuntimeError:  # no home folder
        return None


def package_text(package: str, name: str) -> str:
    """A text file shipped in ``package``, read through the package's loader (as ``pkgutil.get_data``
    reads it, without importing pkgutil and what it imports)."""
    __import__(package)
    module = sys.modules[package]
    loader = module.__spec__.loader
    if module.__file__ is None or not hasattr(loader, "get_data"):
        raise FileNotFoundError(f"cannot read {name} from {package}")
    return loader.get_data(os.path.join(os.path.dirname(module.__file__), name)).decode("utf-8")


def lark_version() -> str | None:
    """The installed Lark's version, read from its ``__init__.py`` (Lark itself stays unloaded);
    None when Lark cannot be found."""
    if "lark" in sys.modules:
        return getattr(sys.modules["lark"], "__version__", None)
    try:  # importlib.machinery's PathFinder, without importing importlib (and warnings) in CPython
        from _frozen_importlib_external import PathFinder
    except ImportError:  # pragma: no cover - another Python
        from importlib.machinery import PathFinder

    spec = PathFinder.find_spec("lark")
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        with open(spec.origin, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:  # `__version__: str = "1.3.1"` (a regular expression would cost more to compile)
        if line.startswith("__version__") and "=" in line:
            return line.split("=", 1)[1].strip().strip("'\"") or None
    return None


def _describe(options: dict[str, Any]) -> str:
    return ";".join(f"{key}={value!r}" for key, value in sorted(options.items()))


def tables_file(grammar: str, options: dict[str, Any], version: str) -> Path | None:
    """The file of the tables for this grammar, options and Lark version (None without a folder)."""
    path = _tables_path(grammar, options, version)
    if path is None:
        return None
    from pathlib import Path

    return Path(path)


def _tables_path(grammar: str, options: dict[str, Any], version: str) -> str | None:
    """``tables_file()`` as a string (pathlib unloaded)."""
    folder = _tables_folder()
    if folder is None:
        return None
    digest = zlib.crc32(f"{FORMAT}\n{_describe(options)}\n{grammar}".encode())
    python = "{}.{}".format(*sys.version_info[:2])
    return os.path.join(folder, f"fast-{digest:08x}-lark{version}-py{python}.marshal")


def read_tables(path: str | os.PathLike, grammar: str, options: dict[str, Any], version: str) -> dict[str, Any] | None:
    """The tables in ``path`` if they were made from this grammar, these options and this Lark."""
    try:
        with open(path, "rb") as file:
            tables = marshal.loads(file.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(tables, dict) or tables.get("format") != FORMAT or tables.get("grammar") != grammar \
            or tables.get("lark") != version or tables.get("options") != _describe(options):
        return None
    return tables


def write_tables(path: str | os.PathLike, tables: dict[str, Any]) -> None:
    """Write the tables atomically (a reader never sees half a file); OSError if it cannot."""
    from cnnc.atomic import write_atomically

    os.makedirs(os.path.dirname(os.fspath(path)), exist_ok=True)
    write_atomically(path, lambda file: file.write(marshal.dumps(tables)))


class Unsupported(Exception):
    """Lark built something the fast path does not reproduce (the parsing stays Lark's)."""


def _child_shaping(callback) -> tuple[str, bool, tuple | None, int]:
    """How Lark's tree builder makes a rule's node, read from the callback it built for a parser
    without transformer: (the name it gives the node, whether one child replaces the node, the
    children it keeps as (index, inline it, Nones before it) or None for all, the Nones after them)."""
    from functools import partial

    from lark.parse_tree_builder import ChildFilterLALR, ChildFilterLALR_NoPlaceholders, ExpandSingleChild
    from lark.tree import Tree

    plan, nones_after, single = None, 0, False
    if isinstance(callback, ChildFilterLALR_NoPlaceholders):
        plan = tuple((int(index), bool(expand), 0) for index, expand in callback.to_include)
        callback = callback.node_builder
    elif isinstance(callback, ChildFilterLALR):
        plan = tuple((int(index), bool(expand), int(nones)) for index, expand, nones in callback.to_include)
        nones_after = callback.append_none
        callback = callback.node_builder
    if isinstance(callback, ExpandSingleChild):
        single = True
        callback = callback.node_builder
    if not (isinstance(callback, partial) and callback.func is Tree and len(callback.args) == 1
            and not callback.keywords):
        raise Unsupported(f"a rule's callback is {callback!r}")
    return str(callback.args[0]), single, plan, int(nones_after)


def export_tables(parser, grammar: str, options: dict[str, Any], version: str) -> dict[str, Any]:
    """The tables of a Lark LALR parser with the contextual lexer (built without transformer or
    callbacks) as plain data: its parse table, how each rule shapes its node, and per parser state
    the terminals its lexer tries, in order. Unsupported for anything else."""
    from lark.lexer import ContextualLexer, PatternRE, PatternStr, UnlessCallback

    frontend = parser.parser
    lexer, lalr = frontend.lexer, frontend.parser.parser
    if not isinstance(lexer, ContextualLexer) or frontend.lexer_conf.g_regex_flags or frontend.lexer_conf.use_bytes \
            or frontend.lexer_conf.callbacks or frontend.lexer_conf.postlex is not None:
        raise Unsupported("only the contextual lexer without flags, bytes or callbacks")
    table = lalr.parse_table
    (start,) = table.start_states  # one start symbol
    state_numbers = {state: number for number, state in enumerate(table.states)}
    rule_numbers: dict[Any, int] = {}
    rules: list[tuple] = []
    actions: list[dict[str, int]] = []
    for state in table.states:
        row = {}
        for symbol, (action, argument) in table.states[state].items():
            if action.name == "Shift":
                row[str(symbol)] = state_numbers[argument]
            else:
                if argument not in rule_numbers:
                    rule_numbers[argument] = len(rules)
                    rules.append((str(argument.origin.name), len(argument.expansion),
                                  *_child_shaping(lalr.callbacks[argument])))
                row[str(symbol)] = ~rule_numbers[argument]
        actions.append(row)
    scanners: list[tuple] = []
    scanner_numbers: dict[int, int] = {}
    scanner_of_state = []
    for state in table.states:
        state_lexer = lexer.lexers[state]
        if id(state_lexer) not in scanner_numbers:
            scanner_numbers[id(state_lexer)] = len(scanners)
            scanners.append(_scanner(state_lexer, PatternStr, PatternRE, UnlessCallback))
        scanner_of_state.append(scanner_numbers[id(state_lexer)])
    return {"format": FORMAT, "grammar": grammar, "lark": version, "options": _describe(options),
            "start_state": state_numbers[table.start_states[start]], "end_state": state_numbers[table.end_states[start]],
            "actions": actions, "rules": rules, "ignore": [str(name) for name in frontend.lexer_conf.ignore],
            "terminals": sorted(str(t.name) for t in frontend.lexer_conf.terminals),
            "scanners": scanners, "scanner_of_state": scanner_of_state}


def _scanner(state_lexer, PatternStr, PatternRE, UnlessCallback) -> tuple[list, dict]:  # noqa: N803 - classes
    """One state's lexer: its terminals in the order its scanner tries them, as (name, is a literal,
    the literal or the regular expression), and per pattern terminal the keywords that retype it."""
    scanner = state_lexer.scanner  # built by Lark as it would build it on first use
    terminals = []
    for terminal in scanner.terminals:
        pattern = terminal.pattern
        if pattern.flags or type(pattern) not in (PatternStr, PatternRE):
            raise Unsupported(f"terminal {terminal.name} has flags or an unknown kind of pattern")
        literal = type(pattern) is PatternStr
        terminals.append((str(terminal.name), literal, str(pattern.value if literal else pattern.to_regexp())))
    retype: dict[str, dict[str, str]] = {}
    for name, callback in state_lexer.callback.items():
        if not isinstance(callback, UnlessCallback):
            raise Unsupported(f"a lexer callback on {name}")
        keywords: dict[str, str] = {}
        for keyword in callback.scanner.terminals:
            if type(keyword.pattern) is not PatternStr or keyword.pattern.flags:
                raise Unsupported(f"keyword {keyword.name} is not a plain string")
            keywords.setdefault(str(keyword.pattern.value), str(keyword.name))
        retype[str(name)] = keywords
    return terminals, retype


def fast_tables(package: str, grammar_file: str, options: dict[str, Any]) -> dict[str, Any] | None:
    """The fast path's tables for the grammar shipped in ``package`` with Lark's ``options``: read
    from the cache folder, else exported from Lark's parser and written there. None where the fast
    path cannot serve (Lark not found, or a grammar whose parser it does not reproduce)."""
    grammar = package_text(package, grammar_file)
    version = lark_version()
    if version is None:
        return None
    path = _tables_path(grammar, options, version)
    tables = None if path is None else read_tables(path, grammar, options, version)
    if tables is None:
        from cnnc.lark_loading import load_parser

        try:
            tables = export_tables(load_parser(package, grammar_file, **options), grammar, options, version)
        except Unsupported:
            return None
        if path is not None:
            try:
                write_tables(path, tables)
            except OSError:
                pass  # a folder that cannot be written: built again next time
    return tables
