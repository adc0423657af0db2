"""Fixtures for the data tests: PNG files, a local HTTP server, MNIST-like IDX files, the shared MNIST."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from data_builders import build_png, write_mnist_like

# ../shared/data/mnist beside the repository (this file is <repo>/tests/data/conftest.py).
SHARED_MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


@pytest.fixture
def shared_mnist() -> Path:
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("../shared/data/mnist is absent")
    return SHARED_MNIST


@pytest.fixture
def png_from_array():
    """``build(array (H, W, C) of uint8 or uint16, filters)`` -> PNG bytes, colour type by channel count."""
    def build(array: np.ndarray, filters: list[int] | int = 0, interlace: int = 0) -> bytes:
        height, width, channels = array.shape
        colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
        depth = 16 if array.dtype == np.uint16 else 8
        rows = [array[y].astype(">u2" if depth == 16 else np.uint8).tobytes() for y in range(height)]
        filters = [filters] * height if isinstance(filters, int) else filters
        return build_png(rows, width, depth, colour, filters, max(1, channels * depth // 8), interlace=interlace)
    return build


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_root(tmp_path):
    """(base URL ending in '/', the folder it serves) of a local HTTP server running in a thread."""
    root = tmp_path / "served"
    root.mkdir()

    class Handler(_QuietHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            if self.path.endswith("/truncated.gz"):  # promises 1,000 bytes, sends 10, hangs up
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"\x1f\x8b" + bytes(8))
                self.wfile.flush()
                self.close_connection = True
                return
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", root
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def mnist_like():
    """``write(directory, split, count, seed, compress=True)`` -> (images, labels)."""
    return write_mnist_like
