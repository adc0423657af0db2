"""``cnnc import``: an ONNX model as a spec a person could have written, and its weights as a cnnc
checkpoint. The pipeline, one module per stage: read (onnx -> a small graph), recognise (node
patterns -> layers), structure (series-parallel blocks), fold (def/repeat), write (text), weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnnc.importer.read import NotImportable

__all__ = ["Imported", "NotImportable", "import_onnx"]


@dataclass
class Imported:
    """The spec's text, and every layer in the order the language names them (with its weights)."""

    text: str
    layers: list
    stopped: str | None = None


def import_onnx(path: str, partial: bool = False, fold: bool = True) -> Imported:
    """The spec of the ONNX model at ``path``. NotImportable (with the node's name, op type and position)
    for what the language cannot say; with ``partial``, the largest expressible prefix instead, and
    ``stopped`` says why it stops. OSError when the file cannot be read."""
    from cnnc.importer.fold import fold as fold_items
    from cnnc.importer.read import read_model
    from cnnc.importer.recognise import Recogniser
    from cnnc.importer.structure import Structure, chains_joined, layers_in_order
    from cnnc.importer.write import network_name, spec_text

    graph = read_model(path)
    recogniser = Recogniser(graph)
    stopped = None
    try:
        units, source, output = recogniser.run()
    except NotImportable as problem:
        if not partial:
            raise
        stopped, units = problem.message, recogniser.units
        source, output = recogniser.value(graph.input), None
    structure = Structure(units, source, output or "", recogniser.unread() if stopped else set())
    try:
        items, _ = structure.sequence(source, None, partial=partial and stopped is not None)
    except NotImportable as problem:
        try:
            joined = Structure(chains_joined(units, output or ""), source, output or "")
            items, _ = joined.sequence(source, None, partial=partial and stopped is not None)
        except NotImportable:
            if not partial:
                raise problem from None
            items, stopped = structure.prefix, stopped or problem.message
    layers = layers_in_order(items)
    definitions = []
    if fold:
        items, definitions = fold_items(items)
    name = network_name(Path(path).stem)
    text = spec_text(items, definitions, name, graph.input_shape, Path(path).name, graph.producer, stopped)
    return Imported(text, layers, stopped)
