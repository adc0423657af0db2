"""Fuzz `cnnc check` at scale: generated programs and mutated examples (tests/fuzz_strategies.py) through
the oracle of tests/test_fuzz.py, in every output format. Prints the examples run, the exit codes, the
diagnostic codes, the time taken and every distinct failure, with a shrunk reproducer written to a folder.

    python bench/fuzz_check.py                          # 10,000 examples, seed 0
    python bench/fuzz_check.py --examples 2000 --seed 7 --jobs 2

Example i of seed S is drawn from ``random.Random(f"{S}:{i}")``, so any example can be drawn again (with the
same examples/ and strategies)."""

from __future__ import annotations

import argparse
import multiprocessing
import random
import re
import shlex
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzz_strategies import RandomDraw, Spec, generated_spec, mutated_spec, program_text
from test_fuzz import TIME_LIMIT, Failure, check_spec, line_ending_failures

LINE_ENDINGS_EVERY = 20  # every 20th example also compares its program with \r\n and \r line endings


def draw_example(seed: int, index: int) -> tuple[str, Spec]:
    """Example ``index``: even ones generated, odd ones mutated; every 20th a line-ending comparison."""
    draw = RandomDraw(random.Random(f"{seed}:{index}"))
    if index % LINE_ENDINGS_EVERY == 0:
        return "line endings", Spec("spec.cnn", program_text(draw).encode("utf-8"), "generated")
    return ("generated", generated_spec(draw)) if index % 2 == 0 else ("mutated", mutated_spec(draw))


def failures_of(kind: str, spec: Spec, folder: Path, seconds: float) -> tuple[list[Failure], int | None, list]:
    if kind == "line endings":
        return line_ending_failures(spec.content.decode("utf-8"), folder, seconds), None, []
    outcome = check_spec(spec, folder, seconds=seconds)
    return outcome.failures, outcome.code, [d.get("code") for d in outcome.diagnostics]


def run_example(job: tuple[int, int, float, str]) -> dict:
    """One example in a worker: its kind, exit code, diagnostic codes, failures and time."""
    seed, index, seconds, folder = job
    kind, spec = draw_example(seed, index)
    started = time.perf_counter()
    failures, code, codes = failures_of(kind, spec, Path(folder), seconds)
    return {"index": index, "kind": kind, "code": code, "codes": codes, "seconds": time.perf_counter() - started,
            "failures": [(f.kind, f.detail, f.format, f.signature) for f in failures]}


def shrink(content: bytes, fails: Callable[[bytes], bool], budget: float) -> bytes:
    """Drop chunks of lines, then of `;`-separated statements, then of words, halving the chunks, while
    ``fails`` still holds, for at most ``budget`` seconds."""
    deadline = time.monotonic() + budget
    for boundary in (rb"(?<=\n)", rb"(?<=;)", rb"(?<=\s)"):
        pieces = [piece for piece in re.split(boundary, content) if piece]
        chunk = max(len(pieces) // 2, 1)
        while time.monotonic() < deadline:
            at = 0
            while at < len(pieces) and time.monotonic() < deadline:
                candidate = pieces[:at] + pieces[at + chunk:]
                if candidate and fails(b"".join(candidate)):
                    pieces = candidate
                else:
                    at += chunk
            if chunk == 1:
                break
            chunk //= 2
        content = b"".join(pieces)
    return content


def write_reproducer(folder: Path, number: int, signature: str, found: list[dict], seed: int, seconds: float,
                     budget: float) -> str:
    """Shrink the first example of a failure and write it with a README; returns the command to run it."""
    first = found[0]
    kind, spec = draw_example(seed, first["index"])
    formats = sorted({f[2] for example in found for f in example["failures"] if f[3] == signature})

    def fails(content: bytes) -> bool:
        again = Spec(spec.name, content, spec.origin)
        with tempfile.TemporaryDirectory(prefix="cnnc-shrink-") as scratch:
            return signature in {f.signature for f in failures_of(kind, again, Path(scratch), seconds)[0]}

    content = spec.content if signature.startswith("timeout") else shrink(spec.content, fails, budget)
    slug = re.sub(r"[^a-z0-9]+", "-", signature.lower())[:50].strip("-")
    where = folder / f"{number:02d}-{slug}"
    where.mkdir(parents=True, exist_ok=True)
    path = where / spec.name
    path.write_bytes(content)
    (where / ("original-" + spec.name)).write_bytes(spec.content)
    output_format = next((f for f in formats if f in ("text", "json", "sarif")), "json")
    command = f"cnnc check {shlex.quote(str(path))} --format {output_format}"
    if kind == "line endings":
        command += "  # then with \\r\\n and with \\r line endings"
    details = next(f[1] for f in first["failures"] if f[3] == signature)
    (where / "README.txt").write_text(
        f"{signature}\n\nformats: {', '.join(formats)}; {len(found)} examples (seed {seed}, indices "
        f"{', '.join(str(e['index']) for e in found[:10])}{', ...' if len(found) > 10 else ''})\n"
        f"first example: {kind}, {spec.origin}\ncommand: {command}\n\n{details}\n\n"
        f"reproducer ({len(content)} bytes, shrunk from {len(spec.content)}):\n{content!r}\n", encoding="utf-8")
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10_000, help="how many examples (default 10,000)")
    parser.add_argument("--seed", type=int, default=0, help="which examples (default 0)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT, help="seconds per `cnnc check` (default 10)")
    parser.add_argument("--failures", type=Path, help="folder for the reproducers (default: a temporary folder)")
    parser.add_argument("--shrink-seconds", type=float, default=60, help="time to shrink each distinct failure")
    args = parser.parse_args(argv)
    folder = args.failures or Path(tempfile.gettempdir()) / f"cnnc-fuzz-seed{args.seed}"
    results: list[dict] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cnnc-fuzz-") as scratch, \
            multiprocessing.Pool(args.jobs) if args.jobs > 1 else nullcontext() as pool:
        jobs = [(args.seed, index, args.time_limit, scratch) for index in range(args.examples)]
        for result in pool.imap_unordered(run_example, jobs, chunksize=4) if pool else map(run_example, jobs):
            results.append(result)
            if len(results) % 500 == 0:
                failed = sum(bool(r["failures"]) for r in results)
                print(f"  {len(results):,} examples, {failed:,} failing, {time.perf_counter() - started:,.0f} s",
                      file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started
    if results:
        report(results, args, elapsed, folder)
    return 1 if any(r["failures"] for r in results) else 0


def report(results: list[dict], args: argparse.Namespace, elapsed: float, folder: Path) -> None:
    times = sorted(r["seconds"] for r in results)
    kinds = Counter(r["kind"] for r in results)
    codes = Counter(r["code"] for r in results if r["kind"] != "line endings")
    examples_with, diagnostics = Counter(), Counter()
    for result in results:
        examples_with.update(set(result["codes"]))
        diagnostics.update(result["codes"])
    print(f"cnnc check fuzz: {len(results):,} examples (seed {args.seed}, {args.jobs} job(s)) in {elapsed:,.1f} s, "
          f"{len(results) / elapsed:,.1f} examples/s")
    print("examples: " + ", ".join(f"{kind} {count:,}" for kind, count in sorted(kinds.items())))
    print(f"time per example: median {statistics.median(times):.3f} s, 99th percentile "
          f"{times[int(len(times) * 0.99)]:.2f} s, slowest {times[-1]:.2f} s, {sum(t > 5 for t in times):,} over 5 s")
    shown = ", ".join(f"{code}: {count:,}" for code, count in sorted(codes.items(), key=lambda item: str(item[0])))
    print(f"exit codes (generated and mutated; every format gives the same): {shown}")
    print("diagnostic codes (examples with it / diagnostics):")
    for code, count in sorted(examples_with.items()):
        print(f"  {code:6} {count:>7,} / {diagnostics[code]:>9,}")
    by_signature: dict[str, list[dict]] = defaultdict(list)
    for result in sorted(results, key=lambda r: r["index"]):
        for signature in dict.fromkeys(f[3] for f in result["failures"]):
            by_signature[signature].append(result)
    failing = sum(bool(r["failures"]) for r in results)
    print(f"failures: {failing:,} examples, {len(by_signature)} distinct"
          + (f" (reproducers in {folder})" if by_signature else ""), flush=True)
    for number, (signature, found) in enumerate(sorted(by_signature.items(), key=lambda i: -len(i[1])), start=1):
        command = write_reproducer(folder, number, signature, found, args.seed, args.time_limit,
                                         args.shrink_seconds)
        print(f"  {number}. [{len(found):,} examples] {signature}\n     {command}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
