"""AST -> IR graph: give statements their meaning.

Resolves `network` and `input`, names every layer, parses and type-checks each
parameter against the layer registry, fills defaults, and wires each layer to
the tensor before it. Reports every problem it finds; never raises for user input.
"""
from __future__ import annotations

import difflib
from collections import Counter

from . import ast
from .diagnostics import Diagnostic, Note, error
from .ir import INPUT, Graph, Node
from .ops import OPS, REQUIRED, OpDef
from .ops.params import ParamError, integer
from .source import Source, Span

HEADERS = ("network", "input")

# After this many errors the builder stops: more would only bury the first ones
# (and a hostile file could otherwise ask for millions).
MAX_ERRORS = 100

# Names people bring from other frameworks, which spelling similarity would not find.
_ALIASES = {"linear": "dense", "fc": "dense", "fully_connected": "dense", "pool": "maxpool", "conv2d": "conv"}


def _did_you_mean(word: str, choices) -> str | None:
    if word.lower() in _ALIASES and _ALIASES[word.lower()] in choices:
        return _ALIASES[word.lower()]
    matches = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _suggest(word: str, choices) -> str | None:
    match = _did_you_mean(word, choices)
    return f"did you mean `{match}`?" if match else None


class _Builder:
    def __init__(self):
        self.diagnostics: list[Diagnostic] = []
        self.network: ast.Statement | None = None
        self.name: str | None = None
        self.input: ast.Statement | None = None
        self.input_shape: tuple[int, ...] | None = None
        self.nodes: list[Node] = []
        self.kind_counts: Counter = Counter()
        self.defined: dict[str, ast.Statement] = {}

    def report(self, message, span, help=None, notes=()):
        if len(self.diagnostics) < MAX_ERRORS:
            self.diagnostics.append(error(message, span, help, notes))
        elif len(self.diagnostics) == MAX_ERRORS:
            self.diagnostics.append(error(f"too many errors; stopped after {MAX_ERRORS}", span,
                                          help="fix the errors above first"))

    @property
    def gave_up(self) -> bool:
        return len(self.diagnostics) > MAX_ERRORS

    # -- headers ---------------------------------------------------------
    def header(self, statement: ast.Statement, index: int):
        first = self.network if statement.keyword == "network" else self.input
        if first is not None:
            self.report(f"duplicate `{statement.keyword}` statement", statement.keyword_span,
                        help=f"a spec has exactly one `{statement.keyword}`; remove this one",
                        notes=(Note(first.keyword_span, f"the first `{statement.keyword}` is here"),))
            return
        if statement.label is not None:
            self.report(f"`{statement.keyword}` cannot carry a name", statement.label_span,
                        help=f"remove `{statement.label}:`")
        if statement.keyword == "network":
            self.network = statement
            self.network_name(statement, index)
        else:
            self.input = statement
            self.input_dims(statement)

    def network_name(self, statement: ast.Statement, index: int):
        if index != 0:
            self.report("`network NAME` must be the first statement", statement.keyword_span,
                        help="move this line to the top of the file")
        args = statement.arguments
        if len(args) != 1 or not isinstance(args[0], ast.Positional) or args[0].value.kind != "word":
            self.report("`network` takes one name, e.g. `network lenet5`", statement.span)
            return
        self.name = args[0].value.text

    def input_dims(self, statement: ast.Statement):
        if self.nodes:
            self.report("`input` must come before the first layer", statement.keyword_span,
                        help="move the `input` line above the layers")
        args = statement.arguments
        usage = "`input CxHxW` for images (e.g. `input 1x28x28`) or `input N` for a flat vector"
        if len(args) != 1 or not isinstance(args[0], ast.Positional) or args[0].value.kind != "number":
            self.report(f"`input` takes one shape: {usage}", statement.span)
            return
        value = args[0].value
        parts = value.text.split("x")
        if len(parts) not in (1, 3):
            hint = f"for a single-channel image write `input 1x{value.text}`" if len(parts) == 2 else None
            self.report(f"input shape '{value.text[:40]}' is not CxHxW or N: use {usage}", value.span, help=hint)
            return
        try:
            dims = tuple(integer(p, "input size") for p in parts)
        except ParamError as problem:
            self.report(f"{problem.message}: use {usage}", value.span)
            return
        if any(d < 1 for d in dims):
            self.report(f"input sizes must be positive, got {value.text}", value.span)
        else:
            self.input_shape = dims

    # -- layers ----------------------------------------------------------
    def layer(self, statement: ast.Statement):
        kind = statement.keyword
        op = OPS.get(kind)
        self.kind_counts[kind] += 1
        name = statement.label or f"{kind}{self.kind_counts[kind]}"
        self.check_name(name, statement)
        if op is None:
            self.report(f"unknown layer kind `{kind}`", statement.keyword_span,
                        help=_suggest(kind, list(OPS) + list(HEADERS)) or f"known layers: {', '.join(OPS)}")
            attrs, spans = None, ()
        else:
            attrs, spans = self.attributes(op, name, statement)
        previous = self.nodes[-1].name if self.nodes else INPUT
        self.nodes.append(Node(name, kind, (previous,), attrs, statement.span, statement.keyword_span, spans))

    def check_name(self, name: str, statement: ast.Statement):
        span = statement.label_span or statement.keyword_span
        if name == INPUT:
            self.report("`input` is the name of the network's input; choose another layer name", span)
        elif name in self.defined:
            first = self.defined[name]
            self.report(f"duplicate layer name `{name}`", span,
                        help="give each layer its own name (weights are keyed by it)",
                        notes=(Note(first.label_span or first.keyword_span, f"`{name}` is first defined here"),))
        else:
            self.defined[name] = statement

    def attributes(self, op: OpDef, name: str, statement: ast.Statement):
        """Match arguments to the op's parameters; returns (attrs or None, param spans)."""
        values, spans, ok = {}, {}, True
        misspelt = set()  # parameters that an unknown key probably meant: not also reported missing
        positional = iter([p for p in op.params if p.positional])
        for argument in statement.arguments:
            if self.gave_up:
                break
            if isinstance(argument, ast.Positional):
                param = next(positional, None)
                if param is None:
                    self.report(f"{name}: unexpected value '{argument.value.text}'", argument.span,
                                help=f"usage: {op.usage}")
                    ok = False
                    continue
            else:
                param = op.param(argument.key)
                if param is None or param.positional:
                    meant = _did_you_mean(argument.key, [p.name for p in op.params if not p.positional])
                    misspelt.add(meant)
                    self.report(f"{name}: `{op.kind}` has no parameter `{argument.key}`", argument.key_span,
                                help=f"did you mean `{meant}`?" if meant else f"usage: {op.usage}")
                    ok = False
                    continue
                if param.name in values:
                    self.report(f"{name}: `{param.name}` is given twice", argument.key_span)
                    ok = False
                    continue
            try:
                values[param.name] = param.parse(argument.value)
                spans[param.name] = argument.value.span
            except ParamError as problem:
                self.report(f"{name}: {problem.message}", argument.value.span, help=problem.help)
                values[param.name] = None
                ok = False
        for param in op.params:
            if param.name not in values:
                if param.default is REQUIRED and param.name not in misspelt:
                    self.report(f"{name}: `{op.kind}` is missing {param.name.replace('_', ' ')}",
                                statement.keyword_span, help=f"usage: {op.usage}")
                    ok = False
                values[param.name] = param.default
        return (op.attrs(**values) if ok else None), tuple(spans.items())

    # -- whole program ---------------------------------------------------
    def program(self, program: ast.Program, source: Source):
        for index, statement in enumerate(program.statements):
            if self.gave_up:
                return
            if statement.keyword in HEADERS:
                self.header(statement, index)
            else:
                if self.input is None and not self.nodes:
                    self.report("a layer comes before `input`", statement.keyword_span,
                                help="declare the input first, e.g. `input 1x28x28`")
                self.layer(statement)
        first = program.statements[0].span if program.statements else Span(source, 1, 1, 2)
        if self.network is None:
            self.report("missing `network NAME` statement", first, help="start the file with e.g. `network lenet5`")
        if self.input is None and not any("before `input`" in d.message for d in self.diagnostics):
            self.report("missing `input` statement", first, help="declare the input, e.g. `input 1x28x28`")
        if not self.nodes and self.input is not None:
            self.report("the network has no layers", self.input.span, help="add layers after `input`, e.g. `conv 6 kernel=5`")


def build(program: ast.Program, source: Source) -> tuple[Graph | None, tuple[Diagnostic, ...]]:
    """Build the IR graph. The graph is returned whenever its header is valid, so the
    checker can still infer shapes up to the first invalid layer."""
    builder = _Builder()
    builder.program(program, source)
    diagnostics = tuple(builder.diagnostics)
    if builder.name is None or builder.input_shape is None or not builder.nodes:
        return None, diagnostics
    graph = Graph(builder.name, builder.input_shape, builder.input.span, tuple(builder.nodes), builder.nodes[-1].name)
    return graph, diagnostics

