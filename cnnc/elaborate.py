"""AST to IR: check every name and argument, expand blocks and repeats, evaluate expressions."""

from __future__ import annotations

from collections import Counter

from cnnc import ir
from cnnc import syntax as ast
from cnnc.binding import Parameters, bind
from cnnc.catalog import DIRECTIVES, LAYERS, STRUCTURES
from cnnc.definitions import collect_definitions, parameter_problem, recursive_blocks
from cnnc.diagnostics import Diagnostic, call_site_notes, did_you_mean, error, repeated
from cnnc.directives import input_shape, network_name, train_recipe
from cnnc.frozen import frozen, replace
from cnnc.source import START, Source, Span
from cnnc.values import BadValue, Value, evaluate, whole

DIRECTIVE_READERS = {"network": network_name, "input": input_shape, "train": train_recipe}

MAX_DEPTH = 100
"""Deepest nesting of blocks and block calls."""
MAX_LAYERS = 100_000
"""Most layers a spec may expand to."""
MAX_ITERATIONS = 1_000_000
"""Most repeat iterations, counted over the whole expansion (an empty body still loops)."""
MAX_LOOP_FINDINGS = 100
"""Most distinct findings a `repeat N as i` collects before it stops elaborating its iterations."""
MAX_FAILING_ITERATIONS = 1_000
"""Most iterations of a `repeat N as i` that may fail before it stops elaborating."""


class _Abort(Exception):
    """A limit was exceeded: elaboration stops (the diagnostic is already recorded)."""


@frozen
class _Context:
    scope: dict[str, Value]
    origin: tuple[ir.Frame, ...]
    depth: int

    def enter(self, span: Span, block: str | None = None, scope: dict[str, Value] | None = None,
              call: int = 0) -> _Context:
        origin = self.origin + (ir.Frame(block, span, call),) if block else self.origin
        return _Context(self.scope if scope is None else scope, origin, self.depth + 1)


_TOP = _Context({}, (), 0)


class _Elaborator:
    def __init__(self, source: Source, name: str | None, input_override: ir.Shape | None) -> None:
        self.source = source
        self.name = name
        self.input_override = input_override
        self.diagnostics: list[Diagnostic] = []
        self.times: dict[int, int] = {}  # diagnostic index -> how many repeat iterations it stands for
        self.stopped: dict[int, tuple[int, int]] = {}  # diagnostic index -> (iterations run, of) a stopped repeat
        self.definitions: dict[str, ast.Definition] = {}
        self.recursive: set[str] = set()
        self.counters: Counter[str] = Counter()
        self.accepted: dict[str, Parameters] = {}  # layer or block name -> what its calls accept
        self.statement_names: frozenset[str] | None = None  # the layers and blocks a statement may begin with
        self.layers = 0
        self.iterations = 0
        self.block_calls = 0

    # Reporting --------------------------------------------------------------------------

    def error(self, code: str, message: str, span: Span | None, help: str | None = None,
              context: _Context = _TOP) -> None:
        self.diagnostics.append(error(code, message, span, help, call_site_notes(context.origin)))

    def bad_value(self, problem: BadValue, span: Span, context: _Context) -> None:
        self.error(problem.code, problem.message, problem.span or span, problem.hint, context)

    # The whole module -------------------------------------------------------------------

    def run(self, module: ast.Module) -> ir.Network:
        self.definitions, found = collect_definitions(module)
        self.recursive, cycles = recursive_blocks(self.definitions)
        self.diagnostics += found + cycles
        name, shape, train = None, None, None
        seen: dict[str, Span] = {}  # directive -> where it was first given
        layers: list[ir.Node] = []
        try:
            for statement in module.statements:
                if isinstance(statement, ast.Definition):
                    continue
                if not (isinstance(statement, ast.Call) and statement.op in DIRECTIVES):
                    layers += self.statement(statement, _TOP)
                    continue
                op = statement.op
                if op in seen:
                    self.error("E005", f"`{op}` is declared twice", statement.span,
                               f"the first declaration is at line {seen[op].line}")
                    continue
                seen[op] = statement.span
                if op == "input" and layers:
                    self.error("E005", "`input` must come before the first layer", statement.span,
                               "move the `input` line above the layers")
                value, problems = DIRECTIVE_READERS[op](statement)
                self.diagnostics += problems
                if op == "network":
                    name = value
                elif op == "input":
                    shape = value
                else:
                    train = value
        except _Abort:
            pass
        if self.input_override is not None:
            shape = self.input_override
        elif "input" not in seen:
            self.error("E105", "no input declared", START,
                       "add a line like `input 224x224x3` (spatial sizes, then channels) before the first layer")
        return ir.Network(name or self.name or self.source.stem, shape, tuple(layers), seen.get("input"), train)

    # Statements -------------------------------------------------------------------------

    def statements(self, block: ast.Block, context: _Context) -> list[ir.Node]:
        nodes: list[ir.Node] = []
        for statement in block.statements:
            nodes += self.statement(statement, context)
        return nodes

    def statement(self, statement: ast.Statement, context: _Context) -> list[ir.Node]:
        if isinstance(statement, ast.Definition):
            self.error("E005", "blocks are defined at the top level", statement.span,
                       "move this `def` out of the enclosing block", context)
            return []
        if isinstance(statement, ast.Settings):
            self.error("E005", "settings like `lr=0.05` belong in a `train { }` section", statement.span,
                       "to pass an option to a layer, write it on the layer's line: `conv 64 3x3 stride=2`",
                       context)
            return []
        return self.call(statement, context)

    def count_layer(self, span: Span, context: _Context) -> None:
        self.layers += 1
        if self.layers > MAX_LAYERS:
            self.error("E006", f"the network expands to more than {MAX_LAYERS:,} layers", span,
                       "check the repeat counts", context)
            raise _Abort

    def count_iteration(self, span: Span, context: _Context) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            self.error("E006", f"the repeats run more than {MAX_ITERATIONS:,} times in all", span,
                       "check the repeat counts", context)
            raise _Abort

    def nested(self, span: Span, context: _Context, block: str | None = None,
               scope: dict[str, Value] | None = None) -> _Context:
        self.block_calls += 1 if block else 0
        inner = context.enter(span, block, scope, self.block_calls)
        if inner.depth > MAX_DEPTH:
            self.error("E006", f"blocks are nested more than {MAX_DEPTH} deep", span,
                       "flatten the nesting or use `repeat`", context)
            raise _Abort
        return inner

    def call(self, call: ast.Call, context: _Context) -> list[ir.Node]:
        op = call.op
        if op in LAYERS:
            return self.layer(call, context)
        if op in self.definitions:
            return self.block_call(call, context)
        if op in STRUCTURES:
            return getattr(self, op)(call, context)
        if op in DIRECTIVES:
            self.error("E005", f"`{op}` belongs at the top level, outside every block", call.span,
                       context=context)
            return []
        candidates = set(LAYERS) | set(self.definitions) | {"repeat", "residual", "concat", "add", "multiply"}
        hint = did_you_mean(op, candidates)
        if hint is None:
            hint = "layers: " + ", ".join(LAYERS)
        if op in context.scope:
            hint = f"`{op}` is a parameter of the enclosing block, not a layer"
        self.error("E002", f"unknown layer or block `{op}`", call.op_span, hint, context)
        return []

    def no_blocks(self, call: ast.Call, context: _Context, what: str) -> bool:
        if call.body is None:
            return True
        self.error("E005", f"{what} takes no `{{ }}` block", call.body.span,
                   "only repeat, residual, concat, add, multiply, branch and shortcut take blocks", context)
        return False

    def layer(self, call: ast.Call, context: _Context) -> list[ir.Node]:
        signature = LAYERS[call.op]
        if not self.no_blocks(call, context, f"`{call.op}`"):
            return []
        bound = self.bind(call, self.parameters(call.op), context)
        if bound is None:
            return []
        arguments = {}
        ok = True
        for argument in signature.arguments:
            if argument.name not in bound:
                arguments[argument.name] = argument.default
                continue
            value, span = bound[argument.name]
            try:
                arguments[argument.name] = argument.convert(value)
            except BadValue as problem:
                self.bad_value(problem, span, context)
                ok = False
        if not ok:
            return []
        self.count_layer(call.span, context)
        kind = call.op
        self.counters[kind] += 1
        # `relu6` ends in a digit: `relu6_1`, never `relu61` (the 61st relu's name)
        separator = "_" if kind[-1].isdigit() else ""
        common = {"name": f"{kind}{separator}{self.counters[kind]}", "span": call.span, "origin": context.origin}
        try:
            return [signature.build(common, **arguments)]
        except BadValue as problem:  # a value that does not fit with another one
            self.bad_value(problem, call.span, context)
            return []

    def bind(self, call: ast.Call, parameters: Parameters, context: _Context) -> dict[str, tuple[Value, Span]] | None:
        """The call's arguments bound to parameter names (see ``binding.bind``); None after an error."""
        def report(code: str, message: str, span: Span | None, help: str | None) -> None:
            self.error(code, message, span, help, context)

        if self.statement_names is None:  # the definitions are known once the run has begun
            self.statement_names = frozenset(LAYERS) | frozenset(self.definitions)
        return bind(call, parameters, context.scope, self.statement_names, self.source, report)

    def parameters(self, op: str) -> Parameters:
        """What a call of the layer or block ``op`` accepts, made once per name."""
        found = self.accepted.get(op)
        if found is not None:
            return found
        if op in LAYERS:
            signature = LAYERS[op]
            found = Parameters(signature.positional_names, signature.names, signature.usage(), f"`{op}`",
                               {a.name: a.convert for a in signature.options},
                               {a.name: a.doc for a in signature.arguments})
        else:
            parameters = self.definitions[op].parameters
            usage = f"{op} " + " ".join(p.name if p.default is None else f"{p.name}=" for p in parameters)
            found = Parameters([(p.name, p.default is not None) for p in parameters], [p.name for p in parameters],
                               usage, f"`{op}`", dict.fromkeys(p.name for p in parameters))
        self.accepted[op] = found
        return found

    # Blocks -----------------------------------------------------------------------------

    def block_call(self, call: ast.Call, context: _Context) -> list[ir.Node]:
        definition = self.definitions[call.op]
        if call.op in self.recursive or not self.no_blocks(call, context, f"block `{call.op}`"):
            return []
        parameters = definition.parameters
        problem = parameter_problem(definition)
        if problem:
            self.error("E003", *problem, context)
            return []
        bound = self.bind(call, self.parameters(call.op), context)
        if bound is None:
            return []
        scope: dict[str, Value] = {}
        for parameter in parameters:
            if parameter.name in bound:
                scope[parameter.name] = bound[parameter.name][0]
                continue
            try:
                scope[parameter.name] = evaluate(parameter.default, dict(scope))
            except BadValue as problem:
                self.bad_value(problem, parameter.default.span, context)
                return []
        inner = self.nested(call.span, context, call.op, scope)
        return self.statements(definition.body, inner)

    def only_body(self, call: ast.Call, context: _Context, clauses: tuple[str, ...] = ()) -> bool:
        """Check that a structural form has a body, no arguments, and only the allowed clauses."""
        ok = True
        if call.body is None:
            self.error("E003", f"`{call.op}` needs a `{{ ... }}` block", call.span,
                       STRUCTURES[call.op].split(":")[0], context)
            ok = False
        for clause in call.clauses:
            if clause.keyword not in clauses:
                hint = did_you_mean(clause.keyword, clauses) if clauses else None
                self.error("E002" if clauses else "E005",
                           f"`{call.op} {{ }}` cannot be followed by `{clause.keyword} {{ }}`", clause.span,
                           hint or "start the next statement on a new line", context)
                ok = False
        return ok

    def repeat(self, call: ast.Call, context: _Context) -> list[ir.Node]:
        args = call.items
        variable = ast.loop_variable(args)
        if not (len(args) == 1 or variable) or isinstance(args[0], ast.Option):
            self.error("E003", "`repeat` takes one count, optionally followed by `as NAME`", call.span,
                       "write `repeat 3 { ... }`, or `repeat 3 as i { ... }` to number the iterations from 0",
                       context)
            return []
        if not self.only_body(call, context):
            return []
        try:
            count = whole(0, "a repeat count of 0 or more")(evaluate(args[0], context.scope))
        except BadValue as problem:
            self.bad_value(problem, args[0].span, context)
            return []
        inner = self.nested(call.span, context)
        nodes: list[ir.Node] = []
        seen: dict[tuple, int] = {}  # (with `as`) a finding -> its index in self.diagnostics
        if variable and not ast.mentions(call.body, variable):
            variable = None  # the index is never read: every iteration elaborates alike
        failing = 0
        for index in range(count):
            self.count_iteration(call.span, context)
            found = len(self.diagnostics)
            if variable:
                # Each iteration sees its own index, so each elaborates (and may fail) differently: every
                # iteration runs, and a finding repeated from an earlier iteration counts there.
                nodes += self.statements(call.body, _Context({**inner.scope, variable: index}, inner.origin,
                                                             inner.depth))
                if len(self.diagnostics) > found:
                    failing += 1
                    distinct = self.merge_findings(found, seen)
                    if (distinct > MAX_LOOP_FINDINGS or failing >= MAX_FAILING_ITERATIONS) and index + 1 < count:
                        # the first failures say enough, and a million would take minutes
                        for position in seen.values():
                            self.stopped[position] = (index + 1, count)
                        break
                continue
            nodes += self.statements(call.body, inner)
            if len(self.diagnostics) > found:
                # Without a loop variable every iteration elaborates alike and would find the same errors
                # again: report them once, for all the iterations, and stop here.
                for position in range(found, len(self.diagnostics)):
                    self.times[position] = self.times.get(position, 1) * count
                break
        return nodes

    def merge_findings(self, found: int, seen: dict[tuple, int]) -> int:
        """Fold the diagnostics from index ``found`` on into the same findings of earlier iterations
        (same code, place, message and call sites); returns how many distinct findings there are."""
        new = [(d, self.times.pop(found + offset, 1)) for offset, d in enumerate(self.diagnostics[found:])]
        del self.diagnostics[found:]
        for diagnostic, times in new:
            key = (diagnostic.code, diagnostic.span, diagnostic.message, tuple(n.span for n in diagnostic.notes))
            if key in seen:
                self.times[seen[key]] = self.times.get(seen[key], 1) + times
                continue
            seen[key] = len(self.diagnostics)
            if times != 1:
                self.times[seen[key]] = times
            self.diagnostics.append(diagnostic)
        return len(seen)

    def container_name(self, kind: str) -> str:
        self.counters[kind] += 1
        return f"{kind}{self.counters[kind]}"

    def residual(self, call: ast.Call, context: _Context) -> list[ir.Node]:
        if call.items:
            self.error("E003", "`residual` takes no arguments", call.items[0].span, context=context)
            return []
        if not self.only_body(call, context, ("shortcut",)):
            return []
        if len(call.clauses) > 1:
            self.error("E005", "a residual has one shortcut", call.clauses[1].span, context=context)
            return []
        name = self.container_name("residual")
        inner = self.nested(call.span, context)
        body = self.statements(call.body, inner)
        shortcut = self.statements(call.clauses[0].body, inner) if call.clauses else []
        return [ir.Residual(name, call.span, context.origin, tuple(body), tuple(shortcut))]

    def concat(self, call: ast.Call, context: _Context) -> list[ir.Node]:
        return self.merge(call, context, ir.Concat, 1)

    def add(self, call: ast.Call, context: _Context) -> list[ir.Node]:
        return self.merge(call, context, ir.Add, 2)

    def multiply(self, call: ast.Call, context: _Context) -> list[ir.Node]:
        return self.merge(call, context, ir.Multiply, 2)

    def merge(self, call: ast.Call, context: _Context, kind: type, fewest: int) -> list[ir.Node]:
        """``concat``, ``add`` or ``multiply``: branches on the same input, merged by ``kind``."""
        op = call.op
        if call.items:
            self.error("E003", f"`{op}` takes no arguments", call.items[0].span, context=context)
            return []
        if not self.only_body(call, context):
            return []
        name = self.container_name(op)
        inner = self.nested(call.span, context)
        branches: list[tuple[ir.Node, ...]] = []
        for statement in call.body.statements:
            if not (isinstance(statement, ast.Call) and statement.op == "branch"):
                self.error("E005", f"a `{op}` holds only `branch {{ ... }}` blocks", statement.span,
                           "wrap the layers in `branch { ... }`", context)
                continue
            # `branch { a } branch { b }` on one line reads as one call with a `branch` clause
            if statement.items or statement.body is None or any(c.keyword != "branch" for c in statement.clauses):
                self.error("E003", "`branch` takes only a `{ ... }` block", statement.span, context=context)
                continue
            for body in (statement.body, *(clause.body for clause in statement.clauses)):
                branches.append(tuple(self.statements(body, self.nested(body.span, inner))))
        if len(branches) < fewest:
            needs = "at least one branch" if fewest == 1 else f"at least {fewest} branches"
            self.error("E003", f"`{op}` needs {needs}", call.span,
                       f"write `{op} {{ branch {{ ... }} branch {{ ... }} }}`"
                       + ("; an empty `branch { }` is the identity" if fewest > 1 else ""), context)
            return []
        return [kind(name, call.span, context.origin, tuple(branches))]

    def branch(self, call: ast.Call, context: _Context) -> list[ir.Node]:
        self.error("E005", "`branch` belongs directly inside `concat { }`, `add { }` or `multiply { }`", call.span,
                   "write `concat { branch { ... } branch { ... } }` (or `add`, `multiply`)", context)
        return []

    def shortcut(self, call: ast.Call, context: _Context) -> list[ir.Node]:
        self.error("E005", "`shortcut { }` follows a residual's closing brace on the same line", call.span,
                   "write `residual { ... } shortcut { ... }`", context)
        return []


def elaborate(module: ast.Module, source: Source, name: str | None = None,
              input_override: ir.Shape | None = None) -> tuple[ir.Network, list[Diagnostic]]:
    """The IR of a parsed spec and every error found on the way."""
    elaborator = _Elaborator(source, name, input_override)
    network = elaborator.run(module)
    diagnostics = [repeated(d, elaborator.times.get(i, 1)) for i, d in enumerate(elaborator.diagnostics)]
    for index, (ran, count) in elaborator.stopped.items():
        diagnostics[index] = replace(diagnostics[index], message=f"{diagnostics[index].message} (the repeat stopped "
                                                                  f"after {ran:,} of its {count:,} iterations)")
    return network, diagnostics
