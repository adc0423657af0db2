"""The parser's fast path (cnnc/lalr_driver.py over the tables of cnnc/lalr_tables.py) against Lark:
the same AST on every example, every fixture and generated specs; on any text it does not parse,
Lark's diagnostics, unchanged. Its table file: rebuilt when stale or damaged, never an error."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz_strategies import EXAMPLES, generated_spec, mutated_spec, program_text, strategy
from hypothesis import HealthCheck, given, settings

from cnnc import lalr_tables
from cnnc.lalr_driver import CannotParse, FastParser
from cnnc.parser import parse, parse_fast, parse_with_lark, refusal
from cnnc.reading import decode
from cnnc.source import Source

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted((ROOT / "tests" / "fixtures").rglob("*.cnn"))
VGG16 = ROOT / "examples" / "vgg16.cnn"


def assert_same_as_lark(text: str | Source) -> None:
    """The fast path gives Lark's AST on a text Lark parses; on any other text it gives nothing and
    ``parse`` gives Lark's diagnostics."""
    source = text if isinstance(text, Source) else decode(text.encode("utf-8"), "spec.cnn")
    lark_module, lark_diagnostics = parse_with_lark(source)
    fast_module = parse_fast(source.parsed_text)
    if lark_module is not None:
        assert fast_module == lark_module
        assert repr(fast_module) == repr(lark_module)  # the same numbers, of the same types
    else:
        assert fast_module is None
    refused = refusal(source)  # a NUL byte or a spec too long: refused before either parser runs
    assert parse(source) == ((None, [refused]) if refused else (lark_module, lark_diagnostics))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_parses_alike(name):
    assert parse_fast(EXAMPLES[name]) is not None
    assert_same_as_lark(EXAMPLES[name])


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: str(path.relative_to(ROOT / "tests" / "fixtures")))
def test_every_fixture_parses_alike(path):
    assert_same_as_lark(path.read_text(encoding="utf-8"))


# What the grammar's corners need of a lexer and a tree builder: `def` retyped from NAME, `)x` of
# RPAR_X (priority 2) against `)`, sizes built from expressions, absent `[...]` as None, comments
# and escaped line ends ignored, `?rule` inlined, `//` against `/`, tokens at line ends.
CORNERS = [
    "", "\n\n", "# only a comment", "input 8x8x3", "input 8x8x3\n", ";;input 8x8x3;;conv 8 3x3;",
    "def f(c, k=3, s=(1+1)) { conv c kxk stride=s }\nf 8",
    "def f() {\n}\nf", "define 1\ndef_x 2", "input (s)x(s)x3", "input 1x(s)x(s*2)", "input (s)x3",
    "conv (c // 2) 3x3 stride=(a / b) pad=-1 scale=-0.5 rate=1e-3 x=.5",
    "conv (-c) 1x1 \\\n  stride=2", "residual { conv 8 3x3; relu } shortcut { conv 8 1x1 }",
    "repeat 2 {\n  relu  # noqa: W201\n}\r\n", "y=(max(a, b, (c - 1) * 2))", "f (g(x))", "conv (min(c, 4)) 3x3",
    "train { optimizer=sgd lr=0.05\n batch=32 }", "a b c\td", "conv 64 3x3\x0c",
]
# Texts with syntax errors (the fast path leaves them to Lark) or too large numbers (E006).
INVALID = [
    "conv 64 3, 3", "conv c * 4 3x3", "def f(c stride) { }", "conv 64 3x3 stride=", "residual { relu } relu",
    "input 224x224x3\nconv 64 3x3 stride=2, pad=1", "conv 64 3x3 @", "conv 1.2.3 3x3", "conv 'a'", "{",
    "}", "conv (3", "conv 3)", "x = = 2", "conv " + "9" * 200, "input 1" + "0" * 101 + "x3", "conv 1e999 3x3",
    "conv 64 3x3\n  stride=2 / 2", "input 8x8x3\nconv 8 3x3x", "def (c) { }", "def",
]


@pytest.mark.parametrize("text", CORNERS + INVALID)
def test_corners_and_errors_parse_alike(text):
    assert_same_as_lark(text)


@pytest.mark.parametrize("text", CORNERS)
def test_the_fast_path_parses_every_corner(text):
    assert parse_fast(text) is not None


@pytest.mark.parametrize("text", INVALID)
def test_the_fast_path_leaves_every_error_to_lark(text):
    assert parse_fast(text) is None
    assert parse(decode(text.encode(), "spec.cnn"))[1]  # and Lark's diagnostic is there


PROPERTY = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(text=strategy(program_text))
def test_generated_programs_parse_alike(text):
    assert_same_as_lark(text)


@PROPERTY
@given(spec=strategy(generated_spec))
def test_generated_specs_parse_alike(spec):
    assert_same_as_lark(decode(spec.content, spec.name))


@PROPERTY
@given(spec=strategy(mutated_spec))
def test_mutated_examples_parse_alike(spec):
    assert_same_as_lark(decode(spec.content, spec.name))


class Recording:
    """The parser's transformer, recording every token its methods receive."""

    def __init__(self) -> None:
        from cnnc.parser import _TO_AST

        self.to_ast, self.seen = _TO_AST, []

    def __getattr__(self, name):
        method = getattr(self.to_ast, name)

        def record(children):
            self.seen.extend((t.type, str(t), t.line, t.column, t.end_line, t.end_column, t.start_pos, t.end_pos)
                             for t in children if isinstance(t, str))
            return method(children)
        return record


def test_tokens_carry_lark_s_positions():
    from cnnc.lark_loading import load_parser
    from cnnc.parser import _fast_parser

    text = "input 8x8x3\r\n  conv 16 \\\n 3x3 # c\ndef f(c=-1.5) {\n\tconv (c // 2)x(c) 1x1 pad=same }"
    by_lark, by_fast = Recording(), Recording()
    load_parser("cnnc.grammar", "cnnc.lark", maybe_placeholders=True, transformer=by_lark).parse(text)
    _fast_parser().parse(text, by_fast)
    assert by_fast.seen == by_lark.seen
    assert ("DIMS", "3x3", 3, 2, 3, 5, 26, 29) in by_fast.seen  # after an escaped line end
    assert ("RPAR_X", ")x", 5, 14, 5, 16, 63, 65) in by_fast.seen
    assert len(by_fast.seen) == 23


# The table file ----------------------------------------------------------------------------------

OPTIONS = {"maybe_placeholders": True}


def table_files(cache: Path) -> list[Path]:
    return sorted((cache / "parser").glob("fast-*.marshal"))


def run_check(cache: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CNNC_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "cnnc", "check", str(VGG16), *arguments], check=False,
                          capture_output=True, text=True, timeout=120, env=environment)


def test_the_tables_are_written_once_and_read_after(tmp_path):
    first = run_check(tmp_path)
    assert first.returncode == 0, first.stderr
    (table,) = table_files(tmp_path)
    assert f"-lark{lalr_tables.lark_version()}-py{sys.version_info[0]}.{sys.version_info[1]}." in table.name
    written = table.stat().st_mtime_ns
    second = run_check(tmp_path)
    assert (second.returncode, second.stdout, second.stderr) == (0, first.stdout, "")
    assert table.stat().st_mtime_ns == written


@pytest.mark.parametrize("damage", ["garbage", "empty", "other grammar", "other lark", "other format"])
def test_a_stale_or_damaged_table_file_is_rebuilt(tmp_path, damage):
    reference = run_check(tmp_path)
    (table,) = table_files(tmp_path)
    tables = marshal.loads(table.read_bytes())
    if damage == "garbage":
        table.write_bytes(b"not tables\x00\x01")
    elif damage == "empty":
        table.write_bytes(b"")
    else:
        key = {"other grammar": "grammar", "other lark": "lark", "other format": "format"}[damage]
        table.write_bytes(marshal.dumps({**tables, key: "something else"}))
    assert lalr_tables.read_tables(table, tables["grammar"], OPTIONS, tables["lark"]) is None
    again = run_check(tmp_path)
    assert (again.returncode, again.stdout, again.stderr) == (0, reference.stdout, "")
    assert marshal.loads(table.read_bytes()) == tables


def test_an_unwritable_cache_folder_still_parses_fast(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("a file where the cache folder should be")
    code = ("import sys; from cnnc.parser import parse_fast; "
            "print(parse_fast('input 8x8x3\\nconv 8 3x3') is not None)")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "CNNC_CACHE_DIR": str(not_a_folder / "cnnc")})
    assert (result.returncode, result.stdout, result.stderr) == (0, "True\n", "")


def test_the_file_name_follows_grammar_options_and_lark(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNC_CACHE_DIR", str(tmp_path))
    grammar = lalr_tables.package_text("cnnc.grammar", "cnnc.lark")
    name = lalr_tables.tables_file(grammar, OPTIONS, "1.3.1")
    assert name.parent == tmp_path / "parser"
    assert name == lalr_tables.tables_file(grammar, dict(OPTIONS), "1.3.1")
    assert name != lalr_tables.tables_file(grammar + "\n", OPTIONS, "1.3.1")
    assert name != lalr_tables.tables_file(grammar, {"maybe_placeholders": False}, "1.3.1")
    assert name != lalr_tables.tables_file(grammar, OPTIONS, "1.3.2")


def test_lark_s_version_is_read_without_importing_lark():
    code = ("import sys; from cnnc.lalr_tables import lark_version; v = lark_version(); "
            "assert 'lark' not in sys.modules; import lark; print(v == lark.__version__)")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout) == (0, "True\n"), result.stderr


# The driver on grammars other than ours: what Lark's lexer and tree builder do that ours does not use
# is refused at export (Lark keeps parsing), and what it does use behaves as Lark.

def lark_and_fast(grammar: str, **options) -> tuple[object, FastParser]:
    from cnnc.lark_loading import Lark

    lark = Lark(grammar, parser="lalr", **options)
    return lark, FastParser(lalr_tables.export_tables(lark, grammar, options, "test"))


class TreeLike:
    """Builds what Lark builds without a transformer, as nested tuples."""

    def __getattr__(self, name):
        if name.startswith("_") or name.isupper():
            raise AttributeError(name)
        return lambda children: (name, *[c if not isinstance(c, str) else (c.type, str(c)) for c in children])


def as_tuples(tree) -> object:
    from cnnc.lark_loading import Tree

    if isinstance(tree, Tree):
        return (tree.data, *[as_tuples(child) for child in tree.children])
    return (tree.type, str(tree)) if isinstance(tree, str) else tree


KEYWORDS = r"""
start: item*
item: "if" NAME -> condition
    | NAME "=" [value] ";" -> assignment
    | _pair
    | "(" ")"
_pair: "<" value "," value ">"
?value: NUMBER | NAME | "-" value -> negative
NAME: /[a-z]+/
NUMBER.2: /[0-9]+/
LONG: "<<"
%ignore /\s+/
%ignore /--[^\n]*/
"""


@pytest.mark.parametrize("text", ["if x", "a = 1; b = ; c = -x;", "<1, 2> ifx if if", "", "-- c\n a = 1 ;",
                                  "( )", "if if"])
def test_a_grammar_with_keywords_priorities_and_placeholders(text):
    lark, fast = lark_and_fast(KEYWORDS, maybe_placeholders=True)
    try:
        expected = as_tuples(lark.parse(text))
    except Exception:
        with pytest.raises(CannotParse):
            fast.parse(text, TreeLike())
    else:
        assert fast.parse(text, TreeLike()) == expected


def test_what_the_fast_path_does_not_reproduce_is_refused_at_export():
    from cnnc.lark_loading import Lark

    for grammar, options in [('start: A\nA: "a"i\n', {}), ("start: A\nA: /a/\n", {"lexer_callbacks": {"A": print}}),
                             ("start: A\nA: /a/\n", {"propagate_positions": True}),
                             ("start: A\nA: /a/\n", {"lexer": "basic"})]:
        lark = Lark(grammar, parser="lalr", **options)
        with pytest.raises(lalr_tables.Unsupported):
            lalr_tables.export_tables(lark, grammar, options, "test")
