"""Training shards in worker processes (cnnc/shard_processes.py): the same step as on threads, bit for bit where
both take the same kernels; a worker's error raised in the caller; a worker lost, or a step interrupted, ends
the workers and the next step forks new ones; workers end with their model and with the caller's process."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import cnnc
from cnnc import shard_processes
from cnnc.backends.numpy import Program as NumpyProgram
from cnnc.model import Model

pytestmark = pytest.mark.skipif(not shard_processes.ENABLED, reason="shards run in processes on Linux only")

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="numba is not installed"))]
DROPOUT_NET = cnnc.loads("network drop\ninput 12x12x3\nconv 8 3x3\nrelu\nmaxpool 2\ndropout 0.3\nfc 20\nrelu\n"
                         "dropout 0.5\nfc 5\nsoftmax")


@pytest.fixture(autouse=True)
def _small_networks_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Split these small networks' batches (no floor of work per shard)."""
    monkeypatch.setattr(NumpyProgram, "min_shard_macs", 0)
    monkeypatch.setattr(NumpyProgram, "min_process_shard_macs", 0)
    if importlib.util.find_spec("numba") is not None:
        from cnnc.backends.numba import Program as NumbaProgram

        monkeypatch.setattr(NumbaProgram, "min_shard_macs", 0)
        monkeypatch.setattr(NumbaProgram, "min_process_shard_macs", 0)


def model_and_data(network: cnnc.Network, backend: str, examples: int = 40, dtype: str = "float32"):
    model = network.compile(seed=3, backend=backend, threads=2, dtype=dtype)
    model.optimizer = cnnc.optim.SGD(lr=0.05, momentum=0.9)
    rng = np.random.default_rng(1)
    x = rng.random((examples, *network.report.input.dims), dtype=np.float32)
    y = rng.integers(0, network.report.output.channels, examples)
    return model, x, y


def workers_of(model: Model) -> list[int]:
    processes = model._workers.processes
    return [worker.pid for worker in processes.workers] if processes is not None else []


def ended(pid: int) -> bool:
    """Whether a process has ended (gone, or a zombie no one reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in "ZX"
    except FileNotFoundError:
        return True


def wait_until_ended(pids: list[int], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(ended(pid) for pid in pids):
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("network", [cnnc.load(ROOT / "examples" / "lenet5.cnn"), DROPOUT_NET],
                         ids=["lenet5", "dropout"])
def test_processes_train_as_threads_do_bit_for_bit(backend: str, network, monkeypatch) -> None:
    """Neither network has a convolution the Winograd path takes, so both ways run the same kernels on the
    same shards: three epochs of fit end on the same bits, dropout's masks included."""
    found = {}
    for enabled in (False, True):
        monkeypatch.setattr(shard_processes, "ENABLED", enabled)
        model, x, y = model_and_data(network, backend)
        model.fit(x, y, epochs=3, batch_size=20, verbose=False)
        assert (model._workers.processes is not None) == enabled
        found[enabled] = model.params
        model._workers.close()
    for key, value in found[False].items():
        np.testing.assert_array_equal(found[True][key], value, err_msg=key)


def test_a_worker_runs_its_shard_on_the_parameters_of_the_step() -> None:
    """Parameters replaced between steps (not updated in place) reach the worker: the step's gradients are
    those of one thread on the whole batch (float64, within 1e-10)."""
    model, x, y = model_and_data(cnnc.load(ROOT / "examples" / "lenet5.cnn"), "numpy", dtype="float64")
    model.loss_and_grads(x, y)
    rng = np.random.default_rng(7)
    model.params = {key: rng.standard_normal(value.shape).astype(value.dtype) for key, value in model.params.items()}
    loss, grads = model.loss_and_grads(x, y)
    model.threads = 1
    whole_loss, whole = model.loss_and_grads(x, y)
    assert loss == pytest.approx(whole_loss, rel=1e-10)
    for key, value in whole.items():
        np.testing.assert_allclose(grads[key], value, rtol=1e-10, atol=1e-12, err_msg=key)


def test_an_error_in_a_worker_is_raised_in_the_caller_and_the_next_step_forks_anew(monkeypatch) -> None:
    model, x, y = model_and_data(DROPOUT_NET, "numpy")
    caller = os.getpid()
    expected = model.loss_and_grads(x, y, seed=5)
    original = Model._shard_loss

    def failing_in_workers(self, program, *args):
        if os.getpid() != caller:
            raise ValueError("a shard's own failure")
        return original(self, program, *args)

    monkeypatch.setattr(Model, "_shard_loss", failing_in_workers)
    model._workers.close()  # the next step forks workers that run the patched method
    with pytest.raises(ValueError, match="a shard's own failure"):
        model.loss_and_grads(x, y, seed=5)
    assert model._workers.processes is not None and not model._workers.processes.alive
    monkeypatch.setattr(Model, "_shard_loss", original)
    loss, grads = model.loss_and_grads(x, y, seed=5)
    assert loss == expected[0]
    for key, value in expected[1].items():
        np.testing.assert_array_equal(grads[key], value, err_msg=key)


def test_an_interrupt_in_the_caller_ends_the_workers(monkeypatch) -> None:
    model, x, y = model_and_data(DROPOUT_NET, "numpy")
    caller = os.getpid()
    model.loss_and_grads(x, y)
    pids = workers_of(model)
    original = Model._shard_loss

    def interrupted_in_caller(self, program, *args):
        if os.getpid() == caller:
            raise KeyboardInterrupt
        return original(self, program, *args)

    monkeypatch.setattr(Model, "_shard_loss", interrupted_in_caller)
    with pytest.raises(KeyboardInterrupt):
        model.loss_and_grads(x, y)
    assert pids and wait_until_ended(pids)
    monkeypatch.setattr(Model, "_shard_loss", original)
    model.loss_and_grads(x, y)
    assert workers_of(model) and workers_of(model) != pids


def test_a_killed_worker_is_reported_and_replaced() -> None:
    model, x, y = model_and_data(DROPOUT_NET, "numpy")
    expected = model.loss_and_grads(x, y, seed=2)[0]
    [pid] = workers_of(model)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(shard_processes.WorkerLost, match=rf"process {pid}, .* was killed by SIGKILL"):
        model.loss_and_grads(x, y, seed=2)
    assert model.loss_and_grads(x, y, seed=2)[0] == expected
    assert workers_of(model) != [pid]


def test_workers_end_with_their_model_and_a_new_thread_count_forks_anew() -> None:
    model, x, y = model_and_data(DROPOUT_NET, "numpy", examples=48)
    model.loss_and_grads(x, y)
    two = workers_of(model)
    model.threads = 3
    model.loss_and_grads(x, y)
    three = workers_of(model)
    assert len(two) == 1 and len(three) == 2 and wait_until_ended(two)
    del model
    import gc

    gc.collect()
    assert wait_until_ended(three)


def test_workers_end_with_the_callers_process() -> None:
    """The caller leaves without closing anything (``os._exit``): each worker sees its pipe close."""
    script = textwrap.dedent(f"""
        import os, sys
        import numpy as np
        import cnnc
        from cnnc.backends.numpy import Program
        Program.min_process_shard_macs = 0
        net = cnnc.load({str(ROOT / "examples" / "lenet5.cnn")!r})
        model = net.compile(threads=2)
        x = np.random.default_rng(0).random((32, 28, 28, 1), dtype=np.float32)
        model.loss_and_grads(x, np.arange(32) % 10)
        print(*[worker.pid for worker in model._workers.processes.workers], flush=True)
        os._exit(0)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "2"})
    assert done.returncode == 0, done.stderr
    pids = [int(pid) for pid in done.stdout.split()]
    assert pids and wait_until_ended(pids)


def test_the_environment_keeps_shards_on_threads() -> None:
    done = subprocess.run([sys.executable, "-c", "from cnnc import shard_processes; print(shard_processes.ENABLED)"],
                          capture_output=True, text=True, env={**os.environ, "CNNC_SHARD_PROCESSES": "0"}, check=True)
    assert done.stdout.strip() == "False"


def test_arena_arrays_are_shared_with_a_forked_child() -> None:
    arena = shard_processes.Arena({"a": np.zeros((3, 5), np.float32), "b": np.zeros(7, np.float64)})
    assert all(array.ctypes.data % shard_processes.ALIGNMENT == 0 for array in arena.arrays.values())
    pid = os.fork()
    if pid == 0:
        arena.arrays["a"][...] = 2.5
        arena.arrays["b"][3] = -1.0
        os._exit(0)
    os.waitpid(pid, 0)
    assert (arena.arrays["a"] == 2.5).all() and arena.arrays["b"].tolist() == [0, 0, 0, -1, 0, 0, 0]


SPLIT_SPEC = """network split
input 28x28x1
conv 16 3x3 pad=1
relu
conv 16 3x3 pad=1
relu
maxpool 4
fc 4
softmax
train { optimizer=momentum lr=0.05 momentum=0.9 epochs=40 batch=32 seed=3 }
"""
"""About 1.9M multiply-accumulates an example: a batch of 32 splits in two shards above the NumPy
backend's floor of work per shard (``min_process_shard_macs``), with no test's patch in the command's process."""


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def start_training(tmp_path: Path) -> tuple[subprocess.Popen, Path, list[int]]:
    """`cnnc train --threads 2` in a session of its own, once its first epoch is logged, and its workers."""
    spec, out, log = tmp_path / "split.cnn", tmp_path / "split.npz", tmp_path / "log.jsonl"
    spec.write_text(SPLIT_SPEC, encoding="utf-8")
    command = [sys.executable, "-m", "cnnc", "train", str(spec), "--data", "synthetic:n=320,test=64,classes=4,seed=1",
               "--threads", "2", "--out", str(out), "--log", str(log)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not (log.exists() and log.read_text().count("\n") >= 1) and time.monotonic() < deadline:
        time.sleep(0.01)
    workers = children_of(process.pid)
    if process.poll() is not None or not workers:
        process.kill()
        pytest.fail(f"no worker process seen: {process.communicate()}")
    return process, out, workers


def test_ctrl_c_to_the_terminals_process_group_stops_training_after_the_batch(tmp_path: Path) -> None:
    """Ctrl-C reaches every process of the group: the workers ignore it and the command stops as on one
    thread, after the batch, with a checkpoint to resume from; the workers end with it."""
    process, out, workers = start_training(tmp_path)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted after batch" in err and "Traceback" not in err
    assert 1 <= cnnc.load_model(out).run_state["progress"]["epoch"] < 40
    assert wait_until_ended(workers)


def test_a_worker_killed_during_training_is_reported_with_the_checkpoint_kept(tmp_path: Path) -> None:
    process, out, workers = start_training(tmp_path)
    os.kill(workers[0], signal.SIGKILL)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    assert f"worker process {workers[0]}, which ran part of each training batch, was killed by SIGKILL" in err
    assert "is intact" in err and "--threads 1" in err and "Traceback" not in err
    assert cnnc.load_model(out).run_state["progress"]["epoch"] >= 1


def test_a_failed_fork_leaves_the_models_shards_on_threads(monkeypatch) -> None:
    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    model, x, y = model_and_data(DROPOUT_NET, "numpy")
    monkeypatch.setattr(os, "fork", no_fork)
    loss, grads = model.loss_and_grads(x, y, seed=1)
    assert model._workers.processes is None and model._workers.fork_failed
    monkeypatch.setattr(shard_processes, "ENABLED", False)
    expected_loss, expected = model_and_data(DROPOUT_NET, "numpy")[0].loss_and_grads(x, y, seed=1)
    assert loss == expected_loss
    for key, value in expected.items():
        np.testing.assert_array_equal(grads[key], value, err_msg=key)


def test_a_batch_larger_than_the_workers_arenas_forks_new_ones(monkeypatch) -> None:
    """A worker's arena of examples holds the shards of the step it was forked for (here no more: at least
    ``EXAMPLES_BYTES``): a larger batch forks new workers with larger arenas, a smaller one takes the front of
    the same; the steps are those of one thread."""
    monkeypatch.setattr(shard_processes, "EXAMPLES_BYTES", 0)
    model, x, y = model_and_data(DROPOUT_NET, "numpy", examples=80, dtype="float64")
    model.loss_and_grads(x[:32], y[:32])
    first = workers_of(model)
    assert len(model._workers.processes.workers[0].inputs) == 16
    found = [model.loss_and_grads(x, y, seed=4)]
    second = workers_of(model)
    assert second != first and len(model._workers.processes.workers[0].inputs) == 40 and wait_until_ended(first)
    found.append(model.loss_and_grads(x[:50], y[:50], seed=4))
    assert workers_of(model) == second
    model.threads = 1
    for (loss, grads), stop in zip(found, [80, 50]):
        expected_loss, expected = model.loss_and_grads(x[:stop], y[:stop], seed=4)
        assert loss == pytest.approx(expected_loss, rel=1e-12)
        for key, value in expected.items():
            np.testing.assert_allclose(grads[key], value, rtol=1e-10, atol=1e-13, err_msg=key)


def test_the_arena_of_examples_has_room_for_larger_batches() -> None:
    model, x, y = model_and_data(DROPOUT_NET, "numpy", examples=80)
    model.loss_and_grads(x[:32], y[:32])
    first = workers_of(model)
    room = model._workers.processes.workers[0].inputs
    assert room.shape == (shard_processes.EXAMPLES_BYTES // x[:1].nbytes, *x.shape[1:])
    model.loss_and_grads(x, y)
    assert workers_of(model) == first
