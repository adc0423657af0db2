"""spec -> `cnnc compile --to onnx` -> `cnnc import` -> `cnnc check`: the same parameters, buffers,
MACs, output and per-layer shapes, for every shipped example and for random specs (hypothesis).

Four examples whose fully connected layers make their ONNX files hundreds of megabytes are compiled
at a smaller input (the same layers and blocks; only the sizes after each window change). `droppath`
is the identity in an ONNX model and no operator says it, so its rows are not compared."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("onnx")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402

from command_runner import run  # noqa: E402
from fuzz_strategies import ProgramWriter, strategy  # noqa: E402

from cnnc import ir  # noqa: E402
from cnnc.api import Network, Options, check  # noqa: E402
from cnnc.export import to_onnx  # noqa: E402
from cnnc.importer import import_onnx  # noqa: E402
from cnnc.importer.weights import check_spec  # noqa: E402
from cnnc.source import Source  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMALLER = {"vgg16": "64x64x3", "alexnet": "99x99x3", "alexnet_torchvision": "99x99x3", "c3d": "16x32x32x3"}


def report(spec: Path) -> dict:
    code, out, _ = run("check", str(spec), "--format", "json")
    assert code == 0
    return json.loads(out)


def rows(document: dict) -> list[tuple]:
    """Each layer's output shape, parameters, buffers and MACs (merges included), in order."""
    return [(layer["output"], layer["params"], layer["buffers"], layer["macs"]) for layer in document["layers"]
            if layer["kind"] != "droppath"]


@pytest.mark.parametrize("name", sorted(path.stem for path in EXAMPLES.glob("*.cnn")))
def test_every_example_comes_back_with_the_same_figures(name: str, tmp_path: Path) -> None:
    spec = tmp_path / f"{name}.cnn"
    text = (EXAMPLES / f"{name}.cnn").read_text()
    if name in SMALLER:
        text = re.sub(r"(?m)^input \S+", f"input {SMALLER[name]}", text)
    spec.write_text(text)
    model, imported = tmp_path / f"{name}.onnx", tmp_path / f"{name}_imported.cnn"
    assert run("compile", str(spec), "--to", "onnx", "-o", str(model))[0] == 0
    code, _, stderr = run("import", str(model), "-o", str(imported))
    assert code == 0, stderr
    original, back = report(spec), report(imported)
    assert back["totals"]["params"] == original["totals"]["params"]
    assert back["totals"]["buffers"] == original["totals"]["buffers"]
    assert back["totals"]["macs"] == original["totals"]["macs"]
    assert (back["input"], back["output"]) == (original["input"], original["output"])
    assert rows(back) == rows(original)
    assert imported.read_text().startswith(f"# Imported by `cnnc import` from {name}.onnx (written by cnnc ")


def written_out(network: Network) -> str | None:
    """A layer the exporter writes out of several general nodes (matrices, gathers, per-window slices)
    that the importer does not read back (docs/import.md), or None."""
    layers = {layer.name: layer for layer in network.report.layers}
    for node in ir.walk(network.ir.layers):
        layer = layers.get(node.name)
        if layer is None or not layer.input.rank:
            continue
        pairs = list(zip(layer.input.spatial, layer.output.spatial))
        if isinstance(node, ir.AdaptivePool) and any(n % o for n, o in pairs):
            return "adaptive pool"
        if isinstance(node, ir.Upsample) and any(o % n for n, o in pairs):
            return "upsample"
        if isinstance(node, ir.LocalResponseNorm) and (node.size % 2 == 0 or layer.input.rank != 2):
            return "lrn"
        if isinstance(node, ir.PixelShuffle) and layer.input.rank != 2:
            return "pixelshuffle"
    return None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(text=strategy(lambda draw: ProgramWriter(draw).program()))
def test_random_specs_come_back_with_the_same_figures(text: str, tmp_path_factory) -> None:
    checked = check(Source(text, "random.cnn"), Options())
    assume(checked.ok)
    network = Network(checked)
    totals = network.report.totals
    assume(totals.params < 2_000_000 and totals.macs < 50_000_000 and written_out(network) is None)
    path = tmp_path_factory.mktemp("random") / "random.onnx"
    to_onnx(network.compile(seed=0), path)
    back = check_spec(import_onnx(str(path)).text, "random.cnn").report
    assert (back.totals.params, back.totals.buffers, back.totals.macs) == (totals.params, totals.buffers, totals.macs)
    assert (back.input, back.output) == (network.report.input, network.report.output)


@pytest.mark.parametrize("spec, node", [
    ("input 10x10x3\nadaptiveavgpool 3", "adaptiveavgpool1/axis0/view"),
    ("input 12x3\nlrn 4", "lrn1/by_channel"),
    ("input 8x2\npixelshuffle 2", "pixelshuffle1/split"),
])
def test_written_out_layers_are_refused_naming_the_node(spec: str, node: str, tmp_path: Path) -> None:
    path = tmp_path / "written_out.cnn"
    path.write_text(spec + "\n")
    assert run("compile", str(path), "--to", "onnx", "-o", str(tmp_path / "m.onnx"))[0] == 0
    code, _, stderr = run("import", str(tmp_path / "m.onnx"))
    assert code == 1 and stderr.startswith(f"cnnc: error: node '{node}' (")


@pytest.mark.parametrize("text", [
    # a chain of one activation is that many layers, not one written-out activation
    "input 3\nrelu\nresidual {\n    relu\n    relu\n    relu\n}\nrelu\n",
    # a fork whose branch starts with a residual on the same value, then a residual further down it
    "input 3\nrelu\nconcat {\n    branch { relu }\n    branch {\n        residual { relu; relu }\n        relu\n"
    "        residual { relu }\n    }\n}\n",
    # a ceil-mode pool padded by more than half its kernel in one dimension (3 wide, padded 2): there ceil gives
    # floor's windows (the analysis's rule), exported as plain pads (1 wide, padded 1, as found: E106 since)
    "input 30x30x30x3\nmaxpool 8x8x3 pad=0x1x2 round=ceil\n",
    # a one-channel layerscale (initial 1e-6) beside a ReLU on the same value: within a loose tolerance, the
    # evaluated elementwise nodes looked like `relu` alone, and the layerscale was lost
    "input 1\nresidual {\n    relu\n} shortcut {\n    layerscale\n}\n",
    "input 1\nresidual {\n    relu\n} shortcut {\n    relu; layerscale\n}\n",
])
def test_forms_found_by_the_random_round_trip_come_back(text: str, tmp_path: Path) -> None:
    spec, model, imported = tmp_path / "net.cnn", tmp_path / "net.onnx", tmp_path / "back.cnn"
    spec.write_text(text)
    assert run("compile", str(spec), "--to", "onnx", "-o", str(model))[0] == 0
    code, _, stderr = run("import", str(model), "-o", str(imported))
    assert code == 0, stderr
    original, back = report(spec), report(imported)
    assert len(back["layers"]) == len(original["layers"]) and rows(back) == rows(original)


@pytest.mark.parametrize(("name", "definitions"), [
    ("mobilenet_v1", ["conv_bn_relu(c)", "dwconv_bn_relu(c)", "dwconv_bn_relu2(c)", "block(n)"]),
    ("resnet18", ["residual_block_relu(c)", "block(c)"]),
    ("efficientnet_b0", ["residual_block(c, k, pad, c2)", "squeeze_excite(c, c2)", "conv_bn_silu(c)", "conv_bn(c)",
                         "dwconv_bn_silu(c, k, pad)", "block(n, n2, n3, n4, n5, n6)", "block2(c, k, pad, n, n2)"]),
])
def test_folded_definitions_are_named_for_what_they_hold(name: str, definitions: list[str], tmp_path: Path) -> None:
    """A layer and its trailers (`conv_bn_relu`; `dwconv` where groups equal filters), a squeeze-excite
    `multiply`, a `residual`; a stretch of several kinds stays `block`, `block2`..."""
    model = tmp_path / f"{name}.onnx"
    assert run("compile", str(EXAMPLES / f"{name}.cnn"), "--to", "onnx", "-o", str(model))[0] == 0
    text = import_onnx(str(model)).text
    assert re.findall(r"(?m)^def (.*) \{$", text) == definitions
    check_spec(text, f"{name}.cnn")  # the names are valid and the calls use them
