"""`cnnc draw` on large specs: the time of ``draw_svg`` (graph collapsed and expanded, volumes) against the
time of checking the same spec (``cnnc.api.check``: parse, elaborate, analyze), measured in the same run
and alternated, best and median of the repeats; then the whole `cnnc draw` command in a fresh process.
The promise (issue 13): ResNet-50 and GoogLeNet at their natural size, a 3,000-layer spec in seconds.
Drawing is pure Python on one thread, so the thread count does not change it.

    python bench/draw_speed.py                  # every case, 5 repeats
    python bench/draw_speed.py --repeats 9 --only written-3000
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cnnc.api import check
from cnnc.draw import draw_svg
from cnnc.source import Source

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _cases() -> dict[str, str]:
    return {
        "resnet50": (EXAMPLES / "resnet50.cnn").read_text(),
        "googlenet": (EXAMPLES / "googlenet.cnn").read_text(),
        "written-3000": "input 32x32x16\n" + "conv 16 3x3 pad=1\nrelu\n" * 1500,
        "residual-3000": "input 32x32x16\n" + "residual { conv 16 3x3 pad=1; batchnorm; relu; conv 16 3x3 pad=1 }\n"
                         "relu\n" * 500,
        "repeat-blocks-30000": ("input 8x8x4\ndef unit(c) { residual { conv c 3x3 pad=same; batchnorm; relu } }\n"
                                "repeat 7500 { unit 4 }\n"),
    }


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _summary(times: list[float]) -> str:
    return f"{min(times) * 1000:9.1f} best {statistics.median(times) * 1000:9.1f} median ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", help="one case by name")
    args = parser.parse_args()
    cases = {name: text for name, text in _cases().items() if args.only in (None, name)}
    for name, text in cases.items():
        source = Source(text, f"{name}.cnn")
        checked = check(source)
        layers = len(checked.report.layers)
        kinds = {"check": lambda: check(source),
                 "graph": lambda: draw_svg(checked),
                 "graph --expand": lambda: draw_svg(checked, expand=True),
                 "volumes": lambda: draw_svg(checked, style="volumes")}
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(args.repeats):  # alternated, so that a change in the machine's load hits every kind
            for kind, function in kinds.items():
                times[kind].append(_timed(function))
        print(f"{name}: {layers:,} layers")
        baseline = min(times["check"])
        for kind, found in times.items():
            ratio = "" if kind == "check" else f"  ({min(found) / baseline:.2f} x check)"
            print(f"  {kind:15} {_summary(found)}{ratio}")
        with tempfile.TemporaryDirectory() as folder:
            spec, out = Path(folder) / f"{name}.cnn", Path(folder) / f"{name}.svg"
            spec.write_text(text)
            command = [sys.executable, "-m", "cnnc", "draw", str(spec), "-o", str(out), "--expand"]
            found = [_timed(lambda: subprocess.run(command, check=True, capture_output=True))
                     for _ in range(max(1, args.repeats // 2))]
            print(f"  {'cnnc draw --expand (new process)':15} {_summary(found)}, {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
