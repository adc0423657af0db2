"""Downloading the standard data sets into the cache: mirrors, SHA-256 checks, progress, atomic moves.

A file is streamed into a hidden temporary file in the cache directory while its SHA-256 is computed,
and moved to its final name with ``os.replace`` only when the digest matches, so the cache never holds a
partial or unverified file. Mirrors are tried in order.

Checksums (SHA-256 of the files as published; the sizes and MD5s of the same files agree with the
dataset authors' pages and torchvision's tables):
- MNIST: as TensorFlow Datasets and torchvision's mirrors record them, for both mirrors below.
- Fashion-MNIST: the files of zalandoresearch/fashion-mnist (data/fashion), whose README lists their MD5s.
- CIFAR-10 binary: ``cifar-10-binary.tar.gz`` from the authors' page (MD5 c32a1d4ab5d03f1284b67883e8d87530).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from cnnc.cache import user_cache_folder
from cnnc.data.dataset import DataError
from cnnc.frozen import frozen

CHUNK_BYTES = 1 << 16
TIMEOUT_SECONDS = 30


@frozen
class Remote:
    """A data set as published: mirror base URLs (tried in order), the SHA-256 of each file, and the
    other forms of the files that cnnc reads as well (for the offline message)."""

    name: str
    mirrors: tuple[str, ...]
    files: dict[str, str]
    also_accepted: str = "gzip or uncompressed"


REMOTES: dict[str, Remote] = {
    "mnist": Remote("mnist", (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ), {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }),
    "fashion-mnist": Remote("fashion-mnist", (
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ), {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    }),
    "cifar10": Remote("cifar10", (
        "https://www.cs.toronto.edu/~kriz/",
    ), {
        "cifar-10-binary.tar.gz": "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    }, "or the data_batch_*.bin and test_batch.bin files it holds"),
}


def cache_root() -> Path:
    """Where downloaded data sets live: ``$CNNC_DATA`` if set, else cnnc's folder in the user's
    cache (``cnnc.cache.user_cache_folder``: ``$CNNC_CACHE_DIR``, ``$XDG_CACHE_HOME/cnnc`` or
    ``~/.cache/cnnc``; ``~/Library/Caches/cnnc`` on macOS; ``%LOCALAPPDATA%\\cnnc\\Cache`` on Windows)."""
    if os.environ.get("CNNC_DATA"):
        return Path(os.environ["CNNC_DATA"]).expanduser()
    return user_cache_folder()


def missing_help(remote: Remote, directory: Path, files: list[str] | None = None) -> str:
    """What to do without a network: which files to put where, and where they come from."""
    names = files or list(remote.files)
    return (f"put {', '.join(names)} in {directory} (from {remote.mirrors[0]}; {remote.also_accepted}), "
            f"or pass {remote.name}:DIR with a folder that holds them")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


class _BadTransfer(Exception):
    """A download cut short, or whose SHA-256 is not the published one."""


def _stream(url: str, into, expected: str, progress: Progress | None, label: str) -> None:
    """Copy ``url`` into the open file ``into``; raise ``_BadTransfer`` if fewer bytes arrive than the
    server announced or the SHA-256 differs."""
    request = urllib.request.Request(url, headers={"User-Agent": "cnnc (https://pypi.org/project/cnnc)"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        total = response.headers.get("Content-Length")
        task = progress.add_task(label, total=int(total) if total else None) if progress else None
        digest = hashlib.sha256()
        received = 0
        for block in iter(lambda: response.read(CHUNK_BYTES), b""):
            digest.update(block)
            into.write(block)
            received += len(block)
            if progress is not None:
                progress.advance(task, len(block))
    if total and received != int(total):
        raise _BadTransfer(f"{url}: the transfer stopped after {received:,} of {int(total):,} bytes")
    if digest.hexdigest() != expected:
        raise _BadTransfer(f"{url} has SHA-256 {digest.hexdigest()}, expected {expected}")


def fetch_file(remote: Remote, name: str, directory: Path, console: Console | None = None) -> Path:
    """Download ``name`` of ``remote`` into ``directory`` (created if needed), checked against its
    SHA-256 and moved into place atomically. ``console`` shows a progress bar; None shows nothing."""
    problems: list[str] = []
    offline = True
    for mirror in remote.mirrors:
        url = mirror + name
        try:
            directory.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
        except OSError as exc:
            raise DataError(f"cannot write to the data cache {directory}: {exc.strerror or exc}",
                            "set CNNC_DATA to a folder you can write to") from None
        try:
            with os.fdopen(descriptor, "wb") as into:
                if console is None:
                    _stream(url, into, remote.files[name], None, name)
                else:
                    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                               TransferSpeedColumn())
                    with Progress(*columns, console=console, transient=True) as progress:
                        _stream(url, into, remote.files[name], progress, f"{remote.name} {name}")
            os.replace(temporary, directory / name)
            return directory / name
        except urllib.error.HTTPError as exc:
            offline = False
            problems.append(f"{url}: HTTP {exc.code} {exc.reason}")
        except _BadTransfer as exc:
            offline = False
            problems.append(str(exc))
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as exc:
            problems.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
        except (http.client.HTTPException, OSError) as exc:  # a transfer cut short, a full disk
            offline = False
            problems.append(f"{url}: {type(exc).__name__}: {exc}")
        finally:
            Path(temporary).unlink(missing_ok=True)
    if offline:
        raise DataError(f"cannot download {remote.name} (no network?): {'; '.join(problems)}",
                        missing_help(remote, directory, [name]))
    raise DataError(f"cannot download {name} of {remote.name}: {'; '.join(problems)}; nothing was kept",
                    missing_help(remote, directory, [name]))


def fetch_missing(remote: Remote, directory: Path, names: list[str], console: Console | None = None) -> None:
    """Download each of ``names`` that ``directory`` lacks; a failure's help lists every file still missing."""
    for index, name in enumerate(names):
        if not (directory / name).exists():
            try:
                fetch_file(remote, name, directory, console)
            except DataError as problem:
                still = [later for later in names[index:] if not (directory / later).exists()]
                raise DataError(problem.message, missing_help(remote, directory, still)) from None
