"""The NumPy backend against PyTorch: weights copied into the exporter's torch model, then outputs,
gradients, batchnorm statistics, losses and optimizer steps compared in float64, on fixed networks
and on random specs (hypothesis)."""

from __future__ import annotations

from math import prod

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cnnc  # noqa: E402
from cnnc.backends import torch_export  # noqa: E402
from cnnc.backends.torch_export import export, to_torch  # noqa: E402
from cnnc.shapes import windows  # noqa: E402

F = torch.nn.functional
CLOSE = {"rtol": 1e-9, "atol": 1e-11}


def compare(spec: str, batch: int = 3, seed: int = 0) -> None:
    """Evaluation outputs; training outputs, input and parameter gradients of sum(outputs * R);
    and the running statistics after the training pass: all equal to torch's."""
    model = cnnc.loads(spec).compile(dtype="float64", seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *model.network.report.input.dims))
    module = to_torch(model)
    np.testing.assert_allclose(model.predict(x), module.eval()(torch.from_numpy(x)).detach().numpy(), **CLOSE)

    outputs = model.forward(x, training=True)
    weights = rng.standard_normal(outputs.shape)
    dx, grads = model.backward(weights)
    tx = torch.from_numpy(x).requires_grad_()
    theirs = module.train()(tx)
    np.testing.assert_allclose(outputs, theirs.detach().numpy(), **CLOSE)
    (theirs * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(dx, tx.grad.numpy(), **CLOSE)
    # The exporter lays out arrays as torch does: exporting the gradients lays them out the same way.
    expected = export(model.network.ir, model.network.report, grads, model.buffers, torch.float64)
    for (name, ours), theirs_param in zip(expected.named_parameters(), module.parameters()):
        np.testing.assert_allclose(ours.detach().numpy(), theirs_param.grad.numpy(), err_msg=name, **CLOSE)
    buffers = dict(module.named_buffers())
    exported = dict(export(model.network.ir, model.network.report, model.params, model.buffers,
                           torch.float64).named_buffers())
    for name, value in exported.items():
        if not name.endswith("num_batches_tracked"):
            np.testing.assert_allclose(value.numpy(), buffers[name].numpy(), err_msg=name, **CLOSE)


FIXED = {
    "deconv-output-pad-beyond-pad": "input 7x7x3\ndeconv 3 4 output_pad=1 dilation=2 groups=3\nflatten\nfc 3",
    "upsample-nearest": "input 3x4x2\nupsample 2x3\nconv 2 3",
    "upsample-nearest-size": "input 3x4x2\nupsample size=7x5",
    "upsample-nearest-1d-3d": "input 5x2\nupsample 3\nconv 2 3\nupsample size=4",
    "upsample-nearest-3d": "input 2x3x2x2\nupsample 2x1x3",
    "upsample-linear-1d": "input 5x2\nupsample 3 mode=linear",
    "upsample-bilinear": "input 3x4x2\nupsample 2 mode=linear",
    "upsample-bilinear-corners": "input 3x4x2\nupsample 3x2 mode=linear align_corners=true",
    "upsample-bilinear-size-corners": "input 3x4x2\nupsample size=5x7 mode=linear align_corners=true",
    "upsample-bilinear-down": "input 6x7x2\nupsample size=4x3 mode=linear",
    "upsample-trilinear": "input 3x2x4x2\nupsample 2 mode=linear",
    "deconv": "input 4x3x3\ndeconv 2 3",
    "deconv-dcgan": "input 4x4x6\ndeconv 4 4 stride=2 pad=1 bias=false\nbatchnorm\nrelu",
    "deconv-output-pad": "input 4x3x3\ndeconv 2 3 stride=2 pad=2 output_pad=1",
    "deconv-options": "input 4x3x4\ndeconv 6 3x2 stride=2x1 dilation=2 output_pad=1x0 groups=2",
    "deconv-stride-1-more-channels": "input 5x5x6\ndeconv 2 3 pad=1",
    "deconv-1d": "input 5x3\ndeconv 2 3 stride=3 pad=1 output_pad=2",
    "deconv-3d": "input 2x3x2x2\ndeconv 2 2 stride=2",
    "pixelshuffle": "input 3x2x8\npixelshuffle 2",
    "pixelshuffle-1d": "input 4x6\npixelshuffle 3",
    "pixelshuffle-3d": "input 2x2x3x16\npixelshuffle 2",
    "slice-shuffle": "input 4x4x6\nshuffle 3\nslice 1 4\nconv 2 1",
    "shufflenet-unit": "input 4x4x8\nconcat {\n branch {\n slice 0 4\n }\n branch {\n slice 4 8\n conv 4 1\n"
                       " }\n}\nshuffle 2",
    "conv-options": "input 9x8x4\nconv 6 3x2 stride=2x1 pad=1x0 dilation=2x1 groups=2",
    "conv-one-channel": "input 7x7x1\nconv 3 3 pad=1\nconv 1 3 pad=1\nconv 2 2 stride=2",
    "conv-same-even-kernel": "input 7x6x3\nconv 4 4 pad=same\nconv 2 2x3 dilation=2 pad=same",
    "conv-same-asymmetric": "input 7x6x3\nconv 4 4 stride=2 pad=same\nrelu",
    "conv-ceil": "input 8x8x2\nconv 3 3 stride=2 round=ceil",
    "conv-1d": "input 20x3\nconv 4 5 stride=3 pad=2 dilation=2\nleakyrelu 0.1",
    "conv-3d": "input 5x6x4x2\nconv 3 3 stride=2 pad=1\ntanh",
    "depthwise": "input 7x7x3\nconv 6 3 groups=3 pad=1 bias=false\nbatchnorm\nrelu",
    "maxpool-ceil-pad": "input 9x9x2\nmaxpool 3 stride=2 pad=1 round=ceil",
    "maxpool-same": "input 7x7x2\nmaxpool 2 pad=same",
    "avgpool-ceil-partial": "input 8x8x2\navgpool 3 stride=2 pad=1 round=ceil",
    "avgpool-ceil-no-pad": "input 10x2\navgpool 3 stride=2 round=ceil",
    "avgpool-same": "input 7x7x2\navgpool 2 pad=same",
    "avgpool-3d": "input 5x5x5x2\navgpool 2 round=ceil",
    "fc-after-spatial": "input 4x3x5\nfc 6\nsigmoid",
    "flatten-then-fc": "input 4x3x5\nflatten\nbatchnorm\nfc 6",
    "batchnorm-1d": "input 9x3\nbatchnorm momentum=0.3 eps=0.01",
    "softmax-spatial": "input 3x3x4\nconv 3 1\nsoftmax",
    "relu6": "input 6x6x3\nconv 4 3 pad=1\nrelu6\nfc 3",
    "silu": "input 6x6x3\nconv 4 3 pad=1\nsilu",
    "hardswish": "input 6x6x3\nconv 4 3 pad=1\nhardswish",
    "hardsigmoid": "input 6x6x3\nconv 4 3 pad=1\nhardsigmoid",
    "mish": "input 6x6x3\nconv 4 3 pad=1\nmish",
    "selu": "input 6x6x3\nconv 4 3 pad=1\nselu",
    "gelu": "input 6x6x3\nconv 4 3 pad=1\ngelu",
    "gelu-tanh": "input 6x6x3\nconv 4 3 pad=1\ngelu approximate=tanh",
    "elu": "input 6x6x3\nconv 4 3 pad=1\nelu\nelu 0.3",
    "prelu": "input 6x6x3\nconv 4 3 pad=1\nprelu\nconv 2 1\nprelu shared=true",
    "prelu-flat": "input 4x3x5\nfc 6\nprelu\nfc 3\nprelu shared=true",
    "prelu-1d-3d": "input 9x2\nprelu\nconv 3 3\nprelu\nfc 2",
    "activations-3d": "input 4x4x3x2\nconv 3 1\nhardswish\nmish\nprelu\ngelu",
    "layernorm": "input 5x4x6\nconv 6 3 pad=1\nlayernorm eps=0.001\nfc 3\nlayernorm affine=false",
    "groupnorm": "input 5x4x6\ngroupnorm 3\nconv 4 1\ngroupnorm 2 affine=false eps=0.01",
    "groupnorm-flat": "input 6\ngroupnorm 2",
    "instancenorm": "input 5x4x3\ninstancenorm\nconv 4 1\ninstancenorm affine=true",
    "instancenorm-1d": "input 9x3\ninstancenorm affine=true",
    "instancenorm-3d": "input 3x4x3x2\ninstancenorm affine=true",
    "lrn": "input 5x4x7\nlrn 3 alpha=0.5 beta=0.9 k=2",
    "lrn-even-1d": "input 6x7\nlrn 4 alpha=1 beta=0.75",
    "lrn-3d": "input 3x3x3x5\nlrn 2 alpha=0.3",
    "layerscale": "input 5x4x3\nlayerscale init=0.5\nfc 2\nlayerscale",
    "globalmaxpool": "input 5x4x3\nglobalmaxpool",
    "globalmaxpool-1d": "input 7x3\nglobalmaxpool\nfc 2",
    "adaptiveavgpool": "input 9x7x3\nadaptiveavgpool 4x3",
    "adaptiveavgpool-larger": "input 3x5x2\nadaptiveavgpool 5x7",
    "adaptiveavgpool-3d": "input 5x4x3x2\nadaptiveavgpool 2x3x2",
    "adaptivemaxpool": "input 9x7x3\nadaptivemaxpool 4x3",
    "adaptivemaxpool-larger-1d": "input 3x2\nadaptivemaxpool 7",
    "adaptivemaxpool-3d": "input 5x4x3x2\nadaptivemaxpool 2x3x2",
    "residual": "input 6x6x3\nresidual {\n conv 4 3 stride=2 pad=1\n batchnorm\n relu\n}"
                " shortcut {\n conv 4 1 stride=2 bias=false\n}\nrelu",
    "concat": "input 6x6x3\nconcat {\n branch {\n conv 2 1\n }\n branch {\n maxpool 3 stride=1 pad=1\n }\n"
              " branch {\n }\n}\nglobalavgpool\nfc 4\nsoftmax",
    "add": "input 6x6x3\nadd {\n branch {\n conv 3 3 pad=1\n batchnorm\n }\n branch {\n }\n"
           " branch {\n conv 3 1 stride=1\n }\n}\nrelu",
    "squeeze-excite": "input 6x5x4\nconv 4 3 pad=1\nmultiply {\n branch {\n }\n branch {\n globalavgpool\n"
                      " conv 2 1\n relu\n conv 4 1\n sigmoid\n }\n}\nglobalavgpool\nfc 3",
    "squeeze-excite-fc": "input 5x5x3\nmultiply {\n branch {\n conv 3 1\n }\n branch {\n globalavgpool\n"
                         " flatten\n fc 2\n relu\n fc 3\n sigmoid\n }\n}\nfc 4",
    "multiply-broadcast": "input 7x3\nmultiply {\n branch {\n conv 1 3 pad=1\n tanh\n }\n branch {\n conv 3 1\n"
                          " }\n branch {\n }\n}",
}


@pytest.mark.parametrize("spec", FIXED.values(), ids=FIXED.keys())
def test_matches_torch(spec: str) -> None:
    compare(spec)


KINKS = {"relu6": (0.0, 6.0), "hardswish": (-3.0, 3.0), "hardsigmoid": (-3.0, 3.0), "elu": (0.0,), "selu": (0.0,),
         "relu": (0.0,), "leakyrelu 0.1": (0.0,), "prelu": (0.0,), "prelu shared=true": (0.0,)}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("function", KINKS, ids=KINKS.keys())
def test_activation_gradients_at_kinks_are_torchs(function: str, dtype: str) -> None:
    """Exactly at a kink the derivative is a convention: torch's (relu6: 0 at 0 and 6; hardswish: 0
    at -3 and 1 at 3; hardsigmoid: 0 at both; elu, selu, leakyrelu, prelu: the negative piece at 0)."""
    model = cnnc.loads(f"input 40x3\n{function}").compile(dtype=dtype)
    points = np.array([*KINKS[function], -1.0, 0.5, 7.0, -4.0])
    x = np.resize(points, (2, 40, 3)).astype(dtype)
    outputs = model.forward(x, training=True)
    weights = np.random.default_rng(1).standard_normal(outputs.shape).astype(dtype)
    dx, grads = model.backward(weights)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    module = to_torch(model)
    (module(tx) * torch.from_numpy(weights)).sum().backward()
    tolerance = {"rtol": 1e-12, "atol": 1e-14} if dtype == "float64" else {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(outputs, module(tx).detach().numpy(), **tolerance)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **tolerance)
    assert len(grads) == len(list(module.parameters()))  # prelu's slopes
    for (name, theirs), ours in zip(module.named_parameters(), grads.values()):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), err_msg=name, **tolerance)


def test_gelu_erf_is_torchs_to_float64_precision() -> None:
    """GELU's exact form needs erf, which NumPy lacks: cnnc interpolates it (backends/numpy/special.py)."""
    from cnnc.backends.numpy.activations import erf

    x = np.concatenate([np.linspace(-8, 8, 20001), [-1e-300, 0.0, 1e-300, 30.0, -30.0, 1e-8]])
    np.testing.assert_allclose(erf(x), torch.special.erf(torch.from_numpy(x)).numpy(), rtol=1e-15, atol=1e-16)
    assert erf(x.astype(np.float32)).dtype == np.float32


def test_exported_activation_modules() -> None:
    spec = "input 4x4x3\nrelu6\nsilu\nhardswish\nhardsigmoid\nmish\nselu\ngelu\ngelu approximate=tanh\nelu 0.7\n" \
           "prelu\nprelu shared=true"
    body = to_torch(cnnc.loads(spec).compile()).body
    nn = torch.nn
    assert [type(m) for m in body] == [nn.ReLU6, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.SELU, nn.GELU,
                                       nn.GELU, nn.ELU, nn.PReLU, nn.PReLU]
    assert (body[6].approximate, body[7].approximate, body[8].alpha) == ("none", "tanh", 0.7)
    assert (body[9].num_parameters, body[10].num_parameters) == (3, 1)
    assert body[9].weight.tolist() == [0.25] * 3 and body[10].weight.tolist() == [0.25]


@pytest.mark.parametrize("spec", ["input 8x8x3\nmaxpool 2", "input 7x7x2\nmaxpool 3 stride=2 pad=1 round=ceil",
                                  "input 7x5x2\nglobalmaxpool", "input 9x7x2\nadaptivemaxpool 4x3",
                                  "input 3x4x2\nadaptivemaxpool 5x6", "input 4x3x3x2\nadaptivemaxpool 3x2x2"])
def test_max_pool_ties_send_the_gradient_where_torch_does(spec: str) -> None:
    model = cnnc.loads(spec).compile(dtype="float64")
    x = np.random.default_rng(0).integers(0, 3, (4, *model.network.report.input.dims)).astype(np.float64)
    outputs = model.forward(x, training=True)
    weights = np.random.default_rng(1).standard_normal(outputs.shape)
    dx, _ = model.backward(weights)
    tx = torch.from_numpy(x).requires_grad_()
    (to_torch(model)(tx) * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("spec", ["input 8x6x2\nmaxpool 1 stride=2", "input 8x8x2\nmaxpool 2\navgpool 3 stride=4"])
def test_pooling_gradients_over_several_steps(spec: str) -> None:
    """Windows that skip inputs (stride above the kernel) leave zeros in the input's gradient, step
    after step (hypothesis once found a version that left old values there)."""
    model = cnnc.loads(spec).compile(dtype="float64")
    module = to_torch(model)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = rng.standard_normal((3, *model.network.report.input.dims))
        weights = rng.standard_normal(model.forward(x, training=True).shape)
        dx, _ = model.backward(weights)
        tx = torch.from_numpy(x).requires_grad_()
        (module(tx) * torch.from_numpy(weights)).sum().backward()
        np.testing.assert_allclose(dx, tx.grad.numpy(), **CLOSE)


def test_exporter_uses_torch_modules_for_the_resampling_layers() -> None:
    """nn.ConvTranspose2d with cnnc's weight (*kernel, F/G, C) as torch's (C, F/G, *kernel) exactly,
    nn.Upsample with the factor or size, nn.PixelShuffle in 2-D, and modules for the channel views."""
    spec = ("input 4x4x6\ndeconv 4 3x2 stride=2 groups=2\nupsample 2x1 mode=linear\nupsample size=9x3\n"
            "pixelshuffle 1\nshuffle 2\nslice 1 3")
    model = cnnc.loads(spec).compile(dtype="float64", seed=1)
    deconv, linear, nearest, shuffle_pixels, shuffle, channels = to_torch(model).body
    weight = model.params["deconv1.weight"]
    assert weight.shape == (3, 2, 2, 6) and tuple(deconv.weight.shape) == (6, 2, 3, 2)
    assert isinstance(deconv, torch.nn.ConvTranspose2d) and deconv.groups == 2 and deconv.stride == (2, 2)
    assert deconv.weight[5, 1, 2, 0].item() == weight[2, 0, 1, 5]  # input channel 5, filter 1 of its group
    assert (linear.mode, linear.scale_factor, linear.align_corners) == ("bilinear", (2.0, 1.0), False)
    assert (nearest.mode, nearest.size) == ("nearest", (9, 3))
    assert isinstance(shuffle_pixels, torch.nn.PixelShuffle)
    assert (shuffle.groups, channels.start, channels.stop) == (2, 1, 3)


def test_dropout_matches_torch_in_evaluation_and_scales_as_torch_in_training() -> None:
    model = cnnc.loads("input 4x4x3\nconv 5 3 pad=1\ndropout 0.4\nfc 3").compile(dtype="float64")
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 3))
    module = to_torch(model).eval()
    np.testing.assert_allclose(model.predict(x), module(torch.from_numpy(x)).detach().numpy(), **CLOSE)
    ones = cnnc.loads("input 2000\ndropout 0.4").compile(dtype="float64").forward(np.ones((3, 2000)), True)
    torch_ones = torch.nn.Dropout(0.4).train()(torch.ones(3, 2000, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(np.unique(ones), np.unique(torch_ones))


def test_droppath_matches_torch_in_evaluation_and_drops_whole_examples_in_training() -> None:
    model = cnnc.loads("input 4x4x3\nconv 5 3 pad=1\ndroppath 0.4\nfc 3").compile(dtype="float64")
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 3))
    np.testing.assert_allclose(model.predict(x), to_torch(model).eval()(torch.from_numpy(x)).detach().numpy(),
                               **CLOSE)
    dropping = cnnc.loads("input 3x2\ndroppath 0.4").compile(dtype="float64")
    ones = dropping.forward(np.ones((4000, 3, 2)), training=True, seed=1)
    theirs = to_torch(dropping).train()(torch.ones(4000, 3, 2, dtype=torch.float64)).numpy()
    for values in (ones, theirs):  # each example all dropped or all kept, at 1 / (1 - p)
        assert np.all(values.min(axis=(1, 2)) == values.max(axis=(1, 2)))
        np.testing.assert_allclose(np.unique(values), [0.0, 1 / 0.6])
        assert abs(np.mean(values[:, 0, 0] == 0) - 0.4) < 0.04
    # The gradient follows the same mask as the output; another seed draws another mask.
    dx, _ = dropping.backward(np.ones_like(ones))
    np.testing.assert_array_equal(dx, ones)
    assert not np.array_equal(ones, dropping.forward(np.ones((4000, 3, 2)), training=True, seed=2))


def test_exporter_maps_norms_and_pools_to_torch_modules() -> None:
    spec = ("input 9x8x4\nlayernorm\ngroupnorm 2\ninstancenorm affine=true\nlrn 3\nlayerscale\ndroppath 0.1\n"
            "adaptiveavgpool 4x3\nadaptivemaxpool 2\nglobalmaxpool\nfc 6\nlayernorm affine=false")
    model = cnnc.loads(spec).compile(dtype="float64")
    modules = list(to_torch(model).body)
    nn = torch.nn
    expected = [torch_export.ChannelLayerNorm, nn.GroupNorm, nn.InstanceNorm2d, nn.LocalResponseNorm,
                torch_export.LayerScale, torch_export.DropPath, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
                nn.AdaptiveMaxPool2d, nn.Sequential, torch_export.ChannelLayerNorm]
    assert [type(m) for m in modules] == expected
    assert isinstance(modules[0], nn.LayerNorm) and modules[0].normalized_shape == (4,)
    assert (modules[1].num_groups, modules[2].affine, modules[2].track_running_stats) == (2, True, False)
    assert (modules[3].size, modules[3].alpha, modules[3].beta, modules[3].k) == (3, 1e-4, 0.75, 1.0)
    assert (modules[6].output_size, modules[7].output_size, modules[8].output_size) == ((4, 3), (2, 2), 1)
    assert modules[10].weight is None
    report = model.network.report
    assert sum(p.numel() for p in to_torch(model).parameters()) == report.totals.params == 4 * (2 + 2 + 2 + 1) + 30
    assert sum(b.numel() for b in to_torch(model).buffers()) == report.totals.buffers == 0
    np.testing.assert_array_equal(modules[4].gamma.detach().numpy(), np.full(4, 1e-6))


def test_cross_entropy_loss_and_gradients_match_torch() -> None:
    spec = "input 12x12x1\nconv 4 5 pad=2\nrelu\nmaxpool 2\nfc 16\nrelu\nfc 10\nsoftmax"
    model = cnnc.loads(spec).compile(dtype="float64", seed=1)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 12, 12, 1)), rng.integers(0, 10, 8)
    loss, grads = model.loss_and_grads(x, y)
    module = to_torch(model).train()
    logits = module.body[:-1](torch.from_numpy(x).movedim(-1, 1))  # without the final softmax
    expected = F.cross_entropy(logits, torch.from_numpy(y))
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    exported = export(model.network.ir, model.network.report, grads, model.buffers, torch.float64)
    for ours, theirs in zip(exported.parameters(), module.parameters()):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.grad.numpy(), **CLOSE)


def test_cross_entropy_is_stable_on_huge_logits() -> None:
    model = cnnc.loads("input 3\nfc 3\nsoftmax").compile(dtype="float32")
    model.params["fc1.weight"][...] = np.diag([1e4, -1e4, 3e3]).astype(np.float32)
    x = np.array([[1.0, 1.0, 1.0], [-1.0, 2.0, 0.5]], dtype=np.float32)
    loss, grads = model.loss_and_grads(x, np.array([1, 0]))
    logits = torch.from_numpy(x.astype(np.float64) @ np.diag([1e4, -1e4, 3e3]))
    assert loss == pytest.approx(F.cross_entropy(logits, torch.tensor([1, 0])).item(), rel=1e-6)
    assert all(np.isfinite(g).all() for g in grads.values())


def optimizer_pairs():
    optim = cnnc.optim
    return [
        (optim.SGD(lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
        (optim.SGD(lr=0.1, momentum=0.9, weight_decay=0.01),
         lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01)),
        (optim.SGD(lr=0.05, momentum=0.8, nesterov=True), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8,
                                                                                      nesterov=True)),
        (optim.Adam(lr=0.01, weight_decay=0.1), lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1)),
        (optim.AdamW(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
         lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    ]


@pytest.mark.parametrize("index", range(5), ids=["sgd", "momentum-decay", "nesterov", "adam", "adamw"])
def test_optimizer_steps_match_torch(index: int) -> None:
    ours, make_theirs = optimizer_pairs()[index]
    rng = np.random.default_rng(0)
    params = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5)}
    tensors = [torch.tensor(params[key], requires_grad=True) for key in ("a", "b")]
    theirs = make_theirs(tensors)
    for _ in range(6):
        grads = {key: rng.standard_normal(value.shape) for key, value in params.items()}
        ours.step(params, grads)
        for tensor, key in zip(tensors, ("a", "b")):
            tensor.grad = torch.from_numpy(grads[key].copy())
        theirs.step()
    for tensor, key in zip(tensors, ("a", "b")):
        np.testing.assert_allclose(params[key], tensor.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_schedules_match_torch() -> None:
    lr_scheduler = torch.optim.lr_scheduler
    for ours, make in ((cnnc.optim.Step(step_size=3, gamma=0.5), lambda o: lr_scheduler.StepLR(o, 3, 0.5)),
                       (cnnc.optim.Cosine(), lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10))):
        optimizer = cnnc.optim.SGD(lr=0.2, schedule=ours)
        reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
        scheduler = make(reference)
        for epoch in range(10):
            assert optimizer.set_epoch(epoch, 10) == pytest.approx(reference.param_groups[0]["lr"], rel=1e-12)
            reference.step()
            scheduler.step()


def test_training_steps_match_torch() -> None:
    """Five SGD-with-momentum steps of a small network through fit's machinery and through torch
    end at the same weights."""
    spec = "input 10x10x2\nconv 4 3 pad=1\nbatchnorm\nrelu\nmaxpool 2\nfc 5\nsoftmax"
    model = cnnc.loads(spec).compile(dtype="float64", seed=4)
    module = to_torch(model).train()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 10, 10, 2)), rng.integers(0, 5, 40)
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False,
              optimizer=cnnc.optim.SGD(lr=0.1, momentum=0.9, nesterov=True))
    reference = torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    for start in range(0, 40, 8):
        reference.zero_grad()
        logits = module.body[:-1](torch.from_numpy(x[start:start + 8]).movedim(-1, 1))
        F.cross_entropy(logits, torch.from_numpy(y[start:start + 8])).backward()
        reference.step()
    trained = export(model.network.ir, model.network.report, model.params, model.buffers, torch.float64)
    for (name, ours), theirs in zip(trained.state_dict().items(), module.state_dict().values()):
        if name.endswith("num_batches_tracked"):  # a step counter cnnc does not keep
            continue
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-9, atol=1e-11, err_msg=name)


# Random specs -------------------------------------------------------------------------------


def _window_fits(spatial, kernel, stride, pad, dilation, ceil) -> tuple[int, ...] | None:
    found = windows(tuple(spatial), (kernel,), (stride,), pad if pad == "same" else (pad,), (dilation,), ceil)
    outputs = tuple(w.output for w in found)
    return outputs if all(o > 0 for o in outputs) else None


@st.composite
def random_specs(draw) -> str:
    """A valid spec: conv, pool, adaptive pool, batchnorm and the other norms, activation, residual,
    concat, add, multiply, upsample, deconv, pixelshuffle, shuffle and slice layers in any order on a
    1-D, 2-D or 3-D input, then an optional head (fc, flatten + fc, or global average or max pooling + fc)."""
    rank = draw(st.sampled_from([1, 2, 2, 3]))
    spatial = [draw(st.integers(4, 7 if rank == 3 else 12)) for _ in range(rank)]
    channels = draw(st.integers(1, 4))
    lines = [f"input {'x'.join(map(str, spatial))}x{channels}"]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "maxpool", "avgpool", "batchnorm", "activation",
                                     "residual", "concat", "norm", "adaptive", "upsample", "deconv", "pixelshuffle",
                                     "channels", "add", "multiply"]))
        if kind in ("upsample", "deconv", "pixelshuffle") and max(spatial) > 8:
            continue  # keep the sizes small
        if kind == "conv":
            kernel, stride, dilation = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
            pad = draw(st.sampled_from(["same", 0, 1, 2]))
            ceil = draw(st.booleans())
            groups = draw(st.sampled_from([g for g in (1, 2, 3) if channels % g == 0]))
            filters = groups * draw(st.integers(1, 3))
            found = _window_fits(spatial, kernel, stride, pad, dilation, ceil)
            if found is None:
                continue
            lines.append(f"conv {filters} {kernel} stride={stride} pad={pad} dilation={dilation} groups={groups}"
                         f" bias={draw(st.sampled_from(['true', 'false']))} round={'ceil' if ceil else 'floor'}")
            spatial, channels = list(found), filters
        elif kind in ("maxpool", "avgpool"):
            kernel, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            pad = draw(st.sampled_from(["same"] + list(range(kernel // 2 + 1))))
            ceil = draw(st.booleans())
            found = _window_fits(spatial, kernel, stride, pad, 1, ceil)
            if found is None or min(spatial) < kernel:  # torch refuses a window larger than the input
                continue
            lines.append(f"{kind} {kernel} stride={stride} pad={pad} round={'ceil' if ceil else 'floor'}")
            spatial = list(found)
        elif kind == "upsample":
            mode = draw(st.sampled_from(["nearest", "linear"]))
            corners = f" align_corners={draw(st.sampled_from(['true', 'false']))}" if mode == "linear" else ""
            if draw(st.booleans()):
                factors = [draw(st.integers(1, 3)) for _ in spatial]
                lines.append(f"upsample {'x'.join(map(str, factors))} mode={mode}{corners}")
                spatial = [n * f for n, f in zip(spatial, factors)]
            else:
                spatial = [draw(st.integers(1, 12)) for _ in spatial]
                lines.append(f"upsample size={'x'.join(map(str, spatial))} mode={mode}{corners}")
        elif kind == "deconv":
            kernel, stride, dilation = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
            pad, output_pad = draw(st.integers(0, 2)), draw(st.integers(0, max(stride, dilation) - 1))
            groups = draw(st.sampled_from([g for g in (1, 2, 3) if channels % g == 0]))
            filters = groups * draw(st.integers(1, 3))
            found = [(n - 1) * stride - 2 * pad + dilation * (kernel - 1) + output_pad + 1 for n in spatial]
            if min(found) < 1:
                continue
            lines.append(f"deconv {filters} {kernel} stride={stride} pad={pad} output_pad={output_pad} "
                         f"dilation={dilation} groups={groups} bias={draw(st.sampled_from(['true', 'false']))}")
            spatial, channels = found, filters
        elif kind == "pixelshuffle":
            factor = draw(st.integers(1, 2))
            lines.append(f"conv {factor ** len(spatial) * channels} 1\npixelshuffle {factor}")
            spatial = [n * factor for n in spatial]
        elif kind == "channels":
            groups = draw(st.sampled_from([g for g in (1, 2, 3, 4) if channels % g == 0]))
            start = draw(st.integers(0, channels - 1))
            stop = draw(st.integers(start + 1, channels))
            lines += [f"shuffle {groups}", f"slice {start} {stop}"]
            channels = stop - start
        elif kind == "batchnorm":
            lines.append("batchnorm momentum=0.2")
        elif kind == "norm":
            affine = draw(st.sampled_from(["true", "false"]))
            groups = draw(st.sampled_from([g for g in (1, 2, 3) if channels % g == 0]))
            norms = [f"layernorm affine={affine}", f"groupnorm {groups} affine={affine} eps=0.01",
                     f"lrn {draw(st.integers(1, 4))} alpha=0.5 beta=0.6 k=1.5", "layerscale init=0.7",
                     "droppath 0"]  # (p > 0 draws masks torch cannot share: see above)
            if prod(spatial) > 1:  # torch refuses to train an instance norm over a single position
                norms.append(f"instancenorm affine={affine}")
            lines.append(draw(st.sampled_from(norms)))
        elif kind == "adaptive":
            output = [draw(st.integers(1, n + 2)) for n in spatial]
            lines.append(f"adaptive{draw(st.sampled_from(['avg', 'max']))}pool {'x'.join(map(str, output))}")
            spatial = output
        elif kind == "activation":
            lines.append(draw(st.sampled_from(["relu", "leakyrelu 0.1", "sigmoid", "tanh", "relu6", "silu",
                                               "hardswish", "hardsigmoid", "mish", "selu", "gelu",
                                               "gelu approximate=tanh", "elu", "elu 0.5", "prelu",
                                               "prelu shared=true"])))
        elif kind == "residual":
            lines.append(f"residual {{\n conv {channels} 3 pad=same\n batchnorm\n relu\n}}")
        elif kind == "concat":
            width = draw(st.integers(1, 3))
            lines.append(f"concat {{\n branch {{\n conv {width} 1\n }}\n branch {{\n maxpool 3 stride=1 pad=1\n }}\n}}")
            channels += width
        elif kind == "add":
            lines.append(f"add {{\n branch {{\n conv {channels} 3 pad=same\n }}\n branch {{\n }}\n"
                         f" branch {{\n {draw(st.sampled_from(['relu', 'tanh', 'batchnorm']))}\n }}\n}}")
        else:
            squeeze = draw(st.sampled_from(["globalavgpool", "globalavgpool\n flatten\n fc " + str(channels)]))
            lines.append(f"multiply {{\n branch {{\n }}\n branch {{\n {squeeze}\n sigmoid\n }}\n"
                         f" branch {{\n {draw(st.sampled_from(['conv 1 1', 'tanh', 'conv 1 3 pad=same']))}\n }}\n}}")
    head = draw(st.sampled_from(["none", "fc", "flatten", "global", "globalmax"]))
    if head == "fc":
        lines.append(f"fc {draw(st.integers(1, 5))}")
    elif head == "flatten":
        lines += ["flatten", f"fc {draw(st.integers(1, 5))}"]
    elif head == "global":
        lines += ["globalavgpool", f"fc {draw(st.integers(1, 5))}"]
    elif head == "globalmax":
        lines += ["globalmaxpool", f"fc {draw(st.integers(1, 5))}", draw(st.sampled_from(["layernorm", "layerscale"]))]
    if draw(st.booleans()):
        lines.append("softmax")
    return "\n".join(lines)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_specs(), st.integers(0, 2**16))
def test_random_specs_match_torch(spec: str, seed: int) -> None:
    try:
        cnnc.loads(spec)
    except cnnc.SpecError:
        assume(False)
    compare(spec, batch=2, seed=seed)


def test_exported_merges_compute_the_sum_and_the_broadcast_product():
    """The exporter's Add and Multiply against the formulas written out with the exported convs."""
    from cnnc.backends.torch_export import Add, Multiply

    model = cnnc.loads("input 5x4x3\nadd {\n branch { conv 3 1 }\n branch { }\n branch { tanh }\n}\n"
                       "multiply {\n branch { }\n branch { globalavgpool; conv 2 1; relu; conv 3 1; sigmoid }\n}\n"
                       "multiply {\n branch { globalavgpool; flatten; fc 3; sigmoid }\n branch { }\n}"
                       ).compile(dtype="float64", seed=1)
    module = to_torch(model).eval()
    adds = [m for m in module.modules() if isinstance(m, Add)]
    products = [m for m in module.modules() if isinstance(m, Multiply)]
    assert len(adds) == 1 and len(products) == 2
    convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    (linear,) = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 5, 4, 3)))
    with torch.no_grad():
        t = x.movedim(-1, 1)
        t = convs[0](t) + t + torch.tanh(t)
        t = t * torch.sigmoid(convs[2](F.relu(convs[1](t.mean(dim=(2, 3), keepdim=True)))))
        t = torch.sigmoid(linear(t.mean(dim=(2, 3)))).reshape(2, 3, 1, 1) * t
        expected = t.movedim(1, -1)
        np.testing.assert_allclose(module(x).numpy(), expected.numpy(), **CLOSE)
    np.testing.assert_allclose(model.predict(x.numpy()), expected.numpy(), **CLOSE)
