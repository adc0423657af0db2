"""The canonical layout of a parsed spec: ``cnnc fmt``'s printer, from Lark's concrete tree and comments."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from cnnc.catalog import LAYERS, TRAIN_SETTINGS
from cnnc.lark_loading import Token, Tree

INDENT = "    "
COMMENT_GAP = 2  # spaces at least between code and a comment after it (as ruff and black)
TAB_WIDTH = 4  # how a tab before a trailing comment counts when its column is kept (as cnnc's diagnostics)
STATEMENTS = ("call", "settings", "definition")
_NOQA = re.compile(r"#\s*noqa\b", re.IGNORECASE)  # as cnnc.lint.noqa finds a directive
_BINARY = ("add", "subtract", "multiply", "floor_divide", "divide")

Position = tuple[int, int]
Steps = Iterator["Steps"]  # a printing step: a generator that yields the steps it needs done first


def _run(step: Steps) -> None:
    """Run a step and the steps it yields, depth first, with a stack of our own: a spec may nest
    parentheses and blocks far deeper than Python's recursion limit."""
    stack = [step]
    while stack:
        needed = next(stack[-1], None)
        if needed is None:
            stack.pop()
        else:
            stack.append(needed)


def start_of(node: Tree | Token) -> Position:
    if isinstance(node, Token):
        return node.line, node.column
    return node.meta.line, node.meta.column


def end_of(node: Tree | Token) -> Position:
    if isinstance(node, Token):
        return node.end_line, node.end_column
    return node.meta.end_line, node.meta.end_column


@dataclass
class _Line:
    """One line of output: its indentation, code, the source line its code comes from, whether a
    statement starts on it, and the comment written after the code or alone on the line."""

    depth: int
    code: str = ""
    source_line: int = 0
    starts_statement: bool = False
    comment: Token | None = None
    keeps_comment_column: bool = False  # a trailing comment's line was not split: its column means something


class _Printer:
    """Writes a concrete tree as lines, one statement group per source line, blocks indented by four
    spaces. Trailing comments are placed afterwards (``attach_trailing_comments``) on the line their code went to."""

    def __init__(self, tree: Tree, comments: list[Token], lines: list[str]) -> None:
        self.source_lines = lines
        nodes = list(tree.iter_subtrees_topdown())  # in the order of the text, without recursion
        tokens = [child for node in nodes for child in node.children if isinstance(child, Token)]
        self.newlines = sorted((t.line, t.column) for t in tokens if t.type == "_SEP" and t.value == "\n")
        code_lines = {t.line for t in tokens if t.type != "_SEP"}
        self.trailing = {c.line: c for c in comments if c.line in code_lines}
        self.standalone = deque(c for c in comments if c.line not in code_lines)
        self.starts: dict[int, list[int]] = {}
        for node in nodes:
            if node.data in STATEMENTS:
                line, column = start_of(node)
                self.starts.setdefault(line, []).append(column)
        self.defined = {node.children[1].value for node in nodes if node.data == "definition"}
        self.out: list[_Line] = []
        self.line: _Line | None = None  # the line being written
        self.depth = 0  # indentation of the statements being written
        self.last_line = 0  # source line of the last token or comment written
        self.after_opening = True  # at the start of the file or of a block: no blank line here

    # Lines and words -------------------------------------------------------------------------------

    def close(self) -> None:
        self.line = None

    def word(self, token: Token, text: str, space: bool, starts: bool = False) -> None:
        """Write a token; a token from a later source line continues the line with `\\`, as written."""
        if self.line is not None and token.line > self.line.source_line:
            self.line.code += " \\"
            self.line = _Line(self.depth + 1, source_line=token.line)
            self.out.append(self.line)
            space = False
        if self.line is None:
            self.line = _Line(self.depth, source_line=token.line)
            self.out.append(self.line)
            space = False
        if space:
            self.line.code += " "
        self.line.code += text
        self.line.starts_statement |= starts
        self.last_line = token.line
        self.after_opening = False

    def blank_line_before(self, line: int) -> None:
        """At most one blank line where there was one or more (none after `{`, before `}` or at the start)."""
        if not self.after_opening and line - self.last_line > 1:
            self.out.append(_Line(0))

    def comments_before(self, position: Position) -> None:
        """The comments that stand on lines of their own before ``position``, at the current indentation."""
        while self.standalone and start_of(self.standalone[0]) < position:
            comment = self.standalone.popleft()
            self.close()
            self.blank_line_before(comment.line)
            self.out.append(_Line(self.depth, comment=comment))
            self.last_line = comment.line
            self.after_opening = False

    # Statements ------------------------------------------------------------------------------------

    def sequence(self, statements: list[Tree], opening: Token | None = None) -> Steps:
        """Statements of the file or of a block written on several lines: those written on one line
        stay joined by `;`, the others go on lines of their own."""
        for index, statement in enumerate(statements):
            line, column = start_of(statement)
            self.comments_before((line, column))
            on_same_line = self.line is not None and self.last_line == line
            if on_same_line and index:
                self.line.code += ";"
            elif not (on_same_line and opening is not None and self.keeps_line_whole(line, opening.column)):
                self.close()
                self.blank_line_before(line)
            yield self.statement(statement)

    def keeps_line_whole(self, line: int, at: int) -> bool:
        """Whether a `# noqa` line is kept whole rather than broken at column ``at`` (after a `{` or
        before a `}`): it is when statements start on both sides, as the comment covers them all."""
        comment = self.trailing.get(line)
        if comment is None or not _NOQA.search(comment.value):
            return False
        columns = self.starts.get(line, ())
        return any(c < at for c in columns) and any(c > at for c in columns)

    def statement(self, node: Tree) -> Steps:
        if node.data == "call":
            yield self.call(node)
        elif node.data == "settings":
            for number, option in enumerate(self.ordered_settings(node.children)):
                yield self.option(option, space=True, starts=number == 0)
        else:
            yield self.definition(node)

    def call(self, node: Tree) -> Steps:
        name, *rest = node.children
        items = [child for child in rest if child.data not in ("body", "clause")]
        self.word(name, name.value, True, starts=True)
        for item in self.ordered_items(name, items):
            if item.data == "option":
                yield self.option(item, space=True)
            else:
                yield self.expression(item, space=True)
        for child in rest:
            if child.data == "body":
                yield self.body(child)
            elif child.data == "clause":
                keyword, body = child.children
                self.word(keyword, keyword.value, True)
                yield self.body(body)

    def definition(self, node: Tree) -> Steps:
        keyword, name, opening, *rest = node.children
        *parameters, closing, body = rest
        self.word(keyword, "def", True, starts=True)
        self.word(name, name.value, True)
        self.word(opening, "(", False)
        after_comma = False
        for part in parameters:
            if isinstance(part, Token):  # a comma
                self.word(part, ",", False)
                after_comma = True
                continue
            key, *default = part.children
            self.word(key, key.value, after_comma)
            if default:
                equals, value = default
                self.word(equals, "=", False)
                yield self.expression(value, space=False)
        self.word(closing, ")", False)
        yield self.body(body)

    def option(self, node: Tree, space: bool, starts: bool = False) -> Steps:
        key, equals, value = node.children
        self.word(key, key.value, space, starts=starts)
        self.word(equals, "=", False)
        yield self.expression(value, space=False)

    def body(self, node: Tree) -> Steps:
        """A block: on one line as `{ a; b }` (`{ }` when empty) if it was written on one line, else
        `{`, its statements indented on the lines that follow, and `}` on a line of its own."""
        opening, *inner, closing = node.children
        statements = [child for child in inner if isinstance(child, Tree)]
        self.word(opening, "{", True)
        if not self.on_several_lines(opening, closing):
            for number, statement in enumerate(statements):
                if number:
                    self.line.code += ";"
                yield self.statement(statement)
            self.word(closing, "}", True)
            return
        outer = self.depth
        self.depth += 1
        self.after_opening = True
        yield self.sequence(statements, opening)
        self.comments_before(start_of(closing))
        self.depth = outer
        if not (self.line is not None and self.last_line == closing.line
                and self.keeps_line_whole(closing.line, closing.column)):
            self.close()
        self.word(closing, "}", True)

    def on_several_lines(self, opening: Token, closing: Token) -> bool:
        """Whether a line ends between the braces (a `\\` continuation does not end a line)."""
        after = bisect_right(self.newlines, (opening.line, opening.column))
        return after < len(self.newlines) and self.newlines[after] < (closing.line, closing.column)

    # Expressions -----------------------------------------------------------------------------------

    def expression(self, node: Tree, space: bool) -> Steps:
        """A value or an expression: binary operators between spaces, none inside parentheses, sizes
        as one word. Numbers keep their spelling (an exponent's `E` is written `e`)."""
        kind = node.data
        children = node.children
        if kind in ("integer", "dims", "name"):
            self.word(children[0], children[0].value, space)
        elif kind == "real":
            self.word(children[0], children[0].value.lower(), space)
        elif kind in ("negative_integer", "negative_real"):
            minus, number = children
            self.word(minus, "-", space)
            self.word(number, number.value.lower(), False)
        elif kind == "negate":
            minus, operand = children
            self.word(minus, "-", space)
            yield self.expression(operand, False)
        elif kind in _BINARY:
            left, operator, right = children
            yield self.expression(left, space)
            self.word(operator, operator.value, True)
            yield self.expression(right, True)
        elif kind == "function":
            name, opening, *arguments = children
            self.word(name, name.value, space)
            self.word(opening, "(", False)
            after_comma = False
            for part in arguments:
                if isinstance(part, Token):  # `,` or `)`
                    self.word(part, part.value, False)
                    after_comma = part.value == ","
                else:
                    yield self.expression(part, after_comma)
        else:  # parenthesized and size: tokens and parenthesised expressions, written without spaces
            for number, part in enumerate(children):
                if isinstance(part, Token):
                    self.word(part, part.value, space and number == 0)
                else:
                    yield self.expression(part, False)

    # Option order ----------------------------------------------------------------------------------

    def ordered_items(self, name: Token, items: list[Tree]) -> list[Tree]:
        """A built-in layer's options in the order of the layer table (positional arguments first,
        as written). Left as written when the call is not plainly valid: a name that a `def` takes
        over, an option before a positional argument, an unknown or repeated option, one that names
        an argument already given, or a call written over several lines (a `# noqa` covers a line)."""
        signature = LAYERS.get(name.value)
        if signature is None or name.value in self.defined or not items:
            return items
        positional = [item for item in items if item.data != "option"]
        options = items[len(positional):]
        if any(item.data != "option" for item in options) or end_of(items[-1])[0] != name.line:
            return items
        keys = [option.children[0].value for option in options]
        if len(set(keys)) != len(keys) or any(key not in signature.names for key in keys) \
                or any(signature.names.index(key) < len(positional) for key in keys):
            return items
        return positional + sorted(options, key=lambda option: signature.names.index(option.children[0].value))

    @staticmethod
    def ordered_settings(options: list[Tree]) -> list[Tree]:
        """A line of training settings in the order of the docs' table, when each is known and given once."""
        keys = [option.children[0].value for option in options]
        order = list(TRAIN_SETTINGS)
        if len(set(keys)) != len(keys) or any(key not in TRAIN_SETTINGS for key in keys) \
                or end_of(options[-1])[0] != start_of(options[0])[0]:
            return options
        return sorted(options, key=lambda option: order.index(option.children[0].value))

    # Trailing comments and the text ----------------------------------------------------------------

    def attach_trailing_comments(self) -> None:
        """Each comment written after code goes on the output line that its source line's last
        statement start went to (a `# noqa` covers the statements starting on its line), else on the
        last output line of that source line (after a `{` or `}`)."""
        chosen: dict[int, _Line] = {}
        split: set[int] = set()
        for line in self.out:
            if line.source_line in self.trailing and line.code:
                best = chosen.get(line.source_line)
                if best is not None:
                    split.add(line.source_line)
                if best is None or line.starts_statement or not best.starts_statement:
                    chosen[line.source_line] = line
        for source_line, line in chosen.items():
            line.comment = self.trailing[source_line]
            line.keeps_comment_column = source_line not in split

    def text(self) -> list[str]:
        """The lines; a trailing comment keeps its column when the code ends at least two spaces
        before it (aligned comments stay aligned), else it follows two spaces after the code (as it
        does on a line split in two, where the column no longer means anything)."""
        written = []
        for line in self.out:
            code = INDENT * line.depth + line.code if line.code else ""
            comment = line.comment
            if comment is None:
                written.append(code)
            elif not code:
                written.append(INDENT * line.depth + comment.value.rstrip())
            else:
                before = self.source_lines[comment.line - 1][:comment.column - 1]
                column = len(before.expandtabs(TAB_WIDTH)) if line.keeps_comment_column else 0
                column = max(column, len(code) + COMMENT_GAP)
                written.append(code.ljust(column) + comment.value.rstrip())
        return [line.rstrip() for line in written]


def layout(tree: Tree, comments: list[Token], lines: list[str]) -> tuple[str, list[int]]:
    """The text of a concrete tree in the canonical layout, with ``\\n`` line endings ('' for a spec
    with no statements and no comments), and the source line each line of it comes from (0: none)."""
    printer = _Printer(tree, comments, lines)
    statements = [child for child in tree.children if isinstance(child, Tree)]
    _run(printer.sequence(statements))
    printer.comments_before((len(lines) + 1, 0))
    printer.attach_trailing_comments()
    text = "".join(line + "\n" for line in printer.text())
    return text, [line.source_line or (line.comment.line if line.comment else 0) for line in printer.out]
