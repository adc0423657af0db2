"""The JSON report: one document per spec, with the layers in execution order."""

from __future__ import annotations

from cnnc.diagnostics import Diagnostic
from cnnc.report import LayerReport, Report
from cnnc.source import Source, Span


def _span_fields(span: Span | None) -> dict:
    if span is None:
        return {"line": None, "column": None, "end_line": None, "end_column": None}
    return {"line": span.line, "column": span.column, "end_line": span.end_line, "end_column": span.end_column}


def diagnostic_json(diagnostic: Diagnostic, source: Source) -> dict:
    from cnnc.render.diagnostics import code_name

    return {
        "code": diagnostic.code,
        "name": code_name(diagnostic.code),
        "severity": diagnostic.severity.value,
        "message": diagnostic.message,
        "file": source.path,
        **_span_fields(diagnostic.span),
        "help": diagnostic.help,
        "notes": [{"message": note.message, **_span_fields(note.span)} for note in diagnostic.notes],
    }


def layer_json(layer: LayerReport) -> dict:
    return {
        "name": layer.name,
        "kind": layer.kind,
        "settings": layer.node.describe(),
        "line": layer.span.line,
        "column": layer.span.column,
        "called_from": [{"block": f.block, "line": f.span.line, "column": f.span.column}
                        for f in layer.node.origin],
        "depth": layer.depth,
        "input": list(layer.input.dims),
        "output": list(layer.output.dims),
        "params": layer.params,
        "buffers": layer.buffers,
        "macs": layer.macs,
        "flops": layer.flops,
        "activations": layer.activations,
        "receptive_field": list(layer.reported_field),
        "jump": [j if isinstance(j, int) else float(j) for j in layer.jump],
        "padding": [list(p) for p in layer.padding] if layer.padding is not None else None,
    }


def report_json(source: Source, report: Report | None, diagnostics: tuple[Diagnostic, ...],
                name: str | None) -> dict:
    """The document for one spec; ``report`` is None when the spec could not be analyzed."""
    document: dict = {"file": source.path, "network": report.network if report else name,
                      "input": None, "output": None, "layers": [], "totals": None, "assumptions": None}
    if report is not None:
        totals, assumptions = report.totals, report.assumptions
        document.update({
            "input": list(report.input.dims),
            "output": list(report.output.dims) if report.output else None,
            "layers": [layer_json(layer) for layer in report.layers],
            "assumptions": {"batch": assumptions.batch, "dtype": assumptions.dtype,
                            "bytes_per_value": assumptions.bytes_per_value, "optimizer": assumptions.optimizer,
                            "optimizer_states_per_param": assumptions.optimizer_states,
                            "inplace_activations": assumptions.inplace_activations},
        })
        if totals is not None:
            document["totals"] = {
                "params": totals.params, "buffers": totals.buffers, "macs": totals.macs, "flops": totals.flops,
                "activations": totals.activations, "weights_bytes": totals.weights_bytes,
                "forward_bytes_per_image": totals.forward_bytes,
                "inference_bytes_per_image": totals.inference_bytes,
                "training_bytes": totals.training_bytes,
            }
    document["diagnostics"] = [diagnostic_json(d, source) for d in diagnostics]
    return document
