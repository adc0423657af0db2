"""What `cnnc train`, `eval` and `predict` say (issue 10, item 5, and the synthetic source's help): the
whole recipe, one name for the held-out examples, eval's own wording, where a run resumes, and inputs
unlike the training data."""

from __future__ import annotations

import io
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

import cnnc
from cnnc.cli import main
from command_runner import run

ROOT = Path(__file__).resolve().parents[2]
MNIST = ROOT.parent / "shared" / "data" / "mnist"

SMALL = """network small
input 12x12x1
conv 8 3x3 pad=1; relu
maxpool 2
fc 4
softmax
train { optimizer=momentum lr=0.05 momentum=0.9 epochs=2 batch=32 seed=3 }
"""
DATA = "synthetic:n=640,test=128,classes=4,seed=1"
DIGITS = """network digits
input 28x28x1
conv 8 5x5 stride=2; relu
fc 10
softmax
train { optimizer=adam lr=0.003 epochs=1 batch=64 }
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "small.cnn"
    path.write_text(SMALL, encoding="utf-8")
    return path


@pytest.fixture
def trained(spec: Path, tmp_path: Path) -> Path:
    target = tmp_path / "small.npz"
    code, _, err = run("train", str(spec), "--data", DATA, "--out", str(target))
    assert code == 0, err
    return target


# The recipe, the data, one name for the held-out examples -------------------------------------------


def test_the_whole_recipe_and_the_data_are_printed_as_the_run_starts(spec, tmp_path):
    target = tmp_path / "small.npz"
    code, out, err = run("train", str(spec), "--data", DATA, "--out", str(target))
    assert code == 0, err
    assert out.splitlines()[:6] == [
        f"Training small (1,236 parameters, float32) on {DATA}",
        "  recipe      optimizer=momentum lr=0.05 momentum=0.9 nesterov=false weight_decay=0 schedule=constant",
        "              epochs=2 batch=32 seed=3 loss=crossentropy",
        "  training    640 examples (synthetic (train)): 20 batches of 32 an epoch, shuffled by seed 3",
        "  test        128 examples (synthetic (test)), scored after every epoch",
        f"  checkpoint  {target}, written after every epoch"]


def test_flags_show_in_the_recipe_with_a_schedule_and_adam_settings(spec, tmp_path):
    code, out, err = run("train", str(spec), "--data", DATA, "--optimizer", "adam", "--lr", "0.01", "--epochs", "3",
                         "--schedule", "cosine", "--weight-decay", "0.0001", "--out", str(tmp_path / "m.npz"))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1] == ("  recipe      optimizer=adam lr=0.01 weight_decay=0.0001 schedule=cosine "
                        "(betas 0.9, 0.999; eps 1e-08)")
    assert lines[2] == "              epochs=3 batch=32 seed=3 loss=crossentropy; lr 0.01 in epoch 1, 0.0025 in epoch 3"


def test_the_test_set_is_called_test_everywhere(spec, tmp_path):
    log = tmp_path / "log.jsonl"
    code, out, err = run("train", str(spec), "--data", DATA, "--out", str(tmp_path / "m.npz"), "--log", str(log))
    assert code == 0, err
    assert "validation" not in out.lower() and " val " not in out
    assert "Test loss  Test accuracy" in out and "test loss " in out.splitlines()[6]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert all("test_loss" in e and "test_accuracy" in e and "val_loss" not in e for e in events)
    assert events[-1]["test_accuracy"] == events[-2]["test_accuracy"]  # the last epoch scored the final weights


def test_a_validation_split_is_called_validation_everywhere_and_the_test_set_test(spec, tmp_path):
    log = tmp_path / "log.jsonl"
    code, out, err = run("train", str(spec), "--data", DATA, "--val-split", "0.25", "--out", str(tmp_path / "m.npz"),
                         "--log", str(log))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[3] == "  training    480 examples (synthetic (train)[:480]): 15 batches of 32 an epoch, shuffled by seed 3"
    assert lines[4] == ("  validation  160 examples held out from the end of the training data (val_split=0.25), "
                        "scored after every epoch")
    assert lines[5] == "  test        128 examples (synthetic (test)), scored when training ends"
    assert "Validation loss  Validation accuracy" in out and "validation loss " in lines[7]
    assert "Test loss" not in out
    assert any(line.startswith("test loss") and "test accuracy" in line for line in lines[-6:])  # with or without matplotlib
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert all("val_loss" in e and "test_loss" not in e for e in events[:-1])
    assert set(events[-1]) == {"event", "test_loss", "test_accuracy"}


def test_the_plot_legend_names_the_held_out_set_as_the_run_does(monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from cnnc.render.training import plot_history

    made = []
    subplots = plt.subplots
    monkeypatch.setattr(plt, "subplots", lambda *a, **k: made.append(subplots(*a, **k)) or made[-1])
    history = {"loss": [1.0, 0.5], "accuracy": [0.5, 0.7], "val_loss": [1.1, 0.6], "val_accuracy": [0.4, 0.6]}
    assert plot_history(history, tmp_path / "curves.png", "test")
    _, (left, right) = made[0]
    assert left.get_legend_handles_labels()[1] == ["training", "test"]
    assert right.get_legend_handles_labels()[1] == ["training", "test"]


def test_without_matplotlib_the_sparkline_names_it_too(spec, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    code, out, err = run("train", str(spec), "--data", DATA, "--out", str(tmp_path / "m.npz"))
    assert code == 0, err
    loss, accuracy = out.splitlines()[-3:-1]
    assert loss.startswith("loss" + " " * 11) and accuracy.startswith("test accuracy  ")
    assert loss[15] in "▁▂▃▄▅▆▇█" and accuracy[15] in "▁▂▃▄▅▆▇█"  # the curves start in one column


# Resuming -------------------------------------------------------------------------------------------


def test_resume_says_where_it_resumes_after_a_whole_epoch(spec, trained):
    code, out, err = run("train", str(spec), "--resume", str(trained), "--epochs", "3")
    assert code == 0, err
    assert "  resuming    at epoch 3 of 3, batch 1 of 20" in out.splitlines()


def test_resume_says_where_it_resumes_in_the_middle_of_an_epoch(spec, tmp_path):
    from cnnc.commands.train import Interrupt, Run
    from cnnc.data import load_source
    from cnnc.render.training import TrainingDisplay
    from cnnc.training import Plan, train

    network = cnnc.load(spec)
    splits = load_source(DATA, network.report.input, 4)
    plan = Plan(epochs=2, batch_size=32, seed=3)
    model = network.compile(seed=3)
    model.optimizer = cnnc.optim.SGD(lr=0.05, momentum=0.9)

    class StopAfter13(Run):
        def should_stop(self) -> bool:
            return self.count >= 20 + 13  # 20 batches an epoch: batch 13 of epoch 2

        def batch_done(self, progress, batch_loss, size):
            self.count += 1

    state = {"plan": asdict(plan), "recipe": {}, "data": DATA, "val_split": 0.0}
    callbacks = StopAfter13(model, state, tmp_path / "stopped.npz", None,
                            TrainingDisplay(Console(file=io.StringIO()), 2), Interrupt())
    callbacks.count = 0
    progress, stopped = train(model, splits.train.x, splits.train.y, plan, None, None, callbacks)
    assert stopped
    callbacks.checkpoint(progress)
    code, out, err = run("train", str(spec), "--resume", str(tmp_path / "stopped.npz"))
    assert code == 0, err
    assert "  resuming    at epoch 2 of 2, batch 14 of 20" in out.splitlines()


def test_a_new_run_says_nothing_of_resuming(spec, tmp_path):
    code, out, _ = run("train", str(spec), "--data", DATA, "--out", str(tmp_path / "m.npz"))
    assert code == 0 and "resuming" not in out


# eval speaks of evaluating ----------------------------------------------------------------------------


def test_eval_of_a_source_without_a_test_set_speaks_of_evaluating(spec, tmp_path):
    from cnnc.data import load_source

    examples = load_source(DATA, cnnc.load(spec).report.input, 4).train
    data = tmp_path / "only_train.npz"
    np.savez(data, x=examples.x[:200], y=examples.y[:200])
    target = tmp_path / "m.npz"
    code, _, err = run("train", str(spec), "--data", str(data), "--out", str(target), "--epochs", "1")
    assert code == 0 and "holding out 40 of 200 examples (shuffled, seed 3) for testing" in err
    code, out, err = run("eval", str(target))
    assert code == 0, err
    assert "evaluating on the 40 of its 200 examples a training run holds out for testing (shuffled, seed 3)" in err
    assert "holding out" not in err and "training on" not in err
    assert "on 40 examples" in out


@pytest.mark.skipif(not MNIST.is_dir(), reason="../shared/data/mnist is absent")
def test_eval_on_mnist_t10k_never_says_training(tmp_path):
    spec = tmp_path / "digits.cnn"
    spec.write_text(DIGITS, encoding="utf-8")
    target = tmp_path / "digits.npz"
    assert run("train", str(spec), "--data", "synthetic:n=64", "--out", str(target))[0] == 0
    code, out, err = run("eval", str(target), "--data", f"mnist:{MNIST}")
    assert code == 0, err
    assert "evaluating on its last 2,000 examples, the part a training run holds out for testing (it trains on " \
           "the first 8,000)" in err
    assert "training on" not in err and "on 2,000 examples" in out


# The synthetic source's classes: help and behaviour agree -------------------------------------------


def test_train_help_says_synthetic_classes_follow_the_spec(capsys, tmp_path):
    assert main(["train", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "synthetic[:n=2000,classes=K,seed=0] (K: the spec's number of outputs)" in help_text
    assert "classes=4" not in help_text
    spec = tmp_path / "digits.cnn"
    spec.write_text(DIGITS, encoding="utf-8")
    code, _, err = run("train", str(spec), "--data", "synthetic:n=40", "--out", str(tmp_path / "d.npz"))
    assert code == 0, err
    assert "40 training and 10 test examples of 28x28x1, 10 classes" in err
    assert len(cnnc.load_model(tmp_path / "d.npz").run_state["classes"]) == 10


# predict: inputs unlike the training data, one line each ------------------------------------------


def _test_examples(spec: Path):
    from cnnc.data import load_source

    return load_source(DATA, cnnc.load(spec).report.input, 4).test


def test_the_training_data_statistics_are_kept_in_the_checkpoint(spec, trained):
    from cnnc.data import load_source

    train_x = load_source(DATA, cnnc.load(spec).report.input, 4).train.x
    statistics = cnnc.load_model(trained).input_statistics
    assert statistics.examples == 640
    assert statistics.mean[0] == pytest.approx(float(train_x.mean()), rel=1e-6)
    per_example = train_x.reshape(640, -1).mean(axis=1)
    assert statistics.mean_spread[0] == pytest.approx(float(per_example.std()), rel=1e-5)
    assert (statistics.low, statistics.high) == (float(train_x.min()), float(train_x.max()))


def test_predict_warns_for_inputs_scaled_differently_and_prints_a_line_each(spec, trained, tmp_path):
    test = _test_examples(spec)
    np.save(tmp_path / "good.npy", test.x[:3])
    np.save(tmp_path / "scaled.npy", test.x[3] * 255)
    code, out, err = run("predict", str(trained), str(tmp_path / "good.npy"), str(tmp_path / "scaled.npy"))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["Input", "Class", "Probability", "Next", "Note"] and len(lines) == 6
    names = [f"{tmp_path / 'good.npy'}[{i}]" for i in range(3)] + [str(tmp_path / "scaled.npy")]
    assert [line.split()[0] for line in lines[2:]] == names
    assert [line.endswith("unlike the training data") for line in lines[2:]] == [False, False, False, True]
    expected = cnnc.load_model(trained).predict(np.concatenate([test.x[:3], test.x[3:4] * 255]))
    classes = cnnc.load_model(trained).run_state["classes"]
    for line, scores in zip(lines[2:], expected):
        best = int(scores.argmax())
        assert f"  {classes[best]}  " in line and f"{100 * scores[best]:.2f}%" in line
    assert err.count("cnnc: warning:") == 1
    assert f"cnnc: warning: {tmp_path / 'scaled.npy'} is unlike the training data: its standard deviation" in err
    assert "help: its values reach" in err and "scale it as the training data were" in err


def test_predict_json_carries_the_warning(spec, trained, tmp_path):
    test = _test_examples(spec)
    np.save(tmp_path / "both.npy", np.stack([test.x[0], test.x[0] * 255]))
    code, out, err = run("predict", str(trained), str(tmp_path / "both.npy"), "--format", "json")
    assert code == 0 and err == ""
    found = json.loads(out)
    assert found[0]["unlike_training_data"] is None
    assert found[1]["unlike_training_data"].startswith("its standard deviation")


def test_a_checkpoint_without_statistics_still_loads_and_never_warns(spec, trained, tmp_path):
    with np.load(trained) as archive:
        arrays = {key: archive[key] for key in archive.files}
    meta = json.loads(str(arrays["meta"]))
    del meta["input_statistics"]
    arrays["meta"] = np.array(json.dumps(meta))
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)
    assert cnnc.load_model(old).input_statistics is None
    np.save(tmp_path / "scaled.npy", _test_examples(spec).x[0] * 255)
    code, out, err = run("predict", str(old), str(tmp_path / "scaled.npy"))
    assert code == 0 and err == "" and out.count("%") == 3


def test_statistics_of_the_wrong_size_are_a_damaged_file(trained, tmp_path):
    with np.load(trained) as archive:
        arrays = {key: archive[key] for key in archive.files}
    meta = json.loads(str(arrays["meta"]))
    meta["input_statistics"]["mean"] = [0.1, 0.2]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "bad.npz", **arrays)
    code, _, err = run("predict", str(tmp_path / "bad.npz"), str(tmp_path / "any.npy"))
    assert code == 2 and "input_statistics.mean` must hold one value per input channel (1), got 2" in err


def _pgm(path: Path, pixels: np.ndarray) -> Path:
    path.write_bytes(b"P5\n28 28\n255\n" + pixels.astype(np.uint8).tobytes())
    return path


@pytest.mark.skipif(not MNIST.is_dir(), reason="../shared/data/mnist is absent")
def test_a_real_inverted_mnist_digit_is_flagged_and_the_digit_itself_is_not(tmp_path):
    from cnnc.data.idx import read_idx

    spec = tmp_path / "digits.cnn"
    spec.write_text(DIGITS, encoding="utf-8")
    target = tmp_path / "digits.npz"
    code, _, err = run("train", str(spec), "--data", f"mnist:{MNIST}", "--out", str(target))
    assert code == 0, err
    images = read_idx(MNIST / "t10k-images-idx3-ubyte.gz")
    digit = _pgm(tmp_path / "digit.pgm", images[9000])  # one of the last 2,000: never trained on
    inverted = _pgm(tmp_path / "inverted.pgm", 255 - images[9000])
    code, out, err = run("predict", str(target), str(digit))
    assert code == 0 and err == "" and out.startswith(f"{digit}\n")
    code, out, err = run("predict", str(target), str(inverted))
    assert code == 0 and out.startswith(f"{inverted}\n")
    assert f"cnnc: warning: {inverted} is unlike the training data: its mean 0.8" in err
    assert "spreads from the training inputs' 0.13 (spread 0.044)" in err
    assert "help: it looks inverted, light where the training inputs are dark" in err
