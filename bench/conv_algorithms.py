"""im2col against Winograd F(2x2, 3x3) on the 3x3 convolutions of the CIFAR net and of ResNet-18, per layer.

    python bench/conv_algorithms.py [--repeats 15] [--backends numpy,numba] [--threads 1] [--predict]

For each convolution (the CIFAR net of ``bench/train_throughput.py`` at batch 64, ResNet-18's 3x3 convolutions at
56x56x64 and 28x28x128 at batch 16; float32, `same` padding), one training step's forward and backward pass of
the layer's kernel (``Convolution.forward`` then ``backward``, the input gradient included except for the
network's first layer, whose input needs none), by im2col and by Winograd, on each backend. The two take turns,
repeat after repeat, in one process, so that both see the same machine load; the time is the process's CPU
time (``time.process_time``: on a loaded machine, unlike wall time, it leaves out the time other processes
hold the core; with more than one thread it adds up every thread's). Printed: ms per forward+backward, best
and median repeat, the ratio im2col / Winograd of each, and which path the backend chooses for that layer
(``backends/numpy/winograd.py``: ``chosen``). The two "probe" layers (8 and 16 input channels) show where the
threshold ``MIN_CHANNELS`` lies.

``--predict`` times forward passes as predicting runs them instead (each path's chunked product, bias added),
at batches 1 to 64, with ResNet-18's 56x56x64, 14x14x256 and 7x7x512 layers too: the same ratio, the path training
chooses and the batches from which predicting takes Winograd (``Winograd.pays_at_inference``)."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

LAYERS = [  # (name, batch, height, width, channels, filters, input gradient needed)
    ("cifar conv1 32x32x3->32", 64, 32, 32, 3, 32, False),
    ("cifar conv2 32x32x32->32", 64, 32, 32, 32, 32, True),
    ("cifar conv3 16x16x32->64", 64, 16, 16, 32, 64, True),
    ("cifar conv4 16x16x64->64", 64, 16, 16, 64, 64, True),
    ("resnet18 56x56x64->64", 16, 56, 56, 64, 64, True),
    ("resnet18 28x28x128->128", 16, 28, 28, 128, 128, True),
    ("probe 32x32x8->32", 64, 32, 32, 8, 32, True),
    ("probe 32x32x16->32", 64, 32, 32, 16, 32, True),
]

PREDICT_LAYERS = [  # (name, height, width, channels, filters)
    ("cifar conv2 32x32x32->32", 32, 32, 32, 32),
    ("cifar conv4 16x16x64->64", 16, 16, 64, 64),
    ("resnet18 56x56x64->64", 56, 56, 64, 64),
    ("resnet18 28x28x128->128", 28, 28, 128, 128),
    ("resnet18 14x14x256->256", 14, 14, 256, 256),
    ("resnet18 7x7x512->512", 7, 7, 512, 512),
]
PREDICT_BATCHES = (1, 2, 4, 16, 64)


def kernels(backend: str, batch: int, height: int, width: int, channels: int, filters: int):
    """The layer's kernel compiled twice from the same weights: (im2col, Winograd), and its parameters."""
    import cnnc
    from cnnc.backends.numpy.winograd import Winograd

    spec = f"input {height}x{width}x{channels}\nconv {filters} 3x3 pad=same"
    model = cnnc.loads(spec).compile(backend=backend, seed=0)
    layer = model.program.root.steps[0]
    by_im2col = cnnc.loads(spec).compile(backend=backend, seed=0).program.root.steps[0]
    by_im2col.winograd = by_im2col.predicting_winograd = None
    chosen = layer.winograd is not None
    if not chosen:
        layer.winograd = layer.winograd_class(layer.geo, layer.channels, layer.filters, layer.workspace)
    assert isinstance(layer.winograd, Winograd)
    return by_im2col, layer, model.params, chosen


def step_ms(layer, x, dout, params, need_dx: bool) -> float:
    from cnnc.backends.numpy.kernel import Pass

    started = time.process_time()
    out, cache = layer.forward(x, params, Pass(training=True))
    layer.backward(dout, cache, params, need_dx)
    return 1000 * (time.process_time() - started)


def predict_ms(layer, x, params, winograd) -> float:
    """CPU ms of one prediction's product of ``layer`` by Winograd (``winograd``) or by im2col's chunks."""
    import numpy as np

    from cnnc.backends.numpy.inference import chunked

    weight, bias = params[layer.weight_key], params[layer.bias_key]
    add_bias = lambda rows: np.add(rows, bias, out=rows)  # noqa: E731
    started = time.process_time()
    if winograd:
        layer.winograd.forward(x, weight, add_bias)
    else:
        chunked(layer)(x, weight, add_bias)
    return 1000 * (time.process_time() - started)


def compare_predict(backend: str, repeats: int) -> None:
    """``--predict``: per layer and batch, predicting's product by im2col against Winograd."""
    import numpy as np

    print(f"backend {backend}")
    for name, height, width, channels, filters in PREDICT_LAYERS:
        _, layer, params, chosen = kernels(backend, 1, height, width, channels, filters)
        rng = np.random.default_rng(0)
        cells, pays = [], []
        for batch in PREDICT_BATCHES:
            x = rng.standard_normal((batch, height, width, channels), dtype=np.float32)
            times: dict[bool, list[float]] = {False: [], True: []}
            for winograd in times:  # warm-up
                predict_ms(layer, x, params, winograd)
            for _ in range(repeats):
                for winograd in times:
                    times[winograd].append(predict_ms(layer, x, params, winograd))
            cells.append(f"{batch}: {min(times[False]) / min(times[True]):.2f}x")
            if layer.predicting_winograd is not None and layer.predicting_winograd.pays_at_inference(batch):
                pays.append(str(batch))
        taken = ("from batch " + pays[0]) if pays else "never"
        print(f"  {name:<26} im2col / Winograd (best), by batch: {'  '.join(cells)}   training: "
              f"{'winograd' if chosen else 'im2col'}, predicting: Winograd {taken}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--backends", default="numpy,numba")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--predict", action="store_true", help="forward passes as predicting runs them, by batch")
    args = parser.parse_args()
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[variable] = str(args.threads)  # read by the BLAS when numpy loads, just below
    import numpy as np

    if args.predict:
        print(f"{args.threads} thread(s), float32, {args.repeats} repeats alternated, CPU time of predicting's "
              f"product")
        for backend in args.backends.split(","):
            compare_predict(backend, args.repeats)
        return

    print(f"{args.threads} thread(s), float32, {args.repeats} repeats alternated; ms per forward+backward "
          f"(best / median), ratio im2col / Winograd (best / median), the path chosen")
    for backend in args.backends.split(","):
        print(f"backend {backend}")
        for name, batch, height, width, channels, filters, need_dx in LAYERS:
            by_im2col, by_winograd, params, chosen = kernels(backend, batch, height, width, channels, filters)
            rng = np.random.default_rng(0)
            x = rng.standard_normal((batch, height, width, channels), dtype=np.float32)
            dout = rng.standard_normal((batch, height, width, filters), dtype=np.float32)
            times: dict[str, list[float]] = {"im2col": [], "winograd": []}
            for layer in (by_im2col, by_winograd):  # warm-up: compilation, buffers
                step_ms(layer, x, dout, params, need_dx)
            for _ in range(args.repeats):
                times["im2col"].append(step_ms(by_im2col, x, dout, params, need_dx))
                times["winograd"].append(step_ms(by_winograd, x, dout, params, need_dx))
            best = {key: min(value) for key, value in times.items()}
            median = {key: statistics.median(value) for key, value in times.items()}
            print(f"  {name:<26} batch {batch:>2}: im2col {best['im2col']:7.2f} / {median['im2col']:7.2f}  "
                  f"winograd {best['winograd']:7.2f} / {median['winograd']:7.2f}  "
                  f"ratio {best['im2col'] / best['winograd']:.2f}x / {median['im2col'] / median['winograd']:.2f}x"
                  f"  chosen: {'winograd' if chosen else 'im2col'}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
