"""LeNet-5 trained on real MNIST by cnnc (the loop `cnnc train` runs) and by PyTorch CPU, in the same
run: the same initial weights, the same batches in the same order, the same SGD with momentum, the
spec's recipe (examples/lenet5.cnn). Prints images/second of each, the ratio, and the test accuracy.

    python bench/train_mnist.py [--data ../shared/data/mnist] [--threads 2]

The data are the 10,000 t10k digits: the first 8,000 train, the last 2,000 test."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    import numpy as np
    import torch

    import cnnc
    from cnnc.backends.torch_export import to_torch
    from cnnc.data import load_source
    from cnnc.training import Plan, batch_order, train

    torch.set_num_threads(args.threads)
    network = cnnc.load(ROOT / "examples" / "lenet5.cnn")
    recipe = network.ir.train.settings
    splits = load_source(f"mnist:{args.data}", network.report.input, 10).with_holdout(0.2)
    x, y, xt, yt = splits.train.x, splits.train.y, splits.test.x, splits.test.y
    plan = Plan(recipe["epochs"], recipe["batch"], seed=0)
    print(f"numpy {np.__version__}, torch {torch.__version__}, {args.threads} threads each; load average "
          f"{os.getloadavg()[0]:.2f}; LeNet-5, {len(x):,} training and {len(xt):,} test digits, {plan.epochs} "
          f"epochs of batch {plan.batch_size}, SGD lr {recipe['lr']} momentum {recipe['momentum']}")

    model = network.compile(seed=0)
    module = to_torch(model).body[:-1].train()  # the same initial weights; logits for CrossEntropyLoss
    model.optimizer = cnnc.optim.from_recipe(recipe)
    started = time.perf_counter()
    train(model, x, y, plan)
    cnnc_seconds = time.perf_counter() - started
    cnnc_accuracy = model.evaluate(xt, yt)["accuracy"]

    optimizer = torch.optim.SGD(module.parameters(), lr=recipe["lr"], momentum=recipe["momentum"])
    loss_function = torch.nn.CrossEntropyLoss()
    tx = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
    ty = torch.from_numpy(y)
    started = time.perf_counter()
    for epoch in range(plan.epochs):
        order = torch.from_numpy(batch_order(len(x), plan, epoch))
        for start in range(0, len(x), plan.batch_size):
            chosen = order[start:start + plan.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss_function(module(tx[chosen]), ty[chosen]).backward()
            optimizer.step()
    torch_seconds = time.perf_counter() - started
    module.eval()
    with torch.no_grad():
        logits = module(torch.from_numpy(np.ascontiguousarray(np.moveaxis(xt, -1, 1))))
    torch_accuracy = float((logits.argmax(1).numpy() == yt).mean())

    images = plan.epochs * len(x)
    print(f"  cnnc-numpy  {images / cnnc_seconds:8,.0f} images/s  ({cnnc_seconds:5.1f} s)  test accuracy "
          f"{100 * cnnc_accuracy:.2f}%")
    print(f"  pytorch     {images / torch_seconds:8,.0f} images/s  ({torch_seconds:5.1f} s)  test accuracy "
          f"{100 * torch_accuracy:.2f}%")
    print(f"  ratio       {torch_seconds / cnnc_seconds:8.2f}x PyTorch CPU")


if __name__ == "__main__":
    main()
