"""What the error codes mean (E0xx: the text, E1xx: the shapes), documented as the lint rules are."""

from __future__ import annotations

import inspect

from cnnc.diagnostics import ERROR_CODES, Severity
from cnnc.frozen import frozen
from cnnc.lint.registry import Documented

ERROR_HEADINGS = ("What it means", "Example", "Use instead")
"""The sections every error's documentation has, in this order, as ``## `` headings."""

ERROR_GROUPS = {"E0": "Errors in the text: syntax, names and arguments",
                "E1": "Errors in the shapes: layers that do not fit their input"}


@frozen
class ErrorCode(Documented):
    code: str
    name: str
    doc: str

    @property
    def severity(self) -> Severity:
        return Severity.ERROR


_DOCS = {
    "E001": """
        A spec that cannot be read: a character or token where the grammar allows none.

        ## What it means
        The parser stopped at the first token that no statement can continue with: a comma, an
        unclosed `{`, an option without a value, a stray character. The caret points at it, and
        the message lists what could come there. A file that is not UTF-8 text or contains a NUL
        byte is reported with this code too.

        ## Example
        ```cnn
        input 32x32x3
        conv 16 3x3 stride=2, pad=1
        ```

        ## Use instead
        ```cnn
        input 32x32x3
        conv 16 3x3 stride=2 pad=1
        ```
        """,
    "E002": """
        A name that is not a layer, block, option, setting or value cnnc knows.

        ## What it means
        A statement starts with a name that is neither a layer nor a block defined with `def`, a
        layer is given an option it does not have, a `train { }` section names an unknown setting,
        or a value such as `pad=sam` or an arithmetic term names nothing in scope. The help
        suggests the closest known name.

        ## Example
        ```cnn
        input 32x32x3
        conv 16 3x3 strde=2
        ```

        ## Use instead
        ```cnn
        input 32x32x3
        conv 16 3x3 stride=2
        ```
        """,
    "E003": """
        An argument that does not fit: missing, one too many, given twice, or a value out of range.

        ## What it means
        A layer, block or directive got arguments its signature does not accept: a required one is
        missing (`conv 16`), there are more positionals than it takes, an option is written as a
        positional (`stride 2` for `stride=2`), a positional follows an option, an option is given
        twice, or a value is of the wrong kind or range (`stride=0`, `p=1.5`). The help shows the
        layer's usage or the value expected.

        ## Example
        ```cnn
        input 32x32x3
        conv 16 3x3 stride 2
        ```

        ## Use instead
        ```cnn
        input 32x32x3
        conv 16 3x3 stride=2
        ```
        """,
    "E004": """
        A block that calls itself, directly or through other blocks.

        ## What it means
        Blocks are expanded where they are called, so a block that calls itself would expand
        forever. The message shows the cycle of calls.

        ## Example
        ```cnn
        input 32x32x3
        def down(c) {
            conv c 3x3 stride=2 pad=1
            down c
        }
        down 16
        ```

        ## Use instead
        ```cnn
        input 32x32x3
        def down(c) {
            conv c 3x3 stride=2 pad=1
        }
        repeat 2 { down 16 }
        ```
        """,
    "E005": """
        A statement in a place where it cannot stand.

        ## What it means
        `input`, `network` and `train` belong at the top level, once each, and `input` before the
        first layer; `def` only at the top level; settings like `lr=0.05` only inside `train { }`;
        `branch { }` only inside `concat`, `add` or `multiply`; `shortcut { }` only after a
        residual's closing brace; and only the structural forms take `{ }` blocks.

        ## Example
        ```cnn
        conv 16 3x3
        input 32x32x3
        ```

        ## Use instead
        ```cnn
        input 32x32x3
        conv 16 3x3
        ```
        """,
    "E006": """
        A spec beyond what cnnc analyzes: too many layers, repeats, nesting, or figures past 10**100.

        ## What it means
        cnnc stops rather than run out of time or memory: a spec may be at most 524,288
        characters long (a file of more than four bytes a character is read only that far, and
        its length given in bytes), a network may expand to at most 100,000 layers, its repeats
        may run at most 1,000,000 times in all, blocks may nest 100 deep, and numbers, sizes and
        every reported figure stay within 10**100.

        ## Example
        ```cnn
        input 8x8x3
        repeat 100001 { relu }
        ```

        ## Use instead
        ```cnn
        input 8x8x3
        repeat 100 { relu }
        ```
        """,
    "E101": """
        A layer whose output would have a size of 0 or less.

        ## What it means
        A conv or pool's output size is (n - f + 2p)/s + 1, rounded down: when the window (with its
        dilation) is larger than the padded input, there is no output position at all. The message
        shows the arithmetic; the help gives the input size at that layer. A transposed convolution,
        an upsampling, a pixel shuffle or an adaptive pool can fail the same way.

        ## Example
        ```cnn
        input 4x4x3
        conv 8 5x5
        ```

        ## Use instead
        ```cnn
        input 4x4x3
        conv 8 5x5 pad=2
        ```
        """,
    "E102": """
        Paths that must end in the same shape do not.

        ## What it means
        A residual adds its body to its shortcut, and an `add` adds its branches, so their shapes
        must be equal; a `multiply` needs each dimension equal or 1; a `concat` joins along the
        channels, so its branches must agree in every spatial size. Notes point at the end of each
        path with its shape.

        ## Example
        ```cnn
        input 32x32x16
        residual {
            conv 16 3x3 stride=2 pad=1
        }
        ```

        ## Use instead
        ```cnn
        input 32x32x16
        residual {
            conv 16 3x3 stride=2 pad=1
        } shortcut {
            conv 16 1x1 stride=2
        }
        ```
        """,
    "E103": """
        A layer whose settings or input have the wrong number of dimensions.

        ## What it means
        A kernel, stride, padding, dilation, factor or size gives one value for every spatial
        dimension of its input, or a single value for all of them; a conv, pool or upsampling needs
        a spatial input, not the flat vector an `fc` or `flatten` leaves. When the kernels have one
        more dimension than the input, the input usually lacks its channels: `input 224x224` is a
        1-D signal of 224 positions with 224 channels, and the help suggests `input 224x224x1`.

        ## Example
        ```cnn
        input 224x224
        conv 16 3x3
        ```

        ## Use instead
        ```cnn
        input 224x224x1
        conv 16 3x3
        ```
        """,
    "E104": """
        A grouped convolution whose groups do not divide its input channels or its filters.

        ## What it means
        `groups=g` splits the input channels and the filters into g groups, each convolved on its
        own, so both counts must be multiples of g. A depthwise convolution has as many groups as
        input channels.

        ## Example
        ```cnn
        input 32x32x3
        conv 16 3x3 groups=2
        ```

        ## Use instead
        ```cnn
        input 32x32x4
        conv 16 3x3 groups=2
        ```
        """,
    "E105": """
        A spec with no `input` line, so no size can be worked out.

        ## What it means
        Every figure follows from the input's size, which a spec declares with `input`: spatial
        sizes, then channels. `cnnc check --input 32x32x3` gives one from the command line instead.

        ## Example
        ```cnn
        conv 16 3x3
        ```

        ## Use instead
        ```cnn
        input 32x32x3
        conv 16 3x3
        ```
        """,
    "E106": """
        A max-pooling window that lies entirely in the padding, with no input value to take the maximum of.

        ## What it means
        Max pooling pads with minus infinity: a window that reads nothing but padding has no
        maximum, and the backends and ONNX Runtime would each give it another value (minus
        infinity, the lowest float, an input value). It happens when the padding on a side is at
        least the window's span: the first window, or the last, then holds no input position.
        PyTorch refuses any max-pooling padding above half the kernel; cnnc takes any padding
        that leaves every window an input value.

        ## Example
        ```cnn
        input 8x8x3
        maxpool 1 pad=1
        ```

        ## Use instead
        ```cnn
        input 8x8x3
        maxpool 3 stride=1 pad=1
        ```
        """,
}

ERRORS: dict[str, ErrorCode] = {code: ErrorCode(code, name, inspect.cleandoc(_DOCS[code]))
                                for code, name in ERROR_CODES.items()}
