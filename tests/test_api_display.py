"""What the Python API shows (issue 10, item 6): ``Network.summary()``, readable ``str``/``repr`` of
Network, Report and Model, ``_repr_html_`` for notebooks, and ``fit``'s Keras-like progress."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

import cnnc
from cnnc.cli import main
from cnnc.render import progbar
from cnnc.render.html import report_html
from cnnc.render.layers import LAYER_COLUMNS
from cnnc.render.progbar import KerasProgress, duration, per_step, verbosity

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "examples" / "lenet5.cnn"
SMALL = "network small\ninput 6x6x2\nconv 4 3 pad=1\nrelu\nmaxpool 2\nfc 3\nsoftmax\ntrain { optimizer=sgd lr=0.1 }"


def blobs(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of 6x6x2 images, each a bright square in its own corner, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, count)
    x = rng.normal(0, 0.3, (count, 6, 6, 2))
    for label, (row, col) in enumerate([(0, 0), (0, 3), (3, 0)]):
        x[y == label, row:row + 3, col:col + 3, :] += 1.0
    return x, y


def check_output(path: Path) -> str:
    out = io.StringIO()
    assert main(["check", str(path)], out=Console(file=out, width=300), err=Console(file=io.StringIO())) == 0
    return out.getvalue()


# Summary, str and repr --------------------------------------------------------------------------


def test_summary_prints_the_table_of_cnnc_check_and_returns_none(capsys):
    network = cnnc.load(LENET)
    assert network.summary() is None
    printed = capsys.readouterr().out
    assert check_output(LENET).startswith(printed)  # the same report; check adds its findings after it
    lines = printed.splitlines()
    assert lines[0] == "lenet5  28x28x1 -> 10"
    conv1 = next(line for line in lines if " conv1 " in line).split()
    assert conv1 == ["16", "conv1", "conv", "6", "5x5,", "pad", "2", "28x28x6", "156", "117,600", "4,704", "5x5"]
    assert any(line.split()[:2] == ["Parameters", "61,706"] for line in lines)
    assert str(network.report) == printed


def test_on_a_terminal_summary_fits_its_width_as_check_does(monkeypatch):
    import os

    from cnnc.render.text import render_report

    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    monkeypatch.setattr("shutil.get_terminal_size", lambda *args: os.terminal_size((80, 24)))
    network = cnnc.load(ROOT / "examples" / "resnet18.cnn")
    network.summary()
    printed = terminal.getvalue()
    assert printed == "".join(part.plain for part in render_report(network.report, 80))
    assert max(len(line) for line in printed.splitlines()) <= 80 < max(map(len, str(network.report).splitlines()))


def test_summary_hands_each_line_to_print_fn(capsys):
    lines: list[str] = []
    cnnc.load(LENET).summary(print_fn=lines.append)
    assert capsys.readouterr().out == ""
    assert lines == str(cnnc.load(LENET).report).splitlines() and len(lines) == 28


def test_network_report_and_layer_say_what_they_are_in_one_line():
    network = cnnc.load(LENET)
    assert str(network) == "lenet5: 28x28x1 -> 10, 13 layers, 61,706 parameters, 416.5K MACs"
    assert repr(network) == "<cnnc.Network lenet5: 28x28x1 -> 10, 13 layers, 61,706 parameters, 416.5K MACs>"
    assert repr(network.report) == "<cnnc.Report lenet5: 28x28x1 -> 10, 13 layers, 61,706 parameters, 416.5K MACs>"
    assert repr(network.report.layer("conv2")) == ("<LayerReport conv2 (conv 16 5x5): 14x14x6 -> 10x10x16, "
                                                   "2,416 parameters, 240,000 MACs>")
    assert "Report(" not in repr(network.report) and "\n" not in repr(network.report)


def test_a_model_says_what_it_holds_and_how_it_was_trained():
    model = cnnc.loads(SMALL).compile()
    assert repr(model) == "<cnnc.Model small: 187 parameters, float32, crossentropy loss, untrained>"
    x, y = blobs(40)
    model.fit(x, y, epochs=2, batch_size=20, verbose=0)
    assert str(model) == "small: 187 parameters, float32, crossentropy loss, sgd lr=0.1, 2 epochs trained"


# HTML for notebooks ----------------------------------------------------------------------------


class Tables(HTMLParser):
    """The text of every table cell, row by row, checking that every tag opened is closed in order."""

    VOID = frozenset({"br", "hr", "img", "meta"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.rows: list[list[str]] = []
        self.text: list[str] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.open.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        assert self.open and self.open.pop() == tag, f"</{tag}> closes nothing open"
        if tag in ("td", "th"):
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        (self.cell if self.cell is not None else self.text).append(data)


def parsed(html: str) -> Tables:
    tables = Tables()
    tables.feed(html)
    tables.close()
    assert tables.open == [], "unclosed tags"
    return tables


def test_a_network_shows_as_an_html_table_in_a_notebook():
    network = cnnc.load(LENET)
    tables = parsed(network._repr_html_())
    header, *layers = tables.rows[:15]
    assert header == [column.header for column in LAYER_COLUMNS]
    assert len(layers) == 14 and layers[0][1:4] == ["input", "", "28x28x1"]
    assert layers[1] == ["16", "conv1", "conv 6 5x5, pad 2", "28x28x6", "156", "117,600", "4,704", "5x5"]
    totals = {row[0]: row[1] for row in tables.rows[15:]}
    assert totals["Parameters"] == "61,706" and totals["MACs"] == "416,520"
    assert "lenet5: 28x28x1 -> 10" in "".join(tables.text)
    assert network.report._repr_html_() == network._repr_html_()


def test_html_escapes_what_it_shows_and_keeps_a_block_indented():
    report = cnnc.load(ROOT / "examples" / "resnet18.cnn").report
    html = report_html(report, heading='<script>alert("x")</script> & more')
    assert "<script>" not in html and "&lt;script&gt;" in html
    tables = parsed(html)
    assert '<script>alert("x")</script> & more' in "".join(tables.text)  # shown as written
    nested = [row[1] for row in tables.rows if row[1].startswith("\xa0")]
    assert nested and all(name.lstrip("\xa0") for name in nested)  # indented by non-breaking spaces


def test_a_model_shows_its_training_above_the_table():
    model = cnnc.loads(SMALL).compile()
    tables = parsed(model._repr_html_())
    assert "small: 187 parameters, float32, crossentropy loss, untrained" in "".join(tables.text)
    assert tables.rows[0] == [column.header for column in LAYER_COLUMNS]


# fit's progress -------------------------------------------------------------------------------


STEP = r"\d+(us|ms|s)/step"


def test_verbose_2_prints_a_line_per_epoch_as_keras_does(capsys):
    model = cnnc.loads(SMALL).compile()
    x, y = blobs(60)
    history = model.fit(x, y, epochs=2, batch_size=20, validation=blobs(30, seed=1), verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0::2] == ["Epoch 1/2", "Epoch 2/2"]
    for epoch, line in enumerate(lines[1::2]):
        expected = (f" - accuracy: {history['accuracy'][epoch]:.4f} - loss: {history['loss'][epoch]:.4f}"
                    f" - val_accuracy: {history['val_accuracy'][epoch]:.4f} - val_loss: {history['val_loss'][epoch]:.4f}")
        assert re.fullmatch(rf"3/3 - \d+s - {STEP}" + re.escape(expected), line), line


def test_verbose_0_prints_nothing_and_auto_prints_lines_when_not_on_a_terminal(capsys):
    x, y = blobs(40)
    cnnc.loads(SMALL).compile().fit(x, y, epochs=1, batch_size=20, verbose=0)
    assert capsys.readouterr().out == ""
    cnnc.loads(SMALL).compile().fit(x, y, epochs=1, batch_size=20)  # "auto", and pytest's stdout is no terminal
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/1" and re.match(rf"2/2 - \d+s - {STEP} - accuracy: ", lines[1]) and len(lines) == 2


def test_verbose_1_off_a_terminal_prints_the_finished_bar_once_per_epoch(capsys):
    x, y = blobs(40)
    cnnc.loads(SMALL).compile().fit(x, y, epochs=2, batch_size=10, verbose=1)
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.splitlines()
    assert lines[0::2] == ["Epoch 1/2", "Epoch 2/2"]
    assert all(re.fullmatch(rf"4/4 ━{{20}} \d+s {STEP} - accuracy: \d\.\d{{4}} - loss: \d+\.\d{{4}}", line)
               for line in lines[1::2]), lines


class Terminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_is_redrawn_in_place(monkeypatch):
    monkeypatch.setattr(progbar, "REDRAW_SECONDS", 0.0)  # draw every batch
    terminal = Terminal()
    model = cnnc.loads(SMALL).compile()
    x, y = blobs(50)
    from cnnc.training import Plan, Progress, train

    model.optimizer = cnnc.optim.SGD(lr=0.1)
    train(model, x, y, Plan(1, 10), blobs(20, seed=1), Progress(), KerasProgress(1, stream=terminal))
    first, rest = terminal.getvalue().split("\n", 1)
    assert first == "Epoch 1/1"
    frames = rest.rstrip("\n").split("\r")[1:]
    assert [frame.split(" ", 1)[0] for frame in frames] == ["1/5", "2/5", "3/5", "4/5", "5/5", "5/5"]
    bars = [frame.split()[1] for frame in frames]
    assert bars[0] == "━" * 4 + "─" * 16 and bars[2] == "━" * 12 + "─" * 8 and bars[-1] == "━" * 20
    assert re.search(rf"^1/5 ━+─+ \d+s {STEP} - accuracy: \d\.\d{{4}} - loss: \d+\.\d{{4}}$", frames[0])
    assert " - val_accuracy: " in frames[-1] and " - val_loss: " in frames[-1]
    assert " - val_" not in frames[-2]  # scored only once the epoch is done


def test_auto_draws_a_bar_on_a_terminal_or_in_a_notebook(monkeypatch):
    monkeypatch.setattr("sys.stdout", Terminal())
    assert verbosity("auto") == 1

    class OutStream(io.StringIO):  # how Jupyter's kernel names its stdout
        pass

    OutStream.__module__ = "ipykernel.iostream"
    monkeypatch.setattr("sys.stdout", OutStream())
    assert verbosity("auto") == 1
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert verbosity("auto") == 2
    assert (verbosity(True), verbosity(False), verbosity(np.int64(2))) == (1, 0, 2)


def test_a_stream_that_cannot_encode_the_bar_gets_ascii():
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    display = KerasProgress(1, stream=stream)
    display.batches = display.done = 4
    assert display._bar() == "4/4 " + "=" * 20


@pytest.mark.parametrize("seconds, text", [(0.4, "0s"), (3.4, "3s"), (65, "1:05"), (3725, "1:02:05")])
def test_durations_are_written_as_keras_writes_them(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize("seconds, text", [(0.012, "12ms/step"), (2e-4, "200us/step"), (1.5, "2s/step")])
def test_time_per_step(seconds, text):
    assert per_step(seconds) == text
