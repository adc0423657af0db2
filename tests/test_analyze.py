"""IR to Report: output sizes, parameters, MACs, buffers, receptive fields, memory, and E101-E105.

Every expected figure is computed by hand in the test's comments from the formulas in docs/language.md."""

from __future__ import annotations

import pytest

from cnnc import ir
from cnnc.api import Checked, Options, check
from cnnc.report import Assumptions, Report
from cnnc.shapes import Window, same_padding
from cnnc.source import Source


def checked(text: str, **options) -> Checked:
    return check(Source(text), Options(**options))


def report(text: str, **options) -> Report:
    result = checked(text, **options)
    assert result.diagnostics == (), [(d.code, d.message) for d in result.diagnostics]
    return result.report


def layer(text: str, name: str):
    return report(text).layer(name)


def the_error(text: str):
    result = checked(text)
    errors = [d for d in result.diagnostics if d.is_error]
    assert len(errors) == 1, [(d.code, d.message) for d in result.diagnostics]
    return errors[0]


def where(diagnostic) -> tuple[str, int, int]:
    return diagnostic.code, diagnostic.span.line, diagnostic.span.column


# Output sizes ------------------------------------------------------------------------------

@pytest.mark.parametrize("n, k, s, p, d, ceil, expected", [
    (7, 3, 2, 0, 1, False, 3),      # (7 - 3)/2 + 1
    (8, 3, 2, 0, 1, False, 3),      # floor(5/2) + 1
    (8, 3, 2, 0, 1, True, 4),       # ceil(5/2) + 1; the last window starts at 6 < 8
    (8, 3, 2, 1, 1, False, 4),      # floor((8 + 2 - 3)/2) + 1
    (5, 2, 2, 1, 1, True, 3),       # ceil(5/2) + 1 = 4, but window 4 would start at 6 >= 5 + 1: dropped
    (5, 2, 2, 1, 1, False, 3),
    (4, 3, 2, 1, 1, True, 3),       # ceil(3/2) + 1 = 3, window 3 starts at 4 < 4 + 1: kept
    (4, 3, 2, 1, 1, False, 2),
    (4, 2, 2, 1, 1, True, 3),       # ceil(4/2) + 1 = 3, starts at 4 < 5: kept
    (3, 2, 2, 0, 1, True, 2),       # ceil(1/2) + 1
    (3, 2, 2, 0, 1, False, 1),
    (10, 3, 1, 0, 2, False, 6),     # dilated span 2*(3-1)+1 = 5: 10 - 5 + 1
    (10, 3, 3, 0, 3, False, 2),     # span 7: floor(3/3) + 1
    (224, 7, 2, 3, 1, False, 112),  # ResNet's stem
    (112, 3, 2, 1, 1, False, 56),   # ResNet's max pool
    (227, 11, 4, 0, 1, False, 55),  # AlexNet's first conv
    (112, 3, 2, 0, 1, True, 56),    # GoogLeNet's ceil-mode pool: ceil(109/2) + 1
    (1, 1, 1, 0, 1, False, 1),
    (1, 3, 3, 0, 1, True, 1),       # PyTorch: a single window over the input and the implicit right side
    (4, 5, 1, 0, 1, False, 0),
    (1, 5, 2, 0, 1, True, -1),      # ceil(-4/2) + 1
])
def test_window_output(n, k, s, p, d, ceil, expected):
    assert Window(n, k, s, p, p, d, ceil).output == expected


@pytest.mark.parametrize("n, k, s, d, pads, output", [
    (7, 3, 2, 1, (1, 1), 4),   # out ceil(7/2) = 4; total (4-1)*2 + 3 - 7 = 2
    (8, 3, 2, 1, (0, 1), 4),   # total (4-1)*2 + 3 - 8 = 1: the odd pixel goes after
    (5, 4, 1, 1, (1, 2), 5),   # total 3
    (10, 3, 1, 2, (2, 2), 10),  # span 5: total 4
    (8, 1, 2, 1, (0, 0), 4),
    (8, 2, 3, 1, (0, 0), 3),   # total max(2*3 + 2 - 8, 0) = 0
    (1, 5, 1, 1, (2, 2), 1),
    (224, 7, 2, 1, (2, 3), 112),  # total (112-1)*2 + 7 - 224 = 5
])
def test_same_padding(n, k, s, d, pads, output):
    assert same_padding(n, k, s, d) == pads
    found = layer(f"input {n}x1\nconv 1 {k} stride={s} dilation={d} pad=same", "conv1")
    assert found.output.spatial == (output,)
    assert found.padding == (pads,)


def test_same_padding_per_dimension_is_asymmetric_where_the_total_is_odd():
    found = layer("input 8x7x1\nconv 1 3 stride=2 pad=same", "conv1")
    assert found.output == ir.Shape((4, 4), 1)
    assert found.padding == ((0, 1), (1, 1))  # 8: total 1; 7: total 2


@pytest.mark.parametrize("spec, spatial", [
    ("conv 1 3 pad=valid", (6, 6)),
    ("conv 1 3 pad=0", (6, 6)),
    ("conv 1 1x3 stride=1x2 pad=0x1", (8, 4)),  # second dimension: floor((8 + 2 - 3)/2) + 1 = 4
    ("conv 1 3 stride=2 pad=1 round=ceil", (5, 5)),  # ceil(7/2) + 1 = 5; window 5 starts at 8 < 8 + 1
    ("conv 1 2 stride=2 pad=1 round=ceil", (5, 5)),  # ceil(8/2) + 1 = 5; starts at 8 < 9
    ("maxpool 3 stride=2 pad=1 round=ceil", (5, 5)),
    ("maxpool 2 stride=2 pad=1 round=ceil", (5, 5)),
    ("maxpool 3", (2, 2)),  # stride = kernel: floor(5/3) + 1
    ("avgpool 3 stride=1 pad=1", (8, 8)),
    ("maxpool 2x4", (4, 2)),
    ("conv 1 3x1 dilation=2x1", (4, 8)),  # span 5 in the first dimension
])
def test_output_sizes_in_the_pipeline(spec, spatial):
    assert layer(f"input 8x8x2\n{spec}", "conv1" if spec.startswith("conv") else spec.split()[0] + "1"
                 ).output.spatial == spatial


def test_ceil_mode_drop_rule_in_the_pipeline():
    # n=5, k=2, s=2, p=1: 3 with ceil (the 4th window would start inside the right padding)
    assert layer("input 5x5x1\nmaxpool 2 stride=2 pad=1 round=ceil", "maxpool1").output.spatial == (3, 3)
    assert layer("input 4x4x1\nmaxpool 2 stride=2 pad=1 round=ceil", "maxpool1").output.spatial == (3, 3)
    assert layer("input 6x6x1\nmaxpool 2 stride=2 round=ceil", "maxpool1").output.spatial == (3, 3)
    assert layer("input 7x7x1\nmaxpool 2 stride=2 round=ceil", "maxpool1").output.spatial == (4, 4)
    assert layer("input 7x7x1\nmaxpool 2 stride=2", "maxpool1").output.spatial == (3, 3)


# Shapes of the other layers ----------------------------------------------------------------

def test_shapes_of_every_kind():
    found = report("input 8x8x4\nconv 6 3 pad=1\nbatchnorm\nrelu\nmaxpool 2\ndropout 0.5\nleakyrelu\nsigmoid\n"
                   "tanh\nglobalavgpool\nflatten\nfc 10\nsoftmax")
    assert [(x.name, x.output.dims) for x in found.layers] == [
        ("conv1", (8, 8, 6)), ("batchnorm1", (8, 8, 6)), ("relu1", (8, 8, 6)), ("maxpool1", (4, 4, 6)),
        ("dropout1", (4, 4, 6)), ("leakyrelu1", (4, 4, 6)), ("sigmoid1", (4, 4, 6)), ("tanh1", (4, 4, 6)),
        ("globalavgpool1", (1, 1, 6)), ("flatten1", (6,)), ("fc1", (10,)), ("softmax1", (10,))]
    assert found.input == ir.Shape((8, 8), 4)
    assert found.output == ir.Shape((), 10)
    assert [x.input.dims for x in found.layers[:2]] == [(8, 8, 4), (8, 8, 6)]


def test_one_and_three_dimensional_inputs():
    signal = report("input 100x12\nconv 16 5 stride=2\nmaxpool 2\nfc 3")
    assert [x.output.dims for x in signal.layers] == [(48, 16), (24, 16), (3,)]
    volume = report("input 4x8x8x3\nconv 8 3 pad=1\nmaxpool 1x2x2\nconv 2 3x1x1\nglobalavgpool")
    assert [x.output.dims for x in volume.layers] == [(4, 8, 8, 8), (4, 4, 4, 8), (2, 4, 4, 2), (1, 1, 1, 2)]
    vector = report("input 784\nfc 10\nrelu")
    assert vector.output == ir.Shape((), 10) and vector.layers[0].params == 784 * 10 + 10


def test_flatten_is_a_view_and_fc_flattens_by_itself():
    found = report("input 4x4x2\nflatten\nfc 3")
    assert found.layer("flatten1").allocates is False
    assert found.layer("fc1").params == report("input 4x4x2\nfc 3").layer("fc1").params == 32 * 3 + 3


def test_residual_and_concat_shapes_and_rows():
    found = report("input 8x8x4\nresidual {\n  conv 4 3 pad=1\n} shortcut { }\n"
                   "concat {\n  branch { conv 2 1 }\n  branch { }\n  branch { maxpool 3 stride=1 pad=1 }\n}")
    assert [(x.name, x.depth, x.output.dims) for x in found.layers] == [
        ("conv1", 1, (8, 8, 4)), ("residual1", 0, (8, 8, 4)),
        ("conv2", 1, (8, 8, 2)), ("maxpool1", 1, (8, 8, 4)), ("concat1", 0, (8, 8, 10))]  # 2 + 4 + 4
    assert found.layer("residual1").params == found.layer("concat1").macs == 0


# Parameters, MACs, buffers ----------------------------------------------------------------

@pytest.mark.parametrize("spec, params, macs, output", [
    # conv: filters * (in / groups) * prod(kernel) (+ filters); MACs: prod(out spatial) * filters * (in/groups) * k
    ("conv 8 3 pad=1", 8 * 4 * 9 + 8, 64 * 8 * 36, (8, 8, 8)),
    ("conv 8 3 pad=1 bias=false", 8 * 4 * 9, 64 * 8 * 36, (8, 8, 8)),
    ("conv 8 3 pad=1 groups=2", 8 * 2 * 9 + 8, 64 * 8 * 18, (8, 8, 8)),
    ("conv 4 3 pad=1 groups=4", 4 * 1 * 9 + 4, 64 * 4 * 9, (8, 8, 4)),       # depthwise
    ("conv 8 1x3 pad=0x1", 8 * 4 * 3 + 8, 64 * 8 * 12, (8, 8, 8)),
    ("conv 8 3 stride=2 pad=1", 8 * 4 * 9 + 8, 16 * 8 * 36, (4, 4, 8)),
    ("conv 8 3 dilation=2", 8 * 4 * 9 + 8, 16 * 8 * 36, (4, 4, 8)),           # dilation adds no weights
    ("conv 8 1", 8 * 4 + 8, 64 * 8 * 4, (8, 8, 8)),
    ("fc 10", 256 * 10 + 10, 256 * 10, (10,)),
    ("fc 10 bias=false", 256 * 10, 256 * 10, (10,)),
    ("maxpool 2", 0, 0, (4, 4, 4)),
    ("avgpool 2", 0, 0, (4, 4, 4)),
    ("globalavgpool", 0, 0, (1, 1, 4)),
    ("relu", 0, 0, (8, 8, 4)),
    ("dropout 0.1", 0, 0, (8, 8, 4)),
    ("flatten", 0, 0, (256,)),
])
def test_params_and_macs(spec, params, macs, output):
    found = report(f"input 8x8x4\n{spec}").layers[0]
    assert (found.params, found.macs, found.output.dims, found.buffers) == (params, macs, output, 0)
    assert found.flops == 2 * macs
    assert found.activations == ir.Shape(output[:-1], output[-1]).size


def test_three_dimensional_conv_costs():
    found = report("input 4x8x8x3\nconv 8 3 pad=1").layers[0]
    assert found.params == 8 * 3 * 27 + 8
    assert found.macs == 4 * 8 * 8 * 8 * 3 * 27


def test_batchnorm_parameters_and_buffers():
    found = report("input 8x8x4\nconv 6 1\nbatchnorm\nfc 2\nbatchnorm")
    assert (found.layer("batchnorm1").params, found.layer("batchnorm1").buffers) == (12, 12)  # scale, shift
    assert (found.layer("batchnorm2").params, found.layer("batchnorm2").buffers) == (4, 4)  # mean, variance
    assert found.totals.buffers == 16
    assert found.totals.params == (6 * 4 + 6) + 12 + (384 * 2 + 2) + 4


ACTIVATIONS = ("relu6", "silu", "hardswish", "hardsigmoid", "mish", "selu", "gelu", "gelu approximate=tanh", "elu",
               "elu 0.5")


@pytest.mark.parametrize("function", ACTIVATIONS)
def test_activations_keep_the_shape_and_count_nothing_but_their_output(function):
    found = report(f"input 8x8x4\nconv 6 3\n{function}\nfc 3\n{function}")
    row, flat = found.layers[1], found.layers[3]
    assert (row.output.dims, row.params, row.buffers, row.macs) == ((6, 6, 6), 0, 0, 0)
    assert row.receptive_field == found.layers[0].receptive_field == (3, 3) and row.jump == (1, 1)
    assert (flat.output.dims, flat.params) == ((3,), 0)
    assert found.totals.activations == 216 * 2 + 3 * 2


def test_prelu_has_a_slope_per_channel_or_one():
    found = report("input 8x8x4\nconv 6 3\nprelu\nprelu shared=true\nfc 3\nprelu")
    assert [(r.name, r.output.dims, r.params, r.buffers, r.macs) for r in found.layers[1:]] == [
        ("prelu1", (6, 6, 6), 6, 0, 0), ("prelu2", (6, 6, 6), 1, 0, 0), ("fc1", (3,), 216 * 3 + 3, 0, 216 * 3),
        ("prelu3", (3,), 3, 0, 0)]
    assert found.totals.params == (6 * 4 * 9 + 6) + 6 + 1 + (216 * 3 + 3) + 3


def test_inplace_activations_cover_the_new_functions_but_not_prelu():
    # stored: input 64 + conv 64 (+ 64 for an activation that keeps its own output)
    for function, stored in (("relu6", 128), ("gelu", 128), ("elu 0.5", 128), ("prelu", 192), ("softmax", 192)):
        totals = report(f"input 4x4x4\nconv 4 1\n{function}", inplace_activations=True).totals
        assert totals.forward_bytes == stored * 4, function


def test_totals_sum_the_layers():
    found = report("input 8x8x4\nconv 8 3 pad=1\nrelu\nmaxpool 2\nfc 10")
    assert found.totals.params == (8 * 4 * 9 + 8) + (128 * 10 + 10)
    assert found.totals.macs == 64 * 8 * 36 + 128 * 10
    assert found.totals.flops == 2 * found.totals.macs
    assert found.totals.activations == 512 + 512 + 128 + 10


def test_counts_are_exact_integers_at_any_size():
    found = report("input 99999999999999999999x3\nconv 8 3\nfc 10")
    n = 99999999999999999999 - 2
    assert found.layer("conv1").macs == n * 8 * 9
    assert found.layer("fc1").params == n * 8 * 10 + 10


# Receptive field and jump -------------------------------------------------------------------

@pytest.mark.parametrize("specs, rf, jump", [
    ("conv 1 3", (3, 3), (1, 1)),
    ("conv 1 3\nmaxpool 2", (4, 4), (2, 2)),                # 3 + (2-1)*1
    ("conv 1 3\nmaxpool 2\nconv 1 3", (8, 8), (2, 2)),      # 4 + (3-1)*2
    ("conv 1 3 dilation=2", (5, 5), (1, 1)),                # span 5
    ("conv 1 3 stride=2\nconv 1 3 dilation=2", (11, 11), (2, 2)),  # 3 + (5-1)*2
    ("conv 1 1x7", (1, 7), (1, 1)),
    ("conv 1 3 stride=2x1\nconv 1 3", (7, 5), (2, 1)),
    ("relu\nbatchnorm\ndropout 0.5", (1, 1), (1, 1)),
    ("conv 1 3 pad=1\nmaxpool 2\nglobalavgpool", (4 + 15 * 2, 4 + 15 * 2), (32, 32)),  # 16x16 after the pool
    ("conv 1 3 pad=1\nmaxpool 2\nfc 10", (34, 34), (32, 32)),
    ("conv 1 3 pad=1\nmaxpool 2\nfc 10\nfc 5", (34, 34), (32, 32)),
])
def test_receptive_field(specs, rf, jump):
    last = report(f"input 32x32x1\n{specs}").layers[-1]
    assert (last.receptive_field, last.jump) == (rf, jump)


def test_receptive_field_takes_the_largest_path():
    found = report("input 32x32x4\nresidual {\n  conv 4 3 pad=1\n  conv 4 3 pad=1\n}\n"
                   "concat {\n  branch { conv 1 1 }\n  branch { conv 1 5 pad=2 }\n"
                   "  branch { maxpool 3 stride=1 pad=1 }\n}")
    assert found.layer("residual1").receptive_field == (5, 5)   # body 5, identity shortcut 1
    assert found.layer("concat1").receptive_field == (9, 9)     # 5 + the branch of 5 adds 4
    strided = report("input 32x32x4\nresidual { conv 4 3 stride=2 pad=1 } shortcut { conv 4 1 stride=2 }")
    assert (strided.layer("residual1").receptive_field, strided.layer("residual1").jump) == ((3, 3), (2, 2))


def test_receptive_field_in_one_and_three_dimensions():
    signal = report("input 100x1\nconv 1 5 stride=2\nconv 1 3")
    assert [(x.receptive_field, x.jump) for x in signal.layers] == [((5,), (2,)), ((9,), (2,))]
    volume = report("input 8x16x16x1\nconv 1 3x1x1\nconv 1 1x3x3 stride=1x2x2\nconv 1 3")
    # (3, 1, 1) -> (3, 3, 3) with jump (1, 2, 2) -> (3 + 2*1, 3 + 2*2, 3 + 2*2)
    assert volume.layers[-1].receptive_field == (5, 7, 7) and volume.layers[-1].jump == (1, 2, 2)
    assert report("input 10\nfc 3").layers[0].receptive_field == ()


# Memory ---------------------------------------------------------------------------------------

TINY = "input 4x4x1\nconv 2 3 pad=1\nbatchnorm\nrelu\nflatten\nfc 3"
# params: conv 2*1*9 + 2 = 20, batchnorm 2*2 = 4, fc 32*3 + 3 = 99 -> 123; buffers 4
# stored elements (flatten is a view): input 16 + conv 32 + batchnorm 32 + relu 32 + fc 3 = 115
# live peak: 16 | conv 16+32=48 | free input, batchnorm 32+32=64 | relu 64 | flatten +0 | fc 32+3 -> 64


def test_memory_of_a_tiny_net_in_float32():
    totals = report(TINY).totals
    assert (totals.params, totals.buffers) == (123, 4)
    assert totals.activations == 32 * 4 + 3  # every layer's output, flatten's included
    assert totals.weights_bytes == (123 + 4) * 4
    assert totals.forward_bytes == 115 * 4
    assert totals.inference_bytes == (123 + 4) * 4 + 64 * 4


@pytest.mark.parametrize("dtype, width", [("float32", 4), ("float16", 2), ("bfloat16", 2), ("float64", 8)])
@pytest.mark.parametrize("optimizer, states", [("sgd", 0), ("momentum", 1), ("adam", 2), ("adamw", 2)])
@pytest.mark.parametrize("batch", [1, 32])
def test_training_memory(dtype, width, optimizer, states, batch):
    totals = report(TINY, dtype=dtype, optimizer=optimizer, batch=batch).totals
    # batch x stored x 2 (activations and gradients) + params x (weights + grads + optimizer) + buffers
    assert totals.training_bytes == batch * 115 * 2 * width + 123 * width * (2 + states) + 4 * width
    assert totals.forward_bytes == 115 * width
    assert totals.inference_bytes == (127 + 64) * width


def test_training_memory_figures_by_hand():
    assert report(TINY).totals.training_bytes == 30932  # batch 32, momentum: 29440 + 1476 + 16
    assert report(TINY, optimizer="sgd").totals.training_bytes == 30440
    assert report(TINY, dtype="float64", batch=1, optimizer="adam").totals.training_bytes == 5808


def test_inference_keeps_a_residual_input_until_the_shortcut_uses_it():
    # input 32 | conv 32 (input still needed) -> 64 | add 32 -> 96
    totals = report("input 4x4x2\nresidual { conv 2 3 pad=1 }").totals
    assert totals.inference_bytes == (2 * 2 * 9 + 2) * 4 + 96 * 4
    assert totals.forward_bytes == (32 + 32 + 32) * 4


def test_inference_keeps_concat_branches_until_the_join():
    # input 32 | conv 2x1: +32 = 64 | conv 3x1: +48 = 112, input freed -> 80 | join +80 = 160
    totals = report("input 4x4x2\nconcat {\n  branch { conv 2 1 }\n  branch { conv 3 1 }\n}").totals
    assert totals.inference_bytes == (6 + 9) * 4 + 160 * 4


def test_an_empty_network_keeps_only_its_input():
    totals = report("input 4x4x2").totals
    assert (totals.forward_bytes, totals.inference_bytes, totals.training_bytes) == (128, 128, 32 * 32 * 2 * 4)


def test_assumptions_come_from_the_options_then_the_train_section():
    assert report(TINY).assumptions == Assumptions(batch=32, dtype="float32", optimizer="momentum")
    spec = TINY + "\ntrain { optimizer=adam batch=8 }"
    assert report(spec).assumptions == Assumptions(batch=8, dtype="float32", optimizer="adam")
    assert report(spec, batch=2, optimizer="sgd", dtype="float16").assumptions == Assumptions(2, "float16", "sgd")
    assert report(TINY + "\ntrain { lr=0.1 }").assumptions.optimizer == "sgd"
    assert report(TINY + "\ntrain { lr=0.1 momentum=0.9 }").assumptions.optimizer == "momentum"


# E101 output size not positive ---------------------------------------------------------------

def test_e101_shows_the_arithmetic():
    diagnostic = the_error("input 4x3\nconv 8 5")
    assert where(diagnostic) == ("E101", 2, 1)
    assert diagnostic.message == "`conv1` output size is not positive: floor((4 - 5 + 2*0) / 1) + 1 = 0"
    assert "the input here is 4x3" in diagnostic.help


def test_e101_names_the_dimension_dilation_padding_and_rounding():
    diagnostic = the_error("input 8x4x1\nconv 1 3x5 pad=1x0")
    assert diagnostic.message == ("`conv1` output size is not positive in spatial dimension 2: "
                                  "floor((4 - 5 + 2*0) / 1) + 1 = 0")
    diagnostic = the_error("input 4x1\nconv 1 3 dilation=2")
    assert diagnostic.message.endswith("floor((4 - 5 (kernel 3 dilated 2) + 2*0) / 1) + 1 = 0")
    diagnostic = the_error("input 2x1\nconv 1 5 pad=1")
    assert diagnostic.message.endswith("floor((2 - 5 + 2*1) / 1) + 1 = 0")
    diagnostic = the_error("input 1x1\nmaxpool 5 stride=2 round=ceil")
    assert diagnostic.message == "`maxpool1` output size is not positive: ceil((1 - 5 + 2*0) / 2) + 1 = -1"


def test_e101_after_downsampling_in_a_block_notes_the_call():
    diagnostic = the_error("input 16x16x3\ndef down(c) {\n  conv c 3 stride=2\n}\nrepeat 4 { down 8 }")
    assert where(diagnostic) == ("E101", 3, 3)
    assert diagnostic.message.startswith("`conv4` output size is not positive")
    assert "floor((1 - 3 + 2*0) / 2) + 1 = 0" in diagnostic.message  # 16 -> 7 -> 3 -> 1 -> ?
    assert "the input here is 1x1x8" in diagnostic.help
    assert [(n.span.line, n.span.column) for n in diagnostic.notes] == [(5, 12)]


# E106 a max-pooling window in the padding ------------------------------------------------------

def test_e106_a_max_pool_window_of_padding_alone():
    """The first window when the padding before is at least the span, the last when it starts past the input
    (found by the random ONNX test: `maxpool 1 pad=1` gave -inf on NumPy, an input value on Numba, the lowest
    float in ONNX Runtime)."""
    diagnostic = the_error("input 2x2\nmaxpool 1 pad=1\ngelu")
    assert where(diagnostic) == ("E106", 2, 1)
    assert diagnostic.message == ("`maxpool1`'s first window reads only padding (a window of 1 in a padding of 1): "
                                  "it has no value to take the maximum of")
    assert diagnostic.help.startswith("pad by less than the window's span (1): `pad=0`")
    diagnostic = the_error("input 8x9x1\nmaxpool 2x3 stride=1x1 pad=(0)x(3)")
    assert diagnostic.message.startswith("`maxpool1`'s first window in spatial dimension 2 reads only padding")
    diagnostic = the_error("input 4x1\nmaxpool 2 stride=3 pad=(2)")  # windows from -2 and 1: the first is padding
    assert where(diagnostic) == ("E106", 2, 1)


def test_pools_that_leave_every_window_an_input_value_pass():
    for text in ("input 5x5x2\nmaxpool 3 stride=1 pad=2",  # above half the kernel, which PyTorch refuses
                 "input 5x1\nmaxpool 2 stride=4 pad=1 round=ceil",  # the last window starts at 3: 3 and 4
                 "input 4x4x1\navgpool 1 pad=1",  # an average of padding alone is 0, as PyTorch's
                 "input 7x7x2\nmaxpool 2 pad=same"):
        assert checked(text).ok, text


def test_layers_before_a_shape_error_are_still_reported():
    result = checked("input 4x4x1\nconv 2 3\nrelu\nconv 2 3\nfc 10")
    assert [d.code for d in result.diagnostics] == ["E101"]
    assert [x.name for x in result.report.layers] == ["conv1", "relu1"]
    assert result.report.output is None and result.report.totals is None


# E102 shape mismatch ---------------------------------------------------------------------------

def test_e102_residual_shows_both_shapes():
    diagnostic = the_error("input 8x8x4\nresidual {\n  conv 8 3 pad=1\n}")
    assert where(diagnostic) == ("E102", 2, 1)
    assert diagnostic.message == ("residual shapes do not match: the body gives 8x8x8, "
                                  "the shortcut passes the input 8x8x4")
    assert "shortcut { conv 8 1x1" in diagnostic.help
    assert [(n.message, n.span.line, n.span.column) for n in diagnostic.notes] == [
        ("the body ends here with 8x8x8", 3, 3)]


def test_e102_residual_with_a_projection_of_the_wrong_stride():
    diagnostic = the_error("input 8x8x4\nresidual { conv 8 3 pad=1 } shortcut { conv 8 1 stride=2 }")
    assert diagnostic.message == "residual shapes do not match: the body gives 8x8x8, the shortcut gives 4x4x8"
    assert [n.message for n in diagnostic.notes] == ["the body ends here with 8x8x8",
                                                     "the shortcut ends here with 4x4x8"]


def test_e102_concat_shows_both_shapes():
    diagnostic = the_error("input 8x8x4\nconcat {\n  branch { conv 8 3 }\n  branch { conv 8 1 }\n}")
    assert where(diagnostic) == ("E102", 2, 1)
    assert diagnostic.message == "concat branches differ in spatial size: branch 1 gives 6x6x8, branch 2 gives 8x8x8"
    assert "pad=same" in diagnostic.help
    assert [(n.message, n.span.line) for n in diagnostic.notes] == [("branch 1 ends here with 6x6x8", 3),
                                                                    ("branch 2 ends here with 8x8x8", 4)]


def test_concat_of_flat_vectors_and_of_different_channels_is_fine():
    assert report("input 10\nconcat {\n  branch { fc 3 }\n  branch { fc 4 }\n}").output == ir.Shape((), 7)


# E103 rank mismatch ----------------------------------------------------------------------------

@pytest.mark.parametrize("spec, message", [
    ("conv 8 3x3x3", "kernel 3x3x3 has 3 dimensions, but the input 8x8x4 has 2 spatial dimensions"),
    ("conv 8 3 stride=1x1x1", "stride 1x1x1 has 3 dimensions, but the input 8x8x4 has 2 spatial dimensions"),
    ("conv 8 3 pad=1x1x1", "pad 1x1x1 has 3 dimensions, but the input 8x8x4 has 2 spatial dimensions"),
    ("conv 8 3 dilation=1x2x1", "dilation 1x2x1 has 3 dimensions, but the input 8x8x4 has 2 spatial dimensions"),
    ("maxpool 2x2x2", "kernel 2x2x2 has 3 dimensions, but the input 8x8x4 has 2 spatial dimensions"),
    ("avgpool 2 stride=1x1x1", "stride 1x1x1 has 3 dimensions"),
    ("fc 10\nconv 8 3", "`conv` needs a spatial input, but its input is a flat vector of 10"),
    ("flatten\nmaxpool 2", "`maxpool` needs a spatial input, but its input is a flat vector of 256"),
    ("globalavgpool\nfc 3\nglobalavgpool", "`globalavgpool` needs a spatial input"),
])
def test_e103(spec, message):
    diagnostic = the_error(f"input 8x8x4\n{spec}")
    assert diagnostic.code == "E103"
    assert diagnostic.span.line == 1 + len(spec.split("\n"))
    assert diagnostic.message.startswith(message), diagnostic.message


def test_e103_in_one_dimension():
    diagnostic = the_error("input 100x12\nconv 8 3x3")
    assert diagnostic.message == "kernel 3x3 has 2 dimensions, but the input 100x12 has 1 spatial dimension"


@pytest.mark.parametrize("text, suggested", [
    ("input 224x224\nconv 16 3x3", ("`input 224x224` is 1 spatial dimension (224) of 224 channels: did you mean "
                                    "`input 224x224x1` (or x3 for colour)? sizes come first, channels last")),
    ("input 28x28\nmaxpool 2x2", ("`input 28x28` is 1 spatial dimension (28) of 28 channels: did you mean "
                                 "`input 28x28x1` (or x3 for colour)? sizes come first, channels last")),
    ("input 28x28\nadaptiveavgpool 7x7", ("`input 28x28` is 1 spatial dimension (28) of 28 channels: did you mean "
                                         "`input 28x28x1` (or x3 for colour)? sizes come first, channels last")),
    ("input 32x32\nupsample 2x2", ("`input 32x32` is 1 spatial dimension (32) of 32 channels: did you mean "
                                  "`input 32x32x1` (or x3 for colour)? sizes come first, channels last")),
    ("input 16x112x112\nconv 64 3x3x3", ("`input 16x112x112` is 2 spatial dimensions (16x112) of 112 channels: "
                                        "did you mean `input 16x112x112x1` (or x3 for colour)? sizes come first, "
                                        "channels last")),
    ("input 8x8x4\nconv 8 3x3x3", ("a kernel covers every input channel: give its size in the 2 spatial dimensions "
                                  "only, such as `3x3`")),
    ("input 8x8x4\nmaxpool 2x2x2x2", "give one kernel per spatial dimension, or a single number for all of them"),
    ("input 8x8x4\nconv 8 3 stride=2x2x2", "give one stride per spatial dimension, or a single number for all of them"),
])
def test_e103_suggests_the_missing_channels_when_the_kernel_has_one_more_dimension(text, suggested):
    diagnostic = the_error(text)
    assert diagnostic.code == "E103"
    assert diagnostic.help == suggested
    channels_missing = "channels last" in suggested
    assert [(n.message, n.span.line) for n in diagnostic.notes] == (
        [("the input is declared here", 1)] if channels_missing else [])


def test_e103_suggestion_gives_a_network_that_checks():
    """The input suggested for `input 224x224` + 2-D kernels makes the same layers a 2-D network."""
    fixed = report("input 224x224x1\nconv 16 3x3")
    assert fixed.output == ir.Shape((222, 222), 16)


# E104 groups ------------------------------------------------------------------------------------

def test_e104_groups_must_divide_the_input_channels():
    diagnostic = the_error("input 8x8x3\nconv 8 3 groups=2")
    assert where(diagnostic) == ("E104", 2, 1)
    assert diagnostic.message == "groups=2 does not divide the 3 input channels"
    assert "groups=3" in diagnostic.help


def test_e104_groups_must_divide_the_filters():
    diagnostic = the_error("input 8x8x4\nconv 6 3 groups=4")
    assert diagnostic.message == "groups=4 does not divide the 6 filters"


def test_e104_both_and_the_analysis_goes_on():
    result = checked("input 8x8x3\nconv 5 3 groups=2\nconv 4 1 groups=3")
    assert [d.message for d in result.diagnostics] == [
        "groups=2 does not divide the 3 input channels", "groups=2 does not divide the 5 filters",
        "groups=3 does not divide the 5 input channels", "groups=3 does not divide the 4 filters"]
    assert result.report.output == ir.Shape((6, 6), 4)


# E105 and the input override ---------------------------------------------------------------------

def test_e105_no_input():
    result = checked("conv 8 3")
    assert [where(d) for d in result.diagnostics] == [("E105", 1, 1)]
    assert result.report is None


def test_input_override_replaces_or_supplies_the_input():
    assert report("conv 8 3", input=ir.Shape((5, 5), 3)).output == ir.Shape((3, 3), 8)
    assert report("input 224x224x3\nconv 8 3", input=ir.Shape((5, 5), 3)).output == ir.Shape((3, 3), 8)


# E006 in the analyzer ---------------------------------------------------------------------------

def test_figures_beyond_a_googol_are_refused():
    diagnostic = the_error("input 8x8x3\nconv " + "9" * 90 + " 3\nconv " + "9" * 90 + " 3")
    assert where(diagnostic) == ("E006", 3, 1)
    diagnostic = the_error("input " + "x".join(["9" * 60] * 5))
    assert where(diagnostic) == ("E006", 1, 1)


# Issue 9: normalisations, layer scale, drop path, global max and adaptive pools ----------------

def test_norm_defaults_are_the_issues():
    layers = report("input 8x8x8\nlayernorm\ngroupnorm 4\ninstancenorm\nlrn 5\nlayerscale\ndroppath 0.1").layers
    norm, group, instance, lrn, scale, drop = (row.node for row in layers)
    assert (norm.eps, norm.affine) == (1e-5, True)
    assert (group.groups, group.eps, group.affine) == (4, 1e-5, True)
    assert (instance.eps, instance.affine) == (1e-5, False)
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 1.0)
    assert scale.init == 1e-6 and drop.p == 0.1


@pytest.mark.parametrize("spec, params", [
    ("input 7x7x96\nlayernorm", 2 * 96),  # ConvNeXt's LayerNorm2d: weight and bias per channel
    ("input 7x7x96\nlayernorm affine=false", 0),
    ("input 384\nlayernorm", 2 * 384),
    ("input 7x7x64\ngroupnorm 32", 2 * 64),
    ("input 7x7x64\ngroupnorm 32 affine=false", 0),
    ("input 7x7x64\ninstancenorm", 0),
    ("input 7x7x64\ninstancenorm affine=true", 2 * 64),
    ("input 7x7x64\nlrn 5", 0),
    ("input 7x7x96\nlayerscale", 96),
    ("input 7x7x96\ndroppath 0.1", 0),
])
def test_norm_parameters_and_no_buffers(spec, params):
    (row,) = report(spec).layers
    assert (row.params, row.buffers, row.macs, row.output) == (params, 0, 0, row.input)


def test_groupnorm_groups_must_divide_the_channels():
    error = the_error("input 8x8x6\ngroupnorm 4")
    assert where(error) == ("E104", 2, 1)
    assert error.message == "groupnorm's 4 groups do not divide the 6 channels"


@pytest.mark.parametrize("op", ["instancenorm", "lrn 3", "globalmaxpool", "adaptiveavgpool 2", "adaptivemaxpool 2"])
def test_layers_that_need_positions_refuse_a_flat_vector(op):
    error = the_error(f"input 8x8x6\nfc 4\n{op}")
    assert where(error) == ("E103", 3, 1)
    assert "needs a spatial input" in error.message


def test_adaptive_pool_sizes_must_match_the_rank():
    error = the_error("input 8x8x6\nadaptiveavgpool 2x2x2")
    assert where(error) == ("E103", 2, 1)
    assert error.message == "size 2x2x2 has 3 dimensions, but the input 8x8x6 has 2 spatial dimensions"


def test_global_max_pool_matches_global_average_pool():
    avg = report("input 9x6x4\nconv 4 3 stride=2\nglobalavgpool").layers[-1]
    top = report("input 9x6x4\nconv 4 3 stride=2\nglobalmaxpool").layers[-1]
    assert (top.output, top.receptive_field, top.jump) == (avg.output, avg.receptive_field, avg.jump)
    assert top.output == ir.Shape((1, 1), 4) and top.receptive_field == (9, 5)


@pytest.mark.parametrize("spec, output, rf, jump", [
    # 14 -> 7: windows of 2 at stride 2, exactly an ordinary 2x2 pool
    ("input 14x14x3\nadaptiveavgpool 7", (7, 7), (2, 2), (2, 2)),
    # 9 -> 4: windows [0,3) [2,5) [4,7) [6,9): the largest 3, the step 9 // 4 = 2
    ("input 9x9x3\nadaptivemaxpool 4", (4, 4), (3, 3), (2, 2)),
    # 10 -> 4: [0,3) [2,5) [5,8) [7,10): 3, step 2; 10 -> 1: the whole input, as globalavgpool
    ("input 10x10x3\nadaptiveavgpool 4x1", (4, 1), (3, 10), (2, 10)),
    # 4 -> 7 (larger than the input): windows of 1 or 2, step 1
    ("input 4x3\nadaptivemaxpool 7", (7,), (2,), (1,)),
    # 7 -> 3 after a stride-2 conv: [0,3) [2,5) [4,7): 3, step 2; field 3 + (3 - 1) * 2 = 7, jump 4
    ("input 15x15x3\nconv 4 3 stride=2\nadaptiveavgpool 3", (3, 3), (7, 7), (4, 4)),
])
def test_adaptive_pool_shapes_and_receptive_fields(spec, output, rf, jump):
    row = report(spec).layers[-1]
    assert (row.output.spatial, row.receptive_field, row.jump, row.params, row.macs) == (output, rf, jump, 0, 0)


# Upsampling, transposed convolution, pixel shuffle and channel views (issue 9) -----------------

@pytest.mark.parametrize(("spec", "output", "params", "macs"), [
    # DCGAN's first layer: (1 - 1)*1 - 0 + 1*(4 - 1) + 0 + 1 = 4; 100*512*16 weights, no bias
    ("input 1x1x100\ndeconv 512 4 bias=false", (4, 4, 512), 100 * 512 * 16, 1 * 100 * 512 * 16),
    # (4 - 1)*2 - 2 + 3 + 1 = 8; 512*256*16 + 256; MACs 16 inputs x 512 x 256 x 16
    ("input 4x4x512\ndeconv 256 4 stride=2 pad=1", (8, 8, 256), 512 * 256 * 16 + 256, 16 * 512 * 256 * 16),
    # rows (7-1)*2 - 2 + 2*2 + 1 + 1 = 16, columns (5-1)*1 - 0 + 1 + 0 + 1 = 6; (6/3)*9*6 + 9
    ("input 7x5x6\ndeconv 9 3x2 stride=2x1 pad=1x0 output_pad=1x0 dilation=2x1 groups=3", (16, 6, 9),
     2 * 9 * 6 + 9, 35 * 6 * 3 * 6),
    ("input 5x6x3\nupsample 2", (10, 12, 3), 0, 0),
    ("input 5x6x3\nupsample 3x1 mode=linear", (15, 6, 3), 0, 0),
    ("input 5x6x3\nupsample size=2x9 mode=linear align_corners=true", (2, 9, 3), 0, 0),
    ("input 5x6x18\npixelshuffle 3", (15, 18, 2), 0, 0),
    ("input 4x8\npixelshuffle 2", (8, 4), 0, 0),
    ("input 2x2x2x16\npixelshuffle 2", (4, 4, 4, 2), 0, 0),
    ("input 5x6x18\nslice 3 10", (5, 6, 7), 0, 0),
    ("input 5x6x18\nshuffle 3", (5, 6, 18), 0, 0),
    ("input 18\nslice 0 5", (5,), 0, 0),
])
def test_resampling_and_channel_layers(spec, output, params, macs):
    row = report(spec).layers[0]
    assert (row.output.dims, row.params, row.buffers, row.macs) == (output, params, 0, macs)


@pytest.mark.parametrize(("specs", "rf", "jump"), [
    (["upsample 2"], (1, 1), ("1/2", "1/2")),
    (["conv 1 3", "upsample 2", "conv 1 3"], (4, 4), ("1/2", "1/2")),  # 3 + 2 * 1/2
    (["upsample 2 mode=linear"], (2, 2), ("1/2", "1/2")),
    (["upsample 2x1 mode=linear"], (2, 1), ("1/2", "1")),  # an unchanged size interpolates nothing
    (["deconv 1 4 stride=2 pad=1"], (2, 2), ("1/2", "1/2")),
    (["conv 1 3 stride=2", "deconv 1 4 stride=2 pad=1"], (5, 5), ("1", "1")),  # 3 + 1 * 2; 2 / 2
    (["deconv 1 3 stride=2 dilation=2"], (3, 3), ("1/2", "1/2")),
    (["pixelshuffle 2", "conv 1 3"], (2, 2), ("1/2", "1/2")),
    (["slice 0 2", "shuffle 2", "conv 1 3"], (3, 3), ("1", "1")),
])
def test_upsampling_receptive_field_and_fractional_jump(specs, rf, jump):
    found = report("\n".join(["input 32x32x4", *specs])).layers[-1]
    assert found.reported_field == rf
    assert tuple(str(j) for j in found.jump) == jump


def test_slice_and_shuffle_allocate_no_memory():
    viewed = report("input 8x8x16\nshuffle 4\nslice 0 8\nrelu")
    plain = report("input 8x8x16\nrelu")
    assert viewed.totals.activations == 8 * 8 * 16 + 8 * 8 * 8 + 8 * 8 * 8  # every output counts, as flatten's
    assert viewed.totals.forward_bytes == plain.totals.forward_bytes - 4 * 8 * 8 * 8  # relu on half the channels
    assert viewed.totals.inference_bytes == plain.totals.inference_bytes - 4 * 8 * 8 * 8


@pytest.mark.parametrize(("spec", "code", "line", "message"), [
    ("input 8x8x3\nupsample", "E003", 2, "exactly one of FACTOR and `size=`"),
    ("input 8x8x3\nupsample 2 size=16", "E003", 2, "not both"),
    ("input 8x8x3\nupsample 2 align_corners=false", "E003", 2, "`mode=linear` only"),
    ("input 8x8x3\nupsample 0", "E101", 2, "8 * 0 = 0"),
    ("input 8x8x3\nupsample size=4x0", "E101", 2, "in spatial dimension 2"),
    ("input 8x8x3\nupsample 2x2x2", "E103", 2, "factor 2x2x2 has 3 dimensions"),
    ("input 8\nupsample 2", "E103", 2, "needs a spatial input"),
    ("input 8x8x3\ndeconv 4 3 pad=same", "E003", 2, "`deconv` has no `pad=same`"),
    ("input 8x8x3\ndeconv 4 3 stride=2 output_pad=2", "E003", 2, "smaller than the stride (2) or the dilation (1)"),
    ("input 8x8x3\ndeconv 4 3 stride=2x1 output_pad=1", "E003", 2, "in spatial dimension 2"),
    ("input 1x1x3\ndeconv 4 3 pad=2", "E101", 2, "(1 - 1)*1 - 2*2 + 1*(3 - 1) + 0 + 1 = -1"),
    ("input 8x8x6\ndeconv 4 3 groups=3", "E104", 2, "groups=3 does not divide the 4 filters"),
    ("input 8x8x3\npixelshuffle 2", "E104", 2, "divisible by 2**2 = 4, but its input has 3"),
    ("input 8x8x12\nshuffle 5", "E104", 2, "shuffle 5 needs channels divisible by 5"),
    ("input 8x8x12\nslice 4 13", "E003", 2, "reaches past the 12 channels"),
    ("input 8x8x12\nslice 4 4", "E003", 2, "keeps no channels"),
])
def test_resampling_and_channel_errors(spec, code, line, message):
    error = the_error(spec)
    assert (error.code, error.span.line) == (code, line)
    assert message in error.message, error.message


# add and multiply ------------------------------------------------------------------------------

def test_add_and_multiply_shapes_rows_and_costs():
    found = report("input 8x8x4\nadd {\n  branch { conv 4 3 pad=1 }\n  branch { }\n  branch { conv 4 1 }\n}\n"
                   "multiply {\n  branch { }\n  branch { globalavgpool; conv 2 1; relu; conv 4 1; sigmoid }\n}")
    assert [(row.name, row.depth, row.output.dims) for row in found.layers] == [
        ("conv1", 1, (8, 8, 4)), ("conv2", 1, (8, 8, 4)), ("add1", 0, (8, 8, 4)),
        ("globalavgpool1", 1, (1, 1, 4)), ("conv3", 1, (1, 1, 2)), ("relu1", 1, (1, 1, 2)),
        ("conv4", 1, (1, 1, 4)), ("sigmoid1", 1, (1, 1, 4)), ("multiply1", 0, (8, 8, 4))]
    assert found.layer("add1").params == found.layer("multiply1").macs == 0
    # conv 3x3: 4*4*9 + 4 = 148; conv 1x1: 20; squeeze: 4*2 + 2 = 10; excite: 2*4 + 4 = 12
    assert found.totals.params == 148 + 20 + 10 + 12
    assert found.totals.macs == 64 * 4 * 36 + 64 * 4 * 4 + 8 + 8


@pytest.mark.parametrize("branches, output", [
    ("branch { }\nbranch { globalavgpool }", (8, 6, 4)),
    ("branch { conv 1 1 }\nbranch { globalavgpool }", (8, 6, 4)),          # 8x6x1 * 1x1x4
    ("branch { globalavgpool; flatten; fc 4 }\nbranch { }", (8, 6, 4)),  # a vector of 4 as 1x1x4
    ("branch { avgpool 8x1 }\nbranch { avgpool 1x6 }", (8, 6, 4)),       # 1x6x4 * 8x1x4
    ("branch { fc 3 }\nbranch { fc 1 }", (3,)),
])
def test_multiply_broadcasts(branches, output):
    assert report(f"input 8x6x4\nmultiply {{\n{branches}\n}}").output.dims == output


def test_e102_add_and_multiply_show_every_shape():
    diagnostic = the_error("input 8x8x4\nadd {\n  branch { conv 8 3 pad=1 }\n  branch { }\n  branch { conv 8 1 }\n}")
    assert where(diagnostic) == ("E102", 2, 1)
    assert diagnostic.message == "add branch shapes differ: branch 1 gives 8x8x8, branch 2 gives 8x8x4, " \
                                 "branch 3 gives 8x8x8"
    assert [(n.message, n.span.line) for n in diagnostic.notes] == [("branch 1 ends here with 8x8x8", 3),
                                                                    ("branch 3 ends here with 8x8x8", 5)]
    diagnostic = the_error("input 8x8x4\nmultiply {\n  branch { conv 3 1 }\n  branch { }\n}")
    assert diagnostic.message == "multiply branch shapes do not broadcast: branch 1 gives 8x8x3, branch 2 gives 8x8x4"
    assert where(the_error("input 8x8x4\nmultiply {\n  branch { maxpool 2 }\n  branch { }\n}")) == ("E102", 2, 1)
    assert where(the_error("input 8x8x4\nmultiply {\n  branch { fc 3 }\n  branch { }\n}")) == ("E102", 2, 1)


def test_add_and_multiply_allocate_their_output_and_keep_branches_until_the_merge():
    # input 32 | conv 2x1 (weights 6): +32 = 64 | conv 2x1: +32 = 96, input freed -> 64 | add +32 = 96
    totals = report("input 4x4x2\nadd {\n  branch { conv 2 1 }\n  branch { conv 2 1 }\n}").totals
    assert totals.inference_bytes == (6 + 6) * 4 + 96 * 4
    assert totals.forward_bytes == (32 * 4) * 4
    totals = report("input 4x4x2\nmultiply {\n  branch { }\n  branch { globalavgpool }\n}").totals
    assert totals.forward_bytes == (32 + 2 + 32) * 4
    assert totals.inference_bytes == (32 + 2 + 32) * 4  # the input lives until the product


@pytest.mark.parametrize("merge", [
    "concat {\n branch { conv 1 3 stride=2 pad=1 }\n branch { conv 1 3 stride=2 pad=same }\n}",
    "add {\n branch { conv 1 3 stride=2 pad=1 }\n branch { conv 1 3 stride=2 pad=same }\n}",
    "multiply {\n branch { conv 1 3 stride=2 pad=1 }\n branch { conv 1 3 stride=2 pad=same }\n}",
    "residual { conv 1 3 stride=2 pad=1 } shortcut { conv 1 3 stride=2 pad=same }",
])
def test_receptive_field_is_the_union_of_windows_that_start_apart(merge):
    # pad=1 reads positions 2p-1..2p+1; pad=same at stride 2 on 16 pads 0 before: 2p..2p+2; together 4
    row = report(f"input 16x1\n{merge}").layers[-1]
    assert (row.receptive_field, row.jump) == ((4,), (2,))


@pytest.mark.parametrize("after, rf, jump", [
    ("globalavgpool", (16, 16), (16, 16)),           # was 33: the whole input, seen once
    ("conv 8 3 pad=1", (16, 16), (1, 1)),            # was 18
    ("conv 8 3 stride=2 pad=1", (16, 16), (2, 2)),
])
def test_layers_after_a_squeeze_excite_add_nothing_to_the_whole_input(after, rf, jump):
    found = report("input 16x16x8\nmultiply { branch { } branch { globalavgpool; conv 8 1x1; sigmoid } }\n" + after)
    assert (found.layers[-1].receptive_field, found.layers[-1].jump) == (rf, jump)


def test_receptive_field_of_a_squeeze_excite_is_the_whole_input():
    found = report("input 12x10x8\nconv 8 3 pad=1\nmultiply {\n  branch { }\n"
                   "  branch { globalavgpool; conv 2 1; relu; conv 8 1; sigmoid }\n}\nconv 8 3 pad=1")
    # the conv's 3 plus the 11 (9) other positions at jump 1, past the borders by the padding of 1
    assert found.layer("multiply1").receptive_field == (14, 12)
    assert found.layer("multiply1").jump == (1, 1)
    # the product sees the whole input at every position (a fixed window), so the conv after it adds nothing
    assert found.layer("conv4").receptive_field == (14, 12) and found.layer("conv4").jump == (1, 1)
