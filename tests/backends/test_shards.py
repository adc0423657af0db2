"""Data-parallel batches (cnnc/shards.py, Model.threads): a batch split across threads gives the loss, the
gradients and the outputs of the whole batch on one thread; batchnorm in training is not split; one model
predicts from several threads at once; OpenBLAS is held at one thread per shard and restored."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_numpy_gradients import EXAMPLE_FILES, HEAVY, small_example  # noqa: E402

import cnnc  # noqa: E402
from cnnc import blas_threads, ir, shards  # noqa: E402
from cnnc.backends.numpy import Program as NumpyProgram  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}
LENET = cnnc.load(ROOT / "examples" / "lenet5.cnn")
BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="numba is not installed"))]
needs_openblas = pytest.mark.skipif(not blas_threads.controllable(),
                                    reason="NumPy's BLAS is not a controllable OpenBLAS")


@pytest.fixture(autouse=True)
def _small_networks_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests split small networks: no floor of multiply-accumulates per shard on either backend
    (test_a_shard_gets_the_backends_floor_of_work tests the floor)."""
    monkeypatch.setattr(NumpyProgram, "min_shard_macs", 0)
    monkeypatch.setattr(NumpyProgram, "min_process_shard_macs", 0)
    if importlib.util.find_spec("numba") is not None:
        from cnnc.backends.numba import Program as NumbaProgram

        monkeypatch.setattr(NumbaProgram, "min_shard_macs", 0)
        monkeypatch.setattr(NumbaProgram, "min_process_shard_macs", 0)


def relative_difference(found: np.ndarray, expected: np.ndarray) -> float:
    """The largest difference relative to the largest value of ``expected`` (at least 1)."""
    return float(np.abs(found - expected).max() / max(1.0, float(np.abs(expected).max())))


def layers_of(network: cnnc.Network, *kinds: type) -> bool:
    return any(isinstance(node, kinds) for node in ir.walk(network.ir.layers))


def assert_same_step(network: cnnc.Network, backend: str, dtype: str, x: np.ndarray, y: np.ndarray,
                     training: bool) -> None:
    """Loss, every gradient and the outputs at 2 and 3 threads against 1 thread, within the dtype's tolerance."""
    models = {threads: network.compile(backend=backend, dtype=dtype, seed=1, threads=threads) for threads in (1, 2, 3)}
    expected_loss, expected = models[1].loss_and_grads(x, y, training=training, seed=5)
    expected_outputs = models[1].predict(x)
    for threads in (2, 3):
        loss, grads = models[threads].loss_and_grads(x, y, training=training, seed=5)
        assert abs(loss - expected_loss) <= TOLERANCE[dtype] * max(1.0, abs(expected_loss)), threads
        assert grads.keys() == expected.keys()
        for key, value in grads.items():
            assert value.dtype == expected[key].dtype and value.shape == expected[key].shape, key
            assert relative_difference(value, expected[key]) <= TOLERANCE[dtype], (threads, key)
        outputs = models[threads].predict(x)
        assert outputs.shape == expected_outputs.shape
        assert relative_difference(outputs, expected_outputs) <= TOLERANCE[dtype], threads


def labels_for(network: cnnc.Network, count: int, rng: np.random.Generator) -> np.ndarray:
    """Class labels for cross-entropy, or targets shaped like the outputs for mse."""
    output = network.report.output.dims
    model_loss = network.compile().loss
    if model_loss == "crossentropy":
        return rng.integers(0, output[-1], (count, *output[:-1]))
    return rng.standard_normal((count, *output))


LIGHT_EXAMPLES = [p for p in EXAMPLE_FILES if p.stem not in HEAVY | {"unet", "convnext_tiny"}]
"""Without the examples that take 10-55 s each here at 1, 2 and 3 threads (4 minutes together): sharding depends
on the layers' kinds (what couples the examples of a batch), not the sizes, and the others hold every kind."""


@pytest.mark.parametrize("path", LIGHT_EXAMPLES, ids=[p.stem for p in LIGHT_EXAMPLES])
def test_every_example_gives_the_same_step_on_shards(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Five examples (shards of 3 + 2 and 2 + 2 + 1: uneven), float64 within 1e-12. In training mode (dropout
    and drop path included) without batchnorm; with it in evaluation mode, where batchnorm reads its running
    statistics and is split too (training: test_batchnorm_is_not_split_in_training)."""
    monkeypatch.setattr(shards, "MIN_SHARD", 1)
    network = small_example(path)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, *network.report.input.dims))
    training = not layers_of(network, ir.BatchNorm)
    assert_same_step(network, "numpy", "float64", x, labels_for(network, 5, rng), training)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lenet_batches_that_do_not_divide_evenly(backend: str, dtype: str) -> None:
    """37 examples: 19 + 18 on 2 threads, 13 + 12 + 12 on 3, at the shipped shard threshold."""
    rng = np.random.default_rng(1)
    x = rng.random((37, 28, 28, 1))
    assert shards.bounds(37, 3) == [(0, 13), (13, 25), (25, 37)]
    assert_same_step(LENET, backend, dtype, x, rng.integers(0, 10, 37), training=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mse_and_spatial_outputs_are_weighted_by_their_share(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """mse (a mean over every output value) and cross-entropy over positions (a mean over examples x
    positions) on a fully convolutional net: the shards' shares still add up to the batch's mean."""
    monkeypatch.setattr(shards, "MIN_SHARD", 1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 6, 6, 2))
    dense = cnnc.loads("input 6x6x2\nconv 4 3\nrelu\nmaxpool 2\nfc 3")
    assert_same_step(dense, backend, "float64", x, rng.standard_normal((7, 3)), training=True)
    spatial = cnnc.loads("input 6x6x2\nconv 4 3 pad=1\nrelu\nconv 3 1\nsoftmax")
    assert_same_step(spatial, backend, "float64", x, rng.integers(0, 3, (7, 6, 6)), training=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_batchnorm_is_not_split_in_training(backend: str) -> None:
    """Batch statistics couple the examples: in training the batch runs whole on any thread count, giving
    the very same loss, gradients and running statistics; in evaluation it is split."""
    network = cnnc.loads("input 8x8x2\nconv 4 3 pad=1\nbatchnorm\nrelu\nmaxpool 2\nfc 3\nsoftmax")
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((40, 8, 8, 2)), rng.integers(0, 3, 40)
    one, two = (network.compile(backend=backend, dtype="float64", threads=threads) for threads in (1, 2))
    expected_loss, expected = one.loss_and_grads(x, y)
    loss, grads = two.loss_and_grads(x, y)
    assert loss == expected_loss
    assert all(np.array_equal(grads[key], expected[key]) for key in expected)
    assert all(np.array_equal(two.buffers[key], one.buffers[key]) for key in one.buffers)
    assert not np.array_equal(one.buffers["batchnorm1.running_mean"], np.zeros(4))  # updated once, by both
    assert_same_step(network, backend, "float64", x, y, training=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_masks_do_not_depend_on_the_threads(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each shard draws the whole batch's masks from a copy of the step's generator and keeps its part: the
    steps of 1, 2 and 3 threads are the same, with a seed and with the model's own generator, which every
    thread count leaves in the same state (the second step's masks are the same too)."""
    monkeypatch.setattr(shards, "MIN_SHARD", 1)
    network = cnnc.loads("input 6x6x2\nconv 4 3\nrelu\ndropout 0.5\nfc 5\ndroppath 0.3\nfc 3\nsoftmax")
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((7, 6, 6, 2)), rng.integers(0, 3, 7)
    steps = {}
    for threads in (1, 2, 3):
        model = network.compile(backend=backend, dtype="float64", threads=threads)
        steps[threads] = [model.loss_and_grads(x, y, seed=9), model.loss_and_grads(x, y), model.loss_and_grads(x, y)]
    assert steps[1][1][0] != steps[1][2][0]  # the model's generator moved on: other masks
    for threads in (2, 3):
        for (loss, grads), (expected_loss, expected) in zip(steps[threads], steps[1]):
            assert abs(loss - expected_loss) <= 1e-12
            assert all(relative_difference(grads[key], expected[key]) <= 1e-12 for key in expected)


def test_fit_on_two_threads_takes_the_steps_of_one() -> None:
    """A whole training run (LeNet-5, float64, 3 batches of 20 and one of 4, momentum SGD) on 2 threads
    ends at the weights of 1 thread within 1e-12 (the last batch of 4 runs whole: below the threshold)."""
    rng = np.random.default_rng(5)
    x, y = rng.random((64, 28, 28, 1)), rng.integers(0, 10, 64)
    weights = {}
    for threads in (1, 2):
        model = LENET.compile(dtype="float64", threads=threads)
        model.fit(x, y, epochs=1, batch_size=20, optimizer=cnnc.optim.SGD(lr=0.05, momentum=0.9), verbose=0)
        weights[threads] = model.params
    for key, value in weights[1].items():
        assert relative_difference(weights[2][key], value) <= 1e-12, key


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_threads_predict_with_one_model(backend: str) -> None:
    """Two threads call predict on one model at the same time, many times, on their own inputs (batches
    big enough to be split again): each gets its own answers."""
    model = LENET.compile(backend=backend, threads=2)
    rng = np.random.default_rng(6)
    inputs = [rng.random((40, 28, 28, 1), dtype=np.float32) for _ in range(2)]
    expected = [model.predict(x, batch_size=20) for x in inputs]  # the same shards as below
    wrong: list[int] = []
    start = threading.Barrier(2)

    def predict(index: int) -> None:
        start.wait()
        for _ in range(30):
            if not np.array_equal(model.predict(inputs[index], batch_size=20), expected[index]):
                wrong.append(index)
    workers = [threading.Thread(target=predict, args=(index,)) for index in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not wrong


def test_shard_bounds_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    assert shards.bounds(23, 2) == [(0, 12), (12, 23)]
    assert shards.bounds(64, 2) == [(0, 32), (32, 64)]
    assert shards.shard_count(1, 1000) == 1
    assert shards.shard_count(4, 1) == 1
    monkeypatch.setattr(blas_threads, "controllable", lambda: True)
    assert shards.shard_count(2, 2 * shards.MIN_SHARD - 1) == 1
    assert shards.shard_count(2, 2 * shards.MIN_SHARD) == 2
    assert shards.shard_count(4, 3 * shards.MIN_SHARD) == 3
    monkeypatch.setattr(blas_threads, "controllable", lambda: False)
    assert shards.shard_count(2, 1000) == 1


def test_arrays_are_dealt_to_threads_in_runs_of_equal_size() -> None:
    """Every value once, in contiguous runs about a thread's share each; an array that may not be split whole."""
    arrays = {"big": np.zeros(100), "empty": np.zeros(0), "mid": np.zeros(60), "tiny": np.zeros(1)}
    seen: list[tuple[str, slice, int]] = []
    lock = threading.Lock()

    def task(key: str, part: slice) -> None:
        with lock:
            seen.append((key, part, threading.get_ident()))
    shards.for_each_part(arrays, 2, task)
    assert sorted((key, part.start, part.stop) for key, part, _ in seen) == [
        ("big", 0, 81), ("big", 81, 100), ("empty", 0, 0), ("mid", 0, 60), ("tiny", 0, 1)]
    threads = {(key, part.start): thread for key, part, thread in seen}
    assert threads[("big", 0)] != threads[("big", 81)] == threads[("mid", 0)] == threads[("tiny", 0)]
    seen.clear()
    shards.for_each_part(arrays, 2, task, splittable=lambda key: key != "big")
    assert sorted((key, part.start, part.stop) for key, part, _ in seen) == [
        ("big", 0, 100), ("empty", 0, 0), ("mid", 0, 60), ("tiny", 0, 1)]


@pytest.mark.parametrize("optimizer", [lambda: cnnc.optim.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
                                       lambda: cnnc.optim.AdamW(lr=0.01, weight_decay=0.1)], ids=["sgd", "adamw"])
def test_an_optimizer_step_on_threads_updates_as_on_one(optimizer, monkeypatch) -> None:
    """The parameters dealt to threads: each gets the same update, bit for bit, and the same state."""
    monkeypatch.setattr(cnnc.optim, "MIN_PARALLEL_VALUES", 0)  # these few values dealt to threads all the same
    rng = np.random.default_rng(0)
    params = {f"layer{index}.weight": rng.standard_normal(size) for index, size in enumerate((700, 30, 300, 5))}
    found = []
    params["layer4.weight"] = np.asfortranarray(rng.standard_normal((20, 30)))  # updated whole, in place
    for threads in (1, 2, 3):
        optim, copy = optimizer(), {key: value.copy(order="K") for key, value in params.items()}
        for step in range(3):
            grads = {key: np.random.default_rng(step).standard_normal(value.shape) for key, value in copy.items()}
            optim.step(copy, grads, threads)
        found.append((copy, optim.state, optim.steps))
    for copy, state, steps in found[1:]:
        assert steps == found[0][2] == 3
        for key in params:
            np.testing.assert_array_equal(copy[key], found[0][0][key])
            for name in state:
                np.testing.assert_array_equal(state[name][key], found[0][1][name][key])


def test_a_small_update_stays_on_one_thread(monkeypatch) -> None:
    """Below ``MIN_PARALLEL_VALUES`` gradient values (LeNet-5's 61,706), ``step`` does not deal them to threads,
    whatever it is given; from it, it does."""
    calls = []
    monkeypatch.setattr(shards, "for_each_part", lambda arrays, threads, task, splittable: calls.append(threads))
    params = {"w": np.zeros(cnnc.optim.MIN_PARALLEL_VALUES - 1)}
    cnnc.optim.SGD(lr=0.1, momentum=0.9).step(params, {"w": np.ones_like(params["w"])}, 2)
    assert calls == [] and params["w"][0] == -0.1
    params = {"w": np.zeros(cnnc.optim.MIN_PARALLEL_VALUES)}
    cnnc.optim.SGD(lr=0.1, momentum=0.9).step(params, {"w": np.ones_like(params["w"])}, 2)
    assert calls == [2]


def test_the_shards_gradients_are_summed_on_threads_from_the_same_floor(monkeypatch) -> None:
    """``batch_loss`` sums the shards' gradients on one thread below ``MIN_PARALLEL_VALUES`` (LeNet-5's 61,706:
    dealing them out cost more than the sum), on the shards' threads from it, with the same bits."""
    monkeypatch.setattr(shards, "MIN_SHARD", 1)
    model = cnnc.load(ROOT / "examples" / "lenet5.cnn").compile(seed=0, threads=2)
    rng = np.random.default_rng(0)
    x, y = rng.random((4, 28, 28, 1)), rng.integers(0, 10, 4)
    dealt = []
    deal = shards.for_each_part

    def counted(arrays, threads, task, splittable=lambda key: True):
        dealt.append(threads)
        return deal(arrays, threads, task, splittable)
    monkeypatch.setattr(shards, "for_each_part", counted)
    _, alone = model.loss_and_grads(x, y)
    monkeypatch.setattr(cnnc.optim, "MIN_PARALLEL_VALUES", 0)
    _, dealt_out = model.loss_and_grads(x, y)
    assert dealt == [1, 2]
    for key in alone:
        np.testing.assert_array_equal(alone[key], dealt_out[key])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_shard_gets_the_backends_floor_of_work(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shard's forward pass gets at least ``min_shard_macs`` multiply-accumulates (10M on both backends):
    LeNet-5 (0.42M an example) is not split at batch 32 (6.7M a shard), is at 64 (13.5M); the CIFAR net of the
    benches (26.6M) is at 16. A training step's shards in worker processes get at least
    ``min_process_shard_macs`` (4M): LeNet-5 is split from batch 20 (19 x 0.42M = 7.9M)."""
    monkeypatch.undo()
    monkeypatch.setattr(blas_threads, "controllable", lambda: True)
    sys.path.insert(0, str(ROOT / "bench"))
    from train_throughput import network as bench_network

    lenet = LENET.compile(backend=backend, threads=2)
    cifar = bench_network("cifar").compile(backend=backend, threads=2)
    assert (lenet._shard_count(32), lenet._shard_count(48), lenet._shard_count(49), lenet._shard_count(64),
            cifar._shard_count(16)) == (1, 1, 2, 2, 2)  # 48 x 0.42M = 19.99M: under two shards' 20M
    assert lenet._shard_count(8) == cifar._shard_count(8) == 1  # below 2 * MIN_SHARD: never
    from cnnc import shard_processes

    for enabled, expected in ((True, (1, 2, 2)), (False, (1, 1, 1))):
        monkeypatch.setattr(shard_processes, "ENABLED", enabled)
        assert (lenet._training_shard_count(19), lenet._training_shard_count(20),
                lenet._training_shard_count(32)) == expected
        assert lenet.step_threads(32) == expected[2]


def test_an_error_in_a_shard_is_raised_in_the_caller() -> None:
    def task(index: int, start: int, stop: int) -> int:
        if index == 1:
            raise ValueError(f"shard {index}")
        return stop - start
    with pytest.raises(ValueError, match="shard 1"):
        shards.run(shards.bounds(10, 3), task)


@needs_openblas
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_below_the_floor_runs_on_one_blas_thread(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """LeNet-5 at batch 16 on 2 threads is not split (``min_shard_macs``, ``min_process_shard_macs``) and runs
    with OpenBLAS at one thread, training and predicting; the CIFAR net at batch 16 is split (one BLAS thread per
    shard); BLAS's count is restored after."""
    monkeypatch.undo()  # the backends' own floors
    library = blas_threads.libraries()[0]
    before = library.get()
    library.set(2)
    try:
        sys.path.insert(0, str(ROOT / "bench"))
        from train_throughput import network as bench_network

        for network, batch in ((LENET, 16), (bench_network("cifar"), 16)):
            model = network.compile(backend=backend, threads=2, seed=0)
            seen = []

            def watched(method):
                def call(*args, **kwargs):
                    seen.append(library.get())
                    return method(*args, **kwargs)
                return call
            for name in ("forward", "infer"):
                monkeypatch.setattr(model.program, name, watched(getattr(model.program, name)))
            x = np.random.default_rng(0).random((batch, *network.report.input.dims), dtype=np.float32)
            model.loss_and_grads(x, np.arange(batch) % 10)
            model.predict(x)
            assert seen == [1, 1] and library.get() == 2, network.ir.name
    finally:
        library.set(before)


@needs_openblas
@pytest.mark.parametrize("backend", BACKENDS)
def test_one_thread_asked_holds_the_blas_to_one_thread(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``threads=1`` (``cnnc train --threads 1``) with OpenBLAS at 2 threads: every batch, above the floor or
    not, runs with OpenBLAS at one thread, training, evaluating and predicting; the count is restored after."""
    monkeypatch.undo()  # the backends' own floors
    library = blas_threads.libraries()[0]
    before = library.get()
    library.set(2)
    try:
        model = LENET.compile(backend=backend, threads=1, seed=0)
        seen = []
        for name in ("forward", "infer"):
            method = getattr(model.program, name)
            monkeypatch.setattr(model.program, name, lambda *args, method=method, **kwargs: (
                seen.append(library.get()), method(*args, **kwargs))[1])
        for batch in (16, 64):  # below and above two shards' floor of work
            x = np.random.default_rng(0).random((batch, 28, 28, 1), dtype=np.float32)
            model.loss_and_grads(x, np.arange(batch) % 10)
            model.evaluate(x, np.arange(batch) % 10)
            model.predict(x)
        assert seen == [1] * 6 and library.get() == 2
    finally:
        library.set(before)


@needs_openblas
def test_openblas_is_held_at_one_thread_and_restored() -> None:
    library = blas_threads.libraries()[0]
    before = library.get()
    library.set(2)
    try:
        inside = threading.Event()
        leave = threading.Event()

        def hold() -> None:
            with blas_threads.one_thread_each():
                inside.set()
                leave.wait(10)
        other = threading.Thread(target=hold)
        other.start()
        inside.wait(10)
        with blas_threads.one_thread_each():
            assert library.get() == 1
        assert library.get() == 1  # the other thread is still inside
        leave.set()
        other.join()
        assert library.get() == 2
        seen = shards.run(shards.bounds(4, 2), lambda index, start, stop: library.get())
        assert seen == [1, 1] and library.get() == 2
    finally:
        library.set(before)


@needs_openblas
@pytest.mark.parametrize("variable", ["1", "2"])
def test_the_default_is_the_blas_thread_count(variable: str) -> None:
    code = "import cnnc; print(cnnc.loads('input 4\\nfc 2').compile().threads)"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": variable}
    found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == variable


def test_threads_is_checked() -> None:
    with pytest.raises(ValueError, match="threads"):
        LENET.compile(threads=0)
    with pytest.raises(TypeError, match="threads"):
        LENET.compile(threads="2")
    model = LENET.compile(threads=3)
    assert model.threads == 3
    model.threads = None
    assert model.threads == blas_threads.initial_threads()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_splits_batches_with_a_pool_of_its_own() -> None:
    """The parent's pool threads are not in a child made by fork: the child starts its own (else it would wait
    for them forever)."""
    model = LENET.compile(threads=2)
    x = np.random.default_rng(7).random((40, 28, 28, 1))
    expected = model.predict(x)  # the parent's pool is running
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(0 if np.array_equal(model.predict(x), expected) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
