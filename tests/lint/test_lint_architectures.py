"""The lint on real architectures: the claims of the issue, checked on specs whose published
parameter counts they reproduce."""

from __future__ import annotations

import pytest
from lint_support import FIXTURES, lint_text

from cnnc.api import Options, check
from cnnc.source import Source
from cnnc.lint.context import head, head_receptive_field

ARCHITECTURES = FIXTURES / "architectures"


def _lint(name: str):
    text = (ARCHITECTURES / name).read_text(encoding="utf-8")
    return lint_text(text, name)


@pytest.mark.parametrize("name, params", [
    ("alexnet_torchvision.cnn", 61_100_840),  # torchvision AlexNet_Weights.IMAGENET1K_V1 num_params
    ("resnet50.cnn", 25_557_032),  # torchvision ResNet50_Weights.IMAGENET1K_V1
    ("resnet50_v1.cnn", 25_557_032),  # the same weights, the stride moved
    ("vgg16.cnn", 138_357_544),  # torchvision VGG16_Weights.IMAGENET1K_V1
])
def test_specs_are_the_published_networks(name, params):
    checked = check(Source((ARCHITECTURES / name).read_text(encoding="utf-8"), name), Options())
    assert checked.ok and checked.report.totals.params == params


def test_original_alexnet_on_224_loses_a_row_and_column_at_conv1():
    found = [d for d in _lint("alexnet_224.cnn") if d.code == "W201"]
    first = found[0]
    assert (first.span.line, first.message) == (
        4, "`conv1` never reads the last row and the last column of its 224x224x3 input")
    assert first.help == ("(224 - 11 + 2*0)/4 + 1 = 54.25 rounds down to 54: the windows reach 223 of the 224 "
                          "rows and columns; `pad=2` or `stride=3` would read all of it")
    # The three 3x3 stride-2 pools that follow each drop a row and a column as well: 54, 26 and 12 are even.
    assert [(d.span.line, d.message.split("`")[1]) for d in found[1:]] == [
        (6, "maxpool1"), (9, "maxpool2"), (16, "maxpool3")]


def test_torchvision_alexnet_with_pad_2_reads_every_pixel():
    findings = _lint("alexnet_torchvision.cnn")
    assert not [d for d in findings if d.severity.value == "warning"]
    assert [d.code for d in findings] == ["I301"]


def test_resnet50_is_clean():
    assert _lint("resnet50.cnn") == ()


def test_resnet50_as_in_the_paper_reads_one_position_in_four_at_each_downsampling():
    found = _lint("resnet50_v1.cnn")
    assert {d.code for d in found} == {"W202"}
    # conv3_1, conv4_1 and conv5_1: both the body's first 1x1 and the projection shortcut skip.
    assert sorted({d.span.line for d in found}) == [8, 12] and len(found) == 6
    assert "skips 1 of every 2 rows and columns: its 1x1 window is shorter than its stride 2" in found[0].message
    assert found[0].help.startswith("it reads 25% of its input")


def test_vgg16_first_fc_dominates():
    dominant = [d for d in _lint("vgg16.cnn") if d.code == "I301"]
    assert len(dominant) == 1 and dominant[0].span.line == 14
    assert dominant[0].message == "`fc1` holds 102.8M of the network's 138.4M parameters (74%)"
    # 512 x 4096 weights + 4096 biases once a global average pool shrinks its input to 1x1x512
    assert dominant[0].help.endswith("a `globalavgpool` before it would make it 2.101M")


@pytest.mark.parametrize("spec, field", [
    ("input 224x224x3\n" "repeat 2 { conv 64 3x3 pad=1; relu }\nmaxpool 2\n"
     "repeat 2 { conv 128 3x3 pad=1; relu }\nmaxpool 2\nrepeat 3 { conv 256 3x3 pad=1; relu }\nmaxpool 2\n"
     "repeat 3 { conv 512 3x3 pad=1; relu }\nmaxpool 2\nrepeat 3 { conv 512 3x3 pad=1; relu }\nmaxpool 2\n"
     "flatten\nfc 10\n", 212),  # VGG-16 at pool5 (google-research/receptive_field: 212)
    ("input 227x227x3\nconv 96 11x11 stride=4\nrelu\nmaxpool 3 stride=2\nconv 256 5x5 pad=2\nrelu\n"
     "maxpool 3 stride=2\nconv 384 3x3 pad=1\nrelu\nconv 384 3x3 pad=1\nrelu\nconv 256 3x3 pad=1\nrelu\n"
     "maxpool 3 stride=2\nflatten\nfc 10\n", 195),  # AlexNet at pool5 (receptive_field table: 195)
    ("input 32x32x1\nconv 6 5x5\nrelu\nmaxpool 2\nconv 16 5x5\nrelu\nmaxpool 2\nflatten\nfc 120\n", 16),  # LeNet-5
])
def test_classic_heads_have_no_small_receptive_field_warning(spec, field):
    checked = check(Source(spec), Options())
    features = head(checked.report)
    assert features.kind == "flatten"
    assert head_receptive_field(features)[0] == field
    assert "W207" not in [d.code for d in lint_text(spec)]
