"""``cnnc check --format html`` and ``-o``: one self-contained page (nothing fetched), the same figures as the
text report, everything the user wrote escaped, exit codes unchanged by the format or the output file.
The page in a real browser (sorting, the drawing's geometry) is tested in tests/browser."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from command_runner import run

from cnnc.render.html import styled_html
from cnnc.render.layers import LAYER_COLUMNS
from cnnc.render.styled import StyledText

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "examples" / "lenet5.cnn"
HOSTILE = """network hostile
input 224x224x3
conv 64 11x11 stride=4   # <script>window.pwned = 1</script> & </pre><!--
relu
fc 10
"""
BROKEN = "network broken\ninput 28x28x1\nconv 6 5x5 strdie=2  # a <b>typo</b>\n"


class Page(HTMLParser):
    """The tags, the attributes that could fetch something, the text of each table row and of each <pre>."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.fetching: list[tuple[str, str, str]] = []
        self.rows: list[list[str]] = []
        self.pres: list[str] = []
        self.ids: list[str] = []
        self._cell: list[str] | None = None
        self._pre: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "poster", "data") and not (value or "").startswith("#"):
                self.fetching.append((tag, name, value))
            if name == "style" and "url(" in (value or ""):
                self.fetching.append((tag, name, value))
            if name == "id":
                self.ids.append(value)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "pre":
            self._pre = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "pre" and self._pre is not None:
            self.pres.append("".join(self._pre))
            self._pre = None

    def handle_data(self, data):
        for part in (self._cell, self._pre):
            if part is not None:
                part.append(data)


def html_of(*args: str) -> tuple[int, str, str]:
    return run("check", *args, "--format", "html")


def test_the_page_is_one_self_contained_document_with_the_reports_figures():
    code, html, err = html_of(str(LENET))
    assert code == 0 and err == ""
    assert html.startswith("<!DOCTYPE html>\n") and html.endswith("</html>\n")
    page = Page(html)
    assert page.fetching == [] and "link" not in page.tags and "iframe" not in page.tags
    assert not re.search(r"@import|url\(\s*['\"]?(?!#)", html)  # the style sheet fetches nothing either
    assert page.tags.count("script") == 1 and page.tags.count("style") >= 1
    header = [column.header for column in LAYER_COLUMNS]
    assert page.rows[0] == header
    conv1 = next(row for row in page.rows if row[1:2] == ["conv1"])
    assert conv1 == ["16", "conv1", "conv 6 5x5, pad 2", "28x28x6", "156", "117,600", "4,704", "5x5"]
    totals = {row[0]: row[1] for row in page.rows if len(row) == 3}
    assert totals["Parameters"] == "61,706" and totals["MACs"] == "416,520" and totals["Weights"] == "241.0 KiB"
    assert "Assumes float32 (4 bytes a value)" in html and "batch 64" in html  # the spec's train { batch=64 }
    assert "examples/lenet5.cnn" in html or str(LENET) in html
    # the one finding (I301), as the terminal shows it: location, source line, caret
    (pre,) = page.pres
    assert pre.startswith(f"{LENET}:23:1: info[I301]") and pre + "\n" in run("check", str(LENET))[1]
    assert "^^^^^^" in pre


def test_everything_the_user_wrote_is_escaped(tmp_path):
    spec = tmp_path / "a<b>&c.cnn"
    spec.write_text(HOSTILE, encoding="utf-8")
    code, html, _ = html_of(str(spec))
    assert code == 0  # warnings only
    assert "<script>window" not in html and "<b>" not in html and "a<b>" not in html
    page = Page(html)
    assert page.tags.count("script") == 1 and "b" not in page.tags
    source_line = HOSTILE.splitlines()[2]
    assert any(source_line in pre for pre in page.pres)  # shown as written
    assert any(f"{spec}:3:1: warning[W201]" in pre for pre in page.pres)


def test_a_spec_with_errors_gets_its_diagnostics_and_no_table(tmp_path):
    spec = tmp_path / "broken.cnn"
    spec.write_text(BROKEN, encoding="utf-8")
    code, html, _ = html_of(str(spec))
    assert code == 1
    page = Page(html)
    assert page.rows == [] and "not analyzed" in html
    (pre,) = page.pres
    assert pre.splitlines()[0] == f"{spec}:3:12: error[E002] `conv` has no option `strdie`"
    assert pre.splitlines()[2] == "3 | conv 6 5x5 strdie=2  # a <b>typo</b>"
    assert pre.splitlines()[3] == "  |            ^^^^^^"
    assert "Found 1 error." in html


def test_several_specs_make_one_page_with_a_section_each(tmp_path):
    spec = tmp_path / "broken.cnn"
    spec.write_text(BROKEN, encoding="utf-8")
    examples = sorted(str(path) for path in (ROOT / "examples").glob("*.cnn"))
    code, html, _ = html_of(*examples, str(spec))
    assert code == 1
    page = Page(html)
    assert html.count('<section class="cnnc-spec"') == len(examples) + 1
    assert [f"spec-{n}" for n in range(1, len(examples) + 2)] == [i for i in page.ids if i.startswith("spec-")]
    assert len(page.ids) == len(set(page.ids))  # the drawings' ids too, prefixed per section
    assert page.fetching == []
    assert all(f'href="#spec-{n}"' in html for n in range(1, len(examples) + 2))


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github", "html"])
def test_exit_codes_do_not_depend_on_the_format_or_the_output_file(tmp_path, fmt):
    good, warned, broken = (tmp_path / name for name in ("good.cnn", "warned.cnn", "broken.cnn"))
    good.write_text("input 8x8x1\nconv 4 3 pad=1\nrelu\nglobalavgpool\nfc 2\n", encoding="utf-8")
    warned.write_text(HOSTILE, encoding="utf-8")
    broken.write_text(BROKEN, encoding="utf-8")
    cases = [((str(good),), 0), ((str(warned),), 0), ((str(warned), "--strict"), 1), ((str(broken),), 1),
             ((str(broken), "--exit-zero"), 0), ((str(tmp_path / "missing.cnn"),), 2)]
    for args, expected in cases:
        assert run("check", *args, "--format", fmt)[0] == expected, args
        out = tmp_path / f"out.{fmt}"
        code, stdout, _ = run("check", *args, "--format", fmt, "-o", str(out))
        assert code == expected and stdout == "", args
        assert out.exists()


def test_the_output_file_holds_what_stdout_would(tmp_path):
    for fmt in ("json", "html", "text"):
        out = tmp_path / f"report.{fmt}"
        _, printed, _ = run("check", str(LENET), "--format", fmt)
        assert run("check", str(LENET), "--format", fmt, "--out", str(out)) == (0, "", "")
        assert out.read_text(encoding="utf-8") == printed
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["totals"]["params"] == 61706


def test_an_output_that_cannot_be_written_is_one_line_and_exit_2(tmp_path):
    code, out, err = html_of(str(LENET), "-o", str(tmp_path / "no" / "such" / "folder.html"))
    assert (code, out) == (2, "") and err == f"cnnc: error: cannot write {tmp_path}/no/such/folder.html: no folder " \
                                             f"{tmp_path}/no/such\n"
    code, out, err = html_of(str(LENET), "-o", str(tmp_path))
    assert (code, out, err) == (2, "", f"cnnc: error: cannot write {tmp_path}: it is a folder\n")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked").chmod(0o500)
    try:
        code, out, err = html_of(str(LENET), "-o", str(tmp_path / "locked" / "r.html"))
        if code == 0:  # root writes anywhere
            assert (tmp_path / "locked" / "r.html").exists()
        else:
            assert (code, out) == (2, "") and err.startswith(f"cnnc: error: cannot write {tmp_path}/locked/r.html: ")
            assert err.count("\n") == 1 and list((tmp_path / "locked").iterdir()) == []
    finally:
        (tmp_path / "locked").chmod(0o700)


def test_styled_text_becomes_spans_with_a_class_per_style_word():
    text = StyledText("<a> ", style="dim")
    text.append("b&", style="bold red")
    inner = StyledText("c")
    inner.append("d", style="blue")
    text.append_text(inner)
    assert styled_html(text) == ('<span class="s-dim">&lt;a&gt; </span><span class="s-bold s-dim s-red">b&amp;</span>'
                                 '<span class="s-dim">c</span><span class="s-blue s-dim">d</span>')
    assert styled_html(StyledText("plain <")) == "plain &lt;"


def test_quiet_keeps_the_findings_and_leaves_out_the_tables(tmp_path):
    spec = tmp_path / "hostile.cnn"
    spec.write_text(HOSTILE, encoding="utf-8")
    code, html, _ = html_of(str(spec), "-q")
    page = Page(html)
    assert code == 0 and page.rows == [] and "<svg" not in html
    assert [pre.split("]")[0].rsplit("[", 1)[1] for pre in page.pres] == ["W201", "I301", "I303", "W207"]
    assert "hostile: 224x224x3 -&gt; 10, 3 layers, 1,889,546 parameters" in html
