"""The Python API refuses what it cannot use: TypeError for a wrong type, ValueError for a value it
cannot use, each naming the argument; spec problems are SpecError, file problems OSError (issue 8)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pytest

import cnnc
from cnnc import ir
from cnnc.model import Model
from cnnc.optim import SGD, Adam, Step
from cnnc.training import Plan

SPEC = "input 4x4x3\nconv 8 3\nrelu\nfc 3\nsoftmax\n"
REGRESSION = "input 4\nfc 2\n"
X = np.random.default_rng(0).normal(size=(4, 4, 4, 3)).astype(np.float32)
Y = np.array([0, 1, 2, 0])


def _with_lr(optimizer, lr):
    """An optimizer whose rate was changed after it was made (constructors check theirs)."""
    optimizer.lr = lr
    return optimizer


class Case(NamedTuple):
    """A call on a context, the exception it must raise and the argument its message must name."""

    call: Callable
    error: type
    argument: str


class Context(NamedTuple):
    model: Model
    regression: Model
    spec: Path


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Context:
    spec = tmp_path_factory.mktemp("specs") / "net.cnn"
    spec.write_text(SPEC)
    return Context(cnnc.loads(SPEC).compile(seed=0), cnnc.loads(REGRESSION).compile(dtype="float64"), spec)


def with_value(at: tuple[int, ...], value: float, like: np.ndarray = X) -> np.ndarray:
    changed = like.copy()
    changed[at] = value
    return changed


LOADS = {
    "loads(None)": Case(lambda c: cnnc.loads(None), TypeError, "text"),
    "loads(bytes)": Case(lambda c: cnnc.loads(SPEC.encode()), TypeError, "text"),
    "loads(123)": Case(lambda c: cnnc.loads(123), TypeError, "text"),
    "name=5": Case(lambda c: cnnc.loads(SPEC, name=5), TypeError, "name"),
    "input=3.5": Case(lambda c: cnnc.loads(SPEC, input=3.5), TypeError, "input"),
    "input='abc'": Case(lambda c: cnnc.loads(SPEC, input="abc"), ValueError, "input"),
    "input='0x3'": Case(lambda c: cnnc.loads(SPEC, input="0x3"), ValueError, "input"),
    "input='32x32x'": Case(lambda c: cnnc.loads(SPEC, input="32x32x"), ValueError, "input"),
    "input=(4, 0)": Case(lambda c: cnnc.loads(SPEC, input=(4, 0)), ValueError, "input"),
    "input=(4, -3)": Case(lambda c: cnnc.loads(SPEC, input=(4, -3)), ValueError, "input"),
    "input=()": Case(lambda c: cnnc.loads(SPEC, input=()), ValueError, "input"),
    "input=(4.0, 3)": Case(lambda c: cnnc.loads(SPEC, input=(4.0, 3)), TypeError, "input"),
    "input=(True, 3)": Case(lambda c: cnnc.loads(SPEC, input=(True, 3)), TypeError, "input"),
    "input=Shape(4, 3)": Case(lambda c: cnnc.loads(SPEC, input=ir.Shape(4, 3)), ValueError, "input"),
    "dtype='foo'": Case(lambda c: cnnc.loads(SPEC, dtype="foo"), ValueError, "dtype"),
    "dtype=4": Case(lambda c: cnnc.loads(SPEC, dtype=4), TypeError, "dtype"),
    "optimizer='foo'": Case(lambda c: cnnc.loads(SPEC, optimizer="foo"), ValueError, "optimizer"),
    "optimizer=SGD()": Case(lambda c: cnnc.loads(SPEC, optimizer=SGD()), TypeError, "optimizer"),
    "batch='x'": Case(lambda c: cnnc.loads(SPEC, batch="x"), TypeError, "batch"),
    "batch=-1": Case(lambda c: cnnc.loads(SPEC, batch=-1), ValueError, "batch"),
    "batch=0": Case(lambda c: cnnc.loads(SPEC, batch=0), ValueError, "batch"),
    "batch=10**10": Case(lambda c: cnnc.loads(SPEC, batch=10**10), ValueError, "batch"),
    "batch=2.0": Case(lambda c: cnnc.loads(SPEC, batch=2.0), TypeError, "batch"),
    "batch=True": Case(lambda c: cnnc.loads(SPEC, batch=True), TypeError, "batch"),
    "load(None)": Case(lambda c: cnnc.load(None), TypeError, "path"),
    "load(3)": Case(lambda c: cnnc.load(3), TypeError, "path"),
    "load batch=-1": Case(lambda c: cnnc.load(c.spec, batch=-1), ValueError, "batch"),
    "load input='x'": Case(lambda c: cnnc.load(c.spec, input="x"), ValueError, "input"),
    "Network('x')": Case(lambda c: cnnc.Network("x"), TypeError, "checked"),
    "load_model(None)": Case(lambda c: cnnc.load_model(None), TypeError, "path"),
}

COMPILE = {
    "backend='tpu'": Case(lambda c: cnnc.loads(SPEC).compile(backend="tpu"), ValueError, "backend"),
    "backend=None": Case(lambda c: cnnc.loads(SPEC).compile(backend=None), TypeError, "backend"),
    "seed=-1": Case(lambda c: cnnc.loads(SPEC).compile(seed=-1), ValueError, "seed"),
    "seed='0'": Case(lambda c: cnnc.loads(SPEC).compile(seed="0"), TypeError, "seed"),
    "seed=1.5": Case(lambda c: cnnc.loads(SPEC).compile(seed=1.5), TypeError, "seed"),
    "dtype='float16'": Case(lambda c: cnnc.loads(SPEC).compile(dtype="float16"), ValueError, "dtype"),
    "dtype=np.float32": Case(lambda c: cnnc.loads(SPEC).compile(dtype=np.float32), TypeError, "dtype"),
    "loss='hinge'": Case(lambda c: cnnc.loads(SPEC).compile(loss="hinge"), ValueError, "loss"),
    "loss=1": Case(lambda c: cnnc.loads(SPEC).compile(loss=1), TypeError, "loss"),
    "Model(None)": Case(lambda c: Model(None), TypeError, "network"),
}

MODEL = {
    "predict(None)": Case(lambda c: c.model.predict(None), TypeError, "x"),
    "predict('abc')": Case(lambda c: c.model.predict("abc"), TypeError, "x"),
    "predict(complex)": Case(lambda c: c.model.predict(X.astype(complex)), TypeError, "x"),
    "predict(ragged)": Case(lambda c: c.model.predict([[1, 2], [3]]), ValueError, "x"),
    "predict(ndim 3)": Case(lambda c: c.model.predict(X[0]), ValueError, "x"),
    "predict(wrong channels)": Case(lambda c: c.model.predict(X[..., :2]), ValueError, "x"),
    "predict(NaN)": Case(lambda c: c.model.predict(with_value((0, 0, 0, 0), np.nan)), ValueError, "x"),
    "predict(inf)": Case(lambda c: c.model.predict(with_value((3, 1, 2, 0), -np.inf)), ValueError, "x"),
    "predict(1e300)": Case(lambda c: c.model.predict(with_value((1, 0, 0, 0), 1e300, X.astype(np.float64))),
                           ValueError, "x"),
    "predict batch_size=0": Case(lambda c: c.model.predict(X, batch_size=0), ValueError, "batch_size"),
    "predict batch_size=2.5": Case(lambda c: c.model.predict(X, batch_size=2.5), TypeError, "batch_size"),
    "predict batch_size=True": Case(lambda c: c.model.predict(X, batch_size=True), TypeError, "batch_size"),
    "evaluate(no examples)": Case(lambda c: c.model.evaluate(X[:0], Y[:0]), ValueError, "x"),
    "evaluate(too few y)": Case(lambda c: c.model.evaluate(X, Y[:2]), ValueError, "y"),
    "evaluate(label 3)": Case(lambda c: c.model.evaluate(X, Y + 3), ValueError, "y"),
    "evaluate(label -1)": Case(lambda c: c.model.evaluate(X, Y - 1), ValueError, "y"),
    "evaluate(float labels)": Case(lambda c: c.model.evaluate(X, Y.astype(float)), ValueError, "y"),
    "evaluate(scalar y)": Case(lambda c: c.model.evaluate(X, 3), ValueError, "y"),
    "evaluate(y=None)": Case(lambda c: c.model.evaluate(X, None), TypeError, "y"),
    "evaluate(str y)": Case(lambda c: c.model.evaluate(X, ["a"] * 4), TypeError, "y"),
    "evaluate batch_size=-1": Case(lambda c: c.model.evaluate(X, Y, batch_size=-1), ValueError, "batch_size"),
    "evaluate_outputs(no examples)": Case(lambda c: c.model.evaluate_outputs(X[:0], Y[:0]), ValueError, "x"),
    "evaluate_outputs batch_size='8'": Case(lambda c: c.model.evaluate_outputs(X, Y, batch_size="8"), TypeError,
                                            "batch_size"),
    "fit(no examples)": Case(lambda c: c.model.fit(X[:0], Y[:0]), ValueError, "x"),
    "fit(NaN)": Case(lambda c: c.model.fit(with_value((2, 3, 3, 2), np.nan), Y), ValueError, "x"),
    "fit(too few y)": Case(lambda c: c.model.fit(X, Y[:3]), ValueError, "y"),
    "fit(label 3)": Case(lambda c: c.model.fit(X, Y + 3), ValueError, "y"),
    "fit epochs=0": Case(lambda c: c.model.fit(X, Y, epochs=0), ValueError, "epochs"),
    "fit epochs=-1": Case(lambda c: c.model.fit(X, Y, epochs=-1), ValueError, "epochs"),
    "fit epochs='2'": Case(lambda c: c.model.fit(X, Y, epochs="2"), TypeError, "epochs"),
    "fit epochs=True": Case(lambda c: c.model.fit(X, Y, epochs=True), TypeError, "epochs"),
    "fit batch_size=-1": Case(lambda c: c.model.fit(X, Y, batch_size=-1), ValueError, "batch_size"),
    "fit batch_size='x'": Case(lambda c: c.model.fit(X, Y, batch_size="x"), TypeError, "batch_size"),
    "fit seed=-1": Case(lambda c: c.model.fit(X, Y, seed=-1), ValueError, "seed"),
    "fit shuffle='yes'": Case(lambda c: c.model.fit(X, Y, shuffle="yes"), TypeError, "shuffle"),
    "fit verbose=3": Case(lambda c: c.model.fit(X, Y, verbose=3), ValueError, "verbose"),
    "fit verbose='loud'": Case(lambda c: c.model.fit(X, Y, verbose="loud"), ValueError, "verbose"),
    "fit verbose=1.0": Case(lambda c: c.model.fit(X, Y, verbose=1.0), TypeError, "verbose"),
    "fit optimizer='adam'": Case(lambda c: c.model.fit(X, Y, optimizer="adam"), TypeError, "optimizer"),
    "SGD lr=0": Case(lambda c: SGD(lr=0), ValueError, "lr"),
    "SGD momentum=1": Case(lambda c: SGD(momentum=1.0), ValueError, "momentum"),
    "Adam betas": Case(lambda c: Adam(betas=(0.9,)), TypeError, "betas"),
    "Adam eps=0": Case(lambda c: Adam(eps=0), ValueError, "eps"),
    "Step gamma=2": Case(lambda c: Step(1, gamma=2.0), ValueError, "gamma"),
    "fit lr=0": Case(lambda c: c.model.fit(X, Y, optimizer=_with_lr(SGD(), 0)), ValueError, "optimizer.lr"),
    "fit lr=-0.1": Case(lambda c: c.model.fit(X, Y, optimizer=_with_lr(SGD(), -0.1)), ValueError, "optimizer.lr"),
    "fit lr=nan": Case(lambda c: c.model.fit(X, Y, optimizer=_with_lr(SGD(), float("nan"))), ValueError,
                       "optimizer.lr"),
    "fit lr='0.1'": Case(lambda c: c.model.fit(X, Y, optimizer=_with_lr(SGD(), "0.1")), TypeError, "optimizer.lr"),
    "fit validation=X": Case(lambda c: c.model.fit(X, Y, validation=X), TypeError, "validation"),
    "fit validation=(X,)": Case(lambda c: c.model.fit(X, Y, validation=(X,)), TypeError, "validation"),
    "fit validation empty": Case(lambda c: c.model.fit(X, Y, validation=(X[:0], Y[:0])), ValueError,
                                 "validation[0]"),
    "fit validation labels": Case(lambda c: c.model.fit(X, Y, validation=(X, Y + 7)), ValueError, "validation[1]"),
    "fit mse targets shape": Case(lambda c: c.regression.fit(np.ones((3, 4)), np.ones((3, 3))), ValueError, "y"),
    "fit mse targets NaN": Case(lambda c: c.regression.fit(np.ones((3, 4)), with_value((1, 1), np.nan,
                                                                                       np.ones((3, 2)))),
                                ValueError, "y"),
    "fit val_split of 1 example": Case(lambda c: cnnc.loads(REGRESSION + "train { val_split=0.5 }").compile()
                                       .fit(np.ones((1, 4)), np.ones((1, 2))), ValueError, "x"),
    "loss_and_grads(no examples)": Case(lambda c: c.model.loss_and_grads(X[:0], Y[:0]), ValueError, "x"),
    "loss_and_grads training='no'": Case(lambda c: c.model.loss_and_grads(X, Y, training="no"), TypeError,
                                         "training"),
    "loss_and_grads seed=-1": Case(lambda c: c.model.loss_and_grads(X, Y, seed=-1), ValueError, "seed"),
    "forward training=1": Case(lambda c: c.model.forward(X, training=1), TypeError, "training"),
    "forward seed='s'": Case(lambda c: c.model.forward(X, seed="s"), TypeError, "seed"),
    "backward(wrong shape)": Case(lambda c: (c.model.forward(X), c.model.backward(np.ones((4, 2)))), ValueError,
                                  "doutputs"),
    "backward(str)": Case(lambda c: (c.model.forward(X), c.model.backward("d")), TypeError, "doutputs"),
    "save(3)": Case(lambda c: c.model.save(3), TypeError, "path"),
    "save(None)": Case(lambda c: c.model.save(None), TypeError, "path"),
    "Plan(epochs='x')": Case(lambda c: Plan(epochs="x", batch_size=2), TypeError, "epochs"),
    "Plan(batch_size=0)": Case(lambda c: Plan(epochs=1, batch_size=0), ValueError, "batch_size"),
}

CASES = {**LOADS, **COMPILE, **MODEL}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_argument_is_refused_by_name(case: Case, context: Context) -> None:
    with pytest.raises(Exception) as raised:
        case.call(context)
    assert type(raised.value) is case.error, raised.value
    named = rf"(?<![\w.\[]){re.escape(case.argument)}(?![\w\[])"
    assert re.search(named, str(raised.value)), str(raised.value)


def test_messages_say_what_is_accepted() -> None:
    with pytest.raises(ValueError, match=r"unknown dtype 'foo': dtype must be one of float16, bfloat16, float32, "
                                         r"float64"):
        cnnc.loads(SPEC, dtype="foo")
    with pytest.raises(ValueError, match="optimizer must be one of sgd, momentum, adam, adamw; did you mean `adam`"):
        cnnc.loads(SPEC, optimizer="adma")
    with pytest.raises(ValueError, match="batch must be a whole number from 1 to 1,000,000,000, got -1"):
        cnnc.loads(SPEC, batch=-1)
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 3\), but y holds 3\.\.5"):
        cnnc.loads(SPEC).compile().evaluate(X, Y + 3)


def test_a_refused_fit_changes_nothing() -> None:
    model = cnnc.loads(SPEC).compile(seed=1)
    before = {key: value.copy() for key, value in model.params.items()}
    for call in (lambda: model.fit(X, Y + 3), lambda: model.fit(X, Y, validation=(X, Y - 1)),
                 lambda: model.fit(X, Y, optimizer=_with_lr(SGD(), -1))):
        with pytest.raises(ValueError):
            call()
    assert model.optimizer is None
    for key, value in model.params.items():
        np.testing.assert_array_equal(value, before[key])


def test_spec_and_file_problems_keep_their_types(tmp_path: Path) -> None:
    with pytest.raises(cnnc.SpecError, match=r"<string>:2:1: E\d{3}"):
        cnnc.loads("input 4x4x3\nconv")
    with pytest.raises(FileNotFoundError):
        cnnc.load(tmp_path / "missing.cnn")
    with pytest.raises(IsADirectoryError):
        cnnc.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        cnnc.load_model(tmp_path / "missing.npz")


def test_load_reports_bytes_that_are_not_utf8_as_e001(tmp_path: Path) -> None:
    """As `cnnc check` does: an E001 at the first byte that is not UTF-8, never UnicodeDecodeError."""
    path = tmp_path / "binary.cnn"
    path.write_bytes(b"input 4x4x3\nconv 8 3 \xff\xfe\n")
    with pytest.raises(cnnc.SpecError) as raised:
        cnnc.load(path)
    (diagnostic,) = raised.value.diagnostics
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == ("E001", 2, 10)
    assert "not UTF-8" in diagnostic.message
    assert str(raised.value).startswith(f"{path}:2:10: E001")


@pytest.mark.parametrize("shape", ["8x8x3", (8, 8, 3), [8, 8, 3], (np.int64(8), np.uint16(8), 3),
                                   ir.Shape((8, 8), 3)], ids=str)
def test_input_accepts_sizes_a_tuple_or_a_shape(shape: object, context: Context) -> None:
    assert cnnc.loads(SPEC, input=shape).report.input == ir.Shape((8, 8), 3)
    assert cnnc.load(context.spec, input=shape).report.input == ir.Shape((8, 8), 3)


def test_numpy_integers_are_whole_numbers() -> None:
    network = cnnc.loads(SPEC, batch=np.int64(4), dtype="float16", optimizer="adam")
    assert network.report.assumptions.batch == 4
    model, same = network.compile(seed=np.uint8(3)), network.compile(seed=3)
    np.testing.assert_array_equal(model.params["conv1.weight"], same.params["conv1.weight"])
    history = model.fit(X, Y, epochs=np.int64(2), batch_size=np.int32(2), seed=np.int16(1))
    assert history["images"] == [4, 4]
    assert model.predict(X, batch_size=np.int64(3)).shape == (4, 3)
    assert model.evaluate(X, Y.astype(np.uint8))["accuracy"] is not None


def test_good_calls_still_work(context: Context) -> None:
    model = context.model
    assert model.predict(X[:0]).shape == (0, 3)  # no examples in, no rows out
    np.testing.assert_allclose(model.predict(X.tolist()), model.predict(X), rtol=1e-6)
    assert model.predict(np.zeros((2, 4, 4, 3), dtype=np.int32)).shape == (2, 3)
    assert cnnc.loads(SPEC, name="net").name == "net"
    assert cnnc.load(str(context.spec)).name == "net"
    history = context.regression.fit(np.ones((3, 4)), np.zeros((3, 2)), epochs=1)
    assert len(history["loss"]) == 1
