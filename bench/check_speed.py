"""How fast is `cnnc check`? VGG-16 against building the PyTorch model and running torchinfo on it,
and a 3,000-layer spec. Prints seconds and ratios measured in the same run.

    python bench/check_speed.py            # torch and torchinfo optional: without them, cnnc alone
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from cnnc.api import check
from cnnc.source import Source

ROOT = Path(__file__).resolve().parents[1]


def best_of(repeats: int, work) -> float:
    """The median wall time of ``repeats`` runs of ``work()``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def deep_spec(layers: int) -> str:
    """A valid spec with ``layers`` layers: conv/batchnorm/relu triples in residual blocks."""
    lines = ["input 32x32x16", "def unit(c) {", "  residual {", "    conv c 3x3 pad=1 bias=false; batchnorm; relu",
             "    conv c 3x3 pad=1 bias=false; batchnorm", "  }", "  relu", "}"]
    per_unit = 7  # 2 conv, 2 batchnorm, 2 relu, 1 residual join
    lines.append(f"repeat {layers // per_unit} {{ unit 16 }}")
    lines += ["globalavgpool", "fc 10", "softmax"]
    return "\n".join(lines)


def torch_vgg16():
    import torch.nn as nn

    layers, channels = [], 3
    for width, count in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(count):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Linear(25088, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(),
               nn.Dropout(), nn.Linear(4096, 1000)]
    return nn.Sequential(*layers)


def main() -> int:
    vgg = Source((ROOT / "examples" / "vgg16.cnn").read_text(), "examples/vgg16.cnn")
    analysis = best_of(20, lambda: check(vgg))
    report = check(vgg).report
    print(f"cnnc analysis of VGG-16 (in process, median of 20): {analysis * 1000:8.2f} ms "
          f"({report.totals.params:,} params, {report.totals.macs:,} MACs)")
    command = [sys.executable, "-m", "cnnc", "check", str(ROOT / "examples" / "vgg16.cnn"), "--format", "json"]
    cli = best_of(5, lambda: subprocess.run(command, check=True, capture_output=True))
    print(f"`cnnc check vgg16.cnn` (new process, median of 5):    {cli * 1000:8.2f} ms")

    deep = Source(deep_spec(3000), "deep.cnn")
    checked = check(deep)
    assert checked.ok, checked.diagnostics
    deep_time = best_of(3, lambda: check(deep))
    print(f"cnnc analysis of a {len(checked.report.layers):,}-layer spec (median of 3):  {deep_time * 1000:8.2f} ms")

    try:
        import torch
        from torchinfo import summary
    except ImportError:
        print("torch or torchinfo is not installed: no comparison (pip install torch==2.13.0 torchinfo)")
        return 0
    torch.set_num_threads(2)

    def torch_side() -> None:
        model = torch_vgg16()
        summary(model, input_size=(1, 3, 224, 224), verbose=0)

    reference = best_of(5, torch_side)
    print(f"PyTorch: build VGG-16 + torchinfo.summary (in process, median of 5): {reference * 1000:8.2f} ms")
    script = (f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import torch; torch.set_num_threads(2); "
              "from torchinfo import summary; from check_speed import torch_vgg16; "
              "summary(torch_vgg16(), input_size=(1, 3, 224, 224), verbose=0)")
    process = best_of(3, lambda: subprocess.run([sys.executable, "-c", script], check=True, capture_output=True))
    print(f"PyTorch: the same in a new process (median of 3):       {process * 1000:8.2f} ms")
    print(f"ratio, cnnc analysis / PyTorch+torchinfo, in process: {analysis / reference:.4f} "
          f"({reference / analysis:,.0f}x faster)")
    print(f"ratio, `cnnc check` / PyTorch+torchinfo, each in a new process: {cli / process:.3f} "
          f"({process / cli:.1f}x faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
