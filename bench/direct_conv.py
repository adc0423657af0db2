"""Per-layer time of the Numba backend's two ways to run a convolution and the ReLU after it: im2col (a
``ReluAfter`` step: im2col, BLAS, compiled bias+ReLU and col2im) against direct (``backends/numba/direct.py``).

    python bench/direct_conv.py [--repeats 30] [--batch 64] [--threads 1] [--networks lenet5,cifar,FILE.cnn]

For every convolution followed by a ReLU in each network (LeNet-5 of examples/lenet5.cnn; the CIFAR-size net of
bench/train_throughput.py; or any .cnn file), both steps are built with the same weights and run on the same
random batch: forward, then backward as training runs it (no input gradient for the first layer). The two take turns,
repeat after repeat; printed: best and median ms of each, and direct / im2col of the best.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def layer_pairs(name: str, batch: int):
    """(label, im2col step, direct step, params, input, need_dx) for each conv+ReLU of the network."""
    import numpy as np
    from train_throughput import network

    import cnnc
    from cnnc import ir
    from cnnc.backends.numba.direct import DirectConvolution
    from cnnc.backends.numba.layers import Convolution, ReluAfter
    from cnnc.backends.numpy.program import lower_layer

    net = cnnc.load(name) if name.endswith(".cnn") else network(name)
    nodes = net.ir.layers
    rng = np.random.default_rng(0)
    for index, (node, after) in enumerate(zip(nodes, nodes[1:])):
        if not (isinstance(node, ir.Conv) and isinstance(after, ir.Activation) and after.function == "relu"):
            continue
        layer = net.report.layer(node.name)
        relu = lower_layer(after, net.report.layer(after.name), None)
        im2col = ReluAfter(Convolution(node, layer, 0.0), relu)
        direct = DirectConvolution(node, layer, 0.0)
        direct.fuse_relu(relu)
        params = {k: v.astype(np.float32) for k, v in im2col.init(np.random.default_rng(index)).items()}
        params[im2col.bias_key] = rng.standard_normal(node.filters).astype(np.float32) * 0.1
        x = rng.standard_normal((batch, *layer.input.dims)).astype(np.float32)
        label = f"{net.name} {node.name} {'x'.join(map(str, layer.input.dims))} -> {node.filters}"
        yield label, im2col, direct, params, x, index > 0


def train_step(step, params, x, dout, need_dx):
    from cnnc.backends.numpy.kernel import Pass

    out, cache = step.forward(x, params, Pass(training=True))
    step.backward(dout, cache, params, need_dx)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--networks", default="lenet5,cifar")
    args = parser.parse_args(argv)
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[variable] = str(args.threads)  # read by the BLAS when numpy loads, just below
    import numpy as np

    from cnnc.backends.numpy.kernel import Pass

    print(f"batch {args.batch}, {args.threads} thread(s), {args.repeats} repeats, load average "
          f"{os.getloadavg()[0]:.2f}; ms per call, best / median")
    for name in args.networks.split(","):
        for label, im2col, direct, params, x, need_dx in layer_pairs(name, args.batch):
            out = im2col.forward(x, params, Pass(training=True))[0]
            dout = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
            runs = {}
            for kind, step in (("im2col", im2col), ("direct", direct)):
                runs[kind, "forward"] = lambda step=step: step.forward(x, params, Pass(training=False,
                                                                                      for_backward=False))
                runs[kind, "forward+backward"] = lambda step=step: train_step(step, params, x, dout, need_dx)
            times = {key: [] for key in runs}
            for run in runs.values():
                run()  # warm-up: loads the compiled kernels, fills the workspaces
            for _ in range(args.repeats):
                for key, run in runs.items():
                    started = time.perf_counter()
                    run()
                    times[key].append((time.perf_counter() - started) * 1e3)
            print(label + ("" if need_dx else " (first layer: no input gradient)"))
            for part in ("forward", "forward+backward"):
                best = {kind: min(times[kind, part]) for kind in ("im2col", "direct")}
                cells = "   ".join(f"{kind} {best[kind]:6.3f} / {statistics.median(times[kind, part]):6.3f}"
                                   for kind in ("im2col", "direct"))
                print(f"  {part:17s} {cells}   direct / im2col {best['direct'] / best['im2col']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
