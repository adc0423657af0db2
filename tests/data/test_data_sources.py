"""SOURCE strings and every kind of source: MNIST-style folders, CIFAR-10 (folder, archive, download
with safe extraction), .npz files, class folders, synthetic data; and the real MNIST test set."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from cnnc import ir
from cnnc.data import DataError, DataSource, load_source, parse_source
from cnnc.data import download
from cnnc.data.download import Remote
from cnnc.data.standard import CLASS_NAMES, extract_cifar

MNIST_SHAPE = ir.Shape((28, 28), 1)


# --- parsing -------------------------------------------------------------------------------------------

def test_parse_dataset_names(tmp_path):
    assert parse_source("mnist") == DataSource("mnist", None, {}, "mnist")
    assert parse_source(f"mnist:{tmp_path}") == DataSource("mnist", tmp_path, {}, f"mnist:{tmp_path}")
    assert parse_source("Fashion_MNIST").kind == "fashion-mnist"
    assert parse_source("cifar-10:~/data").path == Path("~/data").expanduser()
    (tmp_path / "folder").mkdir()
    assert parse_source(str(tmp_path / "folder")).kind == "folder"
    assert parse_source("data/train.NPZ").kind == "npz"


def test_parse_synthetic_settings():
    parsed = parse_source("synthetic:n=500, classes=3,seed=7,noise=0.1,shape=32x32x3,test=50")
    assert parsed.options == {"n": 500, "classes": 3, "seed": 7, "noise": 0.1, "shape": ir.Shape((32, 32), 3),
                              "test": 50}
    assert parse_source("synthetic").options == {}


@pytest.mark.parametrize("text, message", [
    ("mnsit", "unknown data source 'mnsit'; did you mean 'mnist'?"),
    ("nowhere/at/all", "unknown data source 'nowhere/at/all': no such file or folder"),
    ("mnist:", "'mnist:': the folder after ':' is empty"),
    ("synthetic:classes=1", "synthetic: classes must be at least 2"),
    ("synthetic:sead=3", "synthetic: unknown setting 'sead'; did you mean 'seed'?"),
    ("synthetic:n=many", "synthetic: n=many is not a whole number"),
    ("synthetic:noise=-1", "synthetic: noise must be at least 0"),
    ("synthetic:noise=nan", "synthetic: noise must be at least 0"),
    ("synthetic:seed", "synthetic: setting 'seed' needs a value"),
    ("synthetic:shape=28x0x1", "synthetic: shape '28x0x1' is not like 28x28x1"),
    ("synthetic:shape=28", "synthetic: shape '28' is not like 28x28x1"),
])
def test_parse_errors(text, message):
    with pytest.raises(DataError) as caught:
        parse_source(text)
    assert caught.value.message.startswith(message)


def test_a_plain_file_is_not_a_source(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="not an .npz file or a folder") as caught:
        parse_source(str(tmp_path / "notes.txt"))
    assert caught.value.help.startswith("a SOURCE is mnist[:DIR]")


# --- MNIST-style folders --------------------------------------------------------------------------------

def test_mnist_folder_with_both_splits_gzip_and_raw(tmp_path, mnist_like):
    train_images, train_labels = mnist_like(tmp_path, "train", 30, seed=1, compress=False)
    test_images, test_labels = mnist_like(tmp_path, "test", 12, seed=2)
    splits = load_source(f"fashion-mnist:{tmp_path}", MNIST_SHAPE, 10)
    assert splits.train.classes == CLASS_NAMES["fashion-mnist"] and splits.train.classes[9] == "Ankle boot"
    np.testing.assert_array_equal(splits.train.y, train_labels)
    np.testing.assert_array_equal(splits.test.x[..., 0], test_images.astype(np.float32) / 255)
    assert splits.notes == (f"fashion-mnist: 30 train examples, 12 test examples from {tmp_path}",)


def test_mnist_folder_with_only_test_files_gives_a_test_set(tmp_path, mnist_like):
    mnist_like(tmp_path, "test", 10, seed=3)
    splits = load_source(f"mnist:{tmp_path}")
    assert splits.train is None and len(splits.test) == 10
    held = splits.with_holdout(0.2)
    assert (len(held.train), len(held.test)) == (8, 2)
    np.testing.assert_array_equal(held.test.x, splits.test.x[8:])


def test_mnist_folder_problems(tmp_path, mnist_like):
    with pytest.raises(DataError, match="no IDX files in") as caught:
        load_source(f"mnist:{tmp_path}")
    assert "the t10k pair alone gives a test set" in caught.value.help
    with pytest.raises(DataError, match="is not a folder"):
        load_source(f"mnist:{tmp_path / 'absent'}")
    mnist_like(tmp_path, "train", 5, seed=4)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="has train-images-idx3-ubyte but not train-labels-idx1-ubyte"):
        load_source(f"mnist:{tmp_path}")


def test_mnist_label_count_must_match(tmp_path, mnist_like):
    from cnnc.data.idx import write_idx
    mnist_like(tmp_path, "test", 6, seed=5)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match="5 labels for 6 images"):
        load_source(f"mnist:{tmp_path}")


def test_shared_mnist_as_the_lead_wires_it(shared_mnist):
    """`--data mnist:../shared/data/mnist`: the 10,000 t10k examples; first 8,000 train, last 2,000 test."""
    splits = load_source(f"mnist:{shared_mnist}", MNIST_SHAPE, 10)
    assert splits.train is None and len(splits.test) == 10000
    held = splits.with_holdout(0.2)
    assert (len(held.train), len(held.test)) == (8000, 2000)
    assert held.train.y[:5].tolist() == [7, 2, 1, 0, 4]
    assert held.notes[-1] == "mnist (t10k): no training set; training on its first 8,000 examples and testing on " \
                             "the last 2,000"
    assert held.train.x.dtype == np.float32 and held.train.x.min() == 0 and held.train.x.max() == 1
    expected = {name: digest for digest, name in
                (line.split() for line in (shared_mnist / "SHA256SUMS").read_text().splitlines() if line)}
    for name, digest in expected.items():
        assert hashlib.sha256((shared_mnist / name).read_bytes()).hexdigest() == digest


# --- CIFAR-10 -------------------------------------------------------------------------------------------

def _cifar_batch(count: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A batch in the binary format: per record a label byte, then the red, green and blue 32x32 planes."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, count, dtype=np.uint8)
    records = np.concatenate([labels[:, None], images.transpose(0, 3, 1, 2).reshape(count, -1)], axis=1)
    return records.tobytes(), images, labels


def _cifar_archive(path: Path, evil: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    batches = {}
    with tarfile.open(path, "w:gz") as tar:
        names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
        for seed, name in enumerate(names):
            data, images, labels = _cifar_batch(3, seed)
            batches[name] = images, labels
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if evil:
            for name in ("../escaped.bin", "/tmp/absolute.bin", "cifar-10-batches-bin/../../up.bin"):
                info = tarfile.TarInfo(name)
                info.size = 4
                tar.addfile(info, io.BytesIO(b"evil"))
            link = tarfile.TarInfo("cifar-10-batches-bin/batches.meta.txt")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(link)
    return batches


def test_cifar_records_are_read_plane_by_plane(tmp_path):
    data, images, labels = _cifar_batch(4, 0)
    for i in range(1, 6):
        (tmp_path / f"data_batch_{i}.bin").write_bytes(data)
    (tmp_path / "test_batch.bin").write_bytes(data[:3073 * 2])
    splits = load_source(f"cifar10:{tmp_path}", ir.Shape((32, 32), 3), 10)
    assert (len(splits.train), len(splits.test)) == (20, 2)
    np.testing.assert_array_equal(splits.test.x * 255, images[:2].astype(np.float32))
    np.testing.assert_array_equal(splits.train.y[4:8], labels)
    assert splits.train.classes[0] == "airplane" and splits.train.classes[9] == "truck"


def test_cifar_wrong_format(tmp_path):
    (tmp_path / "test_batch.bin").write_bytes(bytes(3000))
    with pytest.raises(DataError, match="not a whole number of 3073-byte CIFAR-10 records"):
        load_source(f"cifar10:{tmp_path}")


def test_cifar_from_an_archive_in_a_folder_writes_nothing(tmp_path):
    batches = _cifar_archive(tmp_path / "cifar-10-binary.tar.gz", evil=True)
    splits = load_source(f"cifar10:{tmp_path}")
    np.testing.assert_array_equal(splits.test.y, batches["test_batch.bin"][1])
    assert len(splits.train) == 15
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-binary.tar.gz"]


def test_safe_extraction_ignores_paths_outside_and_links(tmp_path):
    (tmp_path / "cache").mkdir()
    _cifar_archive(tmp_path / "a.tar.gz", evil=True)
    folder = extract_cifar(tmp_path / "a.tar.gz", tmp_path / "cache")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"])
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["cifar-10-batches-bin"]
    assert not (tmp_path / "escaped.bin").exists() and not (tmp_path / "up.bin").exists()


def test_cifar_download_into_the_cache(monkeypatch, tmp_path, http_root):
    url, served = http_root
    batches = _cifar_archive(served / "cifar-10-binary.tar.gz")
    digest = hashlib.sha256((served / "cifar-10-binary.tar.gz").read_bytes()).hexdigest()
    monkeypatch.setitem(download.REMOTES, "cifar10", Remote("cifar10", (url,), {"cifar-10-binary.tar.gz": digest}))
    monkeypatch.setenv("CNNC_DATA", str(tmp_path / "cache"))
    splits = load_source("cifar10")
    np.testing.assert_array_equal(splits.train.y[:3], batches["data_batch_1.bin"][1])
    assert sorted(p.name for p in (tmp_path / "cache" / "cifar10").iterdir()) == ["cifar-10-batches-bin"]


def test_cifar_not_cached_and_no_download(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNC_DATA", str(tmp_path))
    with pytest.raises(DataError, match="cifar10 is not in the cache") as caught:
        load_source("cifar10", download=False)
    assert caught.value.help.startswith(f"put cifar-10-binary.tar.gz in {tmp_path / 'cifar10'}")
    # Placed by hand, as the message says: the batch files themselves, or the archive (extracted once).
    data, _, labels = _cifar_batch(2, 9)
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "test_batch.bin").write_bytes(data)
    assert load_source("cifar10", download=False).test.y.tolist() == labels.tolist()
    (tmp_path / "cifar10" / "test_batch.bin").unlink()
    batches = _cifar_archive(tmp_path / "cifar10" / "cifar-10-binary.tar.gz")
    assert load_source("cifar10", download=False).test.y.tolist() == batches["test_batch.bin"][1].tolist()
    assert sorted(p.name for p in (tmp_path / "cifar10").iterdir()) == ["cifar-10-batches-bin"]


# --- .npz -----------------------------------------------------------------------------------------------

def test_npz_with_train_and_test_and_class_names(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (6, 5, 5), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([[0], [1], [2], [0], [1], [2]]),
             x_test=np.zeros((2, 5, 5), np.float32), y_test=np.array([2.0, 0.0]), classes=np.array(["a", "b", "c"]))
    splits = load_source(str(tmp_path / "d.npz"), ir.Shape((5, 5), 1), 3)
    assert splits.train.dims == (5, 5, 1) and splits.train.classes == ("a", "b", "c")
    np.testing.assert_allclose(splits.train.x[..., 0], x / 255, rtol=1e-6)
    assert splits.test.y.tolist() == [2, 0]
    assert [note.split(": ", 1)[1] for note in splits.notes] == [
        "uint8 values divided by 255 to lie in [0, 1]", "examples of 5x5 read as 5x5x1 (one channel)",
        "examples of 5x5 read as 5x5x1 (one channel)"]


def test_npz_classes_come_from_the_labels_and_are_validated(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 8, 2), np.float32), y=np.array([0, 4, 1]))
    splits = load_source(str(tmp_path / "d.npz"))
    assert splits.train.classes == ("0", "1", "2", "3", "4") and splits.test is None
    with pytest.raises(DataError, match=r"y: label 4 is outside \[0, 3\) \(the spec's output has 3 classes\)"):
        load_source(str(tmp_path / "d.npz"), ir.Shape((8,), 2), 3)
    with pytest.raises(DataError, match="the examples are 8x2 but the spec's input is 8x3"):
        load_source(str(tmp_path / "d.npz"), ir.Shape((8,), 3), 5)


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((2, 3, 1))}, "no array x or y (found images)"),
    ({"x": np.zeros((2, 3, 1)), "y": np.zeros((2, 10))}, "labels of shape (2, 10)"),
    ({"x": np.zeros((2, 3, 1)), "y": np.array([0.5, 1])}, "labels of type float64"),
    ({"x": np.zeros((2, 3, 1)), "y": np.array([0, 1]), "x_test": np.zeros((1, 3, 1))}, "x_test has no y_test"),
])
def test_npz_problems(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError) as caught:
        load_source(str(tmp_path / "d.npz"))
    assert message in caught.value.message


def test_npz_unreadable(tmp_path):
    (tmp_path / "d.npz").write_text("not a zip")
    with pytest.raises(DataError, match="not a readable .npz file"):
        load_source(str(tmp_path / "d.npz"))
    with pytest.raises(DataError, match="no such file"):
        load_source(str(tmp_path / "absent.npz"))


# --- class folders --------------------------------------------------------------------------------------

def test_class_folders_fitted_to_the_spec(tmp_path, png_from_array):
    rng = np.random.default_rng(0)
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    (tmp_path / "cats" / "a.png").write_bytes(png_from_array(rng.integers(0, 256, (8, 8, 3)).astype(np.uint8), 4))
    (tmp_path / "cats" / "b.pgm").write_bytes(b"P5 4 4 255\n" + bytes(range(16)))
    np.save(tmp_path / "dogs" / "c.npy", np.full((4, 4, 1), 0.5, np.float32))
    (tmp_path / "dogs" / "readme.txt").write_text("ignored")
    (tmp_path / "dogs" / ".hidden.png").write_text("ignored")
    splits = load_source(str(tmp_path), ir.Shape((4, 4), 1), 2)
    data = splits.train
    assert data.classes == ("cats", "dogs") and data.y.tolist() == [0, 0, 1] and splits.test is None
    np.testing.assert_allclose(data.x[1, ..., 0], np.arange(16).reshape(4, 4) / 255, rtol=1e-6)
    np.testing.assert_allclose(data.x[2], 0.5)
    assert splits.notes[0] == f"{tmp_path}: 3 examples in 2 classes"
    assert splits.notes[1] == (f"{tmp_path}: 1 of 3 examples converted or resized, e.g. {tmp_path / 'cats' / 'a.png'}: "
                               "converted RGB to greyscale for the spec's input 4x4x1")
    assert splits.notes[2] == f"{tmp_path}: ignored 1 files that are not PNG, PGM, PPM or .npy"


def test_class_folders_need_one_size_without_a_spec(tmp_path):
    for name, size in (("a", 4), ("b", 5)):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "x.npy", np.zeros((size, size, 1), np.float32))
    with pytest.raises(DataError, match="examples differ in size \\(4x4x1 and 5x5x1\\)") as caught:
        load_source(str(tmp_path))
    assert "give the spec's input size" in caught.value.help
    splits = load_source(str(tmp_path), ir.Shape((3, 3), 1), 2)
    assert splits.train.dims == (3, 3, 1)


def test_train_and_test_folders(tmp_path):
    for split, classes in (("train", ("x", "y", "z")), ("test", ("z", "x"))):
        for name in classes:
            (tmp_path / split / name).mkdir(parents=True)
            np.save(tmp_path / split / name / "e.npy", np.full((2, 1), ord(name), np.float32))
    splits = load_source(str(tmp_path), ir.Shape((2,), 1), 3)
    assert splits.train.classes == ("x", "y", "z") and splits.train.y.tolist() == [0, 1, 2]
    assert splits.test.classes == ("x", "y", "z") and splits.test.y.tolist() == [0, 2]
    assert splits.test.x[:, 0, 0].tolist() == [ord("x"), ord("z")]
    (tmp_path / "test" / "w").mkdir()
    with pytest.raises(DataError, match="class folder\\(s\\) w are not among the training classes"):
        load_source(str(tmp_path))


def test_folder_without_classes(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(DataError, match="no class sub-folders"):
        load_source(str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no examples"):
        load_source(str(tmp_path))


# --- synthetic ------------------------------------------------------------------------------------------

def test_synthetic_is_sized_to_the_spec():
    splits = load_source("synthetic:n=40,test=8", ir.Shape((100,), 2), 3)
    assert splits.train.x.shape == (40, 100, 2) and splits.test.x.shape == (8, 100, 2)
    assert len(splits.train.classes) == 3
    default = load_source("synthetic:n=8")
    assert default.train.dims == (28, 28, 1) and len(default.train.classes) == 4


def test_synthetic_settings_that_contradict_the_spec_are_caught():
    with pytest.raises(DataError, match="the data has 6 classes but the spec's output has 3"):
        load_source("synthetic:n=12,classes=6", ir.Shape((8, 8), 1), 3)
