"""Output without rich: a piped `cnnc check` writes what rich writes without colour, byte for byte;
styled text hands rich the Text rich would have built; the plain console decides as rich does."""

from __future__ import annotations

import contextlib
import io
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from cnnc.cli import main
from cnnc.render.plain import PlainConsole, prints_plain
from cnnc.render.styled import StyledText

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(ROOT.glob("examples/*.cnn")) + sorted(ROOT.glob("tests/fixtures/lint/*.cnn"))


def through_rich(arguments: list[str]) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of `cnnc ARGUMENTS` printed by rich consoles without colour."""
    out, err = io.StringIO(), io.StringIO()
    code = main(arguments, out=Console(file=out, highlight=False, markup=False, emoji=False),
                err=Console(file=err, highlight=False, markup=False, emoji=False, soft_wrap=True))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("spec", SPECS, ids=lambda path: path.name)
def test_a_piped_check_prints_what_rich_prints_without_colour(spec, capsys):
    arguments = ["check", str(spec), "--batch", "8"]  # a deprecation warning on stderr too
    expected = through_rich(arguments)
    code = main(arguments)  # capsys: stdout and stderr are not terminals
    captured = capsys.readouterr()
    assert (code, captured.out, captured.err) == expected
    assert captured.out.endswith(("passed!\n", ".\n")) and "deprecated" in captured.err


def test_a_quiet_check_of_every_example_and_a_missing_file(capsys):
    arguments = ["check", "-q", str(ROOT / "examples"), str(ROOT / "no-such.cnn")]
    expected = through_rich(arguments)
    code = main(arguments)
    captured = capsys.readouterr()
    assert (code, captured.out, captured.err) == expected == (2, captured.out, captured.err)
    assert "cannot read" in captured.err


def documented_codes() -> list[str]:
    from cnnc.lint import docs

    return [entry.code for entry in docs.documented()]


@pytest.mark.parametrize("arguments", [["rules"], ["rule", "W20"], ["rule", "stride-drops-input"]]
                         + [["rule", code] for code in documented_codes()], ids=" ".join)
def test_rules_and_rule_print_what_rich_prints_without_colour(arguments, capsys):
    expected = through_rich(arguments)
    code = main(arguments)
    captured = capsys.readouterr()
    assert (code, captured.out, captured.err) == expected
    assert captured.out or captured.err


# StyledText against rich's Text -----------------------------------------------------------

pieces = st.text(alphabet=st.sampled_from("ab \n\t\r\x07\x1b|^-é"), max_size=6)
styles = st.sampled_from(["", "bold", "dim", "bold red", "blue"])
operations = st.lists(st.tuples(st.sampled_from(["append", "append_text"]), pieces, styles, styles), max_size=8)


@settings(max_examples=300, deadline=None)
@given(first=pieces, base=styles, steps=operations)
def test_styled_text_gives_rich_the_text_rich_would_build(first, base, steps):
    ours, theirs = StyledText(first, style=base), Text(first, style=base)
    for operation, text, style, inner_style in steps:
        if operation == "append":
            ours.append(text, style=style)
            theirs.append(text, style=style)
        else:
            ours.append_text(StyledText(text, style=inner_style).append(text, style=style))
            theirs.append_text(Text(text, style=inner_style).append(text, style=style))
    built = ours.__rich__()
    assert (built.plain, built.style, built.spans, len(ours)) == (theirs.plain, theirs.style, theirs.spans, len(theirs))
    assert ours.plain == theirs.plain and str(ours) == str(theirs)
    coloured = [Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=30) for _ in "ab"]
    coloured[0].print(ours, end="", soft_wrap=True)
    coloured[1].print(theirs, end="", soft_wrap=True)
    assert coloured[0].file.getvalue() == coloured[1].file.getvalue()


# The plain console ------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab é\n\t\r\x1b[m"), max_size=40), end=st.sampled_from(["\n", ""]),
       stderr=st.booleans())
def test_the_plain_console_prints_what_rich_prints(text, end, stderr):
    options = {"highlight": False, "markup": False, "emoji": False}
    for printed in (text, StyledText(text, style="bold")):
        outputs = []
        for console in (PlainConsole(stderr=stderr, **options), Console(stderr=stderr, **options)):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                console.print(printed, end=end, soft_wrap=True)
            outputs.append((out.getvalue(), err.getvalue()))
        assert outputs[0] == outputs[1]


def test_the_plain_console_leaves_rich_what_it_does_not_do(capsys):
    printed = []
    for console in (PlainConsole(highlight=False, markup=False, emoji=False),
                    Console(highlight=False, markup=False, emoji=False)):
        console.print("a\tb", soft_wrap=True)  # a tab: rich expands it
        console.print("a " * 50)  # wrapped by rich at 80 columns
        console.print("[b]x[/b]", markup=True, soft_wrap=True)
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1]
    assert printed[0].startswith("a       b\n") and printed[0].endswith("\nx\n") and printed[0].count("\n") == 4


class _Stream(io.StringIO):
    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


@pytest.mark.parametrize(("compatible", "force", "terminal"),
                         list(itertools.product([None, "", "0", "1", "yes"], [None, "", "0", "1"], [False, True])))
def test_plain_means_rich_would_print_no_colour(compatible, force, terminal):
    environment = {name: value for name, value in (("TTY_COMPATIBLE", compatible), ("FORCE_COLOR", force))
                   if value is not None}
    stream = _Stream(terminal)
    console = Console(file=stream, _environ=environment)
    assert prints_plain(stream, environment) == (not console.is_terminal)
    if prints_plain(stream, environment):
        assert console.color_system is None
