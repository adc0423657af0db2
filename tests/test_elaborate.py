"""AST to IR: block expansion, defaults, arithmetic, repeat, names, origins, and E002-E006 with positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnc import ir
from cnnc.elaborate import MAX_DEPTH, MAX_ITERATIONS, MAX_LAYERS, elaborate
from cnnc.parser import parse
from cnnc.source import Source, Span

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE = (FIXTURES / "issue_sample.cnn").read_text(encoding="utf-8")
VGG16 = (FIXTURES / "issue_vgg16.cnn").read_text(encoding="utf-8")


def elaborated(text: str, **options) -> tuple[ir.Network, list]:
    source = Source(text)
    module, diagnostics = parse(source)
    assert diagnostics == [], diagnostics
    return elaborate(module, source, **options)


def network(text: str, **options) -> ir.Network:
    result, diagnostics = elaborated(text, **options)
    assert diagnostics == [], [(d.code, d.message) for d in diagnostics]
    return result


def layers(text: str) -> list[ir.Node]:
    return list(ir.walk(network(text).layers))


def names(text: str) -> list[str]:
    return [layer.name for layer in layers(text)]


def errors(text: str) -> list:
    diagnostics = elaborated(text)[1]
    assert diagnostics, f"no error for {text!r}"
    assert all(d.is_error for d in diagnostics)
    return diagnostics


def the_error(text: str):
    diagnostics = errors(text)
    assert len(diagnostics) == 1, [(d.code, d.message) for d in diagnostics]
    return diagnostics[0]


def where(diagnostic) -> tuple[str, int, int]:
    return diagnostic.code, diagnostic.span.line, diagnostic.span.column


def one(text: str) -> ir.Node:
    """The only layer of ``input 8x8x4`` followed by ``text``."""
    (layer,) = layers("input 8x8x4\n" + text)
    return layer


# The sample and VGG-16 ------------------------------------------------------------------

def test_sample_has_exactly_the_errors_of_line_24():
    # Line 24 uses `c` at the top level: an unknown name, twice. Everything else in the sample is accepted.
    found = errors(SAMPLE)
    assert [where(d) for d in found] == [("E002", 24, 7), ("E002", 24, 26)]
    assert all(d.message == "unknown name `c`" for d in found)


def test_sample_line_24_inside_a_block():
    text = SAMPLE.replace("conv (c * 4) 1x1", "def wide(c) { conv (c * 4) 1x1").replace(
        "- -1 // 2)\n", "- -1 // 2) }\nwide 16\n")
    net = network(text)
    assert net.name == "vgg_like"
    assert net.input == ir.Shape((224, 224), 3)
    wide = next(layer for layer in ir.walk(net.layers) if isinstance(layer, ir.Conv) and layer.filters == 64
                and layer.origin and layer.origin[0].block == "wide")
    assert wide.groups == 16 * 4 - (-1 // 2) == 65
    leaky = next(layer for layer in ir.walk(net.layers) if layer.kind == "leakyrelu")
    assert leaky.slope == -0.1
    assert net.train.settings == {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 5}


def test_vgg16_expands_to_thirteen_convs():
    found = layers(VGG16)
    convs = [layer for layer in found if isinstance(layer, ir.Conv)]
    assert [c.name for c in convs] == [f"conv{i}" for i in range(1, 14)]
    assert [c.filters for c in convs] == [64] * 2 + [128] * 2 + [256] * 3 + [512] * 6
    assert all(c.kernel == (3, 3) and c.pad == (1,) and c.stride == (1,) for c in convs)
    assert [layer.kind for layer in found].count("maxpool") == 5
    assert [layer.name for layer in found[-5:]] == ["fc2", "relu15", "dropout2", "fc3", "softmax1"]
    # every conv remembers the `conv3` call it came from
    assert convs[0].origin == (ir.Frame("conv3", Span(3, 12, 3, 20)),)
    assert convs[12].origin == (ir.Frame("conv3", Span(11, 12, 11, 21)),)
    assert convs[0].span == Span(2, 16, 2, 32)


# Layers and their arguments -------------------------------------------------------------

def test_conv_defaults_and_options():
    conv = one("conv 8 3")
    assert (conv.filters, conv.kernel, conv.stride, conv.pad, conv.dilation, conv.groups, conv.bias,
            conv.ceil_mode) == (8, (3,), (1,), (0,), (1,), 1, True, False)
    conv = one("conv 8 1x7 stride=2x1 pad=same dilation=2 groups=2 bias=false round=ceil")
    assert (conv.kernel, conv.stride, conv.pad, conv.dilation, conv.groups, conv.bias, conv.ceil_mode) == (
        (1, 7), (2, 1), "same", (2,), 2, False, True)
    assert one("conv 8 3 pad=valid").pad == (0,)
    assert one("conv filters=8 kernel=3x3").kernel == (3, 3)


def test_other_layers():
    assert one("maxpool 3 stride=2").strides == (2,)
    assert one("maxpool 3").strides == (3,)  # the stride defaults to the kernel
    assert one("avgpool 2x2 pad=1 round=ceil").mode == "avg"
    assert one("fc 10 bias=false").units == 10
    assert one("dropout 0.5").p == 0.5
    assert one("dropout p=0").p == 0.0
    assert one("leakyrelu").slope == 0.01
    assert one("leakyrelu 0.2").slope == 0.2
    assert one("batchnorm").eps == 1e-5
    assert one("batchnorm eps=1e-3 momentum=0.01").momentum == 0.01
    assert [one(kind).kind for kind in ("relu", "sigmoid", "tanh", "softmax", "flatten", "globalavgpool")] == [
        "relu", "sigmoid", "tanh", "softmax", "flatten", "globalavgpool"]


def test_activations_of_language_v2():
    kinds = ("relu6", "silu", "hardswish", "hardsigmoid", "mish", "selu", "gelu", "elu", "prelu")
    assert [one(kind).kind for kind in kinds] == list(kinds)
    assert one("gelu").approximate == "none"
    assert one("gelu approximate=tanh").approximate == "tanh"
    assert one("elu").alpha == 1.0
    assert one("elu 0.5").alpha == one("elu alpha=0.5").alpha == 0.5
    assert one("elu (1 - 3)").alpha == -2.0  # any number, as nn.ELU
    assert isinstance(one("prelu"), ir.PReLU) and one("prelu").shared is False
    assert one("prelu shared=true").shared is True
    assert [one(text).describe() for text in ("elu", "elu 0.5", "gelu", "gelu approximate=tanh", "prelu",
                                              "prelu shared=true")] == [
        "", "alpha 0.5", "", "tanh approximation", "", "shared slope"]


def test_a_kind_ending_in_a_digit_is_named_with_an_underscore():
    names = [node.name for node in layers("input 8x8x4\n" + "relu\n" * 61 + "relu6\nrelu6")]
    assert names[-3:] == ["relu61", "relu6_1", "relu6_2"]


@pytest.mark.parametrize("text, code, column, message", [
    ("gelu approximate=exact", "E002", 18, "unknown value `exact`"),
    ("gelu approximate=1", "E003", 18, "expected one of `none`, `tanh`, got `1`"),
    ("gelu tanh", "E003", 6, "`gelu` takes 0 positional arguments"),
    ("elu big", "E002", 5, "unknown name `big`; expected an alpha"),
    ("elu 3x3", "E003", 5, "expected an alpha, got `3x3`"),
    ("prelu shared=1", "E003", 14, "expected one of `true`, `false`, got `1`"),
    ("prelu shared=yes", "E002", 14, "unknown boolean `yes`"),
    ("relu6 6", "E003", 7, "`relu6` takes 0 positional arguments"),
])
def test_bad_activation_arguments(text, code, column, message):
    diagnostic = the_error("input 8x8x4\n" + text)
    assert where(diagnostic) == (code, 2, column)
    assert message in diagnostic.message


def test_whole_floats_are_accepted_as_counts():
    assert one("conv 8.0 3").filters == 8
    assert type(one("conv 8.0 3").filters) is int


# Blocks ---------------------------------------------------------------------------------

def test_block_parameters_defaults_and_positional_or_named_arguments():
    text = "input 8x8x4\ndef unit(c, stride=1, k=3) { conv c k stride=stride }\n"
    convs = layers(text + "unit 8\nunit 16 2\nunit 32 k=5\nunit c=4 stride=3\n")
    assert [(c.filters, c.stride, c.kernel) for c in convs] == [(8, (1,), (3,)), (16, (2,), (3,)),
                                                               (32, (1,), (5,)), (4, (3,), (3,))]


def test_defaults_may_use_earlier_parameters():
    (conv,) = layers("input 8x8x4\ndef wide(c, m=(c * 2)) { conv m 1 }\nwide 3")
    assert conv.filters == 6


def test_a_block_can_be_defined_after_its_use_and_pass_sizes_and_symbols():
    (conv,) = layers("input 8x8x4\nb 8 3x3 same\ndef b(c, k, p) { conv c k pad=p }")
    assert (conv.kernel, conv.pad) == ((3, 3), "same")


def test_blocks_calling_blocks_record_every_call_site():
    text = "input 8x8x4\ndef inner(c) {\n  conv c 1\n}\ndef outer(c) {\n  inner (c * 2)\n}\nrelu\nouter 4\n"
    relu, conv = layers(text)
    assert conv.filters == 8
    assert conv.span == Span(3, 3, 3, 11)
    assert conv.origin == (ir.Frame("outer", Span(9, 1, 9, 8)), ir.Frame("inner", Span(6, 3, 6, 16)))
    assert relu.origin == ()


def test_parameters_shadow_symbols_but_not_outside_their_block():
    conv, pool = layers("input 8x8x4\ndef b(same) { conv same 1 pad=same }\nb 2\nmaxpool 2 pad=same")
    assert conv.filters == 2 and conv.pad == (2,)
    assert pool.pad == "same"


# Arithmetic ------------------------------------------------------------------------------

@pytest.mark.parametrize("expression, value", [
    ("(1 + 2 * 3)", 7), ("((1 + 2) * 3)", 9), ("(10 - 4 - 3)", 3), ("(20 // 3)", 6), ("(7 // 2 * 2)", 6),
    ("(2 * 7 // 2)", 7), ("(-3 + 5)", 2), ("(- -3)", 3), ("(c * 4 - -1 // 2)", 17), ("(c - 1)", 3),
    ("(c // 3 + c)", 5), ("(--c)", 4), ("(c * c * c - c)", 60), ("(100 // c // 5)", 5), ("(4.0 * 2)", 8),
])
def test_arithmetic(expression, value):
    (conv,) = layers(f"input 8x8x4\ndef b(c) {{ conv {expression} 1 }}\nb 4")
    assert conv.filters == value


def test_floor_division_rounds_down_for_negative_numbers():
    # -7 // 2 is -4 (floor), not -3 (truncation), as in Python; the padding of 0 or more rejects it
    diagnostic = the_error("input 8x8x4\nconv 8 3 pad=(-7 // 2 + 3)")
    assert diagnostic.message == "expected a padding of 0 or more, `same` or `valid`, got -1"


def test_real_arithmetic():
    assert one("dropout (0.25 * 2)").p == 0.5
    assert one("leakyrelu (1 - 0.75)").slope == 0.25


# Repeat ------------------------------------------------------------------------------------

def test_repeat():
    assert names("input 8x8x4\nrepeat 3 { relu }") == ["relu1", "relu2", "relu3"]
    assert names("input 8x8x4\nrepeat 0 { relu }\ntanh") == ["tanh1"]
    assert names("input 8x8x4\nrepeat 2 { repeat 3 { relu } }") == [f"relu{i}" for i in range(1, 7)]
    assert names("input 8x8x4\ndef r(n) { repeat (n - 1) { sigmoid } }\nr 3") == ["sigmoid1", "sigmoid2"]
    assert names("input 8x8x4\nrepeat 2 { relu; tanh }") == ["relu1", "tanh1", "relu2", "tanh2"]


# Names --------------------------------------------------------------------------------------

def test_names_count_per_kind_in_execution_order():
    text = """input 8x8x4
conv 4 1
residual {
  conv 4 1; relu
} shortcut {
  conv 4 1
}
concat {
  branch { maxpool 1; conv 2 1 }
  branch { avgpool 1; leakyrelu }
}
residual { batchnorm }
fc 10
"""
    assert names(text) == ["conv1", "conv2", "relu1", "conv3", "residual1", "maxpool1", "conv4", "avgpool1",
                           "leakyrelu1", "concat1", "batchnorm1", "residual2", "fc1"]


def test_residual_and_concat_structure():
    residual, concat = network("input 8x8x4\nresidual { relu } shortcut { conv 4 1 }\n"
                               "concat {\n  branch { relu }\n  branch { }\n  branch { tanh; relu }\n}").layers
    assert [n.name for n in residual.body] == ["relu1"] and [n.name for n in residual.shortcut] == ["conv1"]
    assert [[n.name for n in branch] for branch in concat.branches] == [["relu2"], [], ["tanh1", "relu3"]]
    (plain,) = network("input 8x8x4\nresidual { relu }").layers
    assert plain.shortcut == ()


def test_branches_on_one_line():
    (concat,) = network("input 8x8x4\nconcat { branch { relu } branch { tanh } branch { } }").layers
    assert [[n.name for n in branch] for branch in concat.branches] == [["relu1"], ["tanh1"], []]


def test_network_name_and_input():
    net = network("network my_net\ninput 2560x12\nconv 8 5")
    assert (net.name, net.input, net.input_span) == ("my_net", ir.Shape((2560,), 12), Span(2, 1, 2, 14))
    assert network("input 784").input == ir.Shape((), 784)
    assert network("input 16x112x112x3").input.rank == 3
    assert network("relu", input_override=ir.Shape((4, 4), 1)).input == ir.Shape((4, 4), 1)
    assert network("input 8x8x3", input_override=ir.Shape((4,), 1)).input == ir.Shape((4,), 1)
    assert network("input 8x8x3").name == "network"  # text without a file
    assert network("input 8x8x3", name="given").name == "given"


# Unknown names: E002 --------------------------------------------------------------------

@pytest.mark.parametrize("text, line, column, message, hint", [
    ("input 8x8x4\ncnov 8 3x3", 2, 1, "unknown layer or block `cnov`", "did you mean `conv`?"),
    ("input 8x8x4\nrelux", 2, 1, "unknown layer or block `relux`", "did you mean `relu`?"),
    ("input 8x8x4\ndef block(c) { conv c 1 }\n  blok 3", 3, 3, "unknown layer or block `blok`",
     "did you mean `block`?"),
    ("input 8x8x4\nrepaet 2 { relu }", 2, 1, "unknown layer or block `repaet`", "did you mean `repeat`?"),
    ("input 8x8x4\nqwertyuiop", 2, 1, "unknown layer or block `qwertyuiop`", "layers: conv, maxpool"),
    ("input 8x8x4\nconv 8 3x3 strid=2", 2, 12, "`conv` has no option `strid`", "did you mean `stride`?"),
    ("input 8x8x4\nconv 8 3x3 dilaton=2", 2, 12, "`conv` has no option `dilaton`", "did you mean `dilation`?"),
    ("input 8x8x4\nmaxpool 2 paddin=1", 2, 11, "`maxpool` has no option `paddin`", "did you mean `pad`?"),
    ("input 8x8x4\nmaxpool 2 qq=1", 2, 11, "`maxpool` has no option `qq`", "usage: maxpool KERNEL stride= pad= round="),
    ("input 8x8x4\nleakyrelu same", 2, 11, "unknown name `same`; expected a slope", None),
    ("input 8x8x4\ndef b(c) { conv c 1 }\nb 3 cc=1", 3, 5, "`b` has no option `cc`", "did you mean `c`?"),
    ("input 8x8x4\nconv 8 3x3 pad=sme", 2, 16, "unknown padding `sme`", "did you mean `same`?"),
    ("input 8x8x4\nconv 8 3x3 bias=flase", 2, 17, "unknown boolean `flase`", "did you mean `false`?"),
    ("input 8x8x4\nconv 8 3x3 round=ceiling", 2, 18, "unknown value `ceiling`", "did you mean `ceil`?"),
    ("input 8x8x4\nconv (foo * 2) 3", 2, 7, "unknown name `foo`", "parameters of the enclosing block"),
    ("input 8x8x4\ndef b(c) { conv (cc + 1) 3 }\nb 2", 2, 18, "unknown name `cc`", "parameters of the enclosing"),
    ("input 8x8x4\nconv filters 3", 2, 6, "unknown name `filters`", None),
    ("input 8x8x4\ntrain { optimizr=sgd }", 2, 9, "unknown training setting `optimizr`", "did you mean `optimizer`?"),
    ("input 8x8x4\ntrain { optimizer=sdg }", 2, 19, "unknown value `sdg`", "did you mean `sgd`?"),
    ("input 8x8x4\ntrain { schedule=cosin }", 2, 18, "unknown value `cosin`", "did you mean `cosine`?"),
    ("input 8x8x4\nresidual { relu } shorcut { relu }", 2, 19, "cannot be followed by `shorcut { }`",
     "did you mean `shortcut`?"),
    ("input 8x8x4\ndef b(c) { c }\nb 3", 2, 12, "unknown layer or block `c`", "is a parameter of the enclosing block"),
])
def test_unknown_names(text, line, column, message, hint):
    diagnostic = the_error(text)
    assert where(diagnostic) == ("E002", line, column)
    assert message in diagnostic.message
    if hint is not None:
        assert hint in diagnostic.help


def test_unknown_name_inside_a_block_notes_the_call_site():
    diagnostic = the_error("input 8x8x4\ndef b(c) {\n  cnov c 1\n}\nrelu\nb 3\n")
    assert where(diagnostic) == ("E002", 3, 3)
    assert [(n.message, n.span.line, n.span.column) for n in diagnostic.notes] == [
        ("in block `b`, called here", 6, 1)]


def test_every_unknown_name_is_reported_once():
    found = errors("input 8x8x4\nfoo\nconv 8 3 strid=1\nbar 2\nrelu")
    assert [where(d) for d in found] == [("E002", 2, 1), ("E002", 3, 10), ("E002", 4, 1)]


# Bad arguments: E003 --------------------------------------------------------------------

@pytest.mark.parametrize("text, line, column, message", [
    ("input 8x8x4\ndropout 1.5", 2, 9, "expected a drop probability in [0, 1), got 1.5"),
    ("input 8x8x4\ndropout 1", 2, 9, "expected a drop probability in [0, 1), got 1"),
    ("input 8x8x4\ndropout -0.5", 2, 9, "expected a drop probability in [0, 1), got -0.5"),
    ("input 8x8x4\nconv 0 3x3", 2, 6, "expected a number of filters of at least 1, got 0"),
    ("input 8x8x4\nconv 8.5 3", 2, 6, "expected a number of filters of at least 1, got `8.5`"),
    ("input 8x8x4\nconv 8 3x0", 2, 8, "expected a kernel size of at least 1, got 3x0"),
    ("input 8x8x4\nconv 8 3 stride=0", 2, 17, "expected a stride of at least 1, got 0"),
    ("input 8x8x4\nconv 8 3 pad=-1", 2, 14, "expected a padding of 0 or more, `same` or `valid`, got -1"),
    ("input 8x8x4\nconv 8 3 dilation=0x1", 2, 19, "expected a dilation of at least 1, got 0x1"),
    ("input 8x8x4\nconv 8 3 groups=0", 2, 17, "expected a number of groups of at least 1, got 0"),
    ("input 8x8x4\nconv 8 3 groups=2x2", 2, 17, "expected a number of groups of at least 1, got `2x2`"),
    ("input 8x8x4\nconv 8 3 bias=1", 2, 15, "expected one of `true`, `false`, got `1`"),
    ("input 8x8x4\nfc 0", 2, 4, "expected a number of units of at least 1, got 0"),
    ("input 8x8x4\nbatchnorm eps=0", 2, 15, "expected an eps above 0, got 0"),
    ("input 8x8x4\nbatchnorm momentum=1.5", 2, 20, "expected a momentum in [0, 1], got 1.5"),
    ("input 8x8x4\ndroppath 1", 2, 10, "expected a drop probability in [0, 1), got 1"),
    ("input 8x8x4\ngroupnorm 0", 2, 11, "expected a number of groups of at least 1, got 0"),
    ("input 8x8x4\ngroupnorm", 2, 1, "`groupnorm` needs GROUPS"),
    ("input 8x8x4\nlayernorm eps=0", 2, 15, "expected an eps above 0, got 0"),
    ("input 8x8x4\ninstancenorm affine=1", 2, 21, "expected one of `true`, `false`, got `1`"),
    ("input 8x8x4\nlrn 0", 2, 5, "expected a window of at least 1 channel, got 0"),
    ("input 8x8x4\nlrn 3 alpha=-1", 2, 13, "expected an alpha of 0 or more, got -1"),
    ("input 8x8x4\nlrn 3 k=0", 2, 9, "expected a k above 0, got 0"),
    ("input 8x8x4\nlayerscale init=2x2", 2, 17, "expected an initial scale, got `2x2`"),
    ("input 8x8x4\nadaptiveavgpool 0x2", 2, 17, "expected an output size of at least 1, got 0x2"),
    ("input 8x8x4\nadaptivemaxpool", 2, 1, "`adaptivemaxpool` needs SIZE"),
    ("input 8x8x4\nconv 8", 2, 1, "`conv` needs KERNEL"),
    ("input 8x8x4\nconv", 2, 1, "`conv` needs FILTERS KERNEL"),
    ("input 8x8x4\nrelu 3", 2, 6, "`relu` takes 0 positional arguments"),
    ("input 8x8x4\nconv 8 3x3 relu", 2, 12, "`conv` takes 2 positional arguments"),
    ("input 8x8x4\nconv stride=2 8 3x3", 2, 15, "a positional argument follows an option"),
    ("input 8x8x4\nconv 8 3 stride=2 stride=1", 2, 19, "`stride` is given twice"),
    ("input 8x8x4\nconv 8 3 filters=2", 2, 10, "`filters` is given twice"),
    ("input 8x8x4\ndef b(c) { relu }\nb", 3, 1, "`b` needs C"),
    ("input 8x8x4\ndef b(c) { relu }\nb 1 2", 3, 5, "`b` takes 1 positional argument"),
    ("input 8x8x4\ndef b(c, c) { relu }\nb 1", 2, 10, "parameter `c` is listed twice"),
    ("input 8x8x4\ndef b(c=1, d) { relu }\nb 1", 2, 12, "parameter `d` has no default but follows one that has"),
    ("input 8x8x4\nrepeat -1 { relu }", 2, 8, "expected a repeat count of 0 or more, got -1"),
    ("input 8x8x4\nrepeat 2.5 { relu }", 2, 8, "expected a repeat count of 0 or more, got `2.5`"),
    ("input 8x8x4\nrepeat { relu }", 2, 1, "`repeat` takes one count"),
    ("input 8x8x4\nrepeat 2 3 { relu }", 2, 1, "`repeat` takes one count"),
    ("input 8x8x4\nrepeat 2", 2, 1, "`repeat` needs a `{ ... }` block"),
    ("input 8x8x4\nresidual 2 { relu }", 2, 10, "`residual` takes no arguments"),
    ("input 8x8x4\nconcat { }", 2, 1, "`concat` needs at least one branch"),
    ("input 8x8x4\nconcat 2 { branch { } }", 2, 8, "`concat` takes no arguments"),
    ("input 8x8x4\nconcat {\n  branch 2 { }\n}", 3, 3, "`branch` takes only a `{ ... }` block"),
    ("network a b\ninput 8x8x4", 1, 1, "`network` takes one name"),
    ("network 3\ninput 8x8x4", 1, 1, "`network` takes one name"),
    ("input 8x8x4 8", 1, 1, "`input` takes one size"),
    ("input", 1, 1, "`input` takes one size"),
    ("input 8x0x4", 1, 7, "expected sizes of at least 1, got 8x0x4"),
    ("input 8x8x4\ntrain 3 { lr=0.1 }", 2, 1, "`train` takes a block of settings"),
    ("input 8x8x4\ntrain", 2, 1, "`train` takes a block of settings"),
    ("input 8x8x4\nconv 8 (1 // 0)", 2, 14, "division by zero"),
    ("input 8x8x4\nconv (3x3 + 1) 1", 2, 7, None),  # a syntax error, see below
])
def test_bad_arguments(text, line, column, message):
    if message is None:
        return
    diagnostic = errors(text)[0]  # (the first: a later one may follow from it)
    assert where(diagnostic) == ("E003", line, column)
    assert diagnostic.message.startswith(message), diagnostic.message


def test_sizes_cannot_take_part_in_arithmetic():
    assert parse(Source("input 8x8x4\nconv (3x3 + 1) 1"))[1][0].code == "E001"


@pytest.mark.parametrize("text, hint", [
    ("input 8x8x4\nconv 8 3 x 3", "write sizes without spaces: `3x3`"),
    ("input 8x8x4\nconv 8 3x3 relu", "`relu` is read as an argument: put it on its own line or after `;`"),
    ("input 8x8x4\nconv 8 3x3 stride=s - 1", "to subtract, put the arithmetic in parentheses"),
    ("input 8x8x4\nconv 8 - 1 3x3", "to subtract, put the arithmetic in parentheses"),
    ("input 8x8x4\nconv 8 3.5", "use a whole number"),
    ("input 8x8x4\nconv 0 3", "use a whole number of at least 1"),
    ("input 8x8x4\nconv 8", "usage: conv FILTERS KERNEL stride= pad="),
])
def test_bad_argument_hints(text, hint):
    diagnostic = errors(text)[0]
    assert diagnostic.code == "E003"
    assert hint in diagnostic.help


# Recursion: E004 ------------------------------------------------------------------------

def test_direct_recursion():
    diagnostic = the_error("input 8x8x4\ndef f(c) {\n  conv c 1\n  f c\n}\nf 3\n")
    assert where(diagnostic) == ("E004", 4, 3)
    assert diagnostic.message == "block `f` calls itself: f -> f"
    assert "repeat N" in diagnostic.help


def test_indirect_recursion_names_the_cycle_once():
    diagnostic = the_error("input 8x8x4\ndef a(c) { b c }\ndef b(c) { relu; c2 c }\ndef c2(c) { a c }\na 1\nb 2")
    assert where(diagnostic) == ("E004", 4, 13)
    assert diagnostic.message == "block `a` calls itself: a -> b -> c2 -> a"


def test_recursion_is_reported_even_when_unused_and_in_nested_bodies():
    diagnostic = the_error("input 8x8x4\ndef f() { residual { repeat 2 { f } } }\nrelu")
    assert where(diagnostic) == ("E004", 2, 33)


def test_a_block_used_twice_is_not_recursion():
    assert names("input 8x8x4\ndef u() { relu }\ndef v() { u; u }\nv; u") == ["relu1", "relu2", "relu3"]


# Misplaced statements: E005 ------------------------------------------------------------

@pytest.mark.parametrize("text, line, column, message", [
    ("relu\ninput 8x8x4", 2, 1, "`input` must come before the first layer"),
    ("input 8x8x4\ninput 8x8x4", 2, 1, "`input` is declared twice"),
    ("input 8x8x4\ndef f() { def g() { } }\nf", 2, 11, "blocks are defined at the top level"),
    ("input 8x8x4\ndef f() { input 3x3 }\nf", 2, 11, "`input` belongs at the top level"),
    ("input 8x8x4\nrepeat 2 { network n }", 2, 12, "`network` belongs at the top level"),
    ("input 8x8x4\ntrain { lr=0.1 }\ntrain { lr=0.2 }", 3, 1, "`train` is declared twice"),
    ("input 8x8x4\ntrain { relu }", 2, 9, "a `train` section holds only settings"),
    ("input 8x8x4\nlr=0.1", 2, 1, "settings like `lr=0.05` belong in a `train { }` section"),
    ("input 8x8x4\nrepeat 2 { stride=2 }", 2, 12, "settings like `lr=0.05` belong in a `train { }` section"),
    ("input 8x8x4\nbranch { relu }", 2, 1, "`branch` belongs directly inside `concat { }`"),
    ("input 8x8x4\nshortcut { relu }", 2, 1, "`shortcut { }` follows a residual's closing brace"),
    ("input 8x8x4\nrelu { tanh }", 2, 6, "`relu` takes no `{ }` block"),
    ("input 8x8x4\ndef b() { }\nb { }", 3, 3, "block `b` takes no `{ }` block"),
    ("input 8x8x4\ndef relu() { }", 2, 5, "`relu` is a built-in name and cannot name a block"),
    ("input 8x8x4\ndef repeat() { }", 2, 5, "`repeat` is a built-in name"),
    ("input 8x8x4\ndef f() { }\ndef f() { relu }", 3, 5, "block `f` is defined twice"),
    ("input 8x8x4\nresidual { } shortcut { } shortcut { }", 2, 27, "a residual has one shortcut"),
    ("input 8x8x4\nrepeat 2 { } shortcut { }", 2, 14, "`repeat { }` cannot be followed by `shortcut { }`"),
])
def test_misplaced_statements(text, line, column, message):
    diagnostic = errors(text)[0]
    assert where(diagnostic) == ("E005", line, column)
    assert diagnostic.message.startswith(message), diagnostic.message


def test_concat_holds_only_branches():
    found = errors("input 8x8x4\nconcat {\n  relu\n}")
    assert [where(d) for d in found] == [("E005", 3, 3), ("E003", 2, 1)]
    assert found[0].help == "wrap the layers in `branch { ... }`"


# Limits: E006 ---------------------------------------------------------------------------

def test_too_many_layers():
    diagnostic = the_error("input 8x8x4\nrepeat 10 {\n  repeat 20000 { relu }\n}")
    assert where(diagnostic)[:2] == ("E006", 3)
    assert diagnostic.message == f"the network expands to more than {MAX_LAYERS:,} layers"


def test_a_huge_repeat_stops_at_the_limit():
    diagnostic = the_error("input 8x8x4\nrepeat 1000000000000 { }")  # empty bodies still loop
    assert where(diagnostic) == ("E006", 2, 1)
    assert diagnostic.message == f"the repeats run more than {MAX_ITERATIONS:,} times in all"


def test_exactly_the_limits_are_allowed():
    net, diagnostics = elaborated(f"input 8\nrepeat {MAX_LAYERS} {{ relu }}")
    assert diagnostics == [] and len(net.layers) == MAX_LAYERS
    net, diagnostics = elaborated(f"input 8\nrepeat {MAX_ITERATIONS} {{ }}")
    assert diagnostics == [] and net.layers == ()


def test_one_layer_over_the_limit():
    diagnostic = the_error(f"input 8\nrepeat {MAX_LAYERS + 1} {{ relu }}")
    assert diagnostic.message == f"the network expands to more than {MAX_LAYERS:,} layers"


def test_nesting_limit():
    text = "input 8x8x4\n" + "residual {\n" * (MAX_DEPTH + 1) + "relu\n" + "}\n" * (MAX_DEPTH + 1)
    diagnostic = the_error(text)
    assert where(diagnostic) == ("E006", MAX_DEPTH + 2, 1)
    assert diagnostic.message == f"blocks are nested more than {MAX_DEPTH} deep"
    assert network("input 8x8x4\n" + "residual {\n" * MAX_DEPTH + "relu\n" + "}\n" * MAX_DEPTH).layers


def test_nesting_limit_through_block_calls():
    text = "input 8x8x4\n" + "".join(f"def b{i}() {{ b{i + 1} }}\n" for i in range(150)) + "def b150() { relu }\nb0"
    diagnostic = the_error(text)
    assert diagnostic.code == "E006"
    assert len(diagnostic.notes) == MAX_DEPTH  # every enclosing call site


def test_values_beyond_a_googol():
    diagnostic = the_error("input 8x8x4\nconv (" + "*".join(["10000000000"] * 11) + ") 1")
    assert where(diagnostic) == ("E006", 2, 7)
    assert "too large" in diagnostic.message


# No input: E105 -------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["relu", "", "network n\nconv 8 3", "# nothing"])
def test_no_input(text):
    diagnostic = the_error(text)
    assert where(diagnostic) == ("E105", 1, 1)
    assert diagnostic.message == "no input declared"
    assert "input 224x224x3" in diagnostic.help


# The train { } section ------------------------------------------------------------------

def test_train_section():
    net = network("input 8x8x4\ntrain {\n  optimizer=adamw lr=0.001 weight_decay=0.01\n  epochs=3; batch=64\n"
                  "  loss=mse schedule=step step_size=2 gamma=0.5 val_split=0.1 seed=0 nesterov=true momentum=0\n}")
    assert net.train.settings == {"optimizer": "adamw", "lr": 0.001, "weight_decay": 0.01, "epochs": 3, "batch": 64,
                                  "loss": "mse", "schedule": "step", "step_size": 2, "gamma": 0.5, "val_split": 0.1,
                                  "seed": 0, "nesterov": True, "momentum": 0.0}
    assert net.train.span == Span(2, 1, 6, 2)
    assert network("input 8x8x4\ntrain { }").train.settings == {}
    assert network("input 8x8x4").train is None


@pytest.mark.parametrize("setting, code, message", [
    ("lr=0", "E003", "expected a learning rate above 0, got 0"),
    ("lr=-0.1", "E003", "expected a learning rate above 0, got -0.1"),
    ("momentum=1", "E003", "expected a momentum in [0, 1), got 1"),
    ("epochs=0", "E003", "expected a number of epochs of at least 1, got 0"),
    ("batch=2.5", "E003", "expected a batch size of at least 1, got `2.5`"),
    ("weight_decay=-1", "E003", "expected a weight decay of 0 or more, got -1"),
    ("gamma=0", "E003", "expected a decay factor in (0, 1], got 0"),
    ("val_split=1", "E003", "expected a fraction in [0, 1), got 1"),
    ("seed=-1", "E003", "expected a seed of 0 or more, got -1"),
    ("nesterov=yes", "E002", "unknown boolean `yes`"),
    ("loss=mae", "E002", "unknown value `mae`"),
    ("lr=fast", "E002", "unknown name `fast`; expected a learning rate above 0"),
])
def test_train_settings_are_checked(setting, code, message):
    diagnostic = the_error(f"input 8x8x4\ntrain {{ {setting} }}")
    assert where(diagnostic) == (code, 2, 9 + setting.index("=") + 1)
    assert diagnostic.message == message


def test_train_duplicate_setting():
    diagnostic = the_error("input 8x8x4\ntrain { lr=0.1\n  lr=0.2 }")
    assert where(diagnostic) == ("E003", 3, 3)
    assert diagnostic.message == "setting `lr` is given twice"


def test_train_is_top_level_only():
    diagnostic = the_error("input 8x8x4\nrepeat 1 { train { lr=0.1 } }")
    assert where(diagnostic) == ("E005", 2, 12)


# Errors do not cascade ------------------------------------------------------------------

def test_a_bad_layer_yields_no_node_and_later_layers_still_count():
    net, diagnostics = elaborated("input 8x8x4\nconv 0 3\nconv 8 3\nrelu")
    assert [d.code for d in diagnostics] == ["E003"]
    assert [layer.name for layer in net.layers] == ["conv1", "relu1"]


# Expressions of v2: division, functions, sizes from expressions, repeat as -------------------

@pytest.mark.parametrize("expression, value", [
    ("(7 / 2 * 2)", 7), ("(max(3, c))", 4), ("(min(3, c))", 3), ("(floor(7 / 2))", 3), ("(ceil(7 / 2))", 4),
    ("(round(2.5))", 2), ("(round(3.5))", 4), ("(round(c / 8) * 8 + 8)", 8), ("(floor(-0.5) + 2)", 1),
    ("(max(8, floor(c * 1.25 / 8 + 0.5) * 8))", 8),  # MobileNet's _make_divisible at c=4
])
def test_division_and_functions(expression, value):
    (conv,) = layers(f"input 8x8x4\ndef b(c) {{ conv {expression} 1 }}\nb 4")
    assert conv.filters == value


def test_division_gives_a_real_and_a_whole_number_argument_refuses_a_fraction():
    assert one("dropout (1 / 4)").p == 0.25
    diagnostic = the_error("input 8x8x4\nconv (7 / 2) 3")
    assert where(diagnostic) == ("E003", 2, 7)
    assert "got `3.5`" in diagnostic.message
    assert where(the_error("input 8x8x4\nconv 8 3 stride=(3 / 2)")) == ("E003", 2, 18)
    assert where(the_error("input 8x8x4\nrepeat (5 / 2) { relu }")) == ("E003", 2, 9)
    assert where(the_error("input 8x8x4\nconv (1 / 0) 3")) == ("E003", 2, 11)


def test_function_errors():
    diagnostic = the_error("input 8x8x4\nconv (maximum(1, 2)) 3")
    assert where(diagnostic) == ("E002", 2, 7)
    assert diagnostic.help == "did you mean `max`?"
    assert where(the_error("input 8x8x4\nconv (floor(1, 2)) 3")) == ("E003", 2, 7)
    assert where(the_error("input 8x8x4\nconv (max(1, same)) 3")) == ("E002", 2, 14)
    assert where(the_error("input 8x8x4\ndef b(k) { conv (max(1, k)) 3 }\nb 3x3")) == ("E003", 2, 25)


def test_values_stay_capped():
    assert where(the_error("input 8x8x4\nconv (1e100 / 1e-300) 3")) == ("E006", 2, 7)
    assert where(the_error("input 8x8x4\nconv (max(1e100, 1e100) * 10) 3")) == ("E006", 2, 7)
    assert where(the_error("input 8x8x4\nconv (ceil(1e100) + 1e100) 3")) == ("E006", 2, 7)


def test_sizes_from_block_parameters():
    text = "input 9x8x4\ndef b(s) { conv 4 3 stride=(1)x(s) pad=1x(s) }\nb 2"
    (conv,) = layers(text)
    assert (conv.stride, conv.pad) == ((1, 2), (1, 2))
    (conv,) = layers("input 5x9x8x4\ndef b(s) { conv 4 (s)x3x(s + 1) stride=1x(s)x(s) }\nb 2")
    assert (conv.kernel, conv.stride) == ((2, 3, 3), (1, 2, 2))
    diagnostic = the_error("input 8x8x4\ndef b(s) { conv 4 3 stride=(1)x(s) }\nb 1.5")
    assert diagnostic.code == "E003"
    assert where(the_error("input 8x8x4\nconv 4 3 stride=(1)x(same)")) == ("E002", 2, 22)


def test_repeat_as_binds_the_index():
    found = layers("input 8x8x4\nrepeat 3 as i { conv (4 + i) 1; dropout (0.2 * i / 2) }")
    assert [layer.filters for layer in found if isinstance(layer, ir.Conv)] == [4, 5, 6]
    assert [layer.p for layer in found if isinstance(layer, ir.Dropout)] == [0.0, 0.1, 0.2]
    # nested loops and shadowing of a block parameter
    found = layers("input 8x8x4\ndef b(i) { repeat 2 as i { repeat 2 as j { conv (1 + 2 * i + j) 1 } } }\nb 9")
    assert [layer.filters for layer in found] == [1, 2, 3, 4]
    assert where(the_error("input 8x8x4\nrepeat 3 as { relu }")) == ("E003", 2, 1)
    assert where(the_error("input 8x8x4\nrepeat 3 with i { relu }")) == ("E003", 2, 1)


def test_repeat_as_elaborates_every_iteration():
    # only the iterations whose index gives a bad value fail, each with its own message
    diagnostics = errors("input 8x8x4\nrepeat 4 as i { conv (2 - i) 1 }")
    assert [d.message for d in diagnostics] == ["expected a number of filters of at least 1, got 0",
                                                "expected a number of filters of at least 1, got -1"]
    # without `as`, the first failing iteration stands for all of them
    (diagnostic,) = errors("input 8x8x4\nrepeat 4 { conv 0 1 }")
    assert diagnostic.message.endswith("(in all 4 iterations)")


# Merges -------------------------------------------------------------------------------------

def test_add_and_multiply():
    (node,) = network("input 8x8x4\nadd {\n branch { conv 4 1 }\n branch { }\n branch { relu }\n}").layers
    assert isinstance(node, ir.Add) and node.name == "add1" and [len(b) for b in node.branches] == [1, 0, 1]
    (node,) = network("input 8x8x4\nmultiply { branch { } branch { globalavgpool; sigmoid } }").layers
    assert isinstance(node, ir.Multiply) and [len(b) for b in node.branches] == [0, 2]
    assert [n.name for n in ir.walk((node,))] == ["globalavgpool1", "sigmoid1", "multiply1"]


@pytest.mark.parametrize("op", ["add", "multiply"])
def test_merges_need_two_branches(op):
    diagnostic = the_error(f"input 8x8x4\n{op} {{ branch {{ relu }} }}")
    assert where(diagnostic) == ("E003", 2, 1)
    assert diagnostic.message == f"`{op}` needs at least 2 branches"
    assert where(the_error(f"input 8x8x4\n{op} {{ }}")) == ("E003", 2, 1)
    assert where(the_error(f"input 8x8x4\n{op} {{\n relu\n branch {{ }}\n branch {{ }}\n}}")) == ("E005", 3, 2)
    assert where(the_error(f"input 8x8x4\n{op} 2 {{ branch {{ }} branch {{ }} }}")) == ("E003", 2, len(op) + 2)


def test_branch_outside_a_merge():
    diagnostic = the_error("input 8x8x4\nbranch { relu }")
    assert diagnostic.code == "E005"
    assert "`concat { }`, `add { }` or `multiply { }`" in diagnostic.message


def test_repeat_as_reports_a_finding_of_every_iteration_once():
    (diagnostic,) = errors("input 8x8x4\nrepeat 5 as i { conv 0 1 }")
    assert diagnostic.message.endswith("(in all 5 iterations)")
    diagnostics = errors("input 8x8x4\nrepeat 3 as i { repeat 2 { conv 0 1 } }")
    assert [d.message.rsplit("(", 1)[-1] for d in diagnostics] == ["in all 6 iterations)"]


def test_repeat_as_stops_after_many_distinct_findings():
    from cnnc.elaborate import MAX_LOOP_FINDINGS

    diagnostics = errors("input 8x8x4\nrepeat 1000000 as i { conv (0 - i) 1 }")
    assert len(diagnostics) == MAX_LOOP_FINDINGS + 1
    assert diagnostics[0].message.endswith("(the repeat stopped after 101 of its 1,000,000 iterations)")


def test_repeat_as_stops_after_many_failing_iterations():
    from cnnc.elaborate import MAX_FAILING_ITERATIONS

    (diagnostic,) = errors("input 8x8x4\nrepeat 1000000 as i { conv (1 + i * 0) x }")
    assert diagnostic.message == (f"unknown name `x`; expected a kernel size of at least 1 (in all "
                                  f"{MAX_FAILING_ITERATIONS:,} iterations) (the repeat stopped after "
                                  f"{MAX_FAILING_ITERATIONS:,} of its 1,000,000 iterations)")
    # an index the body never reads: one iteration stands for all
    (diagnostic,) = errors("input 8x8x4\nrepeat 1000000 as i { conv 8 x }")
    assert diagnostic.message.endswith("(in all 1,000,000 iterations)")
