"""The torch backend of `cnnc train` against the NumPy backend: exact weight layouts both ways, the same
steps for every optimizer and schedule, the same dropout masks, and checkpoints that resume in either."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cnnc.backends.torch_export import to_torch
from cnnc.backends.torch_train import loop
from cnnc.backends.torch_train.layout import TorchLayout
from cnnc.backends.torch_train.trainer import TorchTrainer
from cnnc.backends.torch_train.world import World

import cnnc
from cnnc.data import load_source
from cnnc.training import Callbacks, NonFiniteLoss, Plan, Progress, train

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"alexnet", "alexnet_torchvision", "c3d", "vgg16"}  # 10-40 s each here; their layers are in the others
EXAMPLES = [p for p in sorted((ROOT / "examples").glob("*.cnn")) if p.stem not in HEAVY]

# Every kind of state the loop touches: batchnorm statistics, dropout and drop-path masks (drawn in
# cnnc's order), a residual block, layerscale, and an fc after a spatial input (a permuted weight).
SPEC = """network mixed
input 10x10x2
conv 6 3x3 pad=1 bias=false; batchnorm; relu
residual { conv 6 3x3 pad=1; layerscale init=0.5; droppath 0.3 }
maxpool 2
dropout 0.25
fc 12; relu
dropout 0.5
fc 3
softmax
"""
DATA = "synthetic:n=100,test=40,classes=3,seed=2,shape=10x10x2"


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a loaded two-core machine, two threads make small steps many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def torch_train(model, x, y, plan, validation=None, progress=None, callbacks=None):
    return loop.train(TorchTrainer(model, World()), x, y, plan, validation, progress, callbacks)


def _splits(spec: str = SPEC, data: str = DATA):
    network = cnnc.loads(spec)
    return network, load_source(data, network.report.input, network.report.output.channels)


def _state(model) -> dict[str, np.ndarray]:
    found = {**model.params, **{f"buffer/{k}": v for k, v in model.buffers.items()}}
    for slot, arrays in model.optimizer.state.items():
        found.update({f"{slot}/{k}": v for k, v in arrays.items()})
    return found


def assert_same(ours, theirs, **tolerance) -> None:
    ours, theirs = _state(ours), _state(theirs)
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **tolerance)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_weights_move_to_torch_and_back_exactly(path):
    """Every parameter and buffer of every example: to torch's layout as the exporter lays it out,
    and back to cnnc's, bit for bit."""
    model = cnnc.load(path).compile(seed=1)
    network = model.network
    layout = TorchLayout(network.ir, network.report, model.params, model.buffers)
    exported = to_torch(model)
    tensors = {**dict(exported.named_parameters()), **dict(exported.named_buffers())}
    shapes = {name: tensor.shape for name, tensor in tensors.items()}
    arrays = {**model.params, **model.buffers}
    moved = layout.to_torch(arrays, shapes)
    assert set(moved) == set(layout.places)
    for name, array in moved.items():
        np.testing.assert_array_equal(array, tensors[name].detach().numpy(), err_msg=name)
    back = layout.to_cnnc(moved, model.dtype)
    assert back.keys() == arrays.keys()
    for key, array in arrays.items():
        np.testing.assert_array_equal(back[key], array, err_msg=key)


# Between them, every layer of the language, in 1-D, 2-D and 3-D, and every block.
LAYERS = {
    "norms-2d": "input 9x8x4\nconv 6 3x2 stride=2x1 pad=1x0 dilation=2x1 groups=2\nbatchnorm\nprelu\nlayernorm\n"
                "groupnorm 3\ninstancenorm affine=true\nlrn 3\nlayerscale init=0.5\ndroppath 0.2\ndropout 0.3\ngelu\n"
                "adaptiveavgpool 2x2\nfc 3\nsoftmax",
    "resample": "input 4x4x6\ndeconv 4 4 stride=2 pad=1 bias=false\nbatchnorm\nrelu6\nupsample 2 mode=linear\n"
                "conv 8 3 pad=same\nsilu\npixelshuffle 2\nshuffle 2\nmaxpool 3 stride=2 pad=1 round=ceil\n"
                "avgpool 2 pad=same\nconv 4 3 stride=2 round=ceil\nmish\nglobalmaxpool\nfc 2",
    "1d": "input 20x3\nconv 4 5 stride=3 pad=2 dilation=2\nleakyrelu 0.1\nbatchnorm\nelu\nupsample 3\n"
          "prelu shared=true\nfc 2\nselu\nfc 2",
    "3d": "input 5x6x4x2\nconv 3 3 stride=2 pad=1\ntanh\nbatchnorm\ninstancenorm\nhardswish\n"
          "adaptivemaxpool 2x2x2\nfc 2\nhardsigmoid\nfc 2\nsoftmax",
    "blocks": "input 6x6x3\nconv 4 3 pad=1\nresidual {\n conv 4 3 stride=2 pad=1\n batchnorm\n relu\n} shortcut {\n"
              " conv 4 1 stride=2 bias=false\n}\nconcat {\n branch {\n conv 2 1\n }\n branch {\n maxpool 3 stride=1 "
              "pad=1\n }\n}\nadd {\n branch {\n conv 6 3 pad=1\n batchnorm\n }\n branch {\n }\n}\nmultiply {\n"
              " branch {\n }\n branch {\n globalavgpool\n conv 2 1\n relu\n conv 6 1\n sigmoid\n }\n}\n"
              "globalavgpool\nfc 3\nsoftmax",
}


@pytest.mark.parametrize("spec", LAYERS.values(), ids=LAYERS.keys())
def test_every_layer_trains_as_on_numpy(spec):
    """Two epochs of momentum SGD in float64 (cross-entropy after a softmax, mse otherwise): the same
    weights, statistics and velocities as the NumPy backend's."""
    network = cnnc.loads(spec)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((24, *network.report.input.dims))
    y = rng.integers(0, network.report.output.channels, 24)
    models = []
    for trainer in (train, torch_train):
        model = network.compile(seed=2, dtype="float64")
        model.optimizer = cnnc.optim.SGD(lr=0.02, momentum=0.9)
        trainer(model, x, y, Plan(epochs=2, batch_size=10, seed=1))
        models.append(model)
    assert_same(models[1], models[0], rtol=1e-8, atol=1e-11)


RECIPES = {
    "momentum": {"optimizer": "momentum", "lr": 0.05},
    "sgd-weight-decay": {"optimizer": "sgd", "lr": 0.1, "weight_decay": 0.01},
    "nesterov-step": {"optimizer": "momentum", "lr": 0.05, "nesterov": True, "schedule": "step", "step_size": 1,
                      "gamma": 0.5},
    "adam-weight-decay": {"optimizer": "adam", "lr": 0.003, "weight_decay": 0.001},
    "adamw-cosine": {"optimizer": "adamw", "lr": 0.003, "schedule": "cosine"},
}


@pytest.mark.parametrize("recipe", RECIPES.values(), ids=RECIPES.keys())
def test_torch_takes_the_numpy_backends_steps(recipe):
    """Three epochs of three batches in float64 (an odd last batch): weights, running statistics,
    optimizer state, step count and history equal the NumPy backend's."""
    network, splits = _splits()
    plan = Plan(epochs=3, batch_size=36, seed=4)
    runs = []
    for trainer in (train, torch_train):
        model = network.compile(seed=3, dtype="float64")
        model.optimizer = cnnc.optim.from_recipe(recipe)
        progress, stopped = trainer(model, splits.train.x, splits.train.y, plan, (splits.test.x, splits.test.y))
        assert not stopped
        runs.append((model, progress))
    (numpy_model, numpy_progress), (torch_model, torch_progress) = runs
    assert_same(torch_model, numpy_model, rtol=1e-9, atol=1e-12)
    assert torch_model.optimizer.steps == numpy_model.optimizer.steps == 9
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "images"):
        np.testing.assert_allclose(np.array(torch_progress.history[key], dtype=float),
                                   np.array(numpy_progress.history[key], dtype=float), rtol=1e-9, err_msg=key)
    assert numpy_progress.history["lr"][-1] < numpy_progress.history["lr"][0] or "schedule" not in recipe


def test_float32_steps_agree_within_float32_rounding():
    network, splits = _splits()
    plan = Plan(epochs=1, batch_size=50, seed=4)
    models = []
    for trainer in (train, torch_train):
        model = network.compile(seed=3)
        model.optimizer = cnnc.optim.Adam(lr=0.001)
        trainer(model, splits.train.x, splits.train.y, plan)
        models.append(model)
    assert_same(models[1], models[0], rtol=1e-4, atol=1e-6)


def test_mean_squared_error_on_labels_and_on_real_targets():
    spec = "input 6x6x1\nconv 4 3x3; relu\nflatten\nfc 3\n"
    network = cnnc.loads(spec)
    rng = np.random.default_rng(0)
    x = rng.random((40, 6, 6, 1))
    for y in (rng.integers(0, 3, 40), rng.standard_normal((40, 3))):
        models = []
        for trainer in (train, torch_train):
            model = network.compile(seed=1, dtype="float64", loss="mse")
            model.optimizer = cnnc.optim.SGD(lr=0.05, momentum=0.9)
            progress, _ = trainer(model, x, y, Plan(epochs=2, batch_size=16), (x, y))
            models.append((model, progress.history))
        assert_same(models[1][0], models[0][0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(models[1][1]["val_loss"], models[0][1]["val_loss"], rtol=1e-9)


class StopAfter(Callbacks):
    def __init__(self, batches: int) -> None:
        self.left = batches

    def batch_done(self, progress, batch_loss, size) -> None:
        self.left -= 1

    def should_stop(self) -> bool:
        return self.left <= 0


@pytest.mark.parametrize("first, second", [(torch_train, train), (train, torch_train)], ids=["torch-then-numpy",
                                                                                             "numpy-then-torch"])
def test_a_checkpoint_resumes_on_the_other_backend(tmp_path, first, second):
    """Stopped after batch 2 of epoch 2 on one backend, saved, loaded and resumed on the other: the
    weights of a run that never stopped (float64)."""
    network, splits = _splits()
    plan = Plan(epochs=3, batch_size=36, seed=4)
    x, y = splits.train.x, splits.train.y

    def fresh():
        model = network.compile(seed=3, dtype="float64")
        model.optimizer = cnnc.optim.Adam(lr=0.003)
        return model

    reference = fresh()
    train(reference, x, y, plan)
    model = fresh()
    progress, stopped = first(model, x, y, plan, None, None, StopAfter(3 + 2))
    assert stopped and (progress.epoch, progress.batch) == (1, 2)
    model.run_state = {"plan": vars(plan), "progress": progress.to_json()}
    model.save(tmp_path / "stopped.npz")
    restored = cnnc.load_model(tmp_path / "stopped.npz")
    second(restored, x, y, plan, None, Progress.from_json(restored.run_state["progress"]))
    assert_same(restored, reference, rtol=1e-9, atol=1e-12)


def test_a_nonfinite_loss_stops_before_the_step_as_on_numpy():
    network, splits = _splits()
    failures = []
    for trainer in (train, torch_train):
        model = network.compile(seed=3)
        model.optimizer = cnnc.optim.SGD(lr=1e12)
        with pytest.raises(NonFiniteLoss) as caught:
            trainer(model, splits.train.x, splits.train.y, Plan(epochs=2, batch_size=20))
        failures.append((caught.value.epoch, caught.value.batch, caught.value.what))
    assert failures[0] == failures[1]
