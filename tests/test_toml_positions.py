"""Key positions in TOML text: every key tomllib reads is found on its own line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from cnnc.toml_positions import key_positions, locate

TRICKY = '''\
# [tool.cnnc] in a comment is not a table
[project]
name = "demo"   # max-params = 1 in a comment
description = """A string holding
[tool.cnnc]
max-params = 2 \\""" and more"""
literal = \'\'\'C:\\path\\''' + "'''" + '''
dependencies = [
  "numpy",  # batch-size = 3
  'rich', ["nested", { inner = 1 }],
]
when = 1979-05-27 07:32:00Z

[ tool . "cnnc" ]   # spaces and quotes in a header
select = ["W2"]
"max-params" = "5M"
'batch-size' = 0
severity.W204 = "error"
"dotted.name".x = 2
inline = { W201 = "error", "dominant-layer" = 'warning' }
"caf\\u00e9" = 1

[tool.cnnc.extra]
W204 = "error"

[[tool.other.items]]
key = "first"

[[tool.other.items]]
key = "second"
'''


def keys(table: dict, prefix: tuple[str, ...] = ()):
    """Every key path tomllib produced (tables in arrays without an index)."""
    for key, value in table.items():
        yield prefix + (key,)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                yield from keys(item, prefix + (key,))


@pytest.mark.parametrize("path, position", [
    (("project",), (2, 2)), (("project", "dependencies"), (8, 1)), (("project", "when"), (12, 1)),
    (("tool", "cnnc"), (14, 10)), (("tool", "cnnc", "select"), (15, 1)), (("tool", "cnnc", "max-params"), (16, 1)),
    (("tool", "cnnc", "batch-size"), (17, 1)), (("tool", "cnnc", "severity", "W204"), (18, 10)),
    (("tool", "cnnc", "dotted.name", "x"), (19, 15)), (("tool", "cnnc", "inline", "dominant-layer"), (20, 28)),
    (("tool", "cnnc", "café"), (21, 1)), (("tool", "cnnc", "extra"), (23, 12)),
    (("tool", "cnnc", "extra", "W204"), (24, 1)), (("tool", "other", "items", "key"), (27, 1)),
])
def test_keys_are_found_where_they_are_written(path, position):
    assert key_positions(TRICKY)[path] == position


def test_every_key_tomllib_reads_is_found_and_nothing_in_strings_or_comments():
    found = key_positions(TRICKY)
    expected = set(keys(tomllib.loads(TRICKY)))
    assert expected <= set(found)
    assert set(found) - expected == {("project", "dependencies", "inner")}  # in an inline table in an array
    lines = TRICKY.splitlines()
    for path, (line, column) in found.items():
        written = lines[line - 1][column - 1:]
        assert written.startswith((path[-1], f'"{path[-1]}"', f"'{path[-1]}'")) or path[-1] == "café"


def test_the_projects_own_pyproject_is_read_whole():
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert set(keys(tomllib.loads(text))) <= set(key_positions(text))


def test_a_key_not_written_is_placed_at_its_nearest_table():
    positions = key_positions(TRICKY)
    assert locate(positions, ("tool", "cnnc", "extra", "W999")) == (23, 12)
    assert locate(positions, ("nowhere",)) is None


def test_broken_text_gives_the_keys_before_the_problem():
    assert key_positions('a = 1\nb = "unterminated\nc = 3\n') == {("a",): (1, 1), ("b",): (2, 1)}
    assert key_positions("") == {}
