"""The pipeline from text to report, and the public Python API (``cnnc.load``, ``cnnc.loads``)
with the checks of its arguments."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from cnnc import ir
from cnnc.analyze import analyze
from cnnc.collector import collector_paused
from cnnc.arguments import BACKENDS, MAX_BATCH, bad_argument, choice, flag, input_shape, path_argument, \
    whole_number
from cnnc.diagnostics import Diagnostic, SpecError, has_errors, merge_repeats
from cnnc.elaborate import elaborate
from cnnc.frozen import field, frozen
from cnnc.parser import parse
from cnnc.report import DTYPE_BYTES, OPTIMIZER_STATES, Assumptions, Report
from cnnc.reading import decode, not_utf8, read_spec_bytes
from cnnc.source import Source

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)

if TYPE_CHECKING:
    from cnnc.model import Model


@frozen
class Options:
    """What the command line (or the caller) may change about an analysis. None: the spec's
    `train { }` section, else the default."""

    batch: int | None = None
    default_batch: int | None = None  # below the spec's `train { batch= }`, above DEFAULT_BATCH (a config's)
    dtype: str | None = None
    optimizer: str | None = None
    input: ir.Shape | None = None
    name: str | None = None
    inplace_activations: bool = False  # count activations and dropout as overwriting their input


@frozen
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
                       dtype=options.dtype or "float32", optimizer=optimizer,
                       inplace_activations=options.inplace_activations)


def check(source: Source, options: Options = Options()) -> Checked:
    """Parse, elaborate and analyze one spec."""
    with collector_paused():
        return _check(source, options)


def _check(source: Source, options: Options) -> Checked:
    module, diagnostics = parse(source)
    if module is None:
        return Checked(source, None, None, tuple(diagnostics))
    network, found = elaborate(module, source, options.name, options.input)
    diagnostics += found
    if has_errors(diagnostics) or network.input is None:
        return Checked(source, network, None, tuple(diagnostics))
    report = analyze(network, assumptions_for(network, options))
    return Checked(source, network, report, merge_repeats(tuple(diagnostics) + report.diagnostics))


class Network:
    """A checked spec: its IR and its analysis. ``compile`` lowers it to a backend."""

    def __init__(self, checked: Checked) -> None:
        """From ``check``'s result for a spec without errors (``cnnc.load`` and ``cnnc.loads`` make one)."""
        if not isinstance(checked, Checked):
            raise TypeError(bad_argument("checked", "the result of cnnc.api.check", checked))
        if not checked.ok or checked.report is None:
            raise ValueError("checked must be a spec without errors; cnnc.loads raises SpecError for one with errors")
        self.source = checked.source
        self.ir = checked.network
        self.report = checked.report
        self.diagnostics = checked.diagnostics

    @property
    def name(self) -> str:
        return self.ir.name

    def compile(self, backend: str = "numpy", seed: int = 0, dtype: str = "float32",
                loss: str | None = None, threads: int | None = None) -> Model:
        """A trainable ``cnnc.model.Model``: weights initialised deterministically from ``seed``
        (He before ReLU-family activations, Glorot otherwise). ``loss``: ``crossentropy`` (fused
        with a final softmax) or ``mse``; by default the spec's ``train { loss= }``, else
        cross-entropy when the spec ends in softmax and mse otherwise. Raises TypeError or
        ValueError for an argument it does not accept: ``backend`` numpy or numba (compiled kernels,
        the same parameters and results; ImportError naming ``cnnc[numba]`` without numba), ``seed``
        a whole number of at least 0, ``dtype`` float32 or float64, ``threads`` a whole number of at least 1
        (the threads a batch is split across; by default NumPy's BLAS thread count: ``Model.threads``)."""
        choice(backend, "backend", BACKENDS)
        from cnnc.model import Model

        return Model(self, seed=seed, dtype=dtype, loss=loss, backend=backend, threads=threads)

    def summary(self, print_fn: Callable[[str], object] | None = None) -> None:
        """Print the table ``cnnc check`` prints (layers, output sizes, parameters, MACs, activations,
        receptive fields, then the totals and memory), as Keras's ``Model.summary()`` does; returns None.
        Fitted to a terminal's width as ``cnnc check`` fits it, whole elsewhere (a notebook, a file).
        ``print_fn`` receives each line of the whole table instead (``lines = []; net.summary(lines.append)``);
        ``str(net.report)`` is the same text as one string."""
        if print_fn is not None:
            for line in str(self.report).splitlines():
                print_fn(line)
            return
        import shutil

        from cnnc.render.text import render_report

        terminal = sys.stdout.isatty() if hasattr(sys.stdout, "isatty") else False
        width = shutil.get_terminal_size().columns if terminal else None
        print("".join(part.plain for part in render_report(self.report, width)), end="")

    def __str__(self) -> str:
        """``lenet5: 28x28x1 -> 10, 13 layers, 61,706 parameters, 416.5K MACs``."""
        return self.report.headline

    def __repr__(self) -> str:
        return f"<cnnc.Network {self}>"

    def _repr_html_(self) -> str:
        """The report's table, for notebooks."""
        from cnnc.render.html import report_html

        return report_html(self.report)


def loads(text: str, name: str | None = None, *, input: ir.Shape | str | tuple[int, ...] | None = None,
          batch: int | None = None, dtype: str | None = None, optimizer: str | None = None,
          inplace_activations: bool = False) -> Network:
    """A network from spec text. ``input`` replaces the spec's input (``"32x32x3"``, a tuple of
    sizes or an ``ir.Shape``: spatial sizes, then channels); ``batch``, ``dtype``, ``optimizer`` and
    ``inplace_activations`` change what the memory figures assume. Raises ``SpecError`` carrying the diagnostics if the
    spec has errors, TypeError or ValueError for an argument it does not accept."""
    if not isinstance(text, str):
        raise TypeError(bad_argument("text", "spec text as a str (decode bytes first; cnnc.load reads a file)",
                                     text))
    return _network(Source(text, "<string>"), _options(name, input, batch, dtype, optimizer, inplace_activations))


def load(path: str | os.PathLike, *, name: str | None = None,
         input: ir.Shape | str | tuple[int, ...] | None = None, batch: int | None = None,
         dtype: str | None = None, optimizer: str | None = None, inplace_activations: bool = False) -> Network:
    """A network from a ``.cnn`` file, read as ``cnnc check`` reads it (options as for ``loads``).
    Raises ``SpecError`` if the spec has errors (E001 for bytes that are not UTF-8), OSError if the
    file cannot be read, TypeError or ValueError for an argument it does not accept."""
    options = _options(name, input, batch, dtype, optimizer, inplace_activations)
    path = path_argument(path)
    with open(path, "rb") as file:
        data, size = read_spec_bytes(file)
    return _network(decode(data, str(path), size), options)


def _network(source: Source, options: Options) -> Network:
    checked = not_utf8(source) or check(source, options)
    if not checked.ok:
        raise SpecError(list(checked.diagnostics), checked.source)
    return Network(checked)


def _options(name: object, input: object, batch: object, dtype: object, optimizer: object,
             inplace_activations: object) -> Options:
    """``load``'s and ``loads``'s options, each checked."""
    if name is not None and not isinstance(name, str):
        raise TypeError(bad_argument("name", "a str or None", name))
    return Options(batch=None if batch is None else whole_number(batch, "batch", maximum=MAX_BATCH),
                   dtype=None if dtype is None else choice(dtype, "dtype", DTYPE_BYTES),
                   optimizer=None if optimizer is None else choice(optimizer, "optimizer", OPTIMIZER_STATES),
                   input=None if input is None else input_shape(input), name=name,
                   inplace_activations=flag(inplace_activations, "inplace_activations"))
