"""`cnnc check` at the edge of the language's limits: the largest specs cnnc accepts, and the worst
mistakes inside them, each checked in a fresh process. Prints the wall time and peak memory of each
run (best and median of the repeats); the promise is under 10 s and 1 GB for any spec under the
limits (docs/language.md, 'Limits').

    python bench/check_limits.py                 # every case, 3 runs each, output to a pipe
    python bench/check_limits.py --repeats 5 --only relu-line
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cnnc.elaborate import MAX_DEPTH, MAX_ITERATIONS, MAX_LAYERS
from cnnc.parser import MAX_SOURCE_CHARACTERS

SECONDS_BUDGET, BYTES_BUDGET = 10.0, 1024**3


def _cases() -> dict[str, str]:
    """Spec texts at the limits: 100,000 layers in every form, a million iterations, 100-deep nesting,
    the longest text cnnc reads."""
    half = MAX_LAYERS // 2
    nested = "input 64x64x8\n" + "residual { " * (MAX_DEPTH - 1) + "relu" + " }" * (MAX_DEPTH - 1) + "\n"
    return {
        # the issue's cases
        "repeat-conv-no-relu": f"input 8x8x3\nrepeat {MAX_LAYERS - 1} {{ conv 3 3 pad=1 }}\n",
        "million-errors": f"input 8x8x3\nrepeat {MAX_ITERATIONS} {{ conv 8 x }}\n",
        "relu-line": "input 8x8x3\n" + "relu;" * 200_000 + "\n",  # one 1 MB line: over the length limit
        # legal specs at the layer limit
        "repeat-conv-relu": f"input 8x8x3\nrepeat {half} {{ conv 3 3 pad=1; relu }}\n",
        "written-out": "input 8x8x3\n" + "conv 3 3 pad=1\nrelu\n" * (MAX_SOURCE_CHARACTERS // 20 - 1),
        "block-calls": f"input 8x8x3\ndef unit(c) {{ conv c 3x3 pad=1; relu }}\nrepeat {half} {{ unit 3 }}\n",
        "residual-units": ("input 8x8x4\ndef unit(c) { residual { conv c 3x3 pad=same; batchnorm; relu } }\n"
                           f"repeat {MAX_LAYERS // 4} {{ unit 4 }}\n"),
        "concat-branches": "input 8x8x1\nconcat {\n" + "branch{relu}\n" * (MAX_SOURCE_CHARACTERS // 13 - 2) + "}\n",
        "iterations": f"input 8x8x3\nrepeat {MAX_ITERATIONS} {{ }}\nrelu\n",
        "nested-100": nested,
        # one past the limits: refused quickly
        "too-many-layers": f"input 8x8x3\nrepeat {MAX_LAYERS + 1} {{ relu }}\n",
        "longest-relu-line": "input 8x8x3\n" + "relu;" * (MAX_SOURCE_CHARACTERS // 5 - 3) + "\n",
        "too-many-iterations": "input 8x8x3\nrepeat 1000 { repeat 1001 { } }\n",
        # the forms of language v2: a loop index in every layer, merges with many branches
        "repeat-as-expressions": (f"input 8x8x3\nrepeat {half} as i {{ conv (max(3, min(3, round(i / 7)))) "
                                  "(1)x(3) pad=(ceil(i / (i + 1)) * 0)x(1); relu }\n"),
        "million-errors-as": f"input 8x8x3\nrepeat {MAX_ITERATIONS} as i {{ conv (8 + i) x }}\n",
        "add-branches": "input 8x8x1\nadd {\n" + "branch{relu}\n" * (MAX_SOURCE_CHARACTERS // 13 - 2) + "}\n",
        "multiply-branches": "input 8x8x1\nmultiply {\n" + "branch{}\n" * (MAX_SOURCE_CHARACTERS // 9 - 3) + "}\n",
    }


def _run_once(path: Path, options: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak resident bytes and exit code of one `cnnc check` in a new process."""
    script = ("import resource, sys\nfrom cnnc.cli import main\ncode = main(sys.argv[1:])\n"
              "sys.stdout.flush()\n"
              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\nsys.exit(code)\n")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script, "check", str(path), *options],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return seconds, peak_kib * 1024, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="case names to run")
    parser.add_argument("--format", default="text", choices=("text", "json"))
    args = parser.parse_args()
    cases = {name: text for name, text in _cases().items() if not args.only or name in args.only}
    print(f"cnnc check at the limits ({MAX_LAYERS:,} layers, {MAX_ITERATIONS:,} iterations, depth {MAX_DEPTH}, "
          f"{MAX_SOURCE_CHARACTERS:,} characters); "
          f"{args.repeats} runs each, alternated, --format {args.format}, {os.cpu_count()} cores")
    times: dict[str, list[float]] = {name: [] for name in cases}
    peaks: dict[str, list[int]] = {name: [] for name in cases}
    exits: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for name, text in cases.items():
            paths[name] = Path(folder) / f"{name}.cnn"
            paths[name].write_text(text)
        for _ in range(args.repeats):  # alternate the cases, so a burst of load spreads over all of them
            for name, path in paths.items():
                seconds, peak, code = _run_once(path, ["--format", args.format])
                times[name].append(seconds)
                peaks[name].append(peak)
                exits[name] = code
    print(f"{'case':<22} {'bytes':>10} {'exit':>4} {'best s':>8} {'median s':>9} {'peak MB':>8}  within")
    worst = 0.0
    for name in cases:
        best, median = min(times[name]), statistics.median(times[name])
        peak = max(peaks[name])
        within = best < SECONDS_BUDGET and peak < BYTES_BUDGET
        worst = max(worst, median)
        print(f"{name:<22} {len(cases[name]):>10,} {exits[name]:>4} {best:>8.2f} {median:>9.2f} "
              f"{peak / 1e6:>8.0f}  {'yes' if within else 'NO'}")
    print(f"slowest median: {worst:.2f} s (budget {SECONDS_BUDGET:.0f} s, {BYTES_BUDGET // 1024**2:,} MiB)")
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
