"""Text to AST: the grammar, every accepted form, positions, and syntax errors with their hints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cnnc import syntax as ast
from cnnc.parser import _MISTAKES, parse
from cnnc.source import Source, Span

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The sample of the language from the issue (line 24 uses `c` outside a def: an elaboration error, not a
# syntax error), and VGG-16 as the issue gives it.
SAMPLE = (FIXTURES / "issue_sample.cnn").read_text(encoding="utf-8")
VGG16 = (FIXTURES / "issue_vgg16.cnn").read_text(encoding="utf-8")


def parsed(text: str) -> ast.Module:
    module, diagnostics = parse(Source(text))
    assert diagnostics == [], diagnostics
    assert module is not None
    return module


def syntax_error(text: str):
    module, diagnostics = parse(Source(text))
    assert module is None, f"{text!r} parsed"
    assert len(diagnostics) == 1
    (diagnostic,) = diagnostics
    assert diagnostic.code == "E001"
    assert diagnostic.is_error
    return diagnostic


def plain(node):
    """An AST without its positions, as nested tuples, so that expected trees read like the source."""
    if isinstance(node, ast.Module):
        return [plain(s) for s in node.statements]
    if isinstance(node, ast.Number):
        return node.value
    if isinstance(node, ast.Dims):
        return "x".join(map(str, node.values))
    if isinstance(node, ast.Name):
        return ("name", node.id)
    if isinstance(node, ast.BinaryOp):
        return (node.op, plain(node.left), plain(node.right))
    if isinstance(node, ast.Negate):
        return ("neg", plain(node.operand))
    if isinstance(node, ast.Function):
        return (node.name, *(plain(a) for a in node.args))
    if isinstance(node, ast.Size):
        return ("size", *(plain(p) for p in node.parts))
    if isinstance(node, ast.Option):
        return ("=", node.key, plain(node.value))
    if isinstance(node, ast.Block):
        return [plain(s) for s in node.statements]
    if isinstance(node, ast.Call):
        result = (node.op, [plain(i) for i in node.items])
        if node.body is not None:
            result += (plain(node.body),)
        for clause in node.clauses:
            result += ((clause.keyword, plain(clause.body)),)
        return result
    if isinstance(node, ast.Settings):
        return ("settings", [plain(o) for o in node.options])
    if isinstance(node, ast.Definition):
        return ("def", node.name, [(p.name, None if p.default is None else plain(p.default)) for p in node.parameters],
                plain(node.body))
    raise TypeError(node)


def statement(text: str):
    (only,) = plain(parsed(text))
    return only


# The grammar ------------------------------------------------------------------------------

def test_grammar_builds_in_strict_mode():
    # strict=True makes Lark reject colliding terminals (e.g. DIMS against INT and NAME) and conflicts. It needs
    # interegular, which cnnc hides from Lark for a faster start (cnnc/lark_loading.py): so the grammar is built
    # in a process that imports interegular first.
    code = ("import interegular, lark.lexer\n"
            "from cnnc.parser import _parser\n"
            "assert lark.lexer.has_interegular\n"
            "print(_parser(strict=True).parse('input 8x8x3\\nconv 8 3x3\\n').statements[1].op)")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "conv\n"


def test_the_sample_parses_statement_by_statement():
    module = parsed(SAMPLE)
    ops = [s.name if isinstance(s, ast.Definition) else s.op for s in module.statements]
    assert ops == ["network", "input", "conv3", "conv3", "repeat", "maxpool", "residual", "concat", "conv",
                   "leakyrelu", "batchnorm", "train", "fc", "softmax"]
    lines = [s.span.line for s in module.statements]
    assert lines == [2, 3, 5, 10, 11, 12, 13, 20, 24, 25, 26, 27, 29, 30]


def test_the_sample_trees():
    module = plain(parsed(SAMPLE))
    assert module[0] == ("network", [("name", "vgg_like")])
    assert module[1] == ("input", ["224x224x3"])
    assert module[2] == ("def", "conv3", [("c", None), ("stride", 1)], [
        ("conv", [("name", "c"), "3x3", ("=", "stride", ("name", "stride")), ("=", "pad", 1)]),
        ("relu", []),
    ])
    assert module[3] == ("conv3", [64])
    assert module[4] == ("repeat", [2], [("conv3", [64])])
    assert module[5] == ("maxpool", ["2x2", ("=", "stride", 2)])
    assert module[6] == ("residual", [], [
        ("conv", [64, "3x3", ("=", "pad", 1), ("=", "bias", ("name", "false"))]), ("batchnorm", []), ("relu", []),
        ("conv", [64, "3x3", ("=", "pad", 1), ("=", "bias", ("name", "false"))]), ("batchnorm", []),
    ], ("shortcut", [("conv", [64, "1x1", ("=", "bias", ("name", "false"))]), ("batchnorm", [])]))
    assert module[7] == ("concat", [], [
        ("branch", [], [("conv", [64, "1x1"])]),
        ("branch", [], [("conv", [96, "1x1"]), ("relu", []), ("conv", [128, "3x3", ("=", "pad", ("name", "same"))])]),
    ])
    # (c * 4 - -1 // 2): `*` and `//` bind tighter than `-`, and unary minus tighter than `//`.
    assert module[8] == ("conv", [("*", ("name", "c"), 4), "1x1",
                                  ("=", "groups", ("-", ("*", ("name", "c"), 4), ("//", ("neg", 1), 2)))])
    assert module[9] == ("leakyrelu", [-0.1])
    assert module[10] == ("batchnorm", [("=", "eps", 1e-5)])
    assert module[11] == ("train", [], [
        ("settings", [("=", "optimizer", ("name", "sgd")), ("=", "lr", 0.05), ("=", "momentum", 0.9)]),
        ("settings", [("=", "epochs", 5)]),
    ])
    assert module[12:] == [("fc", [10]), ("softmax", [])]


def test_vgg16_parses():
    module = plain(parsed(VGG16))
    assert module[1] == ("def", "conv3", [("c", None)], [("conv", [("name", "c"), "3x3", ("=", "pad", 1)]),
                                                         ("relu", [])])
    assert module[3] == ("maxpool", [2])
    assert module[12:15] == [("fc", [4096]), ("relu", []), ("dropout", [0.5])]
    assert len(module) == 20


# Values ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("64", 64), ("0", 0), ("007", 7), ("0.5", 0.5), (".5", 0.5), ("5.", 5.0), ("1e-5", 1e-5), ("2E3", 2000.0),
    ("1.5e+2", 150.0), ("-1", -1), ("-0.25", -0.25), ("- 3", -3),
])
def test_numbers(text, value):
    (argument,) = statement(f"f {text}")[1]
    assert argument == value
    assert type(argument) is type(value)


@pytest.mark.parametrize("text, values", [
    ("3x3", (3, 3)), ("1x7", (1, 7)), ("224x224x3", (224, 224, 3)), ("16x112x112x3", (16, 112, 112, 3)),
    ("0x10", (0, 10)),  # zero is a range error for elaboration, not a syntax error
])
def test_sizes(text, values):
    (call,) = parsed(f"f {text}").statements
    assert call.items[0].values == values


def test_names_and_options():
    assert statement("conv filters=64 kernel=3x3 pad=same bias=false round=ceil") == (
        "conv", [("=", "filters", 64), ("=", "kernel", "3x3"), ("=", "pad", ("name", "same")),
                 ("=", "bias", ("name", "false")), ("=", "round", ("name", "ceil"))])
    assert statement("my_block2 _x") == ("my_block2", [("name", "_x")])


@pytest.mark.parametrize("text, tree", [
    ("(1 + 2 * 3)", ("+", 1, ("*", 2, 3))),
    ("(1 * 2 + 3)", ("+", ("*", 1, 2), 3)),
    ("(10 - 4 - 3)", ("-", ("-", 10, 4), 3)),  # left-associative
    ("(8 // 2 // 2)", ("//", ("//", 8, 2), 2)),
    ("(7 // 2 * 2)", ("*", ("//", 7, 2), 2)),
    ("((1 + 2) * 3)", ("*", ("+", 1, 2), 3)),
    ("(-c)", ("neg", ("name", "c"))),
    ("(- -3)", ("neg", ("neg", 3))),
    ("(c - -1)", ("-", ("name", "c"), ("neg", 1))),
    ("(-1 // 2)", ("//", ("neg", 1), 2)),
    ("(0.5 * c)", ("*", 0.5, ("name", "c"))),
    ("(((c)))", ("name", "c")),
    ("(2)", 2),
])
def test_arithmetic_precedence(text, tree):
    assert statement(f"conv {text}") == ("conv", [tree])


@pytest.mark.parametrize("text, tree", [
    ("(c / 2)", ("/", ("name", "c"), 2)),
    ("(8 / 2 // 2 * 3)", ("*", ("//", ("/", 8, 2), 2), 3)),
    ("(min(a, b))", ("min", ("name", "a"), ("name", "b"))),
    ("(max(1, c * 2) + 1)", ("+", ("max", 1, ("*", ("name", "c"), 2)), 1)),
    ("(round(x / 8) * 8)", ("*", ("round", ("/", ("name", "x"), 8)), 8)),
    ("(floor(ceil(1.5)))", ("floor", ("ceil", 1.5))),
    ("(s)x(s)", ("size", ("name", "s"), ("name", "s"))),
    ("1x(s)x(s)", ("size", 1, ("name", "s"), ("name", "s"))),
    ("(s)x3", ("size", ("name", "s"), 3)),
    ("(s)x3x3", ("size", ("name", "s"), 3, 3)),
    ("2x3x(s + 1)", ("size", 2, 3, ("+", ("name", "s"), 1))),
    ("(a)x4x(max(a, 2))", ("size", ("name", "a"), 4, ("max", ("name", "a"), 2))),
])
def test_division_functions_and_sizes_from_expressions(text, tree):
    assert statement(f"conv {text}") == ("conv", [tree])


def test_sizes_from_expressions_keep_their_positions():
    (call,) = parsed("conv 1x(s)x(t)").statements
    size = call.items[0]
    assert size.span == Span(1, 6, 1, 15)
    assert [part.span.column for part in size.parts] == [6, 9, 13]
    # a name starting with x after a parenthesis is still a separate name
    assert statement("f (a) xs") == ("f", [("name", "a"), ("name", "xs")])
    assert statement("f 1 x2") == ("f", [1, ("name", "x2")])


def test_repeat_as_parses_as_names():
    assert statement("repeat 3 as i { relu }") == ("repeat", [3, ("name", "as"), ("name", "i")], [("relu", [])])


def test_division_outside_parentheses_is_a_syntax_error():
    diagnostic = syntax_error("conv c / 2 3x3")
    assert diagnostic.span.column == 8


def test_definitions():
    assert statement("def f() { }") == ("def", "f", [], [])
    assert statement("def f(c) { relu }") == ("def", "f", [("c", None)], [("relu", [])])
    assert statement("def f(c, m=(c * 2), p=same) {\n}") == (
        "def", "f", [("c", None), ("m", ("*", ("name", "c"), 2)), ("p", ("name", "same"))], [])


def test_only_def_is_a_keyword():
    assert plain(parsed("def define(c) { relu }\ndefine 3\nnetwork def_net")) == [
        ("def", "define", [("c", None)], [("relu", [])]), ("define", [3]), ("network", [("name", "def_net")])]
    assert statement("conv 8 3 pad=def") == ("conv", [8, 3, ("=", "pad", ("name", "def"))])
    assert syntax_error("input 8x8x3\ndef\nrelu").message == "unexpected end of line; expected a name"


def test_blocks_and_clauses():
    assert statement("repeat 0 { }") == ("repeat", [0], [])
    assert statement("residual { relu } shortcut { }") == ("residual", [], [("relu", [])], ("shortcut", []))
    assert statement("repeat 2 {\n repeat 3 { relu }\n}") == ("repeat", [2], [("repeat", [3], [("relu", [])])])
    # `branch { } branch { }` on one line: the second is a clause of the first
    assert statement("branch { relu } branch { }") == ("branch", [], [("relu", [])], ("branch", []))


# Layout: comments, separators, line endings --------------------------------------------

def test_comments_separators_and_blank_lines():
    text = "# head\n\n;;input 8x8x3 ; # trailing\n\n\nrelu;;relu # x { ( \n#last"
    assert plain(parsed(text)) == [("input", ["8x8x3"]), ("relu", []), ("relu", [])]


@pytest.mark.parametrize("text", ["", "\n", "\n\n;\n", "# only a comment", "# a\n# b\n", " \t \n"])
def test_empty_modules(text):
    assert parsed(text).statements == ()


def test_crlf_and_lf_give_the_same_tree_and_positions():
    lf = parsed(SAMPLE)
    crlf = parsed(SAMPLE.replace("\n", "\r\n"))
    assert lf.statements == crlf.statements


def test_byte_order_mark_is_skipped():
    module = parsed("\ufeffinput 8x8x3\nrelu\n")
    assert plain(module) == [("input", ["8x8x3"]), ("relu", [])]
    assert module.statements[0].span == Span(1, 1, 1, 12)


def test_tabs_count_as_one_column():
    (call,) = parsed("\tconv\t64\t3x3").statements
    assert call.op_span == Span(1, 2, 1, 6)
    assert call.items[0].span == Span(1, 7, 1, 9)
    assert call.items[1].span == Span(1, 10, 1, 13)


def test_backslash_continues_a_line():
    assert plain(parsed("conv 64 \\\n  3x3 \\\r\n  pad=1\nrelu")) == [("conv", [64, "3x3", ("=", "pad", 1)]),
                                                                    ("relu", [])]


def test_positions():
    (call,) = parsed("\n  conv 64 3x3 stride=2 pad=(1 + 2)").statements
    assert call.span == Span(2, 3, 2, 35)
    assert call.op_span == Span(2, 3, 2, 7)
    number, size, stride, pad = call.items
    assert number.span == Span(2, 8, 2, 10)
    assert size.span == Span(2, 11, 2, 14)
    assert stride.span == Span(2, 15, 2, 23) and stride.key_span == Span(2, 15, 2, 21)
    assert stride.value.span == Span(2, 22, 2, 23)
    assert pad.value.span == Span(2, 29, 2, 34)  # the expression inside the parentheses
    (call,) = parsed("leakyrelu -0.1").statements
    assert call.items[0].span == Span(1, 11, 1, 15)  # the minus sign belongs to the number
    (definition,) = parsed("def  blk(c) {\n relu\n}").statements
    assert definition.name_span == Span(1, 6, 1, 9)
    assert definition.span == Span(1, 1, 3, 2)


def test_settings_lines():
    assert statement("optimizer=sgd lr=0.05") == ("settings", [("=", "optimizer", ("name", "sgd")), ("=", "lr", 0.05)])


# Syntax errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("label, example", [(label, example) for label, examples in _MISTAKES.items()
                                            for example in examples])
def test_every_labelled_mistake_fails_with_its_label(label, example):
    assert syntax_error(example).help == label


@pytest.mark.parametrize("text, line, column, message, help_part", [
    ("input 8x8x3\nconv c * 4 3x3", 2, 8, "unexpected `*`", "arithmetic goes in parentheses"),
    ("input 8x8x3\nconv 64 3x3 stride=s * 2", 2, 22, "unexpected `*`", "arithmetic goes in parentheses"),
    ("input 8x8x3\nrepeat 2 {\n  conv c // 2 3x3\n}", 3, 10, "unexpected `//`", "arithmetic goes in parentheses"),
    ("input 8x8x3\ninput 224*224*3", 2, 10, "unexpected `*`", "sizes are one word"),
    ("conv 64 3, 3", 1, 10, "unexpected `,`", "sizes are one word"),
    ("input 224, 224, 3", 1, 10, "unexpected `,`", "no commas"),
    ("conv 64 3x3, stride=2", 1, 12, "unexpected `,`", "no commas"),
    ("def f(c stride) { }", 1, 9, "unexpected `stride`", "names separated by commas"),
    ("def f(3) { }", 1, 7, "unexpected `3`", "names separated by commas"),
    ("relu\nconv 64 3x3 stride=", 2, 20, "unexpected end of file; expected a value", "needs a value after `=`"),
    ("input 8x8x3\ndef f(c) {\n  conv 64 3x3 stride=\n}", 3, 22, "unexpected end of line", "needs a value after `=`"),
    ("input 8x8x3\nconv 8 3x3\nresidual { relu } relu", 3, 23, "expected `{`", "new line or after `;`"),
    ("conv 64 3x3 pad= \nrelu", 1, 18, "unexpected end of line", "needs a value after `=`"),
    ("residual { relu } relu", 1, 23, "unexpected end of file; expected `{`", "new line or after `;`"),
    ("def f(c) { relu } relu", 1, 19, "unexpected `relu`; expected the end of the line", "separate them with `;`"),
    ("conv 64 3x3 stride=(2", 1, 22, "unexpected end of file", "`(` is never closed"),
    ("conv 64 3x3 stride=2)", 1, 21, "unexpected `)`", "this `)` closes no `(`"),
    ("conv (3x3 * 2) 3", 1, 7, "unexpected `3x3`; expected a number or a name", "cannot take part in arithmetic"),
    ("conv 64 3x3 stride=2 / 2", 1, 22, "unexpected `/`", "arithmetic goes in parentheses: `(c / 2)`"),
    ("conv 64 'a'", 1, 9, "unexpected character", "no strings"),
    ('conv 64 "a"', 1, 9, "unexpected character", "no strings"),
    ("input 8x8x3\nconv 64 3x3 @", 2, 13, "unexpected character '@'", "only layers, blocks"),
    ("conv 64 @", 1, 9, "unexpected character '@'", "only layers, blocks"),
    ("conv 64 3×3", 1, 10, "unexpected character '×'", "only layers, blocks"),
])
def test_syntax_errors_point_at_the_problem(text, line, column, message, help_part):
    diagnostic = syntax_error(text)
    assert (diagnostic.span.line, diagnostic.span.column) == (line, column)
    assert message in diagnostic.message
    assert help_part in diagnostic.help


@pytest.mark.parametrize("text, expected", [
    ("def f c { }", "expected `(`"),  # a lone `(` is not "a value"
    ("conv 64 3x3 stride=(2", "expected `-`, `+`, `)`, `/`, `*` or `//`"),  # `-` here is subtraction
    ("conv 64 3x3 stride=--1", "expected a number"),
    ("def (c) { }", "expected a name"),
    ("1", "expected a name, the end of the line or `def`"),
])
def test_expected_tokens_are_named_plainly(text, expected):
    assert syntax_error(text).message.endswith(expected)


def test_unclosed_brace_names_where_it_was_opened():
    diagnostic = syntax_error("input 8x8x3\nresidual {\n  relu\n  repeat 2 { relu }\n")
    assert (diagnostic.span.line, diagnostic.span.column) == (5, 1)
    assert "unexpected end of file" in diagnostic.message and "`}`" in diagnostic.message
    assert "opened at line 2, column 10" in diagnostic.help


def test_innermost_unclosed_brace_is_named():
    diagnostic = syntax_error("residual {\n  repeat 2 {  # { in a comment is not counted\n relu\n")
    assert "opened at line 2, column 12" in diagnostic.help
    diagnostic = syntax_error("residual {\n  repeat 2 { }  # } in a comment is not counted\n relu\n")
    assert "opened at line 1, column 10" in diagnostic.help


@pytest.mark.parametrize("text, line, column", [("relu }\n", 1, 6), ("input 8x8x3\nrelu\n}\n", 3, 1),
                                                ("repeat 2 { relu } }", 1, 19), ("}", 1, 1)])
def test_extra_closing_brace(text, line, column):
    diagnostic = syntax_error(text)
    assert (diagnostic.span.line, diagnostic.span.column) == (line, column)
    assert diagnostic.message.startswith("unexpected `}`")
    assert diagnostic.help == "this `}` closes no block"


@pytest.mark.parametrize("text, word", [
    ("conv 64 3x3x", "3x3x"), ("conv 1.2.3 3", "1.2.3"), ("conv 64 3xx3", "3xx3"), ("conv 64 3X3", "3X3"),
    ("conv 64 3x3a", "3x3a"), ("dropout 1e", "1e"), ("conv 64 3x3 stride=2abc", "2abc"), ("dropout 0.5.", "0.5."),
])
def test_malformed_numbers(text, word):
    diagnostic = syntax_error(text)
    assert diagnostic.message == f"malformed number or size `{word}`"
    start = text.index(word) + 1
    assert diagnostic.span == Span(1, start, 1, start + len(word))
    assert "sizes are digits joined by `x`" in diagnostic.help


def test_nul_byte_is_located():
    diagnostic = syntax_error("input 8x8x3\nconv 8\x003x3\n")
    assert (diagnostic.span.line, diagnostic.span.column) == (2, 7)
    assert "NUL" in diagnostic.message


def test_number_too_large_for_any_network():
    diagnostics = parse(Source("conv " + "9" * 5000 + " 3"))[1]
    (diagnostic,) = diagnostics
    assert diagnostic.code == "E006"
    assert diagnostic.span == Span(1, 6, 1, 5006)
    assert "5,000 digits" in diagnostic.message
    assert parse(Source("conv " + "1" + "0" * 100 + " 3"))[1] == []  # 10**100 itself is allowed
    assert parse(Source("input 8x" + "1" + "0" * 100 + "1x3"))[1][0].code == "E006"


def test_positions_with_crlf_and_bom_are_those_of_the_text():
    diagnostic = syntax_error("\ufeffinput 8x8x3\r\nconv 64 @\r\n")
    assert (diagnostic.span.line, diagnostic.span.column) == (2, 9)
    diagnostic = syntax_error("\ufeffconv 1.2.3")
    assert diagnostic.span == Span(1, 6, 1, 11)
    assert diagnostic.message == "malformed number or size `1.2.3`"
