"""`# noqa` comments: which findings they silence, and which they cannot."""

from __future__ import annotations

import io

from lint_support import codes, lint_text
from rich.console import Console

from cnnc.cli import main
from cnnc.lint.noqa import directives
from cnnc.source import Source, Span

LOSSY = "conv 96 11x11 stride=4"  # W201 on a 224x224 input


def _lines(found, code: str) -> list[int]:
    return [d.span.line for d in found if d.code == code]


def test_noqa_with_the_code_silences_that_line_only():
    spec = f"input 224x224x3\n{LOSSY}  # noqa: W201\nmaxpool 2 stride=3\n"
    found = lint_text(spec)
    assert _lines(found, "W201") == [] and _lines(found, "W202") == [3]


def test_noqa_with_another_code_silences_nothing():
    assert _lines(lint_text(f"input 224x224x3\n{LOSSY}  # noqa: W202\n"), "W201") == [2]


def test_bare_noqa_silences_every_code_on_the_line():
    spec = f"input 224x224x3\n{LOSSY}  # noqa\nrelu\n"
    assert [d for d in lint_text(spec) if d.span.line == 2] == []


def test_noqa_is_found_after_other_comment_text_and_in_any_case():
    spec = f"input 224x224x3\n{LOSSY}  # AlexNet as published  # NOQA:W201,I301\n"
    assert _lines(lint_text(spec), "W201") == []


def test_noqa_inside_a_block_silences_every_expansion_and_a_call_site_only_its_own():
    spec = ("input 224x224x3\n"
            "def stem(c) {{\n"
            "    conv c 11x11 stride=4{noqa_body}\n"
            "    relu\n"
            "}}\n"
            "concat {{\n"
            "    branch {{\n"
            "        stem 8{noqa_call}\n"
            "    }}\n"
            "    branch {{ stem 8 }}\n"
            "}}\n")
    everywhere = lint_text(spec.format(noqa_body="  # noqa: W201", noqa_call=""))
    assert _lines(everywhere, "W201") == []
    one_call = lint_text(spec.format(noqa_body="", noqa_call="  # noqa: W201"))
    (remaining,) = [d for d in one_call if d.code == "W201"]
    assert remaining.span.line == 3 and remaining.notes[-1].span.line == 10


def test_errors_cannot_be_suppressed(tmp_path):
    spec = tmp_path / "net.cnn"
    spec.write_text("input 8x8x3\nconv 4 9x9  # noqa\n", encoding="utf-8")  # E101: no output left
    out = Console(file=io.StringIO(), width=200, color_system=None)
    code = main(["check", str(spec), "--quiet"], out=out, err=Console(file=io.StringIO()))
    assert code == 1 and "error[E101]" in out.file.getvalue()


def test_invalid_noqa_codes_are_reported_where_they_are_written():
    spec = f"input 224x224x3\n{LOSSY}  # noqa: W120, e102\n"
    found = [d for d in lint_text(spec) if d.code == "S501"]
    assert [(d.span.column, d.message) for d in found] == [
        (33, "`W120` is not a cnnc rule"), (39, "`E102` is an error and cannot be suppressed")]
    assert found[0].help.startswith("did you mean `W201`?")
    assert "W201" in codes(lint_text(spec))


def test_directive_spans():
    found = directives(Source("relu # noqa: W201 W202\nrelu\n# noqa\nrelu # noqa:\n"))
    assert set(found) == {1, 3, 4}
    assert found[1].span == Span(1, 6, 1, 23)
    assert [(code, span.column) for code, span in found[1].codes] == [("W201", 14), ("W202", 19)]
    assert found[3].codes is None and found[4].codes == ()
