"""Budgets: errors when the network exceeds a limit set on the command line or in the config (B401-B404)."""

from __future__ import annotations


from cnnc.diagnostics import Note, Severity
from cnnc.lint.context import Finding, LintContext, head, head_receptive_field
from cnnc.lint.registry import rule
from cnnc.render.units import short, size
from cnnc.source import START, Span

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Iterator


def _network_span(context: LintContext) -> Span:
    """Where whole-network findings are reported: the `input` line."""
    return context.network.input_span or START


@rule("B401", "params-budget", Severity.ERROR)
def params_budget(context: LintContext) -> Iterator[Finding]:
    """The network has more parameters than `--max-params` (or `max-params` in the config) allows.

    ## What it does
    Compares the total number of parameters (weights, biases, batchnorm scales and shifts) with
    the budget, and points at the layer that holds the most.

    ## Why is this bad?
    A model that grows past what the device, the download or the deadline allows should fail in
    review, not in production. The budget makes that a CI check.

    ## Example
    ```cnn
    # cnnc check --max-params 1M
    input 7x7x512
    flatten
    fc 4096
    ```

    ## Use instead
    ```cnn
    # cnnc check --max-params 1M
    input 7x7x512
    globalavgpool
    fc 1024
    ```
    """
    budget, total = context.budgets.params, context.report.totals.params
    if budget is None or total <= budget:
        return
    largest = max(context.report.layers, key=lambda row: row.params)
    yield Finding(f"the network has {total:,} parameters ({short(total)}), over the budget of {short(budget)}",
                  span=_network_span(context),
                  help="shrink the largest layers, or raise `max-params` if the growth is intended",
                  notes=(Note(f"the largest is `{largest.name}`, with {short(largest.params)}", largest.span),))


@rule("B402", "macs-budget", Severity.ERROR)
def macs_budget(context: LintContext) -> Iterator[Finding]:
    """The network needs more multiply-accumulates per image than `--max-macs` allows.

    ## What it does
    Compares the multiply-accumulates of one forward pass over one image (convolutions and fc
    layers) with the budget, and points at the most expensive layer.

    ## Why is this bad?
    MACs set the latency and energy of inference. A budget keeps a mobile or real-time model
    within what its target can run.

    ## Example
    ```cnn
    # cnnc check --max-macs 50M
    input 224x224x3
    conv 64 3x3 pad=1
    ```

    ## Use instead
    ```cnn
    # cnnc check --max-macs 50M
    input 224x224x3
    conv 64 3x3 stride=2 pad=1
    ```
    """
    budget, total = context.budgets.macs, context.report.totals.macs
    if budget is None or total <= budget:
        return
    largest = max(context.report.layers, key=lambda row: row.macs)
    yield Finding(f"the network needs {total:,} multiply-accumulates per image ({short(total)}), over the budget "
                  f"of {short(budget)}", span=_network_span(context),
                  help="downsample earlier or use fewer filters where the maps are large, or raise `max-macs`",
                  notes=(Note(f"the most expensive is `{largest.name}`, with {short(largest.macs)}",
                              largest.span),))


@rule("B403", "memory-budget", Severity.ERROR)
def memory_budget(context: LintContext) -> Iterator[Finding]:
    """Training needs more memory than `--max-memory` allows.

    ## What it does
    Compares the training memory of one batch (stored activations and their gradients, weights,
    gradients and optimizer state, with the batch, dtype and optimizer the report assumes) with the
    budget, and points at the largest activation.

    ## Why is this bad?
    A model that does not fit the accelerator it is meant to train on fails only when the job
    starts; the budget catches it when the spec changes.

    ## Example
    ```cnn
    # cnnc check --max-memory 1GB
    input 224x224x3
    conv 64 3x3 pad=1
    relu
    train { batch=128 }
    ```

    ## Use instead
    ```cnn
    # cnnc check --max-memory 1GB
    input 224x224x3
    conv 64 3x3 pad=1
    relu
    train { batch=16 }
    ```
    """
    budget, totals = context.budgets.memory, context.report.totals
    if budget is None or totals.training_bytes <= budget:
        return
    assumptions = context.report.assumptions
    largest = max(context.report.layers, key=lambda row: row.activations)
    yield Finding(f"training needs {short(totals.training_bytes)}B ({size(totals.training_bytes)}) for batch "
                  f"{assumptions.batch} in {assumptions.dtype} with {assumptions.optimizer}, over the budget of "
                  f"{short(budget)}B", span=_network_span(context),
                  help="a smaller batch (`--batch-size`), a smaller dtype (`--dtype float16`) or smaller early "
                       "activations lower it; or raise `max-memory`",
                  notes=(Note(f"the largest activation is `{largest.name}`'s {largest.output}", largest.span),))


@rule("B404", "receptive-field-budget", Severity.ERROR)
def receptive_field_budget(context: LintContext) -> Iterator[Finding]:
    """The features reaching the head see less than `--min-receptive-field` allows.

    ## What it does
    Takes the receptive field of the features entering the first `fc`, `flatten`, `globalavgpool`
    or `globalmaxpool` (or the output, for a network without one) and reports a dimension where
    it is below the minimum.

    ## Why is this bad?
    It is the strict form of W207: when the task needs context of a known size (a whole object, a
    second of audio), the head must see at least that much.

    ## Example
    ```cnn
    # cnnc check --min-receptive-field 100
    input 128x128x3
    conv 32 3x3 pad=1
    relu
    globalavgpool
    ```

    ## Use instead
    ```cnn
    # cnnc check --min-receptive-field 100
    input 128x128x3
    conv 32 3x3 stride=2 pad=1
    relu
    conv 64 3x3 stride=2 pad=1
    relu
    conv 128 3x3 stride=2 pad=1
    relu
    conv 128 3x3 stride=2 pad=1
    relu
    conv 128 3x3 stride=2 pad=1
    relu
    conv 128 3x3 pad=1
    relu
    globalavgpool
    ```
    """
    budget = context.budgets.receptive_field
    if budget is None or context.report.input.rank == 0 or not context.report.layers:
        return
    row = head(context.report)
    field = head_receptive_field(row) if row is not None else context.report.layers[-1].reported_field
    row = row or context.report.layers[-1]
    if all(f >= budget for f in field):
        return
    yield Finding(f"the features reaching `{row.name}` see {'x'.join(map(str, field))}, below the minimum of "
                  f"{budget}", row.node,
                  help="add downsampling or layers before the head, or lower `min-receptive-field`")
