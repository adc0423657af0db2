"""Lark, loaded for a fast start: imported without ``interegular``, its parse tables cached per user.

Lark imports ``interegular`` whenever it is installed (``lark/lexer.py``: ``try: import
interegular``), only to look for colliding terminals while it builds a grammar. A parser loaded
from Lark's cache skips those checks, so the import is hidden while Lark loads (it costs about 5 ms,
`python -X importtime`). The test suite still builds the grammar with ``strict=True`` (which needs
``interegular``) in a process that imported ``interegular`` first.

Building the LALR tables takes about 30 ms, loading them about 3 ms. Lark's ``cache=`` option keeps
them in a file whose first line is a hash of the grammar, the options, Lark's version and Python's,
and rebuilds it when any of them changes (a file it cannot read or write costs a rebuild, never an
error). cnnc puts that file in ``parser`` in its cache folder (``$CNNC_CACHE_DIR``, else the
platform's: ``~/.cache/cnnc`` on Linux), named by a hash of the grammar and the options and by the two
versions, so that parsers with other options and installs of other versions keep a file each; without
a usable folder, in Lark's default place (the temp folder).

cnnc's modules take Lark's names from here, never from ``lark`` directly, so that whichever loads
first, Lark comes without ``interegular`` (``cnnc.lalr_tables`` reads Lark's modules only once a parser
from here has loaded them). A spec that parses is parsed without Lark at all, over tables exported
from Lark's (``cnnc.lalr_tables``, ``cnnc.lalr_driver``); Lark parses the others and explains their
syntax errors."""

from __future__ import annotations

import hashlib
import sys

from cnnc.lalr_tables import tables_folder

_HIDE_INTEREGULAR = "interegular" not in sys.modules and "lark" not in sys.modules
if _HIDE_INTEREGULAR:
    sys.modules["interegular"] = None  # `import interegular` raises ImportError while this is here
try:
    import lark
    from lark import Lark, Token, Transformer, Tree, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
finally:
    if _HIDE_INTEREGULAR:
        del sys.modules["interegular"]


# Options that never change the tables, as Lark leaves them out of its cache's hash.
_NOT_IN_TABLES = ("transformer", "postlex", "lexer_callbacks", "edit_terminals", "_plugins")


def tables_cache(grammar: str, options: dict[str, object]) -> str | bool:
    """The ``cache=`` argument for Lark: a file in the cache folder named by the grammar, the options
    and the versions (two parsers of one grammar with other options keep a file each), or True
    (Lark's temp folder) when the folder cannot be made."""
    folder = tables_folder()
    if folder is None:
        return True
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return True
    settings = "".join(f"{key}={value!r};" for key, value in sorted(options.items()) if key not in _NOT_IN_TABLES)
    digest = hashlib.sha256(f"{grammar}\n{settings}".encode()).hexdigest()[:16]
    python = "{}.{}".format(*sys.version_info[:2])
    return str(folder / f"parser-{digest}-lark{lark.__version__}-py{python}.cache")


def load_parser(package: str, grammar_file: str, *, strict: bool = False, **options) -> Lark:
    """A LALR parser for the grammar shipped in ``package``, its tables from the cache when they are
    there. ``strict`` builds it afresh with Lark's collision checks (``interegular`` must have been
    imported before this module)."""
    import pkgutil

    data = pkgutil.get_data(package, grammar_file)
    if data is None:  # a loader that cannot read package data
        raise FileNotFoundError(f"cannot read {grammar_file} from {package}")
    text = data.decode("utf-8")
    options = {"parser": "lalr", "strict": strict, **options}
    return Lark(text, cache=False if strict else tables_cache(text, options), **options)


__all__ = ["Lark", "Token", "Transformer", "Tree", "UnexpectedCharacters", "UnexpectedInput", "UnexpectedToken",
           "load_parser", "tables_cache", "tables_folder"]
