"""Text -> AST. Syntax errors become diagnostics pointing at file:line:col.

Nothing past this module sees a Lark tree or a Lark exception.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import ast
from ..diagnostics import Diagnostic, Fix, Note, error
from .source import MAX_SPEC_BYTES, Source, Span

# `{ }` may nest this deep: enough for any network, and far from Python's recursion limit.
MAX_NESTING = 32

# One run reports this many syntax errors at most; each is found by re-parsing
# with the bad line blanked out, so the bound also bounds the time spent.
MAX_SYNTAX_ERRORS = 20

_TERMINAL_NAMES = {
    "WORD": "a name",
    "NUMBER": "a number",
    "EQUAL": "'='",
    "COLON": "':'",
    "COMMA": "','",
    "_NL": "the end of the line",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "_ARROW": "'->'",
    "$END": "the end of the file",
}


def _grammar_text() -> str:
    try:
        return resources.files("netspec.grammar").joinpath("netspec.lark").read_text()
    except ModuleNotFoundError:  # running from a source checkout that was not installed
        return (Path(__file__).resolve().parents[2] / "grammar" / "netspec.lark").read_text()


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(_grammar_text(), parser="lalr", maybe_placeholders=False, cache=True)


def _span(source: Source, token: Token) -> Span:
    return Span(source, token.line, token.column, token.end_column)


@dataclass(frozen=True)
class _Expectation:
    """`-> SHAPE` while a statement is assembled (the AST keeps only its value)."""

    value: ast.Value


class _ToAst(Transformer):
    """One method per grammar rule, building `netspec.ast` values."""

    def __init__(self, source: Source):
        super().__init__()
        self.source = source

    def start(self, items):
        return ast.Program(tuple(items))

    def body(self, items):
        return tuple(items)

    def block_parameter(self, children):
        name, default = children[0], (children[1] if len(children) > 1 else None)
        return ast.BlockParameter(str(name), _span(self.source, name), default)

    def block_definition(self, children):
        name, *parameters, body = children
        return ast.BlockDefinition(str(name), _span(self.source, name), tuple(parameters), body)

    def repeat(self, children):
        count, body = children
        return ast.Repeat(count, count.span, body)

    def label(self, children):
        return children[0]

    def statement(self, children):
        label = None
        if len(children) >= 2 and isinstance(children[0], Token) and isinstance(children[1], Token):
            label, children = children[0], children[1:]
        expected = None
        if children and isinstance(children[-1], _Expectation):
            expected, children = children[-1].value, children[:-1]
        keyword, arguments = children[0], children[1:]
        return ast.Statement(
            label=str(label) if label is not None else None,
            label_span=_span(self.source, label) if label is not None else None,
            keyword=str(keyword),
            keyword_span=_span(self.source, keyword),
            arguments=tuple(a if isinstance(a, ast.Keyword) else ast.Positional(a) for a in arguments),
            expected=expected,
        )

    @v_args(inline=True)
    def expectation(self, value):
        return _Expectation(value)

    def keyword_argument(self, children):
        key, value = children
        return ast.Keyword(str(key), _span(self.source, key), value)

    @v_args(inline=True)
    def number(self, token):
        return ast.Value("number", str(token), _span(self.source, token))

    @v_args(inline=True)
    def word(self, token):
        return ast.Value("word", str(token), _span(self.source, token))

    def number_list(self, tokens):
        span = _span(self.source, tokens[0]).to(_span(self.source, tokens[-1]))
        return ast.Value("list", ",".join(str(t) for t in tokens), span)


def _describe_expected(expected) -> str:
    names = sorted({_TERMINAL_NAMES.get(name, repr(name.lower())) for name in expected})
    return " or ".join(names) if names else "something else"


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type == "_NL":
        return "end of line"
    return f"'{token}'"


def _syntax_diagnostic(source: Source, text: str, exc: UnexpectedInput) -> Diagnostic:
    line, column = max(exc.line, 1), max(exc.column, 1)
    form = _value_form(source, line, column)
    if form and isinstance(exc, (UnexpectedCharacters, UnexpectedToken)):
        span, help, fix = form
        return error("E0105", f"syntax error: `{span.text}` is not a netspec value", span, help=help, fixes=(fix,))
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        shown = repr(char) if char.isprintable() and char != "\ufffd" else f"byte/character {char!r}"
        note = " (the file is not valid UTF-8 text)" if char == "\ufffd" else ""
        return error(
            "E0101",
            f"syntax error: unexpected character {shown}{note}",
            Span(source, line, column, column + 1),
            help="a statement looks like `name: conv 6 kernel=5 padding=2` (name optional), one per line",
        )
    token = getattr(exc, "token", None)
    if isinstance(exc, UnexpectedToken) and token is not None and token.type not in ("$END",):
        width = max(1, len(str(token))) if token.type != "_NL" else 1
        message = f"syntax error: unexpected {_describe_token(token)}; expected {_describe_expected(exc.expected)}"
        previous = (exc.token_history or [None])[-1]
        after = {"EQUAL": "write `key=value` with a value after '='",
                 "_ARROW": "write the shape you expect after '->', e.g. `-> 6x28x28`"}
        hint = after.get(previous.type) if token.type == "_NL" and previous is not None else None
        return error("E0102", message, Span(source, line, column, column + width), help=hint)
    return error("E0103", "syntax error: unexpected end of file", Span(source, line, column, column + 1))


def _blank_line(text: str, line: int) -> str:
    lines = text.split("\n")
    if 1 <= line <= len(lines):
        lines[line - 1] = ""
    return "\n".join(lines)


def _braces(source: Source) -> Diagnostic | None:
    """A `{` that opens more than MAX_NESTING levels, or one that is never closed, as one
    diagnostic: an unclosed `{` would otherwise surface as errors at the end of the file,
    far from the brace. A stray `}` is left to the parser."""
    open_braces: list[Span] = []
    for number, line in enumerate(source.text.split("\n"), start=1):
        code = line.split("#", 1)[0]
        for column, char in enumerate(code, start=1):
            if char == "{":
                open_braces.append(Span(source, number, column, column + 1))
                if len(open_braces) > MAX_NESTING:
                    return error("E0404", f"blocks and repeats nest more than {MAX_NESTING} levels deep",
                                 open_braces[-1], help="flatten the nesting with blocks")
            elif char == "}" and open_braces:
                open_braces.pop()
    if not open_braces:
        return None
    lines = source.text.rstrip().split("\n")  # the end of the last line with text: where the file ends
    end = Span(source, len(lines), len(lines[-1]) + 1, len(lines[-1]) + 2)
    return error("E0104", "this `{` is never closed", open_braces[-1],
                 help="close the block or repeat with `}` on a line of its own",
                 notes=(Note(end, "the file ends here, inside it"),))


# Values people bring from Python and other formats: what to write instead.
_VALUE_FORMS = (
    (re.compile(r"""(["'])([^"'\n]*)\1"""), lambda m: m.group(2), "write values without quotes"),
    (re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)"), lambda m: f"{m.group(1)}x{m.group(2)}",
     "write a height and width as HxW"),
)


def _value_form(source: Source, line: int, column: int) -> tuple[Span, str, Fix] | None:
    """For a syntax error at a quoted value or a `(H, W)` tuple: where it is, what to write, and the fix."""
    text = source.line(line)
    for pattern, rewrite, advice in _VALUE_FORMS:
        for match in pattern.finditer(text):
            if match.start() < column <= match.end():
                written = rewrite(match)
                span = Span(source, line, match.start() + 1, match.end() + 1)
                note = f"{advice}: `{written}`"
                return span, note, Fix(span, written, note)
    return None


def parse(source: Source) -> tuple[ast.Program | None, tuple[Diagnostic, ...]]:
    """Parse a whole spec; on syntax errors return every one found (up to a bound) and no program."""
    if len(source.text) > MAX_SPEC_BYTES:
        return None, (error("E0402", f"the file is larger than {MAX_SPEC_BYTES // 2**20} MiB, the most a spec "
                                     "may be", Span(source, 1, 1, 2), help="is this really a .net file?"),)
    brace = _braces(source)  # before parsing: the tree is transformed recursively
    if brace:
        return None, (brace,)
    diagnostics: list[Diagnostic] = []
    text = source.text
    while True:
        try:
            tree = _parser().parse(text)
        except (UnexpectedCharacters, UnexpectedToken, UnexpectedEOF) as exc:
            diagnostics.append(_syntax_diagnostic(source, text, exc))
            # Past an unexpected end of file there is nothing left to find.
            if len(diagnostics) >= MAX_SYNTAX_ERRORS or exc.line < 1 or diagnostics[-1].code == "E0103":
                return None, tuple(diagnostics)
            text = _blank_line(text, exc.line)
            continue
        if diagnostics:
            return None, tuple(diagnostics)
        return _ToAst(source).transform(tree), ()
