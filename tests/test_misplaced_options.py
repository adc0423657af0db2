"""An option written as a positional (`conv 16 3x3 stride 2`) is one error that shows `stride=2`;
positionals past the last parameter are one error, not one per argument."""

from __future__ import annotations

import pytest

from cnnc.api import Options, check
from cnnc.source import Source


def _errors(body: str) -> list[tuple[int, int, int, str, str]]:
    """(line, first column, last column, message, help) of every error of `input 32x32x3` + body."""
    checked = check(Source("input 32x32x3\n" + body + "\n"), Options())
    return [(d.span.line, d.span.column, d.span.end_column, d.message, d.help)
            for d in checked.diagnostics if d.is_error]


WRITE = ": options are written NAME=VALUE, without spaces"


@pytest.mark.parametrize("body, start, end, message, hint", [
    ("conv 16 3x3 stride 2", 13, 21, "`stride 2` reads as two positional arguments of `conv`",
     "write `stride=2`" + WRITE),
    ("conv 16 stride 2", 9, 17, "`stride 2` reads as two positional arguments of `conv`",
     "write `stride=2`" + WRITE),
    ("conv 16 3x3 stride", 13, 19, "`stride` is an option of `conv` and needs a value",
     "write `stride=VALUE` (step between windows)" + WRITE),
    ("conv 16 3x3 strid 2", 13, 20, "`strid 2` reads as two positional arguments of `conv`",
     "did you mean `stride=2`?"),
    ("conv 16 3x3 strid", 13, 18, "`conv` takes 2 positional arguments", "did you mean `stride=VALUE`?"),
    ("conv 16 3x3 same", 13, 17, "`conv` takes 2 positional arguments", "did you mean `pad=same`?"),
    ("conv 16 3x3 pad same", 13, 21, "`pad same` reads as two positional arguments of `conv`",
     "write `pad=same`" + WRITE),
    ("conv 16 3x3 bias false", 13, 23, "`bias false` reads as two positional arguments of `conv`",
     "write `bias=false`" + WRITE),
    ("maxpool 2 stride 2", 11, 19, "`stride 2` reads as two positional arguments of `maxpool`",
     "write `stride=2`" + WRITE),
    ("maxpool 3 ceil", 11, 15, "`maxpool` takes 1 positional argument", "did you mean `round=ceil`?"),
    ("maxpool 3 stride (1+1)", 11, 23, "`stride (1+1)` reads as two positional arguments of `maxpool`",
     "write `stride=(1+1)`" + WRITE),
    ("avgpool 2 pad 1", 11, 16, "`pad 1` reads as two positional arguments of `avgpool`", "write `pad=1`" + WRITE),
    ("deconv 8 4x4 stride 2", 14, 22, "`stride 2` reads as two positional arguments of `deconv`",
     "write `stride=2`" + WRITE),
    ("upsample 2 mode linear", 12, 23, "`mode linear` reads as two positional arguments of `upsample`",
     "write `mode=linear`" + WRITE),
    ("fc 10 bias false", 7, 17, "`bias false` reads as two positional arguments of `fc`", "write `bias=false`" + WRITE),
    ("batchnorm eps 1e-3", 11, 19, "`eps 1e-3` reads as two positional arguments of `batchnorm`",
     "write `eps=1e-3`" + WRITE),
    ("conv 16 3x3 stride=2 pad 1", 22, 27, "`pad 1` reads as two positional arguments of `conv`",
     "write `pad=1`" + WRITE),
    ("gelu tanh", 6, 10, "`gelu` takes 0 positional arguments",
     "did you mean `approximate=tanh`, or the `tanh` layer on a line of its own (or after `;`)?"),
])
def test_an_option_written_as_a_positional_is_one_error_showing_the_option(body, start, end, message, hint):
    assert _errors(body) == [(2, start, end, message, hint)]


def test_each_misplaced_option_is_reported_once():
    found = _errors("conv 16 3x3 stride 2 pad 1")
    assert [(column, message) for _, column, _, message, _ in found] == [
        (13, "`stride 2` reads as two positional arguments of `conv`"),
        (22, "`pad 1` reads as two positional arguments of `conv`")]


def test_extra_positionals_are_one_error_over_all_of_them():
    assert _errors("conv 16 3x3 2 3") == [(2, 13, 16, "`conv` takes 2 positional arguments",
                                           "usage: conv FILTERS KERNEL stride= pad= dilation= groups= bias= round=")]
    (found,) = _errors("conv stride=2 8 3x3")
    assert found[:4] == (2, 15, 20, "a positional argument follows an option")


def test_a_layer_after_an_option_name_starts_a_statement():
    assert [message for *_, message, _ in _errors("conv 16 3x3 stride relu")] == [
        "`stride` is an option of `conv` and needs a value", "`conv` takes 2 positional arguments"]


def test_block_parameters_are_suggested_too():
    text = "def unit(c, stride=1) { conv c 3x3 stride=stride }\nunit 8 stride 2"
    assert _errors(text) == [(3, 8, 16, "`stride 2` reads as two positional arguments of `unit`",
                              "write `stride=2`" + WRITE)]


def test_names_in_scope_and_positional_names_are_values_not_options():
    # a block parameter called `stride` passed on positionally is a value, and so is a kernel named by one
    assert _errors("def unit(c, stride) { conv c stride }\nunit 8 3") == []
    expected = "unknown name `filters`; expected a number of filters of at least 1"
    assert [message for *_, message, _ in _errors("conv filters 3")] == [expected]
