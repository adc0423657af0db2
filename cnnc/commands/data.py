"""The ``--data SOURCE`` of train and eval: loading, the train/test holdout, and data errors."""

from __future__ import annotations

from rich.console import Console

from cnnc.data import Splits, load_source

HOLDOUT = 0.2
"""The share of a source's only set held out for testing when it has no other (MNIST's t10k alone:
the first 8,000 train, the last 2,000 test)."""


def load_splits(source: str, model, holdout_seed: int, download: bool, console: Console,
                evaluating: bool = False) -> Splits:
    """Training and test sets fitting the model's input and outputs; DataError when they don't.
    ``evaluating``: the notes speak of an evaluation, not of a training run."""
    report = model.network.report
    splits = load_source(source, report.input, report.output.channels, download=download, console=console)
    return splits.with_holdout(HOLDOUT, holdout_seed, evaluating)


def print_notes(notes: tuple[str, ...], console: Console) -> None:
    for note in notes:
        console.print(f"cnnc: {note}", markup=False, highlight=False, soft_wrap=True)
