"""The examples against published figures: papers, course notes and torchvision's model tables.

Every figure here is copied from its source (cited next to it), never from cnnc's own output. Each is
checked through the public API (``cnnc.load(path).report``) and through ``cnnc check --format json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cnnc
from cnnc.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def report(name: str):
    return cnnc.load(EXAMPLES / f"{name}.cnn").report


def check_json(capsys, *arguments: str):
    """Run ``cnnc check ... --format json``; the exit code and the parsed document."""
    capsys.readouterr()
    code = main(["check", *arguments, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def serious(diagnostics: list[dict]) -> list[dict]:
    return [d for d in diagnostics if d["severity"] in ("error", "warning")]


def gflops_column(macs: int) -> float:
    """torchvision's "GFLOPS" column: multiply-accumulates in billions, rounded to 2 places."""
    return round(macs / 1e9, 2)


# (example, parameters, exact MACs or None, torchvision's GFLOPS column), from the torchvision
# documentation's weight tables (IMAGENET1K_V1 of each model: num_params and GFLOPS). The exact MACs
# are the ones the brief's sources give: VGG-16 15,470,264,320 and ResNet-18 1,814,073,344.
TORCHVISION = [
    ("vgg16", 138_357_544, 15_470_264_320, 15.47),
    ("resnet18", 11_689_512, 1_814_073_344, 1.81),
    ("resnet50", 25_557_032, None, 4.09),
    ("alexnet_torchvision", 61_100_840, None, 0.71),
    ("googlenet", 6_624_904, None, 1.50),
]


@pytest.mark.parametrize("name, params, macs, gflops", TORCHVISION)
def test_torchvision_tables_through_the_api(name, params, macs, gflops):
    totals = report(name).totals
    assert totals.params == params
    if macs is not None:
        assert totals.macs == macs
    assert gflops_column(totals.macs) == gflops
    assert totals.flops == 2 * totals.macs


@pytest.mark.parametrize("name, params, macs, gflops", TORCHVISION)
def test_torchvision_tables_through_the_cli(capsys, name, params, macs, gflops):
    code, document = check_json(capsys, str(EXAMPLES / f"{name}.cnn"))
    assert code == 0
    assert not serious(document["diagnostics"])
    assert document["totals"]["params"] == params
    if macs is not None:
        assert document["totals"]["macs"] == macs
    assert gflops_column(document["totals"]["macs"]) == gflops


def test_every_example_checks_cleanly(capsys):
    """`cnnc check examples/` exits 0 and reports every example, each without an error or warning
    (information notes, such as "fc1 holds most parameters", are part of the lesson)."""
    code, documents = check_json(capsys, str(EXAMPLES))
    assert code == 0
    names = sorted(path.stem for path in EXAMPLES.glob("*.cnn"))
    assert sorted(Path(d["file"]).stem for d in documents) == names
    assert len(names) >= 11
    for document in documents:
        assert not serious(document["diagnostics"]), document["file"]
        assert document["totals"]["params"] > 0


# CS231n, Lecture 9 "CNN Architectures" (2017): AlexNet on 227x227x3. Each row: the layer, its
# output and, where the slides give it, its parameters ("(11*11*3)*96 = 35K", with the 96 biases).
CS231N_ALEXNET = [
    ("conv1", (55, 55, 96), 34_944),
    ("maxpool1", (27, 27, 96), 0),
    ("conv2", (27, 27, 256), None),
    ("maxpool2", (13, 13, 256), 0),
    ("conv3", (13, 13, 384), None),
    ("conv4", (13, 13, 384), None),
    ("conv5", (13, 13, 256), None),
    ("maxpool3", (6, 6, 256), 0),
    ("fc1", (4096,), None),
    ("fc2", (4096,), None),
    ("fc3", (1000,), None),
]


def test_cs231n_alexnet_layers():
    result = report("alexnet")
    for name, dims, params in CS231N_ALEXNET:
        layer = result.layer(name)
        assert layer.output.dims == dims, name
        if params is not None:
            assert layer.params == params, name


def test_cs231n_alexnet_conv1_through_the_cli(capsys):
    code, document = check_json(capsys, str(EXAMPLES / "alexnet.cnn"))
    assert code == 0
    conv1 = next(layer for layer in document["layers"] if layer["name"] == "conv1")
    assert conv1["output"] == [55, 55, 96]
    assert conv1["params"] == 34_944
    assert conv1["receptive_field"] == [11, 11]
    assert conv1["jump"] == [4, 4]


# google-research/receptive_field, README table (Araujo, Norris, Sim, "Computing Receptive Fields of
# Convolutional Neural Networks", Distill 2019): receptive field and effective stride of the last
# feature layer. `alexnet_v2` has the same kernels and strides as CS231n's and torchvision's AlexNet.
RECEPTIVE_FIELDS = [
    ("vgg16", "maxpool5", 212, 32),
    ("alexnet", "maxpool3", 195, 32),
    ("alexnet_torchvision", "maxpool3", 195, 32),
    ("mobilenet_v1", "conv27", 315, 32),
]


@pytest.mark.parametrize("name, layer, receptive_field, stride", RECEPTIVE_FIELDS)
def test_published_receptive_fields(name, layer, receptive_field, stride):
    found = report(name).layer(layer)
    assert found.receptive_field == (receptive_field, receptive_field)
    assert found.jump == (stride, stride)


def test_vgg16_receptive_field_through_the_cli(capsys):
    code, document = check_json(capsys, str(EXAMPLES / "vgg16.cnn"))
    assert code == 0
    pools = [layer for layer in document["layers"] if layer["kind"] == "maxpool"]
    # Worked by hand with r_out = r_in + (k - 1) * jump_in: pool1..pool5 see 6, 16, 44, 100 and 212
    # pixels (212 is the published figure above; tests/test_against_torch.py measures all five).
    assert [p["receptive_field"][0] for p in pools] == [6, 16, 44, 100, 212]
    assert pools[-1]["output"] == [7, 7, 512]


def test_resnet18_stage_sizes():
    """He et al. 2016, Table 1: conv1 112x112, conv2_x 56x56, conv3_x 28x28, conv4_x 14x14, conv5_x 7x7."""
    result = report("resnet18")
    assert result.layer("conv1").output.dims == (112, 112, 64)
    stage_ends = [layer for layer in result.layers if layer.kind == "residual"][1::2]
    assert [layer.output.dims for layer in stage_ends] == [
        (56, 56, 64), (28, 28, 128), (14, 14, 256), (7, 7, 512)]
    assert result.output.dims == (1000,)


def test_resnet50_stage_sizes():
    """He et al. 2016, Table 1 (50-layer column): 3, 4, 6 and 3 bottlenecks ending in 256, 512, 1024
    and 2048 channels at 56, 28, 14 and 7."""
    residuals = [layer for layer in report("resnet50").layers if layer.kind == "residual"]
    assert len(residuals) == 16
    ends = [residuals[i].output.dims for i in (2, 6, 12, 15)]
    assert ends == [(56, 56, 256), (28, 28, 512), (14, 14, 1024), (7, 7, 2048)]


def test_googlenet_inception_outputs():
    """Szegedy et al. 2015, Table 1: the output of each inception module, 3a to 5b."""
    concats = [layer for layer in report("googlenet").layers if layer.kind == "concat"]
    assert [layer.output.dims for layer in concats] == [
        (28, 28, 256), (28, 28, 480),
        (14, 14, 512), (14, 14, 512), (14, 14, 512), (14, 14, 528), (14, 14, 832),
        (7, 7, 832), (7, 7, 1024)]


def test_mobilenet_v1_paper_figures():
    """Howard et al. 2017: 4.2 million parameters and 569 million multiply-adds (Table 8), and the
    output sizes of Table 1."""
    result = report("mobilenet_v1")
    assert round(result.totals.params / 1e6, 1) == 4.2
    assert round(result.totals.macs / 1e6) == 569
    pointwise = [layer for layer in result.layers if layer.kind == "conv" and layer.node.kernel == (1, 1)]
    assert [layer.output.dims for layer in pointwise] == [
        (112, 112, 64), (56, 56, 128), (56, 56, 128), (28, 28, 256), (28, 28, 256),
        *[(14, 14, 512)] * 6, (7, 7, 1024), (7, 7, 1024)]
    depthwise = [layer for layer in result.layers if layer.kind == "conv" and layer.node.groups > 1]
    assert all(layer.params == 9 * layer.input.channels for layer in depthwise)


def test_inception_mini_parameter_count():
    """Zhang et al. 2017, Table 1: the small Inception has 1,649,402 parameters with or without batch
    normalisation, so the published count leaves out the batch-norm scales and shifts."""
    result = report("inception_mini")
    batchnorm = sum(layer.params for layer in result.layers if layer.kind == "batchnorm")
    assert result.totals.params - batchnorm == 1_649_402
    assert result.output.dims == (10,)


def test_c3d_paper_layout():
    """Tran et al. 2015, Figure 3: 8 convolutions of 3x3x3, 5 pools, pool1 keeps the 16 frames, and
    two fully connected layers of 4096 outputs."""
    result = report("c3d")
    convs = [layer for layer in result.layers if layer.kind == "conv"]
    assert len(convs) == 8 and all(layer.node.kernel == (3, 3, 3) for layer in convs)
    pools = [layer for layer in result.layers if layer.kind == "maxpool"]
    assert [layer.output.dims for layer in pools] == [
        (16, 56, 56, 64), (8, 28, 28, 128), (4, 14, 14, 256), (2, 7, 7, 512), (1, 4, 4, 512)]
    assert [layer.output.dims for layer in result.layers if layer.kind == "fc"] == [(4096,), (4096,), (487,)]
