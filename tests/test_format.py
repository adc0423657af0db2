"""The formatter (`cnnc fmt`'s engine): the canonical layout, comments, line endings, option order, and
the properties that make it safe: idempotent, and the formatted spec analyses and lints as the original."""

from __future__ import annotations

import re

import pytest
from fuzz_strategies import (
    EXAMPLES,
    generated_spec,
    mutated_spec,
    program_text,
    strategy,
)
from hypothesis import HealthCheck, given, settings

from cnnc import formatter
from cnnc.api import check
from cnnc.formatter import FormatterBug, format_source, format_text
from cnnc.lint import lint
from cnnc.reading import decode, not_utf8
from cnnc.source import Source


def analysis(text: str) -> tuple:
    """What `cnnc check` finds: every layer's name, depth, shapes, padding, parameters, buffers, MACs,
    receptive field and jump, the totals, and the codes of the diagnostics (errors and lint)."""
    checked = check(Source(text, "spec.cnn"))
    codes = sorted(diagnostic.code for diagnostic in checked.diagnostics + lint(checked))
    report = checked.report
    if report is None:
        return codes, None, None
    layers = [(layer.node.name, layer.depth, layer.input, layer.output, layer.padding, layer.params,
               layer.buffers, layer.macs, layer.receptive_field, layer.jump) for layer in report.layers]
    return codes, layers, report.totals


def assert_formats_safely(text: str) -> str | None:
    """fmt(fmt(x)) == fmt(x) and fmt(x) means x; returns fmt(x) (None for a syntax error)."""
    formatted = format_source(Source(text, "spec.cnn"))
    if formatted.text is None:
        assert formatted.diagnostics and formatted.diagnostics[0].code in ("E001", "E006")
        return None
    assert format_text(formatted.text) == formatted.text, "formatting twice changes the text again"
    assert analysis(formatted.text) == analysis(text)
    return formatted.text


# The examples are written by people: the layout is theirs ------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_is_already_formatted(name):
    assert format_text(EXAMPLES[name]) == EXAMPLES[name]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_a_messy_example_formats_back_to_the_example(name):
    """Indentation, spaces and blank lines undone: the layout comes back exactly, comments included."""
    messy = []
    for line in EXAMPLES[name].split("\n"):
        code, hash_, comment = line.partition("#")
        code = code.strip().replace(" ", "   ").replace("=", " = ").replace("{", "{ ").replace(";", " ;")
        messy.append("\t" + code + (" " + hash_ + comment if hash_ else "") + ("\n\n" if code else ""))
    formatted = format_text("\n".join(messy))
    expected = EXAMPLES[name].split("\n")
    got = formatted.split("\n")
    # trailing comments no longer stand where the example aligned them: compare code and comments apart
    assert [line.split("#")[0].strip() for line in got if line.strip()] == \
        [line.split("#")[0].strip() for line in expected if line.strip()]
    assert [line.split("#", 1)[1] for line in got if "#" in line] == \
        [line.split("#", 1)[1] for line in expected if "#" in line]
    assert [len(line) - len(line.lstrip()) for line in got if line.strip()] == \
        [len(line) - len(line.lstrip()) for line in expected if line.strip()]
    assert analysis(formatted) == analysis(EXAMPLES[name])


# The layout ----------------------------------------------------------------------------------------------

LAYOUTS = {
    "spaces between words, none around `=`":
        ("input  8x8x3\nconv   8   3   stride = 2\n", "input 8x8x3\nconv 8 3 stride=2\n"),
    "indentation is four spaces a level":
        ("residual {\n\tconv 8 3\n  relu\n        }\n", "residual {\n    conv 8 3\n    relu\n}\n"),
    "a block written on one line stays on one line":
        ("repeat 2 {conv 8 3;relu}\nbranch {}\n", "repeat 2 { conv 8 3; relu }\nbranch { }\n"),
    "a block written on several lines: `{` ends its line, `}` has a line of its own":
        ("residual { conv 8 3\n  relu } shortcut { conv 8 1 }\n",
         "residual {\n    conv 8 3\n    relu\n} shortcut { conv 8 1 }\n"),
    "statements joined by `;` stay joined; empty statements go":
        ("conv 8 3 ;batchnorm;;relu;\n;\nfc 10\n", "conv 8 3; batchnorm; relu\n\nfc 10\n"),
    "at most one blank line, none at the start or end of the file or of a block":
        ("\n\nrelu\n\n\n\nrelu\nrepeat 2 {\n\n  relu\n\n}\n\n\n", "relu\n\nrelu\nrepeat 2 {\n    relu\n}\n"),
    "spaces around operators and after commas, none inside parentheses":
        ("conv ( c*4 ) 3 groups=(max( 1,c//2 ) - -1)\n", "conv (c * 4) 3 groups=(max(1, c // 2) - -1)\n"),
    "parentheses are kept as written":
        ("conv ((c)) (1)x(s) pad=((k - 1) // 2)\n", "conv ((c)) (1)x(s) pad=((k - 1) // 2)\n"),
    "numbers keep their spelling; an exponent's E is written e":
        ("dropout .5\nlayernorm eps=1E-6\nleakyrelu - 0.2\nconv 08 3x3\n",
         "dropout .5\nlayernorm eps=1e-6\nleakyrelu -0.2\nconv 08 3x3\n"),
    "a definition":
        ("def  block ( c , s=( c*2 ) )  {\nconv c 3 stride=s\n}\n",
         "def block(c, s=(c * 2)) {\n    conv c 3 stride=s\n}\n"),
    "a `\\` continuation is kept where it was, the next line indented":
        ("conv 8 3 \\\n stride=2\nrepeat 2 {\nconv 8 \\\n3\n}\n",
         "conv 8 3 \\\n    stride=2\nrepeat 2 {\n    conv 8 \\\n        3\n}\n"),
    "an empty file stays empty": ("", ""),
    "blank lines and `;` alone make an empty file": ("\n\n  \n;;\n", ""),
    "a missing final newline is added": ("input 8x8x3\nrelu", "input 8x8x3\nrelu\n"),
}


@pytest.mark.parametrize("case", LAYOUTS)
def test_layout(case):
    text, expected = LAYOUTS[case]
    assert format_text(text) == expected
    assert format_text(expected) == expected


def test_a_negative_of_a_negative_stays_two_minuses():
    assert format_text("x=(- -1)\n") == "x=(--1)\n"
    assert format_text("x=(a - - 1)\n") == "x=(a - -1)\n"


# Option order --------------------------------------------------------------------------------------------

def test_a_layers_options_follow_the_layer_table():
    text = "conv 8 3 round=ceil bias=false groups=2 dilation=2 pad=same stride=2\nmaxpool 3 pad=1 stride=2\n"
    assert format_text(text) == ("conv 8 3 stride=2 pad=same dilation=2 groups=2 bias=false round=ceil\n"
                                 "maxpool 3 stride=2 pad=1\n")


def test_arguments_written_as_options_come_in_the_table_order_too():
    assert format_text("conv kernel=3 filters=8 stride=2\n") == "conv filters=8 kernel=3 stride=2\n"
    assert format_text("slice to=8 from=0\n") == "slice from=0 to=8\n"


def test_training_settings_follow_the_docs_table_within_a_line():
    text = "train {\n    epochs=5 lr=0.05 optimizer=momentum\n    batch=64 momentum=0.9\n}\n"
    assert format_text(text) == "train {\n    optimizer=momentum lr=0.05 epochs=5\n    momentum=0.9 batch=64\n}\n"


@pytest.mark.parametrize("text", [
    "conv 8 3 strid=2 pad=1\n",  # an unknown option
    "conv 8 3 pad=1 pad=2\n",  # a repeated one
    "conv 8 pad=1 3\n",  # a positional argument after an option
    "conv 8 3 filters=8 pad=1\n",  # an option that names an argument already given
    "def conv(c, stride=1, pad=0) { relu }\nconv 8 pad=1 stride=2\n",  # a block that takes the name over
    "conv 8 3 pad=1 \\\n    stride=2  # noqa: W201\n",  # over two lines: a suppression comment covers its own line only
    "block 8 pad=1 stride=2\n",  # not a built-in layer
    "train { lr=0.1 optimizer=sgd lr=0.2 }\n",  # a repeated setting
    "train { lr=0.1 optimizer=sgd speed=2 }\n",  # an unknown one
])
def test_options_stay_as_written_where_the_call_is_not_plainly_valid(text):
    assert format_text(text) == text


# Comments ------------------------------------------------------------------------------------------------

def test_comments_on_their_own_lines_take_the_indentation_of_the_block():
    text = "# the file\nrepeat 2 {\n# first\n      relu\n        # last\n}\n# end"
    assert format_text(text) == "# the file\nrepeat 2 {\n    # first\n    relu\n    # last\n}\n# end\n"


def test_a_trailing_comment_keeps_its_column_while_the_code_ends_two_spaces_before_it():
    text = ("conv  96  11x11 stride=4    # CONV1\n"
            "relu                        # aligned\n"
            "conv 8 3 stride=(s*2)# glued\n"
            "relu # one space\n")
    assert format_text(text) == ("conv 96 11x11 stride=4      # CONV1\n"
                                 "relu                        # aligned\n"
                                 "conv 8 3 stride=(s * 2)  # glued\n"
                                 "relu  # one space\n")


def test_a_tab_before_a_comment_counts_to_the_next_multiple_of_four():
    assert format_text("relu\t\t# c\nconv 8 3\t# d\n") == "relu        # c\nconv 8 3    # d\n"


def test_comment_text_is_kept_byte_for_byte_but_its_trailing_spaces():
    text = "relu  #   [bold]x[/] :smile: 😀 网络 ünïcødé \u200b\t  \n#\n#####\n#!no space\n"
    assert format_text(text) == "relu  #   [bold]x[/] :smile: 😀 网络 ünïcødé \u200b\n#\n#####\n#!no space\n"


def test_a_comment_after_an_opening_brace_stays_on_that_line():
    assert format_text("repeat 2 {  # twice\nrelu\n}\n") == "repeat 2 {  # twice\n    relu\n}\n"


def test_a_comment_after_a_line_that_is_split_goes_with_the_last_statement_that_started_there():
    """Two spaces after the code: on a line split in two, the comment's column means nothing."""
    assert format_text("residual { conv 8 3  # after conv\nrelu }  # after relu\n") == \
        "residual {\n    conv 8 3  # after conv\n    relu  # after relu\n}\n"
    assert format_text("residual {\nrelu } shortcut { conv 8 1 }  # the shortcut\n") == \
        "residual {\n    relu\n} shortcut { conv 8 1 }  # the shortcut\n"


def test_a_noqa_line_is_not_split_between_the_statements_it_covers():
    """`# noqa` covers the statements that start on its line: the formatter keeps them together."""
    text = "input 8x8x3\nresidual { conv 8 3 bias=false  # noqa: W205\n    relu }\n"
    formatted = format_text(text)
    assert formatted == "input 8x8x3\nresidual { conv 8 3 bias=false  # noqa: W205\n    relu\n}\n"
    assert analysis(formatted) == analysis(text)


def test_noqa_comments_still_silence_their_findings():
    text = ("input 227x227x3\nconv 96 11x11 stride=3  # noqa: W201\nrepeat 2 { maxpool 3 stride=2 }  # noqa\n"
            "fc 10\n")
    assert analysis(format_text(text)) == analysis(text)
    assert format_text(text) == text


# Line endings, tabs, byte-order mark ---------------------------------------------------------------------

def test_windows_line_endings_are_kept():
    text = "input 8x8x3\r\n\r\n\r\nrepeat 2 {\r\nrelu  # c\r\n}"
    assert format_text(text) == "input 8x8x3\r\n\r\nrepeat 2 {\r\n    relu  # c\r\n}\r\n"


def test_old_mac_line_endings_are_kept_and_mixed_ones_follow_the_first():
    assert format_text("relu\rrelu\r") == "relu\rrelu\r"
    assert format_text("relu\r\nrelu\nrelu\r") == "relu\r\nrelu\r\nrelu\r\n"


def test_a_byte_order_mark_is_kept():
    assert format_text("\ufeffinput 8x8x3\n  relu") == "\ufeffinput 8x8x3\nrelu\n"


def test_tabs_in_code_become_spaces():
    assert format_text("repeat\t2\t{\n\t\tconv\t8\t3\n}\n") == "repeat 2 {\n    conv 8 3\n}\n"


# What is not formatted -----------------------------------------------------------------------------------

def test_a_syntax_error_is_reported_and_nothing_is_formatted():
    formatted = format_source(Source("input 8x8x3\nconv 8 3, 3\n", "bad.cnn"))
    assert formatted.text is None and not formatted.changed
    (diagnostic,) = formatted.diagnostics
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == ("E001", 2, 9)
    with pytest.raises(Exception, match="bad.cnn:2:9: E001"):
        format_text("input 8x8x3\nconv 8 3, 3\n", "bad.cnn")


def test_bytes_that_are_not_utf8_are_reported():
    formatted = format_source(decode(b"input 8x8x3\nrelu # \xff\n", "latin.cnn"))
    assert formatted.text is None
    assert [(d.code, d.span.line) for d in formatted.diagnostics] == [("E001", 2)]


def test_errors_of_meaning_do_not_stop_the_formatter():
    assert format_text("input 8x8x3\nconv  0 3   strid=2\nlstm 8\n") == "input 8x8x3\nconv 0 3 strid=2\nlstm 8\n"


def test_a_spec_that_would_grow_past_the_length_limit_is_refused_with_a_location():
    text = "input 8x8x3\n" + "repeat 1 {\n" * 1000 + "relu\n" + "}\n" * 1000
    formatted = format_source(Source(text, "deep.cnn"))
    (diagnostic,) = formatted.diagnostics
    assert formatted.text is None and diagnostic.code == "E006" and "formatted, the spec would be" in diagnostic.message
    assert 500 < diagnostic.span.line < 520  # where the indentation passes 524,288 characters


def test_nesting_deeper_than_pythons_recursion_limit_is_formatted():
    depth = 5000
    text = "input 8x8x3\nconv " + "( " * depth + "8" + " )" * depth + " 3\nrepeat 1 {" + " repeat 1 {" * depth \
        + " relu" + " }" * (depth + 1) + "\n"
    expected = "input 8x8x3\nconv " + "(" * depth + "8" + ")" * depth + " 3\nrepeat 1 {" + " repeat 1 {" * depth \
        + " relu" + " }" * (depth + 1) + "\n"
    assert format_text(text) == expected


def test_a_layout_that_changes_the_meaning_is_never_returned(monkeypatch):
    """The safety check, as black's and ruff's: a formatter bug cannot rewrite a spec into another."""
    monkeypatch.setattr(formatter, "layout", lambda tree, comments, lines: ("conv 8 3 stride=3\n", [1]))
    with pytest.raises(FormatterBug, match="would not mean what the original means"):
        format_source(Source("conv 8 3 stride=2\n"))
    monkeypatch.setattr(formatter, "layout", lambda tree, comments, lines: ("conv 8 3\n", [1]))
    with pytest.raises(FormatterBug, match="lose or change a comment"):
        format_source(Source("conv 8 3  # why\n"))


# Properties ----------------------------------------------------------------------------------------------

PROPERTIES = settings(deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_format_safely_with_every_line_ending(name):
    for ending in ("\n", "\r\n", "\r"):
        text = EXAMPLES[name].replace("\n", ending)
        assert assert_formats_safely(text) == text


@settings(PROPERTIES, max_examples=150)
@given(text=strategy(program_text))
def test_generated_programs_format_safely(text):
    assert_formats_safely(text)


@settings(PROPERTIES, max_examples=100)
@given(spec=strategy(generated_spec))
def test_generated_files_format_safely(spec):
    """With byte-order marks and `\\r\\n` or `\\r` line endings."""
    source = decode(spec.content, spec.name)
    formatted = assert_formats_safely(source.text)
    first = re.search(r"\r\n|\r|\n", source.text)
    if formatted is not None and first is not None:  # every line ends as the first one did
        assert not re.search(r"[\r\n]", formatted.replace(first.group(), ""))


@settings(PROPERTIES, max_examples=100)
@given(spec=strategy(lambda draw: mutated_spec(draw, huge_percent=0)))
def test_mutated_examples_format_safely(spec):
    source = decode(spec.content, spec.name)
    if not_utf8(source) is not None:
        assert format_source(source).text is None  # reported, not formatted
        return
    assert_formats_safely(source.text)
