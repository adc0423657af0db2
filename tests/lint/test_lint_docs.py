"""The documentation of the lint matches the code: docs/rules.md is generated from the rules, the
examples in docs/ci.md are what cnnc prints and accepts, and the pre-commit hook works."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lint_support import REPOSITORY

from cnnc.config import parse_config
from cnnc.lint.docs import rules_markdown

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

DOCS = REPOSITORY / "docs"
HOOKS = REPOSITORY / ".pre-commit-hooks.yaml"


def test_rules_page_is_up_to_date():
    assert (DOCS / "rules.md").read_text(encoding="utf-8") == rules_markdown(), (
        "regenerate it: cnnc rules --format markdown > docs/rules.md")


def test_ci_page_github_example_is_what_cnnc_prints(tmp_path):
    page = (DOCS / "ci.md").read_text(encoding="utf-8")
    example = re.search(r"\$ (cnnc check alexnet_224\.cnn --format github)\n(.*?)\n```", page, re.DOTALL)
    command, printed = example.groups()
    (tmp_path / "alexnet_224.cnn").write_text("input 224x224x3\nconv 96 11x11 stride=4\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "cnnc", *command.split()[1:]], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == printed.strip()


def test_ci_page_configuration_example_is_valid():
    page = (DOCS / "ci.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(\[tool\.cnnc\].*?)```", page, re.DOTALL).group(1)
    config = parse_config(tomllib.loads(example)["tool"]["cnnc"])
    assert config.budgets.params == 5_000_000 and config.budgets.memory == 2_000_000_000
    assert config.severities["I301"].value == "warning" and config.batch == 64


def _pre_commit() -> str:
    found = shutil.which("pre-commit") or shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("pre-commit is not installed")
    return found


def test_pre_commit_manifest_is_valid():
    result = subprocess.run([_pre_commit(), "validate-manifest", str(HOOKS)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    text = HOOKS.read_text(encoding="utf-8")
    assert "entry: cnnc check --quiet" in text and r"files: \.cnn$" in text


def _snapshot(destination: Path) -> None:
    """The working tree as a git repository with one commit, as pre-commit clones hooks from one."""
    ignored = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", ".pytest_cache", "build", "dist")
    shutil.copytree(REPOSITORY, destination, ignore=ignored)
    for command in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "s"]):
        subprocess.run(["git", *command], cwd=destination, check=True, capture_output=True)


@pytest.mark.slow
def test_pre_commit_hook_runs_cnnc_on_cnn_files(tmp_path):
    """Installs cnnc from a snapshot of this tree into pre-commit's own virtualenv (needs PyPI for its
    dependencies) and runs the hook on a project with a config that sets a budget."""
    pre_commit = _pre_commit()
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    _snapshot(tmp_path / "cnnc")
    project = tmp_path / "project"
    project.mkdir()
    (project / "cnnc.toml").write_text("max-params = \"1M\"\n", encoding="utf-8")
    (project / "small.cnn").write_text("input 32x32x3\nconv 8 3x3 pad=1\nrelu\n", encoding="utf-8")
    (project / "notes.txt").write_text("input 7x7x1\nconv 1 9x9\n", encoding="utf-8")  # not a .cnn: not checked
    for command in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *command], cwd=project, check=True, capture_output=True)
    environment = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}

    def hook() -> subprocess.CompletedProcess:
        return subprocess.run([pre_commit, "try-repo", str(tmp_path / "cnnc"), "cnnc-check", "--all-files"],
                              cwd=project, env=environment, capture_output=True, text=True, timeout=600)

    passed = hook()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    (project / "big.cnn").write_text("input 7x7x512\nflatten\nfc 4096\n", encoding="utf-8")
    subprocess.run(["git", "add", "-A"], cwd=project, check=True, capture_output=True)
    failed = hook()
    assert failed.returncode == 1
    assert "big.cnn:1:1: error[B401] the network has 102,764,544 parameters" in failed.stdout
