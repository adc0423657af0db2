"""The top-level statements that describe the network rather than add layers: ``network``,
``input`` and the ``train { }`` section."""

from __future__ import annotations

from cnnc import ir
from cnnc import syntax as ast
from cnnc.catalog import TRAIN_SETTINGS
from cnnc.diagnostics import Diagnostic, did_you_mean, error
from cnnc.values import BadValue, evaluate, sizes


def _bad_value(problem: BadValue, span) -> Diagnostic:
    return error(problem.code, problem.message, problem.span or span, problem.hint)


def network_name(call: ast.Call) -> tuple[str | None, list[Diagnostic]]:
    if len(call.items) != 1 or not isinstance(call.items[0], ast.Name) or call.body is not None:
        return None, [error("E003", "`network` takes one name", call.span, "write `network my_net`")]
    return call.items[0].id, []


def input_shape(call: ast.Call) -> tuple[ir.Shape | None, list[Diagnostic]]:
    if len(call.items) != 1 or isinstance(call.items[0], ast.Option) or call.body is not None:
        return None, [error("E003", "`input` takes one size: spatial sizes, then channels", call.span,
                            "write `input 224x224x3` (2-D), `input 2560x12` (1-D) or `input 64x64x64x1` (3-D)")]
    expr = call.items[0]
    try:
        dims = sizes(1, "sizes of at least 1")(evaluate(expr, {}))
    except BadValue as problem:
        return None, [_bad_value(problem, expr.span)]
    return ir.Shape(dims[:-1], dims[-1]), []


def train_recipe(call: ast.Call) -> tuple[ir.TrainRecipe | None, list[Diagnostic]]:
    """The settings of a ``train { }`` section, each checked as TRAIN_SETTINGS says."""
    if call.items or call.body is None or call.clauses:
        return None, [error("E003", "`train` takes a block of settings", call.span,
                            "write `train { optimizer=sgd lr=0.05 epochs=5 }`")]
    found: list[Diagnostic] = []
    settings: dict[str, object] = {}
    for statement in call.body.statements:
        if not isinstance(statement, ast.Settings):
            found.append(error("E005", "a `train` section holds only settings like `lr=0.05`", statement.span,
                               "move layers and blocks out of the `train` section"))
            continue
        for option in statement.options:
            argument = TRAIN_SETTINGS.get(option.key)
            if argument is None:
                found.append(error("E002", f"unknown training setting `{option.key}`", option.key_span,
                                   did_you_mean(option.key, TRAIN_SETTINGS)
                                   or "settings: " + ", ".join(TRAIN_SETTINGS)))
            elif option.key in settings:
                found.append(error("E003", f"setting `{option.key}` is given twice", option.key_span))
            else:
                try:
                    settings[option.key] = argument.convert(evaluate(option.value, {}))
                except BadValue as problem:
                    found.append(_bad_value(problem, option.value.span))
    return ir.TrainRecipe(settings, call.span), found
