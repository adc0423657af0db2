"""Models built in PyTorch as torchvision defines them (by hand: torchvision's wheels do not load beside
the CPU torch), exported with `torch.onnx.export` and imported: the spec's parameters and buffers are
torch's own counts, its MACs and the shapes of its layers with weights are those of cnnc's report of
the shipped example, ResNet-18's spec folds into `def`/`repeat` under 60 lines, and the imported
weights predict what ONNX Runtime and torch predict (float32, within 1e-4 of the outputs' scale)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from command_runner import run  # noqa: E402
from test_against_torch import MODELS  # noqa: E402

from cnnc.checkpoint import load_model  # noqa: E402

nn = torch.nn
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock: two 3x3 convs, the shortcut added, then ReLU."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet18(nn.Module):
    """torchvision.models.resnet18: layers [2, 2, 2, 2] of BasicBlock, 1000 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1, self.layer2 = self._make_layer(64, 2), self._make_layer(128, 2, 2)
        self.layer3, self.layer4 = self._make_layer(256, 2, 2), self._make_layer(512, 2, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, 1000)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


BUILDERS = {"resnet18": ResNet18, "mobilenet_v3_small": MODELS["mobilenet_v3_small"],
            "efficientnet_b0": MODELS["efficientnet_b0"], "shufflenet_v2": MODELS["shufflenet_v2"]}


def trained_looking(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random batch-norm statistics and affine weights, so that every array the import copies matters."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            with torch.no_grad():
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
    return model.eval()


def exported(name: str, folder: Path) -> tuple[nn.Module, Path]:
    model = trained_looking(BUILDERS[name]())
    path = folder / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        # PRESERVE keeps each BatchNormalization (EVAL would fold it into the conv before it)
        torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), str(path), dynamo=False,
                          training=torch.onnx.TrainingMode.PRESERVE)
    return model, path


def check_json(spec: Path) -> dict:
    code, out, _ = run("check", str(spec), "--format", "json")
    assert code == 0
    return json.loads(out)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_torch_models_import_with_torchs_counts(name: str, tmp_path: Path) -> None:
    model, path = exported(name, tmp_path)
    spec, weights = tmp_path / f"{name}.cnn", tmp_path / f"{name}.npz"
    code, _, stderr = run("import", str(path), "-o", str(spec), "--weights", str(weights))
    assert code == 0, stderr
    imported, example = check_json(spec), check_json(EXAMPLES / f"{name}.cnn")
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for key, b in model.named_buffers() if not key.endswith("num_batches_tracked"))
    assert (imported["totals"]["params"], imported["totals"]["buffers"]) == (params, buffers)
    assert imported["totals"]["macs"] == example["totals"]["macs"]
    weighted = [[layer["kind"], layer["output"]] for layer in example["layers"] if layer["params"]]
    assert [[layer["kind"], layer["output"]] for layer in imported["layers"] if layer["params"]] == weighted
    assert imported["output"][-1] == 1000

    x = np.random.default_rng(1).standard_normal((1, 224, 224, 3)).astype(np.float32)
    channels_first = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {session.get_inputs()[0].name: channels_first})
    with torch.no_grad():
        expected = model(torch.from_numpy(channels_first)).numpy()
    ours = load_model(weights).predict(x)
    scale = float(np.abs(theirs).max())
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * scale)


def test_resnet18_folds_into_a_short_spec(tmp_path: Path) -> None:
    _, path = exported("resnet18", tmp_path)
    code, text, _ = run("import", str(path))
    assert code == 0
    lines = text.splitlines()
    assert len(lines) < 60
    assert any(line.startswith("def ") for line in lines) and any(line.startswith("repeat ") for line in lines)
    assert check_json_text(text, tmp_path)["totals"]["params"] == 11_689_512  # torchvision's published count


def check_json_text(text: str, folder: Path) -> dict:
    spec = folder / "spec.cnn"
    spec.write_text(text)
    return check_json(spec)
