"""Syntax highlighting: the Pygments lexer (cnnc.highlighting) on every example and fixture, its entry
point, the TextMate grammar against it character by character, and highlighted diagnostics."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from fuzz_strategies import program_text, strategy
from hypothesis import HealthCheck, given, settings
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, Punctuation, Whitespace
from rich.console import Console
from textmate import Grammar

from cnnc import catalog, highlighting
from cnnc.cli import main
from cnnc.highlighting import CnncLexer, one_of
from cnnc.parser import parse
from cnnc.source import Source

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.cnn"))
SPECS = EXAMPLES + sorted((ROOT / "tests" / "fixtures").rglob("*.cnn"))
TEXTMATE = ROOT / "grammar" / "cnnc.tmLanguage.json"

# Every construct of the grammar (grammar/cnnc.lark), some in odd spacing; the test below shows that cnnc parses it.
SAMPLE = """\
network sample  # NOQA:W201,I301 and # noqa
input 32x32x3
def unit(c, s=1, k=(c * 2)) {
    conv c (k)x(k) stride=1x(s) pad=(s)x1 dilation=(1)x2x(s) groups = 1 bias=false round=ceil
    conv c 1x(k)x3 stride=(s)x(s)x1; leakyrelu -0.2; elu .5; dropout 1e-1 \\
        ; batchnorm eps=1.e-5 momentum=0.1
    gelu approximate=tanh
}
repeat 2 as i { unit (max(8, floor(16 // 3 / 2 + 0.5) * 8)) s=(i + 1) }
residual { unit 8 } shortcut { conv 8 1x1 }
concat { branch { }; branch { maxpool 3 stride=1 pad=same } }
add { branch { } branch { relu } }
multiply { branch { } branch { globalavgpool; conv 64 1; sigmoid } }
globalavgpool;; fc 10 bias=true
train { optimizer=adamw lr=0.001 weight_decay=0 nesterov=false
        epochs=2 }
"""

# The class of each Pygments token type and of each TextMate scope: the two must agree.
TOKEN_CLASSES = {
    Whitespace: None, Comment.Single: "comment", Comment.Special: "noqa", Keyword: "keyword",
    Keyword.Declaration: "def", Keyword.Reserved: "directive", Keyword.Constant: "boolean", Name.Builtin: "layer",
    Name.Function: "function", Name.Attribute: "option", Name: "name", Number: "size", Number.Float: "float",
    Number.Integer: "integer", Operator: "operator", Punctuation: "punctuation",
}
SCOPE_CLASSES = {
    "comment.line.number-sign.cnnc": "comment", "keyword.other.noqa.cnnc": "noqa", "keyword.control.cnnc": "keyword",
    "storage.type.function.cnnc": "def", "keyword.other.directive.cnnc": "directive",
    "constant.language.boolean.cnnc": "boolean", "entity.name.function.layer.cnnc": "layer",
    "entity.name.function.definition.cnnc": "function", "support.function.cnnc": "function",
    "variable.parameter.option.cnnc": "option", "variable.other.cnnc": "name", "constant.numeric.size.cnnc": "size",
    "constant.numeric.float.cnnc": "float", "constant.numeric.integer.cnnc": "integer",
    "keyword.operator.cnnc": "operator", "keyword.operator.assignment.cnnc": "operator",
    "punctuation.section.block.cnnc": "punctuation", "punctuation.section.parens.cnnc": "punctuation",
    "punctuation.separator.comma.cnnc": "punctuation", "punctuation.terminator.statement.cnnc": "punctuation",
    "punctuation.separator.continuation.cnnc": "punctuation",
}


def lexer_classes(text: str) -> list[str | None]:
    classes = []
    for _, token, value in CnncLexer().get_tokens_unprocessed(text):
        classes += [TOKEN_CLASSES[token]] * len(value)
    return classes


@cache
def textmate_grammar() -> Grammar:
    return Grammar(json.loads(TEXTMATE.read_text(encoding="utf-8")))


def textmate_classes(text: str) -> list[str | None]:
    grammar = textmate_grammar()
    return [SCOPE_CLASSES[scopes[-1]] if scopes else None for scopes in grammar.scopes(text)]


def first_difference(text: str) -> str | None:
    """Where the TextMate grammar and the lexer first class a character differently, if they do."""
    for index, (lexer, textmate) in enumerate(zip(lexer_classes(text), textmate_classes(text), strict=True)):
        if lexer != textmate:
            line = text.count("\n", 0, index) + 1
            column = index - (text.rfind("\n", 0, index) + 1) + 1
            return f"{line}:{column} {text.splitlines()[line - 1]!r}: lexer {lexer}, TextMate {textmate}"
    return None


# The lexer ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", SPECS + [None], ids=lambda path: str(path.relative_to(ROOT)) if path else "sample")
def test_the_lexer_reads_every_spec_without_an_error_token_and_gives_its_text_back(path):
    text = path.read_text(encoding="utf-8") if path else SAMPLE
    tokens = list(CnncLexer().get_tokens_unprocessed(text))
    assert "".join(value for _, _, value in tokens) == text
    assert [(index, value) for index, token, value in tokens if token is Error] == []
    assert "".join(value for _, value in CnncLexer(stripnl=False).get_tokens(text)) == text + (
        "" if text.endswith("\n") else "\n")


def test_the_sample_is_valid_cnnc_and_uses_every_token_class():
    tree, problems = parse(Source(SAMPLE))
    assert tree is not None and problems == []
    assert set(lexer_classes(SAMPLE)) == set(TOKEN_CLASSES.values())


def test_the_lexer_classes_the_tokens_of_a_line():
    tokens = [(token, value) for _, token, value in CnncLexer().get_tokens_unprocessed(
        "conv 8 (k)x3 stride=2 pad=same bias=false approximate=tanh; unit (min(c, 4))  # x # noqa: W201 end")
        if token is not Whitespace]
    assert tokens == [
        (Name.Builtin, "conv"), (Number.Integer, "8"), (Punctuation, "("), (Name, "k"), (Punctuation, ")"),
        (Number, "x3"), (Name.Attribute, "stride"), (Operator, "="), (Number.Integer, "2"),
        (Name.Attribute, "pad"), (Operator, "="), (Name, "same"), (Name.Attribute, "bias"), (Operator, "="),
        (Keyword.Constant, "false"), (Name.Attribute, "approximate"), (Operator, "="), (Name, "tanh"),
        (Punctuation, ";"), (Name, "unit"), (Punctuation, "("), (Name.Function, "min"), (Punctuation, "("),
        (Name, "c"), (Punctuation, ","), (Number.Integer, "4"), (Punctuation, ")"), (Punctuation, ")"),
        (Comment.Single, "#"), (Comment.Single, " x "), (Comment.Special, "# noqa: W201"), (Comment.Single, " end")]


def test_the_lexer_s_words_are_the_catalogue_s():
    assert highlighting.LAYERS == tuple(catalog.LAYERS)
    assert set(highlighting.STRUCTURES) == set(catalog.STRUCTURES) | {"as"}
    assert highlighting.DIRECTIVES == tuple(catalog.DIRECTIVES)


def test_the_lexer_finds_suppressions_as_the_linter_does():
    from cnnc.lint.noqa import directives

    comments = ["# noqa", "#noqa:W201", "# NOQA: w201, I301 why", "# see # noqa: W205", "# noqa:", "# noqa W201",
                "# noqanot", "# no qa", "# a comment"]
    for comment in comments:
        found = directives(Source(f"relu {comment}\n")).get(1)
        special = [value for _, token, value in CnncLexer().get_tokens_unprocessed(comment)
                   if token is Comment.Special]
        if found is None:
            assert special == [], comment
        else:
            start = found.span.column - 1 - len("relu ")
            assert special == [comment[start:found.span.end_column - 1 - len("relu ")]], comment


# The entry point ------------------------------------------------------------------------------

def test_pygments_finds_the_lexer_by_name_and_file_name_through_the_entry_point():
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    assert [point.value for point in entry_points(group="pygments.lexers") if point.name == "cnnc"] == [
        "cnnc.highlighting:CnncLexer"]
    for name in ("cnn", "cnnc"):
        assert type(get_lexer_by_name(name)) is CnncLexer
    assert type(get_lexer_for_filename("net.cnn")) is CnncLexer


def test_rich_highlights_cnn_text_by_the_lexer_s_name():
    from rich.syntax import Syntax

    out = io.StringIO()
    Console(file=out, force_terminal=True, color_system="standard", width=80).print(
        Syntax("conv 64 3x3 stride=2  # noqa", "cnn", theme="ansi_dark"))
    assert type(Syntax("relu", "cnn").lexer) is CnncLexer
    assert "\x1b[96mconv" in out.getvalue()  # ansi_dark's Name.Builtin: bright cyan
    assert re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue()).rstrip() == "conv 64 3x3 stride=2  # noqa"


# The TextMate grammar -------------------------------------------------------------------------

def test_the_textmate_grammar_ships_beside_the_lark_grammar():
    from importlib.resources import files

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        tomllib = pytest.importorskip("tomli")
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "*.tmLanguage.json" in package_data["cnnc.grammar"]
    assert (files("cnnc.grammar") / "cnnc.tmLanguage.json").read_text(encoding="utf-8") == TEXTMATE.read_text(
        encoding="utf-8")


def test_the_textmate_grammar_is_for_cnn_files_and_its_regexes_compile():
    document = json.loads(TEXTMATE.read_text(encoding="utf-8"))
    assert (document["scopeName"], document["fileTypes"]) == ("source.cnnc", ["cnn"])

    def regexes(value: object) -> list[str]:
        if isinstance(value, list):
            return [regex for item in value for regex in regexes(item)]
        if isinstance(value, dict):
            return [regex for key, item in value.items()
                    for regex in ([item] if key in ("match", "begin", "end") else regexes(item))]
        return []

    found = regexes(document)
    assert len(found) == TEXTMATE.read_text(encoding="utf-8").count('"match":') + 2  # and a region's begin and end
    for regex in found:
        re.compile(regex)
    Grammar(document)  # every include names a rule of the repository


def test_the_textmate_grammar_s_words_are_the_lexer_s():
    repository = json.loads(TEXTMATE.read_text(encoding="utf-8"))["repository"]
    keywords = {rule["name"]: rule["match"] for rule in repository["keywords"]["patterns"]}
    assert keywords == {"keyword.control.cnnc": one_of(highlighting.STRUCTURES),
                        "keyword.other.directive.cnnc": one_of(highlighting.DIRECTIVES),
                        "constant.language.boolean.cnnc": one_of(highlighting.BOOLEANS)}
    assert repository["layers"]["match"] == one_of(highlighting.LAYERS)


@pytest.mark.parametrize("path", EXAMPLES + [None], ids=lambda path: path.name if path else "sample")
def test_the_textmate_grammar_classes_every_character_as_the_lexer_does(path):
    text = path.read_text(encoding="utf-8") if path else SAMPLE
    assert first_difference(text) is None


def test_the_comparison_can_fail():
    document = json.loads(TEXTMATE.read_text(encoding="utf-8"))
    document["repository"]["layers"]["match"] = document["repository"]["layers"]["match"].replace("|fc|", "|")
    grammar = Grammar(document)
    classes = [SCOPE_CLASSES[scopes[-1]] if scopes else None for scopes in grammar.scopes("fc 10\n")]
    assert classes[:2] == ["name", "name"] and lexer_classes("fc 10\n")[:2] == ["layer", "layer"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=strategy(program_text))
def test_on_generated_programs_that_parse_the_lexer_and_the_textmate_grammar_agree(text):
    tree, problems = parse(Source(text))
    if tree is None or problems:
        return  # not cnnc: the lexer may give error tokens
    assert not [value for _, token, value in CnncLexer().get_tokens_unprocessed(text) if token is Error]
    assert first_difference(text) is None


# Highlighted diagnostics ----------------------------------------------------------------------

DEMO = ROOT / "tests" / "fixtures" / "lint" / "golden" / "demo.cnn"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def check_output(console_options: dict, argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    console = Console(file=out, highlight=False, markup=False, emoji=False, **console_options)
    code = main(argv, out=console, err=console)
    return code, out.getvalue()


def test_diagnostics_in_colour_show_highlighted_source_and_the_same_text():
    code, coloured = check_output({"force_terminal": True, "color_system": "standard", "width": 200},
                                  ["check", "-q", str(DEMO)])
    _, plain = check_output({"force_terminal": False}, ["check", "-q", str(DEMO)])
    assert code == 0 and "\x1b[" not in plain
    assert ANSI.sub("", coloured) == plain
    # `11 | conv 16 5x5 stride=2   # (64 - 5)/2 + 1 = 30.5`: the layer, the numbers, the option, the comment
    line = next(line for line in coloured.splitlines() if "11 | " in line)
    assert ("\x1b[36mconv\x1b[0m" in line and "\x1b[94m5x5\x1b[0m" in line and "\x1b[3mstride\x1b[0m" in line
            and "\x1b[2m# (64 - 5)/2 + 1 = 30.5\x1b[0m" in line)
    line = next(line for line in coloured.splitlines() if "18 | " in line)
    assert "\x1b[3;36m# noqa: X100\x1b[0m" in line


def test_highlighting_keeps_the_text_of_every_diagnostic():
    from cnnc.api import Options, check
    from cnnc.lint import lint
    from cnnc.render.diagnostics import render_diagnostic

    long_line = "input 64x64x3\n" + "relu; " * 40 + "conv 8 3x3 stride=2\tbias=true " + "; relu" * 40 + "  # noqa: I301\n"
    sources = [Source(path.read_text(encoding="utf-8"), str(path)) for path in SPECS]
    sources += [Source(long_line), Source("input 8x8x3\n\tconv\t8 9x9  # a\ttab\n")]
    shown = 0
    for source in sources:
        checked = check(source, Options())
        for diagnostic in checked.diagnostics + (lint(checked) if checked.ok else ()):
            highlighted = render_diagnostic(diagnostic, source, highlight=True)
            assert highlighted.plain == render_diagnostic(diagnostic, source).plain
            assert len(highlighted._spans) > len(render_diagnostic(diagnostic, source)._spans) or not diagnostic.span
            shown += 1
    assert shown > 30


def test_the_styles_fall_on_their_tokens_after_tabs_are_expanded():
    from cnnc.api import check
    from cnnc.render.diagnostics import render_diagnostic

    source = Source("input 8x8x3\n\tconv\t8 9x9\tstride=1  # a\ttab\n")
    (diagnostic,) = check(source).diagnostics
    text = render_diagnostic(diagnostic, source, highlight=True)
    line = text.plain.splitlines()[2]
    assert line == "2 |     conv    8 9x9   stride=1  # a   tab"
    start = text.plain.index(line) + len("2 | ")
    styled = [(text.plain[begin:end], style) for begin, end, style in text._spans if begin >= start][:6]
    assert styled == [("conv", "cyan"), ("8", "bright_blue"), ("9x9", "bright_blue"), ("stride", "italic"),
                      ("1", "bright_blue"), ("# a   tab", "dim")]


def test_a_cut_line_is_highlighted_as_the_whole_line_would_be():
    from cnnc.render.highlight import line_styles

    line = "conv 8 3x3 stride=2 pad=1; " * 20 + "relu  # noqa: W201 " + "x " * 100
    whole = line_styles(line)
    for first, last in ((100, 260), (37, 197), (531, 691), (600, 700)):
        cut = [(max(begin, first), min(end, last), style) for begin, end, style in whole if begin < last and end > first]
        assert line_styles(line, first, last) == cut


def test_piped_diagnostics_do_not_load_pygments_and_coloured_ones_do():
    script = ("import contextlib, io, json, sys\nfrom cnnc.cli import main\n"
              "with contextlib.redirect_stdout(io.StringIO()):\n    main(['check', sys.argv[1]])\n"
              "print(json.dumps(sorted(sys.modules)))")
    environment = {key: value for key, value in os.environ.items() if key not in ("FORCE_COLOR", "NO_COLOR")}
    loaded = {}
    for case, variables in {"piped": {}, "coloured": {"FORCE_COLOR": "1"},
                            "NO_COLOR": {"FORCE_COLOR": "1", "NO_COLOR": "1"}}.items():
        result = subprocess.run([sys.executable, "-c", script, str(DEMO)], capture_output=True, text=True, timeout=120,
                                check=True, env={**environment, **variables})
        loaded[case] = {name for name in json.loads(result.stdout.splitlines()[-1])
                        if name.split(".")[0] == "pygments" or name.endswith(("highlighting", "highlight"))}
    assert loaded["piped"] == loaded["NO_COLOR"] == set()
    assert {"pygments.lexer", "cnnc.highlighting", "cnnc.render.highlight"} <= loaded["coloured"]
