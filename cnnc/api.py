"""The pipeline from text to report, and the public Python API (``cnnc.load``, ``cnnc.loads``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cnnc import ir
from cnnc.analyze import analyze
from cnnc.diagnostics import Diagnostic, SpecError, has_errors
from cnnc.elaborate import elaborate
from cnnc.parser import parse
from cnnc.report import Assumptions, Report
from cnnc.source import Source

if TYPE_CHECKING:
    from cnnc.model import Model


@dataclass(frozen=True)
class Options:
    """What the command line (or the caller) may change about an analysis. None: the spec's
    `train { }` section, else the default."""

    batch: int | None = None
    default_batch: int | None = None  # below the spec's `train { batch= }`, above DEFAULT_BATCH (a config's)
    dtype: str | None = None
    optimizer: str | None = None
    input: ir.Shape | None = None
    name: str | None = None


@dataclass(frozen=True)
class Checked:
    """Everything the pipeline produced for one spec; stages after an error are None."""

    source: Source
    network: ir.Network | None
    report: Report | None
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


DEFAULT_BATCH = 32


def assumptions_for(network: ir.Network, options: Options) -> Assumptions:
    recipe = network.train.settings if network.train else {}
    optimizer = options.optimizer or recipe.get("optimizer")
    if optimizer is None:
        optimizer = "momentum" if recipe.get("momentum") else ("sgd" if recipe else "momentum")
    return Assumptions(batch=options.batch or recipe.get("batch") or options.default_batch or DEFAULT_BATCH,
                       dtype=options.dtype or "float32", optimizer=optimizer)


def check(source: Source, options: Options = Options()) -> Checked:
    """Parse, elaborate and analyze one spec."""
    module, diagnostics = parse(source)
    if module is None:
        return Checked(source, None, None, tuple(diagnostics))
    network, found = elaborate(module, source, options.name, options.input)
    diagnostics += found
    if has_errors(diagnostics) or network.input is None:
        return Checked(source, network, None, tuple(diagnostics))
    report = analyze(network, assumptions_for(network, options))
    return Checked(source, network, report, tuple(diagnostics) + report.diagnostics)


class Network:
    """A checked spec: its IR and its analysis. ``compile`` lowers it to a backend."""

    def __init__(self, checked: Checked) -> None:
        self.source = checked.source
        self.ir = checked.network
        self.report = checked.report
        self.diagnostics = checked.diagnostics

    @property
    def name(self) -> str:
        return self.ir.name

    def compile(self, backend: str = "numpy", seed: int = 0, dtype: str = "float32",
                loss: str | None = None) -> Model:
        """A trainable ``cnnc.model.Model``: weights initialised deterministically from ``seed``
        (He before ReLU-family activations, Glorot otherwise). ``loss``: ``crossentropy`` (fused
        with a final softmax) or ``mse``; by default the spec's ``train { loss= }``, else
        cross-entropy when the spec ends in softmax and mse otherwise."""
        if backend != "numpy":
            raise ValueError(f"unknown backend {backend!r}; available: numpy")
        from cnnc.model import Model

        return Model(self, seed=seed, dtype=dtype, loss=loss)

    def __repr__(self) -> str:
        return f"<cnnc.Network {self.name}: {self.report.input} -> {self.report.output}>"


def loads(text: str, name: str | None = None, **options) -> Network:
    """A network from spec text; raises ``SpecError`` carrying the diagnostics if it has errors."""
    source = Source(text, "<string>")
    checked = check(source, Options(name=name, **options))
    if not checked.ok:
        raise SpecError(list(checked.diagnostics), source)
    return Network(checked)


def load(path: str | Path, **options) -> Network:
    """A network from a ``.cnn`` file; raises ``SpecError`` if it has errors, OSError if unreadable."""
    source = Source(Path(path).read_text(encoding="utf-8"), str(path))
    checked = check(source, Options(**options))
    if not checked.ok:
        raise SpecError(list(checked.diagnostics), source)
    return Network(checked)
