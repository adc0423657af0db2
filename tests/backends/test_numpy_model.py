"""The public model API on the NumPy backend: parameters, initialisation, prediction, losses,
training, evaluation, saving and loading."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

import cnnc
from cnnc import ir
from cnnc.backends.numpy import UnsupportedLayer
from cnnc.backends.numpy.program import lower_layer
from cnnc.checkpoint import ModelFileError
from cnnc.source import Span

LENET = (Path(__file__).resolve().parents[2] / "examples" / "lenet5.cnn").read_text()
SMALL = "input 6x6x2\nconv 4 3 pad=1\nbatchnorm\nrelu\nmaxpool 2\nfc 3\nsoftmax\ntrain { optimizer=sgd lr=0.1 }"


def blobs(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of 6x6x2 images, each a bright square in its own corner, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, count)
    x = rng.normal(0, 0.3, (count, 6, 6, 2))
    for label, (row, col) in enumerate([(0, 0), (0, 3), (3, 0)]):
        x[y == label, row:row + 3, col:col + 3, :] += 1.0
    return x, y


def test_parameters_have_readable_names_and_the_spec_shapes() -> None:
    model = cnnc.loads(LENET).compile()
    shapes = {key: value.shape for key, value in model.params.items()}
    assert shapes == {"conv1.weight": (5, 5, 1, 6), "conv1.bias": (6,), "conv2.weight": (5, 5, 6, 16),
                      "conv2.bias": (16,), "fc1.weight": (400, 120), "fc1.bias": (120,),
                      "fc2.weight": (120, 84), "fc2.bias": (84,), "fc3.weight": (84, 10), "fc3.bias": (10,)}
    assert sum(v.size for v in model.params.values()) == model.network.report.totals.params == 61_706
    assert all(v.dtype == np.float32 for v in model.params.values())


def test_params_are_the_live_arrays() -> None:
    model = cnnc.loads(LENET).compile()
    x = np.random.default_rng(0).random((2, 28, 28, 1))
    model.params["fc3.bias"][...] = [100, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    np.testing.assert_allclose(model.predict(x)[:, 0], 1.0)


def test_initialisation_is_deterministic_and_he_or_glorot() -> None:
    network = cnnc.loads("input 16x16x64\nconv 128 3\nrelu\nfc 200\ntanh\nfc 10")
    first, again, other = network.compile(seed=5), network.compile(seed=5), network.compile(seed=6)
    doubled = network.compile(seed=5, dtype="float64")
    for key in first.params:
        np.testing.assert_array_equal(first.params[key], again.params[key])
        np.testing.assert_allclose(first.params[key], doubled.params[key], rtol=1e-6)
    assert not np.array_equal(first.params["conv1.weight"], other.params["conv1.weight"])
    assert doubled.params["conv1.weight"].dtype == np.float64
    fan_in = 3 * 3 * 64  # He: a normal with std sqrt(2 / fan_in) before a ReLU
    assert np.std(first.params["conv1.weight"]) == pytest.approx(math.sqrt(2 / fan_in), rel=0.02)
    limit = math.sqrt(6 / (14 * 14 * 128 + 200))  # Glorot: uniform on +-sqrt(6 / (fan_in + fan_out))
    weight = first.params["fc1.weight"]
    assert np.abs(weight).max() <= limit and np.abs(weight).max() > 0.99 * limit
    assert not first.params["conv1.bias"].any()


def test_he_initialisation_looks_past_batchnorm_and_out_of_blocks() -> None:
    network = cnnc.loads("input 8x8x32\nresidual {\n conv 32 3 pad=1\n batchnorm\n}\nleakyrelu 0.5\nfc 4")
    weight = network.compile(seed=0).params["conv1.weight"]
    assert np.std(weight) == pytest.approx(math.sqrt(2 / (1.25 * 9 * 32)), rel=0.05)


@pytest.mark.parametrize("activation, slope", [
    ("relu6", 0.0), ("silu", 0.0), ("gelu", 0.0), ("gelu approximate=tanh", 0.0), ("mish", 0.0), ("hardswish", 0.0),
    ("elu 0.5", 0.0), ("prelu", 0.25), ("prelu shared=true", 0.25), ("selu", 1.0), ("hardsigmoid", None)])
def test_initialisation_before_the_activations_of_language_v2(activation: str, slope: float | None) -> None:
    """He with the slope of the ReLU family (prelu: its initial 0.25; selu: 1, LeCun's N(0, 1/fan_in));
    Glorot before hardsigmoid. PReLU's slopes start at 0.25."""
    model = cnnc.loads(f"input 8x8x32\nconv 64 3\nbatchnorm\n{activation}\nfc 4").compile(seed=0)
    weight = model.params["conv1.weight"]
    fan_in, fan_out = 9 * 32, 9 * 64
    if slope is None:
        limit = math.sqrt(6 / (fan_in + fan_out))
        assert np.abs(weight).max() <= limit and np.std(weight) == pytest.approx(limit / math.sqrt(3), rel=0.05)
    else:
        assert np.std(weight) == pytest.approx(math.sqrt(2 / ((1 + slope ** 2) * fan_in)), rel=0.05)
    slopes = [value for key, value in model.params.items() if key.startswith("prelu")]
    assert all(np.all(value == 0.25) and value.shape == ((1,) if "shared" in activation else (64,))
               for value in slopes)


def test_predict_batches_internally_and_keeps_the_dtype() -> None:
    model = cnnc.loads(LENET).compile()
    x = np.random.default_rng(0).random((23, 28, 28, 1))
    probabilities = model.predict(x, batch_size=5)
    assert probabilities.dtype == np.float32 and probabilities.shape == (23, 10)
    np.testing.assert_allclose(probabilities, model.predict(x, batch_size=100), rtol=1e-5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_wrong_input_shape_is_a_clear_error() -> None:
    model = cnnc.loads(LENET).compile()
    with pytest.raises(ValueError, match=r"expected inputs of shape \(N, 28, 28, 1\).*\(2, 28, 28\)"):
        model.predict(np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 10\)"):
        model.loss_and_grads(np.zeros((2, 28, 28, 1)), np.array([3, 10]))


def test_loss_follows_the_spec_and_can_be_chosen() -> None:
    assert cnnc.loads(LENET).compile().loss == "crossentropy"
    assert cnnc.loads("input 4\nfc 2").compile().loss == "mse"
    assert cnnc.loads("input 4\nfc 2\nsoftmax\ntrain { loss=mse }").compile().loss == "mse"
    assert cnnc.loads("input 4\nfc 2").compile(loss="crossentropy").loss == "crossentropy"
    with pytest.raises(ValueError, match="loss must be one of"):
        cnnc.loads("input 4\nfc 2").compile(loss="hinge")
    with pytest.raises(ValueError, match="dtype must be one of"):
        cnnc.loads("input 4\nfc 2").compile(dtype="float16")
    with pytest.raises(ValueError, match="unknown backend"):
        cnnc.loads("input 4\nfc 2").compile(backend="tpu")


def test_losses_have_their_textbook_values() -> None:
    rng = np.random.default_rng(0)
    x, targets = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    regression = cnnc.loads("input 4\nfc 2").compile(dtype="float64")
    loss, _ = regression.loss_and_grads(x, targets)
    assert loss == pytest.approx(np.mean((regression.predict(x) - targets) ** 2))
    labels = np.array([0, 1, 1, 0, 1])
    one_hot = np.eye(2)[labels]
    assert regression.loss_and_grads(x, labels)[0] == pytest.approx(np.mean((regression.predict(x) - one_hot) ** 2))
    classifier = cnnc.loads("input 4\nfc 2\nsoftmax").compile(dtype="float64")
    probabilities = classifier.predict(x)
    expected = -np.mean(np.log(probabilities[np.arange(5), labels]))
    assert classifier.loss_and_grads(x, labels)[0] == pytest.approx(expected)
    assert classifier.evaluate(x, labels) == {
        "loss": pytest.approx(expected), "accuracy": np.mean(probabilities.argmax(axis=1) == labels)}


def test_float32_throughout() -> None:
    model = cnnc.loads(SMALL).compile()
    x, y = blobs(8)
    loss, grads = model.loss_and_grads(x, y)
    assert isinstance(loss, float)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(b.dtype == np.float32 for b in model.buffers.values())
    assert model.forward(x).dtype == np.float32


def test_fit_learns_and_reports_history() -> None:
    model = cnnc.loads(SMALL).compile(seed=0)
    x, y = blobs(300)
    xv, yv = blobs(100, seed=1)
    history = model.fit(x, y, epochs=4, batch_size=32, validation=(xv, yv), seed=0)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "images"}
    assert history["images"] == [300] * 4
    assert all(len(values) == 4 for values in history.values())
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] >= 0.95
    assert history["lr"] == [0.1] * 4  # from the spec's train { } section
    assert model.evaluate(xv, yv)["accuracy"] == history["val_accuracy"][-1]


def test_fit_is_deterministic_for_a_seed() -> None:
    x, y = blobs(64)
    network = cnnc.loads("input 6x6x2\nconv 4 3\nrelu\ndropout 0.3\nfc 3\nsoftmax")
    first, second, reshuffled = network.compile(seed=1), network.compile(seed=1), network.compile(seed=1)
    history = first.fit(x, y, epochs=2, batch_size=16, seed=3)
    again = second.fit(x, y, epochs=2, batch_size=16, seed=3)
    assert (history["loss"], history["accuracy"]) == (again["loss"], again["accuracy"])
    for key in first.params:
        np.testing.assert_array_equal(first.params[key], second.params[key])
    reshuffled.fit(x, y, epochs=2, batch_size=16, seed=4)
    assert not np.array_equal(first.params["fc1.weight"], reshuffled.params["fc1.weight"])


def test_fit_takes_the_recipe_and_its_validation_split() -> None:
    spec = SMALL.replace("train { optimizer=sgd lr=0.1 }",
                         "train { optimizer=adam lr=0.01 epochs=3 batch=16 val_split=0.25 schedule=step "
                         "step_size=2 gamma=0.5 }")
    model = cnnc.loads(spec).compile()
    x, y = blobs(80)
    history = model.fit(x, y)
    assert history["lr"] == pytest.approx([0.01, 0.01, 0.005])
    assert all(value is not None for value in history["val_accuracy"])
    assert isinstance(model.optimizer, cnnc.optim.Adam)


def test_save_and_load_round_trip_and_resume_training(tmp_path: Path) -> None:
    """Training 2 epochs in one go equals 1 epoch, save, load, 1 more epoch: weights, buffers and
    the optimizer's momentum and schedule all survive the file."""
    x, y = blobs(96)
    network = cnnc.loads(SMALL)
    schedule = cnnc.optim.Step(step_size=1, gamma=0.5)
    straight = network.compile(seed=2)
    straight.fit(x, y, epochs=2, batch_size=32, shuffle=False,
                 optimizer=cnnc.optim.SGD(lr=0.1, momentum=0.9, schedule=schedule))
    halfway = network.compile(seed=2)
    halfway.fit(x, y, epochs=1, batch_size=32, shuffle=False,
                optimizer=cnnc.optim.SGD(lr=0.1, momentum=0.9, schedule=schedule))
    path = tmp_path / "small.npz"
    halfway.save(path)
    loaded = cnnc.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), halfway.predict(x))
    assert loaded.optimizer.state["velocity"].keys() == halfway.params.keys()
    loaded.fit(x, y, epochs=1, batch_size=32, shuffle=False)
    for key in straight.params:
        np.testing.assert_allclose(loaded.params[key], straight.params[key], rtol=1e-6, atol=1e-7)
    for key in straight.buffers:
        np.testing.assert_allclose(loaded.buffers[key], straight.buffers[key], rtol=1e-6)
    assert list(tmp_path.iterdir()) == [path]


def test_save_embeds_the_source_and_loads_without_pickle(tmp_path: Path) -> None:
    path = tmp_path / "lenet.npz"
    cnnc.loads(LENET, name="lenet5").compile(dtype="float64").save(path)
    with np.load(path, allow_pickle=False) as data:
        assert str(data["source"]) == LENET
        meta = json.loads(str(data["meta"]))
    assert meta["dtype"] == "float64" and meta["loss"] == "crossentropy" and meta["input"] == [28, 28, 1]
    assert cnnc.load_model(path).dtype == np.float64


def test_a_crash_while_saving_leaves_the_old_file_and_no_partial_one(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "model.npz"
    model = cnnc.loads(SMALL).compile()
    model.save(path)
    before = path.read_bytes()

    def crash(file, **arrays):
        file.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def rewrite(path: Path, change) -> None:
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    change(arrays)
    with open(path, "wb") as file:
        np.savez(file, **arrays)


def test_load_refuses_arrays_that_do_not_fit_the_spec(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    cnnc.loads(SMALL).compile().save(path)
    rewrite(path, lambda arrays: arrays.update({"param/fc1.weight": np.zeros((10, 3), np.float32)}))
    with pytest.raises(ModelFileError, match=r"param `fc1.weight` has shape \(10, 3\), but the spec gives "
                                             r"it \(36, 3\)"):
        cnnc.load_model(path)
    rewrite(path, lambda arrays: arrays.pop("param/conv1.bias"))
    with pytest.raises(ModelFileError, match="missing conv1.bias"):
        cnnc.load_model(path)


def test_load_refuses_pickles_and_other_files(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    cnnc.loads(SMALL).compile().save(path)
    rewrite(path, lambda arrays: arrays.update({"param/conv1.bias": np.array([object()], dtype=object)}))
    with pytest.raises(ModelFileError, match="not a cnnc model file"):
        cnnc.load_model(path)
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelFileError, match="not a cnnc model file"):
        cnnc.load_model(tmp_path / "text.npz")
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    with pytest.raises(ModelFileError, match="no `meta` or `source` entry"):
        cnnc.load_model(tmp_path / "empty.npz")


def test_a_layer_without_a_kernel_is_named_with_its_line() -> None:
    class Fancy(ir.Layer):
        kind = "fancy"

    node = Fancy("fancy1", Span(3, 1, 3, 6), ())
    with pytest.raises(UnsupportedLayer, match=r"numpy backend has no kernel for `fancy` layer `fancy1` \(line 3\)"):
        lower_layer(node, None, None)
