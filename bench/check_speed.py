"""How fast is `cnnc check`? VGG-16 against building the PyTorch model and running torchinfo on it,
in process and each in a new process; a 3,000-layer spec; the start-up of `cnnc --version` and
`cnnc rule W201`. Prints times and ratios measured in the same run.

    python bench/check_speed.py                # torch and torchinfo optional: without them, cnnc alone
    python bench/check_speed.py --rounds 20    # more new-process rounds (default 10)
    python bench/check_speed.py --python /tmp/wheel-venv/bin/python   # time that Python's cnnc (a wheel
                                                # install, say) in the new processes

New processes run alternately (cnnc check, cnnc --version, cnnc rule, python -c pass, PyTorch, then
again), after one warm-up run each, so that a load that comes and goes touches every side alike; each
is reported as its best and median wall time. They run with bytecode caching on (without
PYTHONDONTWRITEBYTECODE), as for an installed package, whose .pyc files pip writes at install time; the
warm-up also leaves the parser's tables in the cache folder, as any earlier run would (the first
`cnnc check` on a machine builds them with Lark, once).
Without torchinfo, the PyTorch side is `import torch`, the same VGG-16 and a summary made with forward
hooks (each layer's output shape and parameters), and the output says so.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cnnc.api import check
from cnnc.source import Source

ROOT = Path(__file__).resolve().parents[1]
VGG16 = ROOT / "examples" / "vgg16.cnn"
CHECK_TARGET = 40  # `cnnc check` in a new process at most 1/40 of PyTorch + torchinfo in one
VERSION_IMPORT_TARGET_MS = 60  # `cnnc --version`: imports (python -X importtime) under 60 ms


def median_of(repeats: int, work) -> float:
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
    from torch import nn

    layers, channels = [], 3
    for width, count in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(count):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Linear(25088, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(),
               nn.Dropout(), nn.Linear(4096, 1000)]
    return nn.Sequential(*layers)


def hook_summary(model, input_size: tuple[int, ...]) -> list[tuple[str, tuple[int, ...], int]]:
    """What torchinfo's summary computes, without torchinfo: each leaf layer's name, output shape and
    parameter count, from forward hooks on a forward pass of zeros."""
    import torch

    rows: list[tuple[str, tuple[int, ...], int]] = []
    hooks = [module.register_forward_hook(
        lambda module, inputs, output: rows.append((type(module).__name__, tuple(output.shape),
                                                    sum(p.numel() for p in module.parameters()))))
        for module in model.modules() if not list(module.children())]
    try:
        with torch.no_grad():
            model(torch.zeros(input_size))
    finally:
        for hook in hooks:
            hook.remove()
    return rows


def torch_reference() -> tuple[str, str, object] | None:
    """(label, script for a new process, in-process work) of the PyTorch side, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    setup = f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import torch; torch.set_num_threads(2); "
    try:
        from torchinfo import summary
    except ImportError:
        script = setup + ("from check_speed import hook_summary, torch_vgg16; "
                          "hook_summary(torch_vgg16(), (1, 3, 224, 224))")
        return ("PyTorch: build VGG-16 + a forward-hook summary (torchinfo is not installed)", script,
                lambda: hook_summary(torch_vgg16(), (1, 3, 224, 224)))
    script = setup + ("from torchinfo import summary; from check_speed import torch_vgg16; "
                      "summary(torch_vgg16(), input_size=(1, 3, 224, 224), verbose=0)")
    return ("PyTorch: build VGG-16 + torchinfo.summary", script,
            lambda: summary(torch_vgg16(), input_size=(1, 3, 224, 224), verbose=0))


def process_environment() -> dict[str, str]:
    """The environment of the new processes: bytecode caching on, as for an installed package."""
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    return environment


def cnnc_command(python: str) -> list[str]:
    """The `cnnc` console script beside ``python``, else `python -m cnnc`."""
    script = Path(python).with_name("cnnc")
    return [str(script)] if script.is_file() else [python, "-m", "cnnc"]


# New processes run in the temp folder: from the repository, `python -m cnnc` would import its `cnnc/`
# rather than the install that --python names.
NEUTRAL_FOLDER = tempfile.gettempdir()


def wall_time(command: list[str], environment: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=environment, cwd=NEUTRAL_FOLDER)
    return time.perf_counter() - start


def import_milliseconds(python: str, arguments: list[str], environment: dict[str, str], repeats: int) -> float:
    """The least, over ``repeats`` runs, of the time ``python -X importtime ARGUMENTS`` spends in
    imports: the sum of the top-level imports' cumulative times (the interpreter's own included)."""
    least = float("inf")
    for _ in range(repeats):
        result = subprocess.run([python, "-X", "importtime", *arguments], check=True, capture_output=True,
                                text=True, env=environment, cwd=NEUTRAL_FOLDER)
        top_level = re.findall(r"^import time:\s+\d+ \|\s+(\d+) \| (?! )", result.stderr, re.MULTILINE)
        least = min(least, sum(int(us) for us in top_level) / 1000)
    return least


def in_process(reference) -> float:
    """The analysis of VGG-16 and of a 3,000-layer spec once started; returns VGG-16's median."""
    vgg = Source(VGG16.read_text(), "examples/vgg16.cnn")
    analysis = median_of(20, lambda: check(vgg))
    report = check(vgg).report
    print(f"cnnc analysis of VGG-16 (in process, median of 20): {analysis * 1000:8.2f} ms "
          f"({report.totals.params:,} params, {report.totals.macs:,} MACs)")
    deep = Source(deep_spec(3000), "deep.cnn")
    checked = check(deep)
    assert checked.ok, checked.diagnostics
    deep_time = median_of(3, lambda: check(deep))
    print(f"cnnc analysis of a {len(checked.report.layers):,}-layer spec (median of 3):  {deep_time * 1000:8.2f} ms")
    if reference is not None:
        label, _, work = reference
        reference_time = median_of(5, work)
        print(f"{label} (in process, median of 5): {reference_time * 1000:8.2f} ms")
        print(f"ratio, cnnc analysis / PyTorch, in process: {analysis / reference_time:.4f} "
              f"({reference_time / analysis:,.0f}x faster)")
    return analysis


def new_processes(reference, rounds: int, python: str) -> None:
    environment = process_environment()
    cnnc = cnnc_command(python)
    commands = {
        "cnnc check examples/vgg16.cnn": cnnc + ["check", str(VGG16)],
        "cnnc --version": cnnc + ["--version"],
        "cnnc rule W201": cnnc + ["rule", "W201"],
        "python -c pass (the interpreter alone)": [python, "-c", "pass"],
    }
    if reference is not None:
        commands[reference[0]] = [sys.executable, "-c", reference[1]]
    times: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():  # warm-up: bytecode, the parser's tables, the OS's file cache
        wall_time(command, environment)
    for _ in range(rounds):
        for name, command in commands.items():
            times[name].append(wall_time(command, environment))
    package = subprocess.run([python, "-c", "import cnnc; print(cnnc.__file__)"], check=True, capture_output=True,
                             text=True, env=environment, cwd=NEUTRAL_FOLDER).stdout.strip()
    print(f"\nNew processes, {rounds} alternating rounds after a warm-up (wall time, best / median); cnnc: "
          f"{' '.join(cnnc)} ({package})")
    width = max(len(name) for name in commands)
    for name, measured in times.items():
        print(f"  {name:<{width}}  {min(measured) * 1000:8.1f} ms  {statistics.median(measured) * 1000:8.1f} ms")
    if reference is not None:
        check_times, torch_times = times["cnnc check examples/vgg16.cnn"], times[reference[0]]
        best = min(torch_times) / min(check_times)
        typical = statistics.median(torch_times) / statistics.median(check_times)
        print(f"ratio, `cnnc check` / PyTorch, each in a new process: best 1/{best:.1f}, median 1/{typical:.1f} "
              f"(target: 1/{CHECK_TARGET} or less)")
    print("\nImports (python -X importtime, sum of the top-level imports, least of 5; the interpreter's own "
          "`site` included):")
    for name, arguments in (("python -c pass", ["-c", "pass"]), ("cnnc --version", ["-m", "cnnc", "--version"]),
                            ("cnnc rule W201", ["-m", "cnnc", "rule", "W201"]),
                            ("cnnc check examples/vgg16.cnn", ["-m", "cnnc", "check", str(VGG16)])):
        target = f" (target: under {VERSION_IMPORT_TARGET_MS} ms)" if name == "cnnc --version" else ""
        print(f"  {name:<30} {import_milliseconds(python, arguments, environment, 5):6.1f} ms{target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds of new processes (default 10)")
    parser.add_argument("--python", default=sys.executable,
                        help="the Python whose cnnc runs in the new processes (default: this one)")
    args = parser.parse_args(argv)
    reference = torch_reference()
    if reference is None:
        print("torch is not installed: cnnc alone (pip install torch==2.13.0 torchinfo)")
    in_process(reference)
    new_processes(reference, args.rounds, args.python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
