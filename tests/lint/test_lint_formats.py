"""Golden tests of the output formats (text, JSON, SARIF, GitHub) on one spec with findings of every
severity, and SARIF validated against the official SARIF 2.1.0 JSON schema.

Regenerate the golden files after an intended change with ``CNNC_UPDATE_GOLDEN=1 pytest tests/lint``."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from urllib.parse import urlparse

import pytest
from lint_support import FIXTURES, REPOSITORY
from rich.console import Console

from cnnc.cli import main
from cnnc.diagnostics import Diagnostic, Note, Severity
from cnnc.lint import RULES
from cnnc.render.github import github_command
from cnnc.source import Source, Span

GOLDEN = FIXTURES / "golden"
SPEC = "tests/fixtures/lint/golden/demo.cnn"  # relative, as CI passes paths
ARGS = ["check", SPEC, "--max-params", "10K"]
SCHEMA = FIXTURES / "sarif-schema-2.1.0.json"
"""The OASIS SARIF 2.1.0 schema (errata 01), from Schemata/sarif-schema-2.1.0.json of the OASIS
sarif-spec repository, unchanged."""


@pytest.fixture(autouse=True)
def _from_repository_root(monkeypatch):
    monkeypatch.chdir(REPOSITORY)


def _run(args: list[str], capsys) -> tuple[int, str]:
    out = Console(file=io.StringIO(), width=100, color_system=None, highlight=False)
    code = main(args, out=out, err=Console(file=io.StringIO()))
    return code, out.file.getvalue() + capsys.readouterr().out


def _compare(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CNNC_UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs; see the module docstring to update it"


def test_text_golden(capsys):
    code, output = _run(ARGS + ["--quiet"], capsys)
    assert code == 1  # B401 is an error
    _compare("demo.txt", output)


def test_json_golden(capsys):
    code, output = _run(ARGS + ["--format", "json"], capsys)
    assert code == 1
    _compare("demo.json", json.dumps(json.loads(output)["diagnostics"], indent=2) + "\n")


def test_github_golden(capsys):
    code, output = _run(ARGS + ["--format", "github"], capsys)
    assert code == 1
    _compare("demo.github", output)


def _sarif(capsys) -> dict:
    code, output = _run(ARGS + ["--format", "sarif"], capsys)
    assert code == 1
    return json.loads(output)


def test_sarif_golden(capsys):
    run = _sarif(capsys)["runs"][0]
    summary = {"driver": run["tool"]["driver"]["name"], "rules": [r["id"] for r in run["tool"]["driver"]["rules"]],
               "columnKind": run["columnKind"], "results": run["results"]}
    _compare("demo.sarif.json", json.dumps(summary, indent=2) + "\n")


def test_sarif_is_valid_against_the_sarif_2_1_0_schema(capsys):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["id"].endswith("sarif-schema-2.1.0.json") and len(schema["definitions"]) == 52
    document = _sarif(capsys)
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    assert [error.message for error in validator.iter_errors(document)] == []
    broken = json.loads(json.dumps(document))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    del broken["runs"][0]["tool"]["driver"]["name"]
    assert len(list(validator.iter_errors(broken))) == 2  # the schema is really checked


def test_sarif_has_what_github_code_scanning_needs(capsys):
    document = _sarif(capsys)
    assert document["version"] == "2.1.0" and document["$schema"].endswith("sarif-2.1.0.json")
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert set(RULES) <= set(ids) and len(ids) == len(set(ids))
    for rule in rules:
        assert rule["help"]["text"] and rule["shortDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note"}
    assert RULES["W201"].section("Example") in next(r for r in rules if r["id"] == "W201")["help"]["markdown"]
    assert {r["ruleId"] for r in run["results"]} == {"W205", "W201", "I301", "W207", "S501", "B401"}
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        (location,) = result["locations"]
        uri = location["physicalLocation"]["artifactLocation"]["uri"]
        assert uri == SPEC and not urlparse(uri).scheme  # relative to the repository root
        assert location["physicalLocation"]["region"]["startLine"] >= 1


def test_sarif_uri_of_an_absolute_path_is_a_file_uri(capsys, tmp_path):
    spec = tmp_path / "my net.cnn"
    spec.write_text("input 7x7x1\nconv 1 3x3 stride=3\n", encoding="utf-8")
    code, output = _run(["check", str(spec), "--format", "sarif"], capsys)
    uri = json.loads(output)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri.startswith("file:///") and uri.endswith("/my%20net.cnn")


def test_github_command_escapes_data_and_properties():
    diagnostic = Diagnostic("W201", Severity.WARNING, "100% lost: a, b\nnext", Span(3, 4, 3, 9), "use pad=2",
                            (Note("called here", Span(9, 1, 9, 5)),))
    line = github_command(diagnostic, Source("", "dir/a,b:c.cnn"))
    assert line == ("::warning file=dir/a%2Cb%3Ac.cnn,line=3,col=4,title=W201::100%25 lost: a, b%0Anext"
                    "%0Ahelp: use pad=2%0Anote: called here (line 9)")
    info = Diagnostic("I301", Severity.INFO, "m", None)
    assert github_command(info, Source("", "x.cnn")) == "::notice file=x.cnn,title=I301::m"


def test_github_format_for_the_original_alexnet(capsys):
    spec = Path("tests/fixtures/lint/architectures/alexnet_224.cnn")
    code, output = _run(["check", str(spec), "--format", "github", "--select", "W201"], capsys)
    first = output.splitlines()[0]
    assert code == 0
    assert first.startswith(f"::warning file={spec},line=4,col=1,title=W201::`conv1` never reads the last row "
                            "and the last column of its 224x224x3 input%0Ahelp: (224 - 11 + 2*0)/4 + 1 = 54.25")
