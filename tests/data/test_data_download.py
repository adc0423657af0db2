"""Downloading into the cache, against a local HTTP server serving small generated IDX files."""

from __future__ import annotations

import hashlib
import io
import socket
import sys

import numpy as np
import pytest
from rich.console import Console

from cnnc import ir
from cnnc.data import DataError, load_source
from cnnc.data import download
from cnnc.data.download import Remote, cache_root, fetch_file, fetch_missing

MNIST_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "t10k-labels-idx1-ubyte.gz")


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _closed_port_url() -> str:
    """A URL on which nothing listens: what an unplugged network looks like to urllib."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def served_mnist(http_root, mnist_like):
    """A mirror serving MNIST-named files: 50 training and 20 test examples; (Remote, data by split)."""
    url, root = http_root
    data = {"train": mnist_like(root, "train", 50, seed=1), "test": mnist_like(root, "test", 20, seed=2)}
    remote = Remote("mnist", (url,), {name: _digest(root / name) for name in MNIST_NAMES})
    return remote, data


def test_fetch_verifies_and_moves_into_place(tmp_path, served_mnist):
    remote, _ = served_mnist
    cache = tmp_path / "cache" / "mnist"  # created on demand
    path = fetch_file(remote, "t10k-labels-idx1-ubyte.gz", cache)
    assert path == cache / "t10k-labels-idx1-ubyte.gz"
    assert _digest(path) == remote.files["t10k-labels-idx1-ubyte.gz"]
    assert sorted(p.name for p in cache.iterdir()) == ["t10k-labels-idx1-ubyte.gz"]  # no temporary left


def test_progress_bar_names_the_file(tmp_path, served_mnist):
    remote, _ = served_mnist
    output = io.StringIO()
    fetch_file(remote, "train-images-idx3-ubyte.gz", tmp_path, Console(file=output, force_terminal=True, width=100))
    assert "mnist train-images-idx3-ubyte.gz" in output.getvalue()


def test_checksum_mismatch_keeps_nothing(tmp_path, served_mnist):
    remote, _ = served_mnist
    wrong = Remote("mnist", remote.mirrors, {**remote.files, "t10k-labels-idx1-ubyte.gz": "0" * 64})
    with pytest.raises(DataError) as caught:
        fetch_file(wrong, "t10k-labels-idx1-ubyte.gz", tmp_path / "cache")
    assert f"has SHA-256 {remote.files['t10k-labels-idx1-ubyte.gz']}, expected {'0' * 64}" in caught.value.message
    assert "nothing was kept" in caught.value.message
    assert list((tmp_path / "cache").iterdir()) == []


def test_not_found_keeps_nothing(tmp_path, http_root):
    url, _ = http_root
    remote = Remote("mnist", (url,), {"absent.gz": "0" * 64})
    with pytest.raises(DataError, match=r"absent.gz: HTTP 404") as caught:
        fetch_file(remote, "absent.gz", tmp_path / "cache")
    assert "no network" not in caught.value.message
    assert list((tmp_path / "cache").iterdir()) == []


def test_transfer_cut_short_keeps_nothing(tmp_path, http_root):
    url, _ = http_root
    remote = Remote("mnist", (url,), {"truncated.gz": "0" * 64})
    with pytest.raises(DataError, match="truncated.gz: the transfer stopped after 10 of 1,000 bytes"):
        fetch_file(remote, "truncated.gz", tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_next_mirror_after_a_failure(tmp_path, served_mnist):
    remote, _ = served_mnist
    with_dead_first = Remote("mnist", (_closed_port_url(), remote.mirrors[0] + "missing/", *remote.mirrors),
                             remote.files)
    path = fetch_file(with_dead_first, "t10k-labels-idx1-ubyte.gz", tmp_path)
    assert _digest(path) == remote.files["t10k-labels-idx1-ubyte.gz"]


def test_offline_message_says_where_to_put_the_files(tmp_path):
    remote = Remote("mnist", (_closed_port_url(),), dict.fromkeys(MNIST_NAMES, "0" * 64))
    with pytest.raises(DataError) as caught:
        fetch_missing(remote, tmp_path / "mnist", list(MNIST_NAMES))
    assert caught.value.message.startswith("cannot download mnist (no network?)")
    assert caught.value.help == (
        f"put {', '.join(MNIST_NAMES)} in {tmp_path / 'mnist'} (from {remote.mirrors[0]}; gzip or uncompressed), "
        "or pass mnist:DIR with a folder that holds them")
    assert list((tmp_path / "mnist").iterdir()) == []


def test_cache_root_follows_cnnc_data(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNC_DATA", str(tmp_path / "here"))
    assert cache_root() == tmp_path / "here"
    monkeypatch.delenv("CNNC_DATA")
    monkeypatch.delenv("CNNC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform not in ("win32", "darwin"):
        assert cache_root() == tmp_path / "xdg" / "cnnc"
    monkeypatch.setenv("CNNC_CACHE_DIR", str(tmp_path / "mine"))  # cnnc's whole cache folder
    assert cache_root() == tmp_path / "mine"


def test_mnist_source_downloads_into_the_cache_then_reads_it(monkeypatch, tmp_path, served_mnist):
    remote, data = served_mnist
    monkeypatch.setenv("CNNC_DATA", str(tmp_path / "cache"))
    monkeypatch.setitem(download.REMOTES, "mnist", remote)
    splits = load_source("mnist", ir.Shape((28, 28), 1), 10)
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(MNIST_NAMES)
    for part, (images, labels) in ((splits.train, data["train"]), (splits.test, data["test"])):
        np.testing.assert_array_equal(part.y, labels)
        np.testing.assert_allclose(part.x[..., 0], images / 255, atol=1e-7)
    # Later runs need no network: a dead mirror is never asked.
    monkeypatch.setitem(download.REMOTES, "mnist", Remote("mnist", (_closed_port_url(),), remote.files))
    assert len(load_source("mnist").train) == 50


def test_mnist_source_without_download(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNC_DATA", str(tmp_path))
    with pytest.raises(DataError) as caught:
        load_source("fashion-mnist", download=False)
    assert caught.value.message == f"fashion-mnist is not in the cache ({tmp_path / 'fashion-mnist'}) and " \
                                   "downloading is off"
    assert "t10k-labels-idx1-ubyte.gz" in caught.value.help


def test_published_checksums_are_well_formed():
    for remote in download.REMOTES.values():
        assert remote.mirrors and all(m.endswith("/") for m in remote.mirrors)
        assert all(len(digest) == 64 and int(digest, 16) >= 0 for digest in remote.files.values())
    assert set(download.REMOTES["mnist"].files) == set(MNIST_NAMES)
    assert set(download.REMOTES["fashion-mnist"].files) == set(MNIST_NAMES)
