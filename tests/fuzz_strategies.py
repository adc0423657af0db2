"""Specs to fuzz `cnnc check` with: programs generated from the whole language, and the shipped
examples mutated. Shared by tests/test_fuzz.py and bench/fuzz_check.py.

Generators make their choices through a ``Draw``: hypothesis's draws in the test suite (so that a
failure shrinks), a seeded ``random.Random`` in the bench (fast, no shrinking, reproducible per
example)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cnnc.catalog import LAYERS, REQUIRED, TRAIN_SETTINGS

T = TypeVar("T")
REPOSITORY = Path(__file__).resolve().parents[1]
EXAMPLES = {path.name: path.read_text(encoding="utf-8") for path in sorted((REPOSITORY / "examples").glob("*.cnn"))}


# Drawing choices --------------------------------------------------------------------------------

class Draw:
    """The choices a generator makes. Lists are ordered simplest first: hypothesis shrinks towards
    the first option, the smallest integer and "no"."""

    def integer(self, low: int, high: int) -> int:
        raise NotImplementedError

    def choice(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]

    def chance(self, percent: int) -> bool:
        return self.integer(0, 99) >= 100 - percent


class RandomDraw(Draw):
    def __init__(self, generator: random.Random) -> None:
        self.generator = generator

    def integer(self, low: int, high: int) -> int:
        return self.generator.randint(low, high)


class HypothesisDraw(Draw):
    def __init__(self, draw: Callable) -> None:
        self.draw = draw

    def integer(self, low: int, high: int) -> int:
        from hypothesis import strategies as st

        return self.draw(st.integers(low, high))


def strategy(generate: Callable[[Draw], T]):
    """A hypothesis strategy for ``generate(draw)``."""
    from hypothesis import strategies as st

    return st.composite(lambda draw: generate(HypothesisDraw(draw)))()


@dataclass(frozen=True)
class Spec:
    """A file to check: its name, its bytes, and how it was made."""

    name: str
    content: bytes
    origin: str

    def __repr__(self) -> str:
        return f"Spec(name={self.name!r}, origin={self.origin!r}, content={self.content!r})"


# The vocabulary ---------------------------------------------------------------------------------

# Valid values first, then invalid ones, for every argument name of every layer and train setting.
VALUES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "filters": (("8", "1", "16", "3", "64"), ("0", "-3", "2.5", "many", "3x3", "same")),
    "units": (("10", "1", "4", "100"), ("0", "-1", "0.5", "all", "2x2")),
    "kernel": (("3", "1", "2", "3x3", "1x7", "5", "2x2x2", "(1 + 2)"),
               ("0", "-1", "1.5", "same", "0x3", "3x3x3x3x3")),
    "stride": (("1", "2", "2x1", "3"), ("0", "-2", "0.5", "same", "1x0")),
    "pad": (("0", "1", "same", "valid", "1x0", "2", "0x1x1"), ("-1", "full", "1.5", "true", "-1x1")),
    "dilation": (("1", "2", "1x2"), ("0", "-1", "0.5", "same")),
    "groups": (("1", "2", "4", "8"), ("0", "3", "-2", "1.5", "same", "2x2")),
    "bias": (("true", "false"), ("1", "0", "yes", "none", "2x2")),
    "round": (("floor", "ceil"), ("up", "1", "true", "Floor")),
    "slope": (("0.01", "0.2", "-0.5", "0", "2", "1e-3"), ("steep", "3x3", "true")),
    "p": (("0.5", "0", "0.1", "0.99"), ("1", "1.5", "-0.1", "half", "0x1")),
    "eps": (("1e-5", "0.001", "1"), ("0", "-1e-5", "tiny")),
    "momentum": (("0.1", "0", "0.9", "0.99"), ("1", "1.5", "-0.1", "fast")),
    "approximate": (("none", "tanh"), ("exact", "1", "true", "Tanh")),
    "alpha": (("1e-4", "0", "0.5", "1"), ("big", "1x1", "3x3", "true")),  # elu's and lrn's
    "shared": (("false", "true"), ("1", "0", "yes", "all")),
    "affine": (("true", "false"), ("1", "yes", "none", "2x2")),
    "size": (("1", "3", "5", "16", "2x2", "8x8"), ("-1", "1.5", "2.5", "same", "big")),  # adaptive pools', upsample's
    "beta": (("0.75", "0", "1", "-0.5"), ("steep", "1x1", "true")),
    "k": (("1", "2", "1e-3"), ("0", "-1", "one", "1x1")),
    "init": (("1e-6", "0.1", "1", "0", "-1"), ("small", "1x1", "true")),
    "factor": (("2", "1", "3", "2x1"), ("-2", "1.5", "same", "twice", "2x-1")),
    "mode": (("nearest", "linear"), ("bilinear", "1", "Nearest", "cubic")),
    "align_corners": (("true", "false"), ("1", "yes", "none")),
    "output_pad": (("0", "1", "1x0"), ("-1", "0.5", "same", "1x-1")),
    "from": (("0", "1", "4"), ("-1", "1.5", "first", "0x1")),
    "to": (("8", "2", "16"), ("0", "-2", "2.5", "last", "2x2")),
    "optimizer": (("sgd", "momentum", "adam", "adamw"), ("rmsprop", "1", "Adam", "sgd2")),
    "lr": (("0.1", "0.05", "1e-3", "1"), ("0", "-0.1", "fast", "1x1")),
    "nesterov": (("true", "false"), ("1", "maybe")),
    "weight_decay": (("0", "1e-4", "0.5"), ("-1", "none")),
    "epochs": (("1", "5", "100"), ("0", "-1", "1.5", "forever")),
    "batch": (("32", "1", "64"), ("0", "-8", "0.5", "all")),
    "loss": (("crossentropy", "mse"), ("l1", "0", "CrossEntropy")),
    "schedule": (("constant", "step", "cosine"), ("linear", "1")),
    "step_size": (("1", "10"), ("0", "-1", "2.5")),
    "gamma": (("0.1", "1", "0.5"), ("0", "1.5", "-0.5")),
    "val_split": (("0", "0.1", "0.5"), ("1", "-0.1", "1.5")),
    "seed": (("0", "42", "123456789"), ("-5", "1.5", "x")),
}
GOOGOL = 10**100
EXTREMES = ("0", "-1", str(GOOGOL), str(GOOGOL + 1), str(10 * GOOGOL), "1e300", "1e-300", "1e150", "-1e300",
            "1e308", "1e309", "0.0", "9" * 30, f"({'9' * 51} * {'9' * 51})", "(1e300 * 1e300)", "(7 // 0)",
            "(0 - 5)", "(2 * 3 * 4 * 5 * 6 * 7 * 8 * 9)", "100000", "9" * 99, "1e99", "1e100", "-" + "9" * 99,
            f"({'9' * 50} * {'9' * 49})")
BELOW_GOOGOL = "9" * 99  # legal, but a few of them multiplied pass the cap: figures must stop there too
HUGE_COUNTS = ("1000000", "1000001", "99999", "1000000000000", str(GOOGOL), str(10 * GOOGOL), "1e300",
               "(1000000 * 1000000)", "-1", "0")
EMOJI_CODES = (":smile:", ":x:", ":thumbs_up:")
MARKUP = ("[bold]", "[/bold]", "[/]", "[red on white]", "[link=https://example.com]", "[bold red]x[/]", "\\[bold]")
ODD_TEXT = (*MARKUP, *EMOJI_CODES, "é", "网络", "😀", "\u200b", "\u202e", "e\u0301", "\ufeff", "\u2028", "\u00a0",
            "\x0b", "\x0c", "\x1b[31m", "\x00", "３", "\t", "\\", "\"", "'", "{", "}", "(", ")", ";", "=", "x")
COMMENTS = ("# a comment", "# noqa", "# noqa: W201", "# noqa:W201,I301", "# NOQA", "# noqa: W999", "# noqa: E001",
            "# noqa: ALL", "# 224x224x3 { } ; conv 8 3", "# [bold]bold[/bold] :smile: [red]x[/]",
            "# 😀 网络 ünïcødé", "# :x: [/] [link=https://example.com]", "#", "#####")
NAMES = ("net", "vgg_like", "_x1", "conv", "repeat", "input", "3net", "net[bold]", "net:smile:", "nét", "网络", "😀")
BLOCK_NAMES = ("block", "unit", "stage", "down", "conv_bn", "f")
ODD_BLOCK_NAMES = ("conv", "relu", "repeat", "input", "train", "branch", "f[bold]", "f:smile:", "def")
PARAMETERS = ("c", "k", "s", "p", "n")
SYMBOLS = ("same", "valid", "true", "false", "floor", "ceil", "x", "c")
OPS = ("+", "-", "*", "//", "/")
FUNCTIONS = ("min", "max", "floor", "ceil", "round")
ODD_FUNCTIONS = ("maximum", "abs", "pow", "conv", "x")
SPATIAL = ("conv", "maxpool", "avgpool", "globalavgpool", "globalmaxpool", "adaptiveavgpool",
           "adaptivemaxpool", "instancenorm", "lrn", "upsample", "deconv", "pixelshuffle")
WORDS = (*LAYERS, "repeat", "residual", "shortcut", "concat", "add", "multiply", "branch", "as", "network", "input",
         "train", "def", "cnov", "Conv", "dense", "lstm", "stride", "pad", "same", "relu[bold]", "conv:smile:", "😀", "ünï", "_")
ODDITIES = (
    "branch { relu }", "shortcut { relu }", "input 8x8x3", "network again", "def inner() { relu }", "lr=0.1",
    "train { lr=0.1 }", "repeat { relu }", "repeat 2 3 { relu }", "repeat 2", "repeat x=2 { relu }",
    "relu { relu }", "cnov 8 3", "Conv 8 3", "lstm 8", "conv", "conv 8 3 strid=2", "conv 8 3 stride=2 stride=3",
    "conv filters=8 8 3", "residual 3 { relu }", "concat { relu }", "concat { }", "residual { }",
    "residual { relu } shortcut { relu } shortcut { relu }", "residual { relu } branch { relu }",
    "fc 10 bias=true bias=false", "dropout p=0.5 0.5", "globalavgpool 2", "softmax axis=1", "{ relu }",
    "conv 8 3 = 4", "repeat 2 { } shortcut { }", "concat { branch { } }", "flatten; flatten; fc 1",
    f"repeat 20 {{ maxpool 2 stride={BELOW_GOOGOL} pad=1 }}",
    f"repeat 3 {{ conv 1 3 dilation={BELOW_GOOGOL} pad=same }}",
    f"repeat 3 {{ avgpool {BELOW_GOOGOL} pad={BELOW_GOOGOL} round=ceil }}", f"fc {BELOW_GOOGOL}; fc {BELOW_GOOGOL}",
    f"conv {BELOW_GOOGOL} 1; conv {BELOW_GOOGOL} 1", f"repeat 5 {{ conv 1 1 pad={BELOW_GOOGOL} }}",
    "add { branch { } }", "multiply { }", "add { relu }", "multiply 2 { branch { } branch { } }",
    "add { branch { conv 3 1 } branch { } }", "multiply { branch { fc 7 } branch { } }",
    "repeat 2 as { relu }", "repeat 2 as i j { relu }", "repeat as i { relu }", "repeat 3 as 2 { relu }",
    "repeat 3 as i { conv (8 - 4 * i) 1 }", "conv (1)x(0)x 3", "conv 8 (2)x(same)", "conv 8 1x(1 / 2)",
    "conv (max(1)) 3", "conv (floor(1, 2)) 3", "conv (round(0.5)) 3", "conv (7 / 2) 3", "conv (1 / 0) 3",
    f"conv (ceil(1e300) * {BELOW_GOOGOL}) 3", "repeat 10000 as i { dropout (i / 20000) }",
)


# Generated programs -------------------------------------------------------------------------------

class ProgramWriter:
    """Writes one program of the whole language: every layer and option with valid and invalid
    values, `def` blocks with parameters, defaults and calls, `repeat` (with `as`), `residual`/`shortcut`,
    `concat`/`add`/`multiply` and `branch`, `network`, `input` of any rank, `train` with every setting,
    expressions (with `/`, functions and sizes built from them),
    comments, `;`, continuations, and statements in the wrong place."""

    def __init__(self, draw: Draw, blocks: dict[str, int] | None = None) -> None:
        self.draw = draw
        self.noise = draw.choice((0, 0, 3, 10, 30))  # percent of choices that go wrong: 0 writes no mistakes
        self.budget = 16  # statements left to write, so that every program checks quickly
        self.blocks: dict[str, int] = dict(blocks or {})  # block name -> number of parameters
        self.scope: tuple[str, ...] = ()  # parameters of the `def` being written
        self.rank = 2  # spatial dimensions of the input

    def wrong(self, percent: int = 100) -> bool:
        """Whether to make a mistake here (never in a program without noise)."""
        return self.noise > 0 and self.draw.chance(max(1, self.noise * percent // 100))

    def program(self) -> str:
        draw = self.draw
        head = [self.comment()] if draw.chance(30) else []
        if draw.chance(40):
            head.append(f"network {draw.choice(NAMES) if self.wrong() else 'net'}")
        declaration = self.input()
        definitions = [self.definition() for _ in range(draw.integer(0, 2))]
        body = [self.statement(0) for _ in range(draw.integer(1, 8))]
        for definition in definitions:  # blocks are defined at the top level, anywhere in the file
            body.insert(draw.integer(0, len(body)), definition)
        if not self.wrong(30):
            body.insert(draw.integer(0, len(body)) if self.wrong(30) else 0, declaration)
        if draw.chance(40):
            body.insert(draw.integer(0, len(body)) if self.wrong(30) else len(body), self.train())
        if self.wrong(20):
            body.insert(draw.integer(0, len(body)), draw.choice(("network twice", self.input(), "train { }")))
        return self.join(head + body, top=True) + ("\n" if draw.chance(90) else "")

    def join(self, statements: list[str], top: bool = False) -> str:
        """Statements separated by newlines or `;`, with comments at line ends."""
        draw, text = self.draw, ""
        for number, statement in enumerate(statements):
            if number:
                separator = draw.choice(("\n", "; ", "\n\n", " ;; ", ";\n") if top else ("\n", "; ", ";"))
                if text.rsplit("\n", 1)[-1].lstrip().startswith("#"):
                    separator = "\n"  # after a comment line
                if "\n" in separator and draw.chance(15):
                    separator = separator.replace("\n", "  " + self.comment() + "\n", 1)
                text += separator
            text += self.continued(statement) if draw.chance(5) else statement
        return text

    def continued(self, statement: str) -> str:
        """A `\\` continuation at a space of a one-line statement."""
        spaces = [i for i, char in enumerate(statement) if char == " "]
        if not spaces or "\n" in statement or "#" in statement:
            return statement
        at = self.draw.choice(spaces)
        return statement[:at] + " \\\n    " + statement[at + 1:]

    def block(self, statements: list[str]) -> str:
        if self.draw.chance(50):
            return "{ " + self.join(statements) + " }"
        return "{\n    " + self.join(statements).replace("\n", "\n    ") + "\n}"

    def comment(self) -> str:
        if self.wrong():
            return "# " + "".join(self.draw.choice(ODD_TEXT) for _ in range(self.draw.integer(1, 4)))
        return self.draw.choice(COMMENTS)

    def input(self) -> str:
        draw = self.draw
        if self.wrong(30):
            return "input " + draw.choice(("0x8x3", "8x8x0", "-1", "same", "1.5", "8x8x3 extra", "(8)", "8 8 3", "",
                                           "x".join(["2"] * 8), f"{GOOGOL * 10}x3", "8x8x3 channels=3",
                                           f"{BELOW_GOOGOL}x{BELOW_GOOGOL}x3", f"{10**49}x{10**49}x3",
                                           BELOW_GOOGOL))
        rank = draw.choice((2, 2, 1, 3, 0, 4) if self.wrong() else (2, 2, 1, 3, 0))
        spatial = [str(draw.choice((32, 224, 16, 64, 8, 1, 2, 3, 7, 1000))) for _ in range(rank)]
        self.rank = rank
        return "input " + "x".join(spatial + [str(draw.choice((3, 1, 4, 8, 16)))])

    def value(self, name: str) -> str:
        draw = self.draw
        valid, invalid = VALUES[name]
        if self.scope and draw.chance(25) and (self.wrong() or name in ("filters", "units", "kernel")):
            return self.expression() if draw.chance(50) else draw.choice(self.scope)
        if self.scope and self.rank and name in ("kernel", "stride", "dilation") and draw.chance(15):
            # a size built from expressions: `(s)x(s)`, `1x(s)`
            parts = [draw.choice((f"({draw.choice(self.scope)})", "1", self.expression()))
                     for _ in range(self.rank if not self.wrong() else draw.integer(1, 4))]
            if all(part.isdigit() for part in parts):
                parts[0] = f"({parts[0]})"
            return "x".join(parts) if len(parts) > 1 else parts[0]
        if not self.wrong():  # sizes as one number, or one per spatial dimension
            return draw.choice([v for v in valid if "x" not in v or v.count("x") + 1 == self.rank] or valid)
        kind = draw.choice(("invalid", "invalid", "extreme", "expression"))
        if kind == "invalid":
            return draw.choice(invalid)
        return draw.choice(EXTREMES) if kind == "extreme" else self.expression()

    def expression(self, depth: int = 0) -> str:
        """An expression in parentheses over numbers, the parameters in scope and symbols; without
        mistakes, a sum or product of positive numbers and parameters, or their `max`, `min` or the
        `ceil` of a quotient."""
        draw, wrong = self.draw, self.wrong()
        if depth < 3 and draw.chance(20):
            if wrong:
                name = draw.choice(FUNCTIONS + ODD_FUNCTIONS)
                arguments = [self.expression(depth + 1) for _ in range(draw.integer(0, 3))]
                call = f"{name}({', '.join(arguments)})"
            elif draw.chance(50):
                call = f"{draw.choice(('max', 'min'))}({self.expression(depth + 1)}, {self.expression(depth + 1)})"
            else:
                call = f"ceil({self.expression(depth + 1)} / {self.expression(depth + 1)})"
            return call if depth else f"({call})"
        if depth < 3 and draw.chance(60):
            if wrong and draw.chance(15):
                return f"(-{self.expression(depth + 1)})"
            operator = draw.choice(OPS if wrong else ("+", "*"))
            return f"({self.expression(depth + 1)} {operator} {self.expression(depth + 1)})"
        atoms = [str(draw.integer(1, 4))] + ([draw.choice(self.scope)] * 2 if self.scope else [])
        if wrong:
            atoms += [str(draw.integer(0, 9)), "0.5", draw.choice(EXTREMES), draw.choice(SYMBOLS), "3x3"]
        atom = draw.choice(atoms)
        return atom if depth else f"({atom})"

    def statement(self, depth: int) -> str:
        draw = self.draw
        self.budget -= 1
        kinds = ["layer"] * 12 + ["call"] * (4 if self.blocks else 0)
        if depth < 3 and self.budget > 0:
            kinds += ["repeat", "residual", "concat", "add", "multiply"] * (2 if depth == 0 else 1)
        kind = "odd" if self.wrong(10) else draw.choice(kinds)
        if kind == "layer":
            return self.layer()
        if kind == "call":
            return self.call()
        if kind == "odd":
            return draw.choice(ODDITIES)
        return getattr(self, kind)(depth)

    def body(self, depth: int, most: int = 3) -> str:
        count = self.draw.integer(0 if self.draw.chance(10) else 1, most)
        return self.block([self.statement(depth + 1) for _ in range(count)])

    def layer(self) -> str:
        draw = self.draw
        op = draw.choice(tuple(LAYERS))
        if not self.wrong() and (op in SPATIAL and not self.rank or op in ("fc", "flatten") and draw.chance(70)):
            op = draw.choice(("relu", "batchnorm", "dropout") if not self.rank else ("conv", "relu", "maxpool"))
        signature = LAYERS[op]
        words, named = [op], False
        for argument in signature.positional:
            if argument.default is not REQUIRED and draw.chance(50) or self.wrong(5):
                continue
            value = self.value(argument.name)
            named = named or draw.chance(10)  # positional arguments may be named, and then the rest too
            words.append(f"{argument.name}={value}" if named else value)
        for argument in signature.options:
            if draw.chance(30):
                words.append(f"{argument.name}={self.value(argument.name)}")
        if self.wrong(10):
            words.append(draw.choice(("3", "strid=2", "padding=1", "x", "bias=true", "1e300")))
        if self.wrong(10) and len(words) > 2:
            at = draw.integer(1, len(words) - 2)
            words[at], words[at + 1] = words[at + 1], words[at]
        return " ".join(words)

    def call(self) -> str:
        draw = self.draw
        name = draw.choice(sorted(self.blocks))
        count = self.blocks[name] + (draw.choice((-1, 1)) if self.wrong(20) else 0)
        words = [name]
        for number in range(max(count, 0)):
            if self.wrong():
                value = self.value(draw.choice(("filters", "kernel", "stride", "pad")))
                words.append(f"{draw.choice(PARAMETERS)}={value}" if draw.chance(30) else value)
            else:
                words.append(draw.choice(("8", "3", "1", "2", "16")))
        return " ".join(words) + (" zz=1" if self.wrong(10) else "")

    def definition(self) -> str:
        draw = self.draw
        name = draw.choice(ODD_BLOCK_NAMES) if self.wrong(20) else f"{draw.choice(BLOCK_NAMES)}{len(self.blocks)}"
        names = list(PARAMETERS[:draw.integer(0, 3)])
        if names and self.wrong(10):
            names.append(names[0])  # a parameter named twice
        if self.noise:  # then it may call itself
            self.blocks[name] = len(names)
        parameters, defaults = [], False
        for number, parameter in enumerate(names):
            self.scope = tuple(names[:number])
            defaults = defaults or number and draw.chance(35)  # defaults come last
            if defaults or self.wrong(20):
                parameter += "=" + self.value(draw.choice(("filters", "kernel")))
            parameters.append(parameter)
        self.scope = tuple(names)
        body = self.body(1, 4)
        self.scope = ()
        self.blocks[name] = len(names)
        return f"def {name}({', '.join(parameters)}) {body}"

    def repeat(self, depth: int) -> str:
        draw = self.draw
        count = draw.choice(("2", "1", "0", "3", "expression"))
        if count == "expression":
            count = self.expression()
        if self.wrong(20):
            count = draw.choice(("-1", "1.5", "x", "2x2", "same", *HUGE_COUNTS))
        if not draw.chance(30):
            return f"repeat {count} {self.body(depth)}"
        # `repeat N as i`: the body may use the index (from 0, so as `(i + 1)` where a value must be positive)
        variable = f"i{depth}" if not self.wrong(10) else draw.choice(("as", "2", "c", "i0 i1"))
        saved = self.scope
        self.scope = (*self.scope, f"({variable} + 1)" if not self.wrong(20) else variable)
        body = self.body(depth)
        self.scope = saved
        return f"repeat {count} as {variable} {body}"

    def residual(self, depth: int) -> str:
        text = f"residual {self.body(depth)}"
        return text + (f" shortcut {self.body(depth)}" if self.draw.chance(50) else "")

    def concat(self, depth: int, op: str = "concat") -> str:
        fewest = 1 if op == "concat" and not self.wrong(10) else 2
        branches = [f"branch {self.body(depth, 2)}" for _ in range(self.draw.integer(fewest, 3))]
        if self.wrong(10):
            branches.insert(0, self.statement(depth + 1))
        if op != "concat" and self.draw.chance(50):  # an identity branch: x + f(x), x * gate(x)
            branches.insert(self.draw.integer(0, len(branches)), "branch { }")
        return f"{op} " + self.block(branches)

    def add(self, depth: int) -> str:
        return self.concat(depth, "add")

    def multiply(self, depth: int) -> str:
        """A `multiply`, often a squeeze-excite (an identity branch times a gate of shape 1x..x1xC)."""
        if self.rank and self.draw.chance(50) and not self.wrong(30):
            gate = self.draw.choice(("globalavgpool; sigmoid", "globalavgpool; conv 4 1; relu; conv 16 1; sigmoid",
                                     "globalavgpool; flatten; fc 4; relu; fc 8; sigmoid"))
            return "multiply " + self.block(["branch { }", f"branch {{ {gate} }}"])
        return self.concat(depth, "multiply")

    def train(self) -> str:
        draw = self.draw
        settings = [f"{key}={self.value(key)}" for key in TRAIN_SETTINGS if draw.chance(35)]
        if self.wrong(20):
            settings.append(draw.choice(("learning_rate=0.1", "sgd", "lr=0.1 lr=0.2", "conv 8 3", "lr")))
        if draw.chance(50):
            return "train { " + " ".join(settings) + " }"
        return "train {\n    " + "\n    ".join(" ".join(settings[i:i + 2]) for i in range(0, len(settings), 2)) + "\n}"


def program_text(draw: Draw) -> str:
    """A program with `\\n` line endings."""
    return ProgramWriter(draw).program()


def generated_spec(draw: Draw) -> Spec:
    text = program_text(draw)
    ending = draw.choice(("\n",) * 8 + ("\r\n", "\r"))
    text = ("\ufeff" if draw.chance(5) else "") + text.replace("\n", ending)
    return Spec(file_name(draw), text.encode("utf-8"), "generated" + (f", {ending!r} line endings" if ending != "\n"
                                                                      else ""))


def file_name(draw: Draw) -> str:
    if draw.chance(90):
        return "spec.cnn"
    return draw.choice(("net[bold]x.cnn", "net:smile:.cnn", "ünï 网络.cnn", "a b.cnn", "[red]red.cnn",
                        "x:x:.cnn", "[i]italic.cnn", "-dash.cnn"))


# Mutated examples ---------------------------------------------------------------------------------

NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?")
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
OPTION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)")


def _replace_match(draw: Draw, pattern: re.Pattern, text: str, replacement: Callable[[re.Match], str]) -> str:
    matches = list(pattern.finditer(text))
    if not matches:
        return text
    match = draw.choice(matches)
    return text[:match.start()] + replacement(match) + text[match.end():]


def _count(draw: Draw, huge_percent: int) -> str:
    """A repeat count: huge (up to 100,000 layers for cnnc to expand, seconds each) ``huge_percent`` of the time."""
    return draw.choice(HUGE_COUNTS) if draw.chance(huge_percent) else draw.choice(("2", "0", "10", "(1 + 1)"))


def _mutate_lines(draw: Draw, text: str, huge_percent: int) -> tuple[str, str]:
    lines = text.split("\n")
    at = draw.integer(0, len(lines) - 1)
    operation = draw.choice(("delete", "duplicate", "swap", "insert", "comment", "wrap", "copies"))
    if operation == "delete":
        del lines[at:at + draw.integer(1, 3)]
    elif operation == "duplicate":
        lines.insert(at, lines[at])
    elif operation == "swap":
        other = draw.integer(0, len(lines) - 1)
        lines[at], lines[other] = lines[other], lines[at]
    elif operation == "insert":
        blocks = {match[1]: match[2].count(",") + bool(match[2].strip())
                  for match in re.finditer(r"def\s+(\w+)\s*\(([^)]*)\)", text)}
        lines.insert(at, ProgramWriter(draw, blocks).statement(draw.integer(0, 3)))
    elif operation == "copies":  # a long line: thousands of statements (up to 20,000) joined by `;`
        copies = draw.choice((2, 10, 100)) if not draw.chance(huge_percent) else draw.choice((1000, 5000, 20000))
        lines[at] = "; ".join([lines[at].split("#")[0].strip() or "relu"] * copies)
    elif operation == "comment":
        lines[at] += "  " + ProgramWriter(draw).comment()
    else:
        lines[at] = f"repeat {_count(draw, huge_percent)} {{\n{lines[at]}\n}}"
    return "\n".join(lines), f"{operation} line {at + 1}"


def _mutate_tokens(draw: Draw, text: str, huge_percent: int) -> tuple[str, str]:
    operation = draw.choice(("number", "repeat", "word", "option", "input", "unicode", "delete"))
    writer = ProgramWriter(draw)
    if operation == "number":
        text = _replace_match(draw, NUMBER, text, lambda m: draw.choice(EXTREMES))
    elif operation == "repeat":
        text = _replace_match(draw, re.compile(r"(?<=repeat )\S+"), text, lambda m: _count(draw, huge_percent))
    elif operation == "word":
        text = _replace_match(draw, WORD, text, lambda m: draw.choice(WORDS))
    elif operation == "option":
        text = _replace_match(draw, OPTION, text, lambda m: f"{m[1]}={writer.value(m[1]) if m[1] in VALUES else 0}")
    elif operation == "input":
        text = _replace_match(draw, re.compile(r"input \S+"), text, lambda m: writer.input())
    elif operation == "unicode":
        at = draw.integer(0, len(text))
        text = text[:at] + draw.choice(ODD_TEXT) + text[at:]
    elif text:
        at = draw.integer(0, len(text) - 1)
        text = text[:at] + text[at + 1:]
    return text, operation


def _mutate_bytes(draw: Draw, data: bytes) -> tuple[bytes, str]:
    at = draw.integer(0, len(data))
    operation = draw.choice(("truncate", "insert", "flip"))
    if operation == "truncate":
        return data[:at], f"truncated at byte {at}"
    if operation == "insert":
        return data[:at] + bytes(draw.integer(0, 255) for _ in range(draw.integer(1, 8))) + data[at:], \
            f"bytes inserted at {at}"
    if not data:
        return data, "nothing to flip"
    at = min(at, len(data) - 1)
    return data[:at] + bytes([data[at] ^ (1 << draw.integer(0, 7))]) + data[at + 1:], f"bit flipped at byte {at}"


def mutated_spec(draw: Draw, huge_percent: int = 25) -> Spec:
    """A shipped example after one to four edits of its lines, tokens, line endings or bytes."""
    name = draw.choice(sorted(EXAMPLES))
    text, steps = EXAMPLES[name], []
    for _ in range(draw.integer(1, 4)):
        text, step = (_mutate_lines if draw.chance(50) else _mutate_tokens)(draw, text, huge_percent)
        steps.append(step)
    if draw.chance(15):
        ending = draw.choice(("\r\n", "\r", "mixed"))
        text = re.sub("\n", lambda m: draw.choice(("\n", "\r\n", "\r")), text) if ending == "mixed" \
            else text.replace("\n", ending)
        steps.append(f"{ending!r} line endings")
    data = text.encode("utf-8")
    if draw.chance(25):
        data, step = _mutate_bytes(draw, data)
        steps.append(step)
    return Spec(file_name(draw), data, f"{name}: " + ", ".join(steps))
