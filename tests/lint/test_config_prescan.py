"""A pyproject.toml is read as TOML only when its text can name `tool.cnnc` (the start-up of `cnnc check`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnc.config import ConfigError, find_config, load_config


@pytest.mark.parametrize("text", [
    '[tool.cnnc]\nselect = ["W2"]\n',
    '[tool]\ncnnc.select = ["W2"]\n',
    'tool.cnnc.select = ["W2"]\n',
    '[ tool . "cnnc" ]\nselect = ["W2"]\n',
    'tool = { cnnc = { select = ["W2"] } }\n',
])
def test_every_way_of_writing_the_table_is_found(text: str, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(text + '\n[project]\nname = "cnnc-user"\n')  # top-level keys first
    assert find_config(tmp_path) == tmp_path / "pyproject.toml"
    assert load_config(tmp_path / "pyproject.toml").selection.select == ("W2",)


def test_a_pyproject_without_cnnc_settings_is_not_parsed(tmp_path: Path) -> None:
    # broken TOML that cannot hold `tool.cnnc`: not a cnnc configuration, so not cnnc's error
    (tmp_path / "pyproject.toml").write_text('[tool.setuptools\nname = "cnnc"\n[tool.pytest.ini_options]\n')
    assert find_config(tmp_path) is None


def test_broken_toml_that_may_hold_cnnc_settings_is_still_an_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.cnnc\nselect = []\n")
    with pytest.raises(ConfigError, match=r"pyproject.toml:1:11: not valid TOML"):
        find_config(tmp_path)
