"""Fuzzing `cnnc check` in-process: generated programs of the whole language and mutated examples,
through the text, JSON and SARIF formats. The oracle here is also what bench/fuzz_check.py runs 10,000+
times; the specs come from fuzz_strategies.py."""

from __future__ import annotations

import io
import json
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest
from fuzz_strategies import EMOJI_CODES, MARKUP, VALUES, ProgramWriter, RandomDraw, Spec, generated_spec, \
    mutated_spec, program_text, strategy
from hypothesis import HealthCheck, given, settings
from rich.console import Console
from rich.emoji import Emoji
from test_robustness import memory_guard

from cnnc.catalog import LAYERS, TRAIN_SETTINGS
from cnnc.cli import main

FORMATS = ("text", "json", "sarif")
GOOGOL = 10**100  # the largest number a spec may write and the largest figure a report may show
SCHEMA_PATH = Path(__file__).parent / "schemas" / "report.schema.json"
try:
    import jsonschema
    SCHEMA = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
except ImportError:  # a test extra; without it the report's schema is not checked
    SCHEMA = None
TIME_LIMIT = 10.0  # seconds per `cnnc check`: issue 8 promises any spec under the limits in under 10 s
HEADER = re.compile(r"(?:([0-9]+):([0-9]+):)? (error|warning|info)\[([A-Z][0-9]{3})\]")  # after `path:` in text
SHOWN_IN_FULL = 120  # a source line this short is quoted whole under its diagnostic (longer ones may be cut)


# The oracle ----------------------------------------------------------------------------------------------

class Hang(BaseException):
    """Raised by a timer signal when `cnnc check` runs past the time limit: a BaseException, so that
    cnnc's last line of defence (``except Exception``) cannot turn it into an internal error."""


@contextmanager
def time_limit(seconds: float | None):
    """Raise ``Hang`` in the block after ``seconds`` (main thread, where timers exist; else no limit)."""
    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise Hang

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class Failure:
    """A broken promise: its kind, what was seen (first line: the summary) and the format it showed in."""

    kind: str
    detail: str
    format: str

    @property
    def signature(self) -> str:
        """What tells distinct failures apart: the kind and the summary, numbers blanked (codes kept)."""
        summary = self.detail.splitlines()[0] if self.detail else ""
        return f"{self.kind}: {re.sub(r'(?<![A-Z0-9])[0-9][0-9,.]*', 'N', summary)[:200]}"


@dataclass
class Run:
    """One `cnnc check PATH --format F` in-process: its exit code, its outputs, what escaped it."""

    code: int | None
    out: str
    err: str
    escaped: BaseException | None = None


@dataclass
class Outcome:
    failures: list[Failure]
    code: int | None  # the exit code of the first format run
    diagnostics: list[dict] = field(default_factory=list)  # the JSON document's, when it has one
    seconds: float = 0.0


def run_check(path: Path, output_format: str, seconds: float | None = TIME_LIMIT, debug: bool = False) -> Run:
    """``cnnc check PATH --format F`` through ``cnnc.cli.main``, under the memory guard and the time limit;
    with ``debug``, CNNC_DEBUG is set so that an internal error escapes with its traceback."""
    out, err, printed = io.StringIO(), io.StringIO(), io.StringIO()
    code, escaped = None, None
    with mock.patch.dict(os.environ, {"CNNC_DEBUG": "1"} if debug else {}), \
            mock.patch.object(sys, "stdout", printed):
        if not debug:
            os.environ.pop("CNNC_DEBUG", None)
        try:
            with memory_guard(), time_limit(seconds):
                code = main(["check", str(path), "--format", output_format],
                            Console(file=out, width=120, color_system=None),
                            Console(file=err, width=120, color_system=None))
        except KeyboardInterrupt:
            raise
        except BaseException as exception:  # noqa: BLE001 - whatever escapes is the finding
            escaped = exception
    if code == 130:  # cnnc saw a real Ctrl-C: stop fuzzing
        raise KeyboardInterrupt
    return Run(code, out.getvalue() + printed.getvalue(), err.getvalue(), escaped)


def describe(exception: BaseException) -> str:
    """``Type: message (in cnnc/module.py, function)`` on the first line, then the innermost frames."""
    frames = traceback.extract_tb(exception.__traceback__)
    ours = [f for f in frames if "/cnnc/" in f.filename or "/backends/" in f.filename]
    where = f" (in {'/'.join(Path(ours[-1].filename).parts[-2:])}, {ours[-1].name})" if ours else ""
    message = str(exception).replace("\n", " ")
    summary = f"{type(exception).__name__}: {message[:200]}{'...' if len(message) > 200 else ''}{where}"
    return "\n".join([summary, *(f"  {Path(f.filename).name}:{f.lineno} in {f.name}: {f.line}" for f in frames[-6:])])


def _internal_error(path: Path, output_format: str, run: Run, seconds: float | None) -> Failure:
    """The traceback behind an "internal error", from a second run with CNNC_DEBUG set."""
    again = run_check(path, output_format, seconds, debug=True)
    if again.escaped is not None and not isinstance(again.escaped, Hang):
        return Failure("internal error", describe(again.escaped), output_format)
    line = next((line for line in (run.err + run.out).splitlines() if "internal error" in line or "Traceback" in line),
                "")
    return Failure("internal error", line.removeprefix("cnnc: internal error: "), output_format)


def _lines(content: bytes) -> list[str]:
    text = content.decode("utf-8", "replace").removeprefix("\ufeff")
    return re.split(r"\r\n|\r|\n", text)


def _location_failures(where: str, item: dict, lines: list[str], output_format: str) -> list[Failure]:
    line, column = item.get("line"), item.get("column")
    if not (isinstance(line, int) and isinstance(column, int) and line >= 1 and column >= 1):
        return [Failure("no location", f"{where} at line {line!r}, column {column!r}", output_format)]
    failures = []
    if line > len(lines) or column > max(map(len, lines)) + 2:
        failures.append(Failure("location outside the file", f"{where} at {line}:{column}", output_format))
    end = (item.get("end_line"), item.get("end_column"))
    if "end_line" in item and not (isinstance(end[0], int) and isinstance(end[1], int) and end >= (line, column)):
        failures.append(Failure("span ends before it starts", f"{where} from {line}:{column} to {end}", output_format))
    return failures


def strict_json(text: str):
    """``json.loads`` as JSON defines it: NaN and Infinity (which Python writes and reads) refused."""
    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def _numbers(value, where: str = "") -> list[tuple[str, int | float]]:
    """Every number in a JSON document, with its path (``totals/params``)."""
    if isinstance(value, dict):
        return [n for key, item in value.items() for n in _numbers(item, f"{where}/{key}")]
    if isinstance(value, list):
        return [n for index, item in enumerate(value) for n in _numbers(item, f"{where}/{index}")]
    return [(where, value)] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def _report_failures(document: dict) -> list[Failure]:
    """The report keeps its promises: the schema, every figure at most 10**100, totals that add up."""
    failures = []
    if SCHEMA is not None:
        problem = next(SCHEMA.iter_errors(document), None)
        if problem is not None:
            where = "/".join(str(part) for part in problem.absolute_path)
            failures.append(Failure("json breaks its schema", f"{where}: {problem.message[:200]}", "json"))
    for where, number in _numbers(document):
        if abs(number) > GOOGOL:
            where = re.sub(r"/[0-9]+", "/*", where)
            failures.append(Failure("figure above the cap", f"{where} = {number:.3g} is shown", "json"))
    totals, layers = document.get("totals"), document.get("layers") or []
    if isinstance(totals, dict) and all(isinstance(layer, dict) for layer in layers):
        for key in ("params", "buffers", "macs", "flops", "activations"):
            if sum(layer.get(key) or 0 for layer in layers) != totals.get(key):
                failures.append(Failure("totals do not add up", f"{key}: the layers' sum is not the total", "json"))
        if totals.get("flops") != 2 * (totals.get("macs") or 0):
            failures.append(Failure("totals do not add up", "flops are not 2 x macs", "json"))
    return failures


def _json_failures(run: Run, lines: list[str]) -> tuple[list[Failure], list[dict]]:
    try:
        document = strict_json(run.out)
        diagnostics = document["diagnostics"]
        assert isinstance(diagnostics, list)
    except (ValueError, KeyError, TypeError, AssertionError) as problem:
        return [Failure("json does not parse", f"{type(problem).__name__}: {str(problem)[:200]}", "json")], []
    failures = _report_failures(document)
    for diagnostic in diagnostics:
        code = diagnostic.get("code")
        failures += _location_failures(f"{code}", diagnostic, lines, "json")
        for note in diagnostic.get("notes", []):
            failures += _location_failures(f"a note of {code}", note, lines, "json")
        if not diagnostic.get("name"):
            failures.append(Failure("unknown code", f"{code} has no name", "json"))
    has_error = any(d.get("severity") == "error" for d in diagnostics)
    if run.code in (0, 1) and (run.code == 1) != has_error:
        failures.append(Failure("exit code disagrees with the diagnostics",
                                f"exit {run.code} with {'an' if has_error else 'no'} error diagnostic", "json"))
    return failures, diagnostics


def _sarif_failures(run: Run, lines: list[str], diagnostics: list[dict] | None) -> list[Failure]:
    try:
        results = strict_json(run.out)["runs"][0]["results"]
        regions = [result["locations"][0]["physicalLocation"]["region"] for result in results]
    except (ValueError, KeyError, IndexError, TypeError) as problem:
        return [Failure("sarif does not parse", f"{type(problem).__name__}: {str(problem)[:200]}", "sarif")]
    failures = []
    for result, region in zip(results, regions):
        failures += _location_failures(result.get("ruleId"), {"line": region.get("startLine"),
                                       "column": region.get("startColumn")}, lines, "sarif")
    if diagnostics is not None:
        errors = (sum(r.get("level") == "error" for r in results), sum(d["severity"] == "error" for d in diagnostics))
        if len(results) != len(diagnostics) or errors[0] != errors[1]:
            failures.append(Failure("sarif disagrees with json", f"{len(results)} results ({errors[0]} errors) for "
                                    f"{len(diagnostics)} diagnostics ({errors[1]} errors)", "sarif"))
    return failures


def _text_failures(run: Run, path: Path, lines: list[str], diagnostics: list[dict] | None) -> list[Failure]:
    """The text shows the JSON's diagnostics, its counts, the file name and the user's text as they are."""
    if not diagnostics:
        return []
    prefix = f"{path}:"
    if prefix not in run.out:
        return [Failure("markup interpreted", f"the file name {path.name!r} is not printed as it is", "text")]
    printed = Counter()  # the `path:line:column: severity[code]` headers, in one pass over a text of any size
    for printed_line in run.out.splitlines():
        header = HEADER.match(printed_line, len(prefix)) if printed_line.startswith(prefix) else None
        if header:
            line, column, severity, code = header.groups()
            printed[(line and int(line), column and int(column), severity, code)] += 1
    expected = Counter((d["line"], d["column"], d["severity"], d["code"]) for d in diagnostics)
    failures = []
    for problem, differences in (("not printed", expected - printed), ("not in the json", printed - expected)):
        failures += [Failure("text disagrees with json", f"{severity}[{code}] at {line}:{column} {problem}", "text")
                     for line, column, severity, code in differences]
    summaries = re.findall(r"^Found (.*)\.$", run.out, re.MULTILINE)
    counted = {word.rstrip("s"): int(n.replace(",", "")) for n, word in re.findall(r"([0-9][0-9,]*) (\w+)",
                                                                                   summaries[-1] if summaries else "")}
    severities = Counter(d["severity"] for d in diagnostics)
    if counted != dict(severities):
        failures.append(Failure("text disagrees with json", f"summary {summaries[-1:]} for {dict(severities)}", "text"))
    shown = {tag for tag in MARKUP[:-1] if tag in run.out}
    for line in {d["line"] for d in diagnostics if isinstance(d["line"], int) and 1 <= d["line"] <= len(lines)}:
        for tag in set(MARKUP[:-1]) - shown:
            if tag in lines[line - 1] and len(lines[line - 1]) <= SHOWN_IN_FULL:
                failures.append(Failure("markup interpreted", f"{tag} on line {line} is not printed", "text"))
    return failures


def check_spec(spec: Spec, folder: Path, formats: Sequence[str] = FORMATS,
               seconds: float | None = TIME_LIMIT) -> Outcome:
    """Check ``spec`` in each format and list every promise broken: no exception, traceback or hang;
    exit 0 or 1, the same in every format, 1 iff an error is reported; strict JSON and SARIF; a report
    that fits its schema, shows no figure above 10**100 and whose totals add up; a line and column in
    the file for every diagnostic and note; the same diagnostics in every format; no markup or emoji
    made of the user's text or file name."""
    path = Path(tempfile.mkdtemp(dir=folder)) / spec.name  # a folder of its own: checks may run in parallel
    path.write_bytes(spec.content)
    started = time.perf_counter()
    failures: list[Failure] = []
    try:
        runs = {output_format: run_check(path, output_format, seconds) for output_format in formats}
        for output_format, run in runs.items():
            if isinstance(run.escaped, Hang):
                failures.append(Failure("timeout", f"took more than {seconds:g} s", output_format))
            elif run.escaped is not None:
                failures.append(Failure("exception escaped", describe(run.escaped), output_format))
            elif "Traceback" in run.out + run.err or "internal error" in run.out + run.err:
                failures.append(_internal_error(path, output_format, run, seconds))
            elif run.code not in (0, 1):
                failures.append(Failure("exit code", f"exit {run.code}: {run.err.strip()[-200:]}", output_format))
    finally:
        path.unlink(missing_ok=True)
        path.parent.rmdir()
    completed = {f: run for f, run in runs.items() if run.code in (0, 1)}
    if len({run.code for run in completed.values()}) > 1:
        failures.append(Failure("formats disagree", "exit codes " + ", ".join(f"{f} {r.code}" for f, r in
                                                                               completed.items()), "all"))
    lines = _lines(spec.content)
    diagnostics = None
    if "json" in completed:
        found, diagnostics = _json_failures(completed["json"], lines)
        failures += found
    if "sarif" in completed:
        failures += _sarif_failures(completed["sarif"], lines, diagnostics)
    if "text" in completed:
        failures += _text_failures(completed["text"], path, lines, diagnostics)
    shown_input = spec.content.decode("utf-8", "replace") + spec.name
    for output_format, run in runs.items():
        for code in EMOJI_CODES:
            emoji = Emoji.replace(code)
            if emoji in run.out + run.err and emoji not in shown_input:
                failures.append(Failure("markup interpreted", f"{code} printed as {emoji}", output_format))
    folder_name = str(path.parent) + os.sep  # random: kept out of the failures' details, which tell failures apart
    failures = list(dict.fromkeys(Failure(f.kind, f.detail.replace(folder_name, ""), f.format) for f in failures))
    first = next(iter(runs.values()))
    return Outcome(failures, first.code, diagnostics or [], time.perf_counter() - started)


def line_ending_failures(text: str, folder: Path, seconds: float | None = TIME_LIMIT) -> list[Failure]:
    """A program with `\\r\\n` or lone `\\r` line endings must check as it does with `\\n`: the same exit
    code and the same diagnostics at the same lines and columns."""
    def located(ending: str) -> tuple[list[Failure], tuple]:
        outcome = check_spec(Spec("spec.cnn", text.replace("\n", ending).encode("utf-8"), "line endings"), folder,
                             ("json",), seconds)
        places = sorted((d.get("code"), d.get("line"), d.get("column")) for d in outcome.diagnostics)
        return outcome.failures, (outcome.code, places)

    failures, expected = located("\n")
    for ending in ("\r\n", "\r"):
        found, seen = located(ending)
        failures += found
        if not found and not failures and seen != expected:
            failures.append(Failure("line endings change the diagnostics",
                                    f"{ending!r} endings: {seen} instead of {expected}"[:600], "json"))
    return failures


# The tests ----------------------------------------------------------------------------------------------

# Hypothesis draws new specs on every run (neither `derandomize` nor a fixed seed): a fuzz test that
# replays the same few hundred specs finds nothing after its first run, while a random one keeps
# exploring in every CI run. A failure stays reproducible: the assertion prints the spec's bytes, and
# hypothesis prints the shrunk example with a `@reproduce_failure` blob.
FUZZ = settings(deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HUGE_REPEATS = 5  # percent of mutations that wrap a huge repeat: each costs seconds (100,000 layers to expand)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def explain(spec: Spec, failures: list[Failure]) -> str:
    found = [f"{failure.format}: {failure.kind}: {failure.detail}" for failure in failures]
    text = spec.content.decode("utf-8", "replace")
    return "\n".join([*found, f"in {spec.name!r} ({spec.origin}):", text[:3000] + ("..." if len(text) > 3000 else "")])


@settings(FUZZ, max_examples=250)
@given(spec=strategy(generated_spec))
def test_generated_programs(folder, spec):
    failures = check_spec(spec, folder).failures
    assert not failures, explain(spec, failures)


@settings(FUZZ, max_examples=250)
@given(spec=strategy(lambda draw: mutated_spec(draw, HUGE_REPEATS)))
def test_mutated_examples(folder, spec):
    failures = check_spec(spec, folder).failures
    assert not failures, explain(spec, failures)


@settings(FUZZ, max_examples=60)
@given(text=strategy(program_text))
def test_line_endings_do_not_matter(folder, text):
    failures = line_ending_failures(text, folder)
    assert not failures, explain(Spec("spec.cnn", text.encode("utf-8"), "generated"), failures)


def test_every_argument_and_setting_has_valid_and_invalid_values():
    """A new layer option or train setting must be fuzzed too."""
    names = {argument.name for signature in LAYERS.values() for argument in signature.arguments}
    for name in sorted(names | set(TRAIN_SETTINGS)):
        valid, invalid = VALUES.get(name, ((), ()))
        assert valid and invalid, f"add `{name}` to fuzz_strategies.VALUES"


def test_the_generator_writes_programs_that_check(folder):
    """The programs written without mistakes use every layer, and most reach the analyzer: a generator
    that drifted into writing syntax errors would fuzz nothing but the parser."""
    outcomes, texts = [], []
    for seed in range(200):
        writer = ProgramWriter(RandomDraw(random.Random(seed)))
        if writer.noise == 0:
            texts.append(writer.program())
            outcomes.append(check_spec(Spec("spec.cnn", texts[-1].encode("utf-8"), "generated"), folder, ("json",)))
    assert all(re.search(rf"\b{op}\b", "\n".join(texts)) for op in LAYERS)
    syntax_errors = sum(any(d["code"] == "E001" for d in outcome.diagnostics) for outcome in outcomes)
    assert syntax_errors == 0 and sum(outcome.code == 0 for outcome in outcomes) >= len(outcomes) // 4
