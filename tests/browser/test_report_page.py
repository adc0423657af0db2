"""The HTML report of every example in Chromium: it loads with no request leaving the page and no script error,
its drawing passes the geometry checks, its layer table sorts by number and by text and back, escaped text
stays text; a screenshot of each is written under the test's tmp dir."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from svg_geometry import measure, problems

from cnnc.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.cnn"))


def report_page(page, tmp_path: Path, *specs: Path):
    """``cnnc check SPECS --format html -o report.html`` (in this process), opened in the page."""
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", *map(str, specs), "--format", "html", "-o", str(tmp_path / "report.html")],
                out=Console(file=out), err=Console(file=err))
    assert (code, out.getvalue()) == (0, ""), err.getvalue()
    return page.open(tmp_path / "report.html")


def column(page, index: int) -> list[str]:
    """The text of one column of the first layer table, top to bottom as shown."""
    return page.page.eval_on_selector_all(
        "table.cnnc-layers >> nth=0 >> tbody tr",
        f"rows => rows.map(row => row.cells[{index}].textContent.replace(/\\u00a0/g, ' ').trim())")


def click_header(page, name: str) -> str:
    header = page.page.locator("table.cnnc-layers").first.locator("thead th", has_text=name).first
    header.click()
    return header.get_attribute("aria-sort")


def as_number(cell: str) -> int:
    """A count (``1,234``) or a size (``28x28x6``, its product) as the page sorts it; empty or ``-``: -1."""
    if cell in ("", "-"):
        return -1
    product = 1
    for part in cell.replace(",", "").split("x"):
        product *= int(part)
    return product


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_each_examples_report_loads_alone_and_its_table_sorts(page, tmp_path, example):
    report_page(page, tmp_path, example)
    assert page.foreign == [] and page.errors == []
    assert page.page.locator("svg").count() == 1
    layout = measure(page.page, ".cnnc-diagram > svg")
    assert layout["layers"] and problems(layout) == []
    names = column(page, 1)
    assert names[0] == "input" and len(names) >= 2
    for header, index in (("Params", 4), ("MACs", 5), ("Output", 3)):
        assert click_header(page, header) == "ascending"
        numbers = [as_number(cell) for cell in column(page, index)]
        assert numbers == sorted(numbers)
        assert click_header(page, header) == "descending"
        numbers = [as_number(cell) for cell in column(page, index)]
        assert numbers == sorted(numbers, reverse=True)
        assert click_header(page, header) == "none"
        assert column(page, 1) == names  # back to execution order
    page.screenshot(tmp_path / f"{example.stem}.report.png")


def test_numbers_sort_as_numbers_and_names_as_text(page, tmp_path):
    report_page(page, tmp_path, ROOT / "examples" / "lenet5.cnn")
    click_header(page, "Params")
    assert [cell for cell in column(page, 4) if cell] == ["156", "850", "2,416", "10,164", "48,120"]
    # as text, 48,120 would come before 850
    click_header(page, "Params")
    click_header(page, "Params")
    click_header(page, "Layer")
    assert column(page, 1)[:5] == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    page.page.locator("table.cnnc-layers thead th", has_text="Line").first.press("Enter")  # by keyboard too
    assert column(page, 0)[:3] == ["", "16", "17"]


def test_text_from_the_spec_stays_text(page, tmp_path):
    spec = tmp_path / "x<img src=y onerror=window.pwned=1>.cnn"
    spec.write_text("network hostile\ninput 224x224x3\n"
                    "conv 64 11x11 stride=4  # <script>window.pwned = 1</script></pre><img src=z onerror=alert(1)>\n"
                    "relu\nfc 10\n", encoding="utf-8")
    report_page(page, tmp_path, spec)
    assert page.page.evaluate("window.pwned") is None
    assert page.page.locator("img").count() == 0 and page.page.locator("script").count() == 1
    assert page.foreign == [] and page.errors == []
    diagnostics = page.page.locator("pre.cnnc-diagnostic").all_inner_texts()
    assert any("# <script>window.pwned = 1</script></pre><img src=z onerror=alert(1)>" in text for text in diagnostics)
    assert page.page.locator("h2").first.inner_text() == str(spec)


def test_the_drawing_marks_the_layers_the_findings_are_about(page, tmp_path):
    spec = tmp_path / "flagged.cnn"
    spec.write_text("network flagged\ninput 224x224x3\nconv 64 11x11 stride=4\nrelu\nglobalavgpool\nfc 10\n",
                    encoding="utf-8")
    report_page(page, tmp_path, spec)
    flagged = page.page.eval_on_selector_all(
        ".cnnc-diagram g.layer.flagged", "groups => groups.map(g => [g.id, g.querySelector('title').textContent])")
    # W201 and I301 on conv1, W207 on globalavgpool1 (see `cnnc check`); relu1 and fc1 have none
    assert [layer for layer, _ in flagged] == ["conv1", "globalavgpool1"]
    assert "W201" in flagged[0][1] and "W207" in flagged[1][1]
    assert page.page.locator("pre.cnnc-diagnostic.warning").first.inner_text().startswith(f"{spec}:3:1: warning[W201]")


def test_every_example_on_one_page_keeps_each_drawings_ids_apart(page, tmp_path):
    report_page(page, tmp_path, *EXAMPLES)
    assert page.foreign == [] and page.errors == []
    ids = page.page.eval_on_selector_all("[id]", "elements => elements.map(e => e.id)")
    assert len(ids) == len(set(ids))
    drawings = page.page.locator(".cnnc-diagram > svg").count()
    assert drawings == len(EXAMPLES) == page.page.locator("section.cnnc-spec").count()
    for index in range(1, drawings + 1):
        layout = measure(page.page, f"#spec-{index} .cnnc-diagram > svg")
        assert layout["layers"] and all(layer["id"].startswith(f"s{index}-") for layer in layout["layers"])
        assert problems(layout) == [], EXAMPLES[index - 1].name
    assert click_header(page, "Params") == "ascending"  # each table sorts on its own
    page.screenshot(tmp_path / "examples.report.png")
