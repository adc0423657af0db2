"""What each rule says and where its boundaries are, beyond the fixtures."""

from __future__ import annotations

import random
import re

import pytest
from lint_support import lint_text

from cnnc.lint.coverage import fitting_pad, fitting_stride, lost_at_end, with_pad, with_stride
from cnnc.lint.windows import _taps_meeting_input
from cnnc.shapes import Window


def _only(text: str, code: str):
    return [d for d in lint_text(text) if d.code == code]


# W201 -----------------------------------------------------------------------------------------

def test_cs231n_seven_wide_input_with_stride_three():
    (found,) = _only("input 7x7x1\nconv 1 3x3 stride=3\n", "W201")
    assert found.message == "`conv1` never reads the last row and the last column of its 7x7x1 input"
    assert found.help == ("(7 - 3 + 2*0)/3 + 1 = 2.333 rounds down to 2: the windows reach 6 of the 7 rows and "
                          "columns; `pad=1` or `stride=2` would read all of it")


def test_only_the_dimension_that_loses_is_named():
    (found,) = _only("input 10x9x1\nconv 1 2x2 stride=2\n", "W201")
    assert found.message == "`conv1` never reads the last column of its 10x9x1 input"
    assert "(9 - 2 + 2*0)/2 + 1 = 4.5 rounds down to 4: the windows reach 8 of the 9 columns" in found.help
    assert "`pad=0x1`" in found.help


def test_counts_more_than_one_lost_position():
    (found,) = _only("input 122x512\nmaxpool 4\n", "W201")  # M5's last pool: 122 = 4 x 30 + 2
    assert found.message == "`maxpool1` never reads the last 2 positions of its 122x512 input"
    assert found.help.endswith("`pad=1`, `stride=2` or `round=ceil` would read all of it")


@pytest.mark.parametrize("layer", [
    "conv 8 3x3 stride=2 pad=1",  # (56 + 2 - 3)/2 + 1 = 28.5: only padding is dropped
    "conv 8 3x3 stride=2 pad=same",
    "maxpool 3 stride=2 round=ceil",
    "conv 8 4x4 stride=4",  # fits exactly
])
def test_layers_that_read_every_pixel_are_not_reported(layer):
    assert _only(f"input 56x56x3\n{layer}\n", "W201") == []


@pytest.mark.parametrize("size, kernel, stride, pad, lost", [
    (224, 11, 4, 0, 1), (224, 11, 4, 1, 2), (224, 11, 4, 2, 0), (227, 11, 4, 0, 0),
    (7, 3, 3, 0, 1), (56, 3, 2, 1, 0), (10, 3, 4, 0, 3), (5, 5, 1, 0, 0),
])
def test_lost_pixels_match_a_direct_count(size, kernel, stride, pad, lost):
    window = Window(size, kernel, stride, pad, pad)
    covered = set()
    for start in range(0, window.output * stride, stride):
        covered.update(range(start - pad, start - pad + kernel))
    direct = sum(1 for p in range(size) if p not in covered and p > max(covered))
    assert lost_at_end(window) == direct == lost


def _random_windows(count: int, seed: int):
    generator = random.Random(seed)
    for _ in range(count):
        pad = generator.randint(0, 9)
        window = Window(generator.randint(1, 40), generator.randint(1, 7), generator.randint(1, 6), pad,
                        pad + generator.randint(0, 1), generator.randint(1, 3), generator.random() < 0.3)
        if window.output > 0:
            yield window


def test_suggested_pad_and_stride_fit_and_the_pad_is_the_smallest():
    for window in _random_windows(3000, seed=1):
        if lost_at_end(window) == 0:
            continue
        pad = fitting_pad(window)
        assert lost_at_end(with_pad(window, pad)) == 0
        assert all(lost_at_end(with_pad(window, p)) for p in range(window.pad_after, pad))
        stride = fitting_stride(window)
        assert stride is None or (lost_at_end(with_stride(window, stride)) == 0 and 2 <= stride <= window.span)


def test_taps_meeting_input_match_a_direct_count():
    for window in _random_windows(3000, seed=2):
        starts = [i * window.stride - window.pad_before for i in range(window.output)]
        direct = sum(any(0 <= start + tap * window.dilation < window.size for start in starts)
                     for tap in range(window.kernel))
        assert _taps_meeting_input(window) == direct, window


# W202, W203, W208 -----------------------------------------------------------------------------

def test_pool_gaps_states_the_fraction_read():
    (found,) = _only("input 30x30x4\nmaxpool 2 stride=3\n", "W202")
    assert found.message == ("`maxpool1` skips 1 of every 3 rows and columns: its 2x2 window is shorter than its "
                             "stride 3")
    assert found.help.startswith("it reads 44% of its input")  # (2/3)^2


def test_a_gap_inside_a_concat_is_reported_when_every_branch_skips():
    spec = ("input 16x16x8\nconcat {\n  branch { conv 8 1x1 stride=2 }\n  branch { maxpool 1 stride=2 }\n}\n")
    assert len(_only(spec, "W202")) == 2
    covered = spec.replace("maxpool 1 stride=2", "maxpool 2 stride=2")
    assert len(_only(covered, "W202")) == 0


def test_even_kernel_same_names_the_padding():
    (found,) = _only("input 32x32x3\nconv 8 2x4 pad=same\n", "W203")
    assert found.message == "`conv1` pads unevenly: `pad=same` with its even 2x4 kernel adds 0x1 before and 1x2 after"


def test_kernel_exceeds_input_counts_wasted_weights():
    (found,) = _only("input 1x1x64\nconv 32 3x3 pad=1\n", "W208")
    assert found.message == ("`conv1`'s 3x3 window is larger than its 1x1x64 input: 8 of its 9 positions only ever "
                             "see padding")
    assert found.help.startswith(f"{64 * 32 * 8:,} of its weights never meet data")


def test_kernel_exceeds_input_counts_dilated_taps():
    # 3 taps 2 apart on a 3-wide input padded by 2: windows start at -2, -1, 0; each tap lands on data.
    assert _only("input 3x3x4\nconv 4 3x3 pad=2 dilation=2\n", "W208") == []
    # On a 1-wide input padded by 2, only the middle tap ever lands on the pixel.
    (found,) = _only("input 1x1x4\nconv 4 3x3 pad=2 dilation=2\n", "W208")
    assert "8 of its 9 positions" in found.message


# W204, W205, W206 -----------------------------------------------------------------------------

def test_linear_stack_sees_through_batchnorm_and_dropout_but_not_max_pooling():
    base = "input 16x16x8\nconv 8 3x3 pad=1\n{between}\nconv 8 3x3 pad=1\nrelu\n"
    assert len(_only(base.format(between="batchnorm\ndropout 0.1\navgpool 2"), "W204")) == 1
    assert _only(base.format(between="maxpool 2"), "W204") == []
    assert _only(base.format(between="leakyrelu 0.1"), "W204") == []


def test_linear_stack_stops_at_a_residual_join():
    spec = "input 8x8x16\nrelu\nresidual {\n  conv 16 3x3 pad=1\n}\nconv 16 3x3 pad=1\nrelu\n"
    assert _only(spec, "W204") == []


def test_bias_before_batchnorm_counts_fc_biases():
    (found,) = _only("input 100\nfc 50\nbatchnorm\nrelu\n", "W205")
    assert found.message.startswith("the 50 biases of `fc1` are cancelled by `batchnorm1`")


def test_softmax_at_the_end_is_fine():
    assert _only("input 100\nfc 10\nsoftmax\n", "W206") == []


@pytest.mark.parametrize("between", ["relu6", "silu", "hardswish", "hardsigmoid", "mish", "selu", "gelu",
                                     "gelu approximate=tanh", "elu", "elu 0.5", "prelu", "prelu shared=true"])
def test_linear_stack_sees_every_activation_as_a_nonlinearity(between):
    spec = f"input 16x16x8\nconv 8 3x3 pad=1\nbatchnorm\n{between}\nconv 8 3x3 pad=1\n{between}\nfc 4\n"
    assert _only(spec, "W204") == []


# W209 -----------------------------------------------------------------------------------------

def test_softmax_single_channel_message_and_places():
    (found,) = _only("input 100\nfc 1\nsoftmax\n", "W209")
    assert found.message == "`softmax1` is a softmax over a single channel: its output is always 1"
    assert "sigmoid" in found.help
    nested = "input 8x8x3\nconcat {\n branch {\n conv 1 1\n softmax\n }\n branch {\n conv 2 1\n softmax\n }\n}\n"
    assert [d.message.split("`")[1] for d in _only(nested, "W209")] == ["softmax1"]


def test_softmax_over_two_channels_or_one_position_is_fine():
    assert _only("input 100\nfc 2\nsoftmax\n", "W209") == []
    assert _only("input 1x1x5\nsoftmax\n", "W209") == []


# W207, I301, I302, I303 -----------------------------------------------------------------------

def test_small_receptive_field_ignores_a_plain_mlp():
    assert _only("input 28x28x1\nfc 100\nrelu\nfc 10\n", "W207") == []


def test_small_receptive_field_in_one_dimension():
    (found,) = _only("input 8x64x1\nconv 4 3x3\nrelu\nglobalavgpool\n", "W207")
    assert found.message == "each feature reaching `globalavgpool1` sees 3x3 of the input's 8x64"


def test_dominant_layer_needs_two_layers_with_parameters():
    assert _only("input 100\nfc 10\nsoftmax\n", "I301") == []


def test_implicit_flatten_ignores_explicit_flatten_and_1x1():
    assert _only("input 7x7x8\nflatten\nfc 10\n", "I303") == []
    assert _only("input 7x7x8\nglobalavgpool\nfc 10\n", "I303") == []
    (found,) = _only("input 7x7x8\nfc 10\n", "I303")
    assert found.help.endswith("(8x10 weights instead of 392x10)")


@pytest.mark.parametrize("first, second", [
    ("maxpool 2", "maxpool 2"), ("maxpool 3 stride=2", "maxpool 3 stride=2"),
    ("maxpool 2 stride=1", "maxpool 3"), ("maxpool 3 stride=2", "maxpool 2 stride=3"),
])
def test_stacked_max_pools_equal_the_pool_named(first, second):
    torch = pytest.importorskip("torch")
    (found,) = _only(f"input 29x29x2\n{first}\n{second}\n", "I302")
    merged = re.search(r"`maxpool (\d+)(?: stride=(\d+))?`", found.message)
    kernel, stride = int(merged.group(1)), int(merged.group(2) or merged.group(1))

    def pool(text):
        numbers = [int(n) for n in re.findall(r"\d+", text)]
        return torch.nn.MaxPool2d(numbers[0], numbers[1] if len(numbers) > 1 else numbers[0])

    images = torch.randn(3, 2, 29, 29, dtype=torch.float64)
    assert torch.equal(pool(second)(pool(first)(images)), torch.nn.MaxPool2d(kernel, stride)(images))


def test_stacked_max_pools_with_gaps_are_not_one_pool():
    assert _only("input 29x29x2\nmaxpool 1 stride=2\nmaxpool 2\n", "I302") == []


# Budgets --------------------------------------------------------------------------------------

def test_budgets_report_figures_and_largest_contributor():
    spec = "# cnnc check --max-params 1M --max-macs 1G\ninput 224x224x3\nconv 64 3x3 pad=1\nrelu\nflatten\nfc 10\n"
    found = {d.code: d for d in lint_text(spec) if d.code.startswith("B")}
    assert set(found) == {"B401"}  # 86.7M MACs + 32.1M in the fc: under 1G
    params = (3 * 9 + 1) * 64 + 224 * 224 * 64 * 10 + 10
    assert found["B401"].message == f"the network has {params:,} parameters (32.11M), over the budget of 1M"
    assert found["B401"].notes[0].message == "the largest is `fc1`, with 32.11M"


def test_memory_budget_follows_the_batch():
    spec = "input 224x224x3\nconv 64 3x3 pad=1\nrelu\ntrain { batch=8 }\n"
    assert _only("# cnnc check --max-memory 1GB\n" + spec, "B403") == []
    (found,) = _only("# cnnc check --max-memory 1GB\n" + spec.replace("batch=8", "batch=64"), "B403")
    assert "for batch 64 in float32" in found.message and found.message.endswith("over the budget of 1GB")


def test_receptive_field_budget_without_a_head_uses_the_output():
    (found,) = _only("# cnnc check --min-receptive-field 10\ninput 32x32x3\nconv 8 3x3\n", "B404")
    assert found.message == "the features reaching `conv1` see 3x3, below the minimum of 10"


# Issue 9: the rules see through normalisations, drop path and the new pools -------------------

def test_linear_stack_sees_through_layerscale_droppath_and_adaptive_average_pools():
    base = "input 16x16x8\nconv 8 3x3 pad=1\n{between}\nconv 8 3x3 pad=1\nrelu\n"
    assert len(_only(base.format(between="layerscale\ndroppath 0.1\nadaptiveavgpool 8"), "W204")) == 1
    for nonlinear in ("layernorm", "groupnorm 4", "instancenorm", "lrn 3", "adaptivemaxpool 8", "globalmaxpool"):
        assert _only(base.format(between=nonlinear), "W204") == [], nonlinear


@pytest.mark.parametrize("pool", ["adaptiveavgpool 3", "adaptivemaxpool 3", "adaptivemaxpool 13", "globalmaxpool"])
def test_window_rules_skip_adaptive_pools_which_read_every_position(pool):
    """10 -> 3 has windows of 4 at a step of 3 (and 10 -> 13 windows of 1 or 2): no ordinary
    window describes them, and together they always cover the whole input."""
    found = lint_text(f"input 10x10x3\nconv 3 3x3 pad=1\nrelu\n{pool}\n")
    assert [d.code for d in found if d.code in ("W201", "W202", "W203", "W208")] == []


def test_small_receptive_field_at_a_global_max_pool():
    (found,) = _only("input 8x64x1\nconv 4 3x3\nrelu\nglobalmaxpool\n", "W207")
    assert found.message == "each feature reaching `globalmaxpool1` sees 3x3 of the input's 8x64"


# Merges: add and multiply ---------------------------------------------------------------------

SQUEEZE_EXCITE = ("input 64x64x16\nconv 16 3x3 pad=1\nbatchnorm\nmultiply {\n  branch { }\n"
                  "  branch { globalavgpool; conv 4 1x1; relu; conv 16 1x1; sigmoid }\n}\nrelu\n")


def test_the_head_is_not_the_pool_of_a_squeeze_excite():
    from cnnc.api import check
    from cnnc.lint.context import head
    from cnnc.source import Source

    # the squeeze-excite's pool gates the features; the head is the pool after it
    assert head(check(Source(SQUEEZE_EXCITE + "globalavgpool\nfc 10\n")).report).name == "globalavgpool2"
    assert _only(SQUEEZE_EXCITE + "globalavgpool\nfc 10\n", "W207") == []


def test_small_receptive_field_is_quiet_when_a_squeeze_excite_sees_everything():
    # the product's field is the whole input, which the head then reads
    spec = SQUEEZE_EXCITE + "conv 16 3x3 pad=1\nrelu\nglobalavgpool\nfc 10\n"
    assert _only(spec, "W207") == []


def test_linear_stack_is_not_reported_for_a_squeeze_excite_gate():
    assert _only(SQUEEZE_EXCITE, "W204") == []


def test_linear_stack_sees_into_add_branches():
    spec = "input 8x8x16\nconv 16 3x3 pad=1\nadd {\n  branch { conv 16 3x3 pad=1 }\n  branch { }\n}\nrelu\n"
    assert len(_only(spec, "W204")) == 1


def test_a_gap_inside_an_add_is_reported_when_every_branch_skips():
    spec = ("input 16x16x8\nadd {\n  branch { conv 8 1x1 stride=2 }\n  branch { maxpool 1 stride=2 }\n}\n")
    assert len(_only(spec, "W202")) == 2
    covered = spec.replace("maxpool 1 stride=2", "maxpool 2 stride=2")
    assert len(_only(covered, "W202")) == 0


# W211 -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, message, meant", [
    # ResNet's stem on PyTorch's 3x224x224: the spec checks, as a 3x224 image of 224 channels
    ("input 3x224x224\nconv 64 7x7 stride=2 pad=3 bias=false\nrelu\nmaxpool 3 stride=2 pad=1\nglobalavgpool\nfc 10",
     "the input 3x224x224 is a 3x224 image with 224 channels", "224x224x3"),
    ("input 3x32x32\nconv 16 3x3 pad=1\nrelu\nglobalavgpool\nfc 10",
     "the input 3x32x32 is a 3x32 image with 32 channels", "32x32x3"),
    ("input 1x28x28\nconv 6 5x5 pad=2\nrelu\nfc 10", "the input 1x28x28 is a 1x28 image with 28 channels", "28x28x1"),
    ("input 4x64x64\nmaxpool 2 stride=1\nfc 10", "the input 4x64x64 is a 4x64 image with 64 channels", "64x64x4"),
    # M5 on PyTorch's (1, 16000) mono audio: a window of 80 on a 1-position signal
    ("input 1x16000\nconv 32 80 stride=16 pad=40\nrelu\nfc 10",
     "the input 1x16000 is a signal of 1 position with 16000 channels", "16000x1"),
    # C3D on PyTorch's (3, 16, 112, 112) clip
    ("input 3x16x112x112\nconv 64 3x3x3 pad=1\nrelu\nfc 10",
     "the input 3x16x112x112 is a 3x16x112 volume with 112 channels", "16x112x112x3"),
])
def test_channels_first_input_is_reported_with_the_input_meant(spec, message, meant):
    (found,) = _only(spec, "W211")
    assert found.message == message
    assert found.help == (f"did you mean `input {meant}`? sizes come first, channels last (PyTorch writes "
                          "channels first)")
    assert found.span.line == 1 and found.notes[0].span.line == 2
    assert _only(spec.replace(spec.split("\n")[0], f"input {meant}"), "W211") == []


@pytest.mark.parametrize("spec", [
    "input 4x4x512\nconv 512 3x3 pad=1\nrelu",  # a small feature map: every size is small
    "input 1x1x2048\nconv 10 1x1",
    "input 2x2x64\nconv 64 3x3 pad=1",
    "input 4x8x8x3\nconv 8 3x3x3 pad=1",  # few channels
    "input 1x100x300\nconv 100 1x3\nrelu\nglobalmaxpool\nfc 2",  # 100 words of 300 features, 1xk windows
    "input 3x224x224\nflatten\nfc 100\nrelu\nfc 10",  # a multilayer perceptron: no window
    "input 3x224\nconv 16 3 pad=1",  # a signal of 3 positions, a window that fits it
    "input 3x224\nconv 16 1",
    "input 32x32x3\nconv 16 3x3 pad=1",
    "input 2x64x64\nupsample 4\nconv 8 3x3",  # the first dimension is a size to the network
])
def test_inputs_that_are_not_channels_first_are_not_reported(spec):
    assert _only(spec, "W211") == []


def test_the_channels_first_check_is_quiet_on_every_example():
    from lint_support import REPOSITORY
    for path in sorted((REPOSITORY / "examples").glob("*.cnn")):
        assert _only(path.read_text(encoding="utf-8"), "W211") == [], path.name


def test_a_channels_first_input_from_the_command_line_is_reported_as_one():
    from cnnc import ir
    from cnnc.api import Options, check
    from cnnc.lint import lint
    from cnnc.source import Source

    checked = check(Source("conv 16 3x3 pad=1\nrelu\n"), Options(input=ir.Shape((3, 32), 32)))
    (found,) = [d for d in lint(checked) if d.code == "W211"]
    assert found.help.startswith("did you mean `--input 32x32x3`?")


@pytest.mark.parametrize("spec, meant", [
    ("input 1x28x28\nconv 6 5x5 pad=2\nmaxpool 2", "28x28x1"),  # LeNet-5 on PyTorch's MNIST shape
    ("input 1x16000\nconv 32 80 stride=16", "16000x1"),
])
def test_an_error_from_a_channels_first_input_says_so(spec, meant):
    from lint_support import check_text

    (error,) = check_text(spec)
    assert error.code == "E101"
    first = spec.split("\n")[0]
    assert error.help.startswith(f"`{first}` is read as sizes ")
    assert error.help.endswith(f"did you mean `input {meant}`? sizes come first, channels last")
    assert [(note.message, note.span.line) for note in error.notes] == [("the input is declared here", 1)]


def test_an_error_in_a_later_dimension_keeps_its_usual_help():
    from lint_support import check_text

    (error,) = check_text("input 1x28x28\nconv 6 1x29")
    assert error.code == "E101" and error.help.startswith("the input here is 1x28x28; use a smaller kernel")
