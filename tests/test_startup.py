"""Start-up: what each command imports (so that a slow import cannot come back unnoticed), the
version's one source, and the parser's table cache. Timings are not tested here: bench/check_speed.py
measures them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cnnc
from cnnc import lark_loading

ROOT = Path(__file__).resolve().parents[1]
VGG16 = ROOT / "examples" / "vgg16.cnn"

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

# Modules that a command must not load, by command: a prefix matches the module and its submodules.
HEAVY = ("numpy", "lark", "interegular", "rich", "importlib.metadata", "cnnc.api", "cnnc.parser", "cnnc.ir",
         "cnnc.lint", "cnnc.config", "cnnc.model", "cnnc.backends")
NOT_LOADED = {
    "import cnnc.cli": HEAVY + ("signal", "difflib", "textwrap"),
    "import cnnc": HEAVY,
    # argparse's formatters need no shutil (commands.common); the commands' records need no dataclasses;
    # --version registers no subcommand (their modules unloaded) and needs no typing
    "--version": HEAVY + ("shutil", "difflib", "dataclasses", "inspect", "cnnc.commands.check", "cnnc.commands.train",
                          "cnnc.commands.compile", "typing"),
    "--help": HEAVY + ("shutil",),
    "check --help": HEAVY,
    "rule W201": ("numpy", "lark", "interegular", "importlib.metadata", "rich", "cnnc.api", "cnnc.parser",
                  "cnnc.config", "cnnc.model", "cnnc.backends"),
    "rules": ("numpy", "lark", "interegular", "importlib.metadata", "rich", "cnnc.api", "cnnc.parser", "cnnc.model"),
    # output that rich would print without colour (here a StringIO) is written without rich; a spec that
    # parses is parsed without Lark once the tables are in the cache folder (tests/test_fast_parser.py)
    f"check {VGG16}": ("numpy", "lark", "cnnc.lark_loading", "interegular", "importlib.metadata", "rich",
                       "cnnc.model", "cnnc.backends", "cnnc.render.json", "cnnc.render.sarif", "pkgutil", "hashlib",
                       "cnnc.commands.train", "cnnc.commands.compile", "cnnc.commands.fmt", "cnnc.commands.rules",
                       "cnnc.commands.draw", "cnnc.commands.import_", "fractions",  # fractions only where a size is not whole (upsampling)
                       "inspect", "ast", "dis", "tokenize",  # dataclasses imports inspect only for docs (frozen.py)
                       # no typing (its names only under TYPE_CHECKING); no tomllib (with datetime) for the
                       # repository's pyproject.toml, which cannot name tool.cnnc
                       "typing", "tomllib", "datetime"),
    f"fmt --check {VGG16}": ("numpy", "interegular", "importlib.metadata", "rich.table", "cnnc.model", "cnnc.backends"),
    f"check {VGG16} --format json": ("numpy", "lark", "interegular", "importlib.metadata", "rich",
                                     "cnnc.model", "cnnc.render.text", "cnnc.render.sarif"),
}

_REPORT = """
import contextlib, io, json, sys
with contextlib.redirect_stdout(io.StringIO()):
    {action}
print(json.dumps(sorted(sys.modules)))
"""


@pytest.fixture(scope="module")
def tables_cached(tmp_path_factory) -> dict[str, str]:
    """An environment whose cache folder holds the parser's tables (written by a first parse)."""
    environment = {**os.environ, "CNNC_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    subprocess.run([sys.executable, "-c", "from cnnc.parser import parse_fast; parse_fast('')"], check=True,
                   timeout=120, env=environment)
    return environment


def loaded_by(action: str, environment: dict[str, str] | None) -> set[str]:
    """The modules a new interpreter holds after ``action`` (Python statements)."""
    result = subprocess.run([sys.executable, "-c", _REPORT.format(action=action)], check=False, capture_output=True,
                            text=True, timeout=120, env=environment)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def action_of(case: str) -> str:
    if case.startswith("import "):
        return case
    return f"from cnnc.cli import main; main({case.split()!r})"


@pytest.mark.parametrize("case", list(NOT_LOADED))
def test_a_command_loads_only_what_it_uses(case, tables_cached):
    loaded = loaded_by(action_of(case), tables_cached)
    found = sorted(name for name in loaded for heavy in NOT_LOADED[case]
                   if name == heavy or name.startswith(heavy + "."))
    assert found == []


# Modules that the interpreter may have loaded before cnnc (an editable install's finder imports pathlib):
# forgotten first, so that the test sees whether cnnc imports them again.
_FORGET = "import sys; [sys.modules.pop(name, None) for name in {names!r}]; "


@pytest.mark.parametrize("case", [f"check {VGG16}", "--version", "rule W201"])
def test_a_check_needs_no_pathlib(case, tables_cached):
    # pathlib imports urllib.parse, ipaddress and fnmatch: some 10 ms of an installed cnnc's start
    forgotten = ("pathlib", "urllib.parse", "ipaddress", "fnmatch")
    loaded = loaded_by(_FORGET.format(names=forgotten) + action_of(case), tables_cached)
    assert sorted(set(forgotten) & loaded) == []


def test_the_pathlib_test_can_fail(tables_cached, tmp_path):
    # a folder given to check is walked with pathlib: the forgetting above does not hide an import
    loaded = loaded_by(_FORGET.format(names=("pathlib",)) + action_of(f"check {tmp_path}"), tables_cached)
    assert "pathlib" in loaded


def test_tomllib_loads_for_a_config_that_names_tool_cnnc(tables_cached, tmp_path):
    spec = tmp_path / "net.cnn"
    spec.write_text("input 8x8x3\nconv 8 3x3\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert "tomllib" not in loaded_by(action_of(f"check {spec}"), tables_cached)
    (tmp_path / "pyproject.toml").write_text('[tool.cnnc]\nignore = ["W201"]\n')
    assert "tomllib" in loaded_by(action_of(f"check {spec}"), tables_cached)


def test_the_check_loads_what_the_list_above_forbids_elsewhere(tables_cached, tmp_path):
    # The lists above must be able to fail: the check itself loads the parser, and rich where colour
    # is forced; Lark where a spec has a syntax error (its diagnostics are Lark's) or where the parser's
    # tables are not in the cache folder yet (Lark builds them).
    assert {"cnnc.parser", "cnnc.lalr_driver", "cnnc.ir"} <= loaded_by(action_of(f"check {VGG16}"), tables_cached)
    coloured = loaded_by(action_of(f"check {VGG16}"), {**tables_cached, "FORCE_COLOR": "1"})
    assert {"rich.console", "rich.text"} <= coloured
    broken = tmp_path / "broken.cnn"
    broken.write_text("input 8x8x3\nconv 8 3x3 stride=2, pad=1\n")
    assert "lark" in loaded_by(action_of(f"check {broken}"), tables_cached)
    empty_cache = {**os.environ, "CNNC_CACHE_DIR": str(tmp_path / "empty")}
    assert "lark" in loaded_by(action_of(f"check {VGG16}"), empty_cache)
    assert "lark" not in loaded_by(action_of(f"check {VGG16}"), empty_cache)  # the tables written the first time


def test_a_piped_check_does_not_import_rich():
    # a real pipe, as `cnnc check net.cnn | less` or a CI log; a finding on stderr too
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "cnnc", "check", "-", str(VGG16)],
                            input="input 8x8x3\nconv 8 9x9\n", check=False, capture_output=True, text=True,
                            timeout=120, env={k: v for k, v in os.environ.items() if k != "FORCE_COLOR"})
    assert result.returncode == 1 and "Found 1 error, 1 info." in result.stdout
    imported = re.findall(r"^import time:.*\| +([\w.]+)$", result.stderr, re.MULTILINE)
    assert "cnnc.parser" in imported and not [name for name in imported if name.split(".")[0] == "rich"]


def test_lark_is_loaded_without_interegular_even_where_it_is_installed():
    pytest.importorskip("interegular")  # a test dependency: without it there is nothing to hide
    loaded = loaded_by("from cnnc.parser import _parser; _parser().parse('input 8x8x3\\nconv 8 3x3')", None)
    assert "lark" in loaded
    assert "interegular" not in loaded
    # and interegular still imports afterwards, for whoever needs it
    loaded = loaded_by("import cnnc.lark_loading; import interegular", None)
    assert "interegular" in loaded


@pytest.mark.parametrize("columns", [None, "50", "abc", "0", "-3", "200"])
def test_the_help_formatter_takes_argparse_s_width(columns, monkeypatch):
    import argparse

    from cnnc.commands.common import HelpFormatter

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    ours, argparse_s = HelpFormatter("cnnc"), argparse.HelpFormatter("cnnc")
    assert (ours._width, ours._max_help_position) == (argparse_s._width, argparse_s._max_help_position)
    assert HelpFormatter("cnnc", width=30)._width == 30


def test_the_version_is_pyproject_s():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project.get("dynamic", [])
    assert cnnc.__version__ == project["version"]


def test_version_prints_the_version(capsys):
    from cnnc.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"cnnc {cnnc.__version__}\n"


@pytest.mark.parametrize(("arguments", "code", "printed"), [
    (["--version"], 0, f"cnnc {cnnc.__version__}\n"),
    (["check", "-"], 1, "Found 1 error."),
    (["check", "--batch-size", "0", str(VGG16)], 2, ""),
])
def test_the_console_entry_point_exits_with_main_s_code(arguments, code, printed):
    # run() freezes the collector's objects before exiting; the exit code and the output stay main()'s
    result = subprocess.run([sys.executable, "-m", "cnnc", *arguments], input="input 8x8x3\nconv 8 9x9\n",
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == code, result.stderr
    assert printed in result.stdout


def test_the_package_s_names_load_on_first_use():
    from cnnc import Diagnostic, Network, Severity, SpecError, load, loads
    from cnnc.api import Network as api_network
    from cnnc.diagnostics import Severity as diagnostics_severity

    assert Network is api_network and Severity is diagnostics_severity
    assert callable(load) and callable(loads) and issubclass(SpecError, Exception) and Diagnostic
    assert {"Network", "load", "loads", "optim", "load_model", "__version__"} <= set(dir(cnnc))
    assert set(cnnc.__all__) <= set(dir(cnnc))
    with pytest.raises(AttributeError, match="no attribute 'Netwrk'"):
        cnnc.Netwrk  # noqa: B018


# The parser's tables -------------------------------------------------------------------------

def run_check(cache: Path | str, *arguments: str, spec: Path = VGG16) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CNNC_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "cnnc", "check", str(spec), *arguments], check=False,
                          capture_output=True, text=True, timeout=120, env=environment)


def cached_tables(cache: Path) -> list[Path]:
    return sorted((cache / "parser").glob("parser-*.cache"))


def test_the_tables_are_cached_in_the_cache_folder_and_reused(tmp_path):
    first = run_check(tmp_path)
    assert first.returncode == 0, first.stderr
    (table,) = cached_tables(tmp_path)
    assert f"lark{lark_loading.lark.__version__}" in table.name
    assert "-py{}.{}.".format(*sys.version_info[:2]) in table.name
    written = table.stat().st_mtime_ns
    second = run_check(tmp_path)
    assert (second.returncode, second.stdout, second.stderr) == (0, first.stdout, "")
    assert table.stat().st_mtime_ns == written  # read, not rebuilt


def test_a_damaged_cache_file_is_rebuilt_silently(tmp_path):
    # Lark's own table file serves where Lark parses: a spec with a syntax error
    broken = tmp_path / "broken.cnn"
    broken.write_text("input 8x8x3\nconv 8 3x3 stride=2, pad=1\n")
    reference = run_check(tmp_path / "cache", spec=broken)
    assert reference.returncode == 1 and "E001" in reference.stdout
    (table,) = cached_tables(tmp_path / "cache")
    table.write_bytes(b"not a parser\n\x00\x01")
    damaged = run_check(tmp_path / "cache", spec=broken)
    assert (damaged.returncode, damaged.stdout, damaged.stderr) == (1, reference.stdout, "")
    header, _, tables = table.read_bytes().partition(b"\n")
    assert re.fullmatch(rb"[0-9a-f]{64}", header)  # Lark's hash of the grammar, options and versions
    assert len(tables) > 1000  # and the tables again


def test_an_unusable_cache_folder_still_checks(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("a file where the cache folder should be")
    result = run_check(not_a_folder / "cnnc")
    assert result.returncode == 0, result.stderr
    assert "fc1" in result.stdout and result.stderr == ""


def test_the_cache_file_name_follows_the_grammar_and_the_options(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNC_CACHE_DIR", str(tmp_path / "cache"))
    grammar, other_grammar = 'start: A\nA: "a"\n', 'start: B\nB: "b"\n'
    plain = lark_loading.tables_cache(grammar, {"parser": "lalr"})
    assert isinstance(plain, str) and Path(plain).parent == tmp_path / "cache" / "parser"  # made on demand
    assert lark_loading.tables_cache(grammar, {"parser": "lalr"}) == plain
    assert lark_loading.tables_cache(other_grammar, {"parser": "lalr"}) != plain
    assert lark_loading.tables_cache(grammar, {"parser": "lalr", "keep_all_tokens": True}) != plain
    # a transformer or a comment callback does not change the tables: one file serves every instance
    assert lark_loading.tables_cache(grammar, {"parser": "lalr", "transformer": object()}) == plain


def test_the_parser_and_the_formatter_keep_a_table_file_each(tmp_path):
    code = ("from cnnc.parser import _parser; from cnnc.formatter import concrete_tree; "
            "_parser(); concrete_tree('input 8x8x3\\n')")
    environment = {**os.environ, "CNNC_CACHE_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                            env=environment)
    assert result.returncode == 0, result.stderr
    assert len(cached_tables(tmp_path)) == 2


def test_the_cache_folder_follows_the_platform_conventions(monkeypatch, tmp_path):
    monkeypatch.delenv("CNNC_CACHE_DIR", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert lark_loading.tables_folder() == tmp_path / "xdg" / "cnnc" / "parser"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert lark_loading.tables_folder() == tmp_path / "home" / ".cache" / "cnnc" / "parser"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert lark_loading.tables_folder() == tmp_path / "home" / "Library" / "Caches" / "cnnc" / "parser"
    monkeypatch.setenv("CNNC_CACHE_DIR", str(tmp_path / "mine"))
    assert lark_loading.tables_folder() == tmp_path / "mine" / "parser"


# What stands in for pathlib and typing on the check's path ------------------------------------------------

@pytest.mark.parametrize("path", ["net.cnn", "nets/vgg.v2.cnn", ".hidden", "net.", "a.b/net", "nets/", "..",
                                  "./net.cnn", "a//b.cnn", "net", "/", ""])
def test_a_spec_s_stem_is_pathlib_s(path):
    from pathlib import PurePath

    from cnnc.source import Source, file_stem

    assert file_stem(path) == PurePath(path).stem
    assert Source("", path).stem == (PurePath(path).stem if path else "")


def test_a_span_is_still_a_named_tuple():
    import pickle

    from cnnc.source import Span

    span = Span(1, 2, 3, 4)
    assert repr(span) == "Span(line=1, column=2, end_line=3, end_column=4)" and span == (1, 2, 3, 4)
    assert span._replace(line=5) == Span(5, 2, 3, 4) and type(span._replace(line=5)) is Span
    assert pickle.loads(pickle.dumps(span)) == span and span.to(Span.point(7, 1)) == Span(1, 2, 7, 2)
    with pytest.raises(AttributeError):
        span.line = 3


def test_the_analysis_dispatches_on_the_nearest_registered_class():
    from cnnc import ir
    from cnnc.analyze import _analyze_layer

    class MyConv(ir.Conv):
        pass

    assert _analyze_layer.dispatch(MyConv) is _analyze_layer.dispatch(ir.Conv)
    assert _analyze_layer.dispatch(ir.Conv) is not _analyze_layer.dispatch(ir.Activation)
    assert _analyze_layer.dispatch(ir.Activation) is _analyze_layer.registry[object]  # the default rule
