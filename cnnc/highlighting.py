"""A Pygments lexer for `.cnn` files (entry point `pygments.lexers`: Sphinx, MkDocs and rich find it as `cnn`).

It imports nothing from cnnc, so that loading Pygments' plugins stays cheap; the word lists equal the
catalogue's (``cnnc.catalog``), which tests/test_highlighting.py checks, as it
checks that ``grammar/cnnc.tmLanguage.json`` gives every character the same class."""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, default
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, Whitespace

# cnnc.catalog.LAYERS, in its order
LAYERS = ("conv", "maxpool", "avgpool", "globalavgpool", "globalmaxpool", "adaptiveavgpool", "adaptivemaxpool", "fc",
          "flatten", "relu", "leakyrelu", "sigmoid", "tanh", "softmax", "relu6", "silu", "hardswish", "hardsigmoid",
          "mish", "selu", "gelu", "elu", "prelu", "dropout", "upsample", "deconv", "pixelshuffle", "slice", "shuffle",
          "batchnorm", "layernorm", "groupnorm", "instancenorm", "lrn", "layerscale", "droppath")
# cnnc.catalog.STRUCTURES, and the `as` of `repeat N as i { }`
STRUCTURES = ("repeat", "residual", "concat", "add", "multiply", "branch", "shortcut", "as")
DIRECTIVES = ("network", "input", "train")  # cnnc.catalog.DIRECTIVES
BOOLEANS = ("true", "false")

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_WORD_END = r"(?![A-Za-z0-9_])"


def one_of(names: tuple[str, ...]) -> str:
    """A regex for any of ``names`` as a whole word (plain: Pygments' ``words`` optimiser costs more than it saves)."""
    return rf"(?<![A-Za-z0-9_])(?:{'|'.join(names)}){_WORD_END}"


# The grammar's terminals (grammar/cnnc.lark): DIMS, FLOAT, INT, and the parts of a size built from
# expressions, `1x(s)` (DIMS_X) and `(s)x3` (RPAR_X and what follows it up to the next parenthesis).
SIZE = r"[0-9]+(?:x[0-9]+)+(?![A-Za-z_0-9])"
SIZE_HEAD = r"[0-9]+(?:x[0-9]+)*x(?=\()"
SIZE_AFTER_PARENTHESIS = r"(?<=\))x(?=[(0-9])(?:[0-9]+(?:x[0-9]+)*)?(?:x(?=\())?"
FLOAT = r"(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)(?![A-Za-z_0-9.])"
INTEGER = r"[0-9]+(?![A-Za-z_0-9.])"
# A suppression comment as cnnc.lint.noqa reads it: `noqa` or `noqa: W201, W205` after a `#`, any case.
NOQA = r"(?i)#[ \t]*noqa\b(?:[ \t]*:[ \t]*(?:[A-Z]+[0-9]+(?:[ \t,]+[A-Z]+[0-9]+)*)?)?"


class CnncLexer(RegexLexer):
    """cnnc's network specifications: keywords, layers, sizes, numbers, options, comments, suppressions."""

    name = "cnnc"
    aliases = ["cnn", "cnnc"]
    filenames = ["*.cnn"]
    mimetypes = ["text/x-cnnc"]

    tokens = {
        "root": [
            (r"[ \t\f\r\n]+", Whitespace),
            (r"(\\)(\r?\n)", bygroups(Punctuation, Whitespace)),  # a line continued on the next
            (NOQA, Comment.Special, "comment"),
            (r"#", Comment.Single, "comment"),
            (rf"(def)([ \t]+)({NAME})", bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (rf"({NAME})([ \t]*)(=)", bygroups(Name.Attribute, Whitespace, Operator), "value"),  # `stride=2`
            (rf"def{_WORD_END}", Keyword.Declaration),
            (one_of(STRUCTURES), Keyword),
            (one_of(DIRECTIVES), Keyword.Reserved),
            (one_of(BOOLEANS), Keyword.Constant),
            (one_of(LAYERS), Name.Builtin),
            (SIZE_HEAD, Number),
            (SIZE_AFTER_PARENTHESIS, Number),
            (SIZE, Number),
            (FLOAT, Number.Float),
            (INTEGER, Number.Integer),
            (rf"{NAME}(?=\()", Name.Function),  # `min(a, b)`, `floor(x)` in an expression
            (NAME, Name),
            (r"//|[-+*/=]", Operator),
            (r"[{}(),;]", Punctuation),
        ],
        # After `key=`: a name is a value (`approximate=tanh` names no layer); anything else as in root.
        "value": [
            (r"[ \t]+", Whitespace),
            (one_of(BOOLEANS), Keyword.Constant, "#pop"),
            (rf"{NAME}(?![A-Za-z0-9_]|[ \t]*[(=])", Name, "#pop"),
            default("#pop"),
        ],
        # To the end of the line; a suppression may follow other words, as cnnc.lint.noqa finds it.
        "comment": [
            (NOQA, Comment.Special),
            (r"[^#\n]+", Comment.Single),
            (r"#", Comment.Single),
            default("#pop"),
        ],
    }
