"""AST -> IR graph: give statements their meaning.

Resolves `network` and `input`, expands blocks and repeats, names every layer,
parses and type-checks each parameter against the layer registry, fills
defaults, and wires each layer to the tensors it reads (the one before it, or
those it names). Reports every problem it finds; never raises for user input.
"""
from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field, replace

from . import ast
from ..diagnostics import Diagnostic, Fix, Note, error, warning
from ..ir import INPUT, BlockCall, Graph, Node
from ..ops import OPS, REQUIRED, OpDef, Param, Trait
from ..ops.params import ParamError, integer, positive_integer
from ..preprocessing import PREPROCESS, StatementDef, problems
from ..symbolic import NAME, Size
from .source import Source, Span

HEADERS = ("network", "input", "preprocess")

# After this many errors the builder stops: more would only bury the first ones
# (and a hostile file could otherwise ask for millions).
MAX_ERRORS = 100
# Bounds on expansion, so nested repeats and blocks cannot ask for unbounded work.
MAX_NODES = 200_000
MAX_DEPTH = 32
MAX_REPEAT = 10_000

# Channel counts of images (grayscale, RGB, RGBA): a last input dimension like these
# and a first one unlike them is probably channels-last.
IMAGE_CHANNELS = (1, 3, 4)

# Inside a block, the tensor the call received.
BLOCK_INPUT = "in"

# Names people bring from other frameworks, which spelling similarity would not find.
_ALIASES = {"linear": "dense", "fc": "dense", "fully_connected": "dense", "pool": "maxpool", "conv2d": "conv"}


def _did_you_mean(word: str, choices) -> str | None:
    if word.lower() in _ALIASES and _ALIASES[word.lower()] in choices:
        return _ALIASES[word.lower()]
    matches = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _replacing(span: Span, meant: str | None) -> tuple[str | None, tuple[Fix, ...]]:
    """The help line and the fix for a word at `span` that probably meant `meant`."""
    if meant is None:
        return None, ()
    help = f"did you mean `{meant}`?"
    return help, (Fix(span, meant, help),)


def _written(value: ast.Value) -> bool:
    """Whether `value` is the text at its span: inside a block, a parameter's value is
    reported where the parameter is used, and replacing the parameter's name is no fix."""
    return value.span.text == value.text


def _value_fix(value: ast.Value, problem: ParamError) -> tuple[Fix, ...]:
    """The value a parser offers instead, when the value is one word or one number (a
    size like 3x0 also has a part that is fine)."""
    one = value.kind == "word" or (value.kind == "number" and "x" not in value.text)
    if problem.replacement is None or not one or not _written(value):
        return ()
    return (Fix(value.span, problem.replacement, problem.help),)


def _to_top(span: Span) -> Fix:
    """Moves the line of `span` above every line before it."""
    source = span.source
    moved = source.whole_lines(span.line, span.line).text
    before = source.text[:source.offset(span.line, 1)]
    return Fix(source.whole_lines(1, span.line), moved.rstrip("\n") + "\n" + before,
               "move this line to the top of the file")


def _keyword_for(value: ast.Value, param: Param | None) -> Param | None:
    """`param` when `value` is a valid value for it, else None."""
    if param is None:
        return None
    try:
        param.parse(value)
    except ParamError:
        return None
    return param


def _unkeyed_help(value: ast.Value, meant: Param | None, op: OpDef) -> dict:
    """The help (and fix) for a value written without its key."""
    if meant is None:
        return {"help": f"usage: {op.usage}"}
    written = f"{meant.name}={value.text}"
    insert = Span(value.span.source, value.span.line, value.span.column, value.span.column)
    return {"help": f"did you mean `{written}`?", "fixes": (Fix(insert, f"{meant.name}=", f"write `{written}`"),)}


@dataclass
class _Scope:
    """Where statements are being expanded: the top level, or one block call."""

    prefix: str  # prepended to local names: "" at top level, "res1." inside call res1
    names: dict[str, str]  # local tensor name -> global name
    previous: str  # global name of the tensor the next statement reads by default
    arguments: dict[str, ast.Value] = field(default_factory=dict)  # block parameters bound to values
    expansion: tuple[Note, ...] = ()  # the call sites leading here, outermost first
    calls: tuple[str, ...] = ()  # blocks being expanded, to refuse recursion
    counts: Counter = field(default_factory=Counter)
    defined: dict[str, Span] = field(default_factory=dict)


class _Builder:
    def __init__(self):
        self.diagnostics: list[Diagnostic] = []  # errors
        self.warnings: list[Diagnostic] = []
        self.network: ast.Statement | None = None
        self.name: str | None = None
        self.input: ast.Statement | None = None
        self.input_shape: tuple | None = None  # ints, and Sizes for the names in `input 3xHxW`
        self.preprocess: ast.Statement | None = None
        self.preprocessing = None  # a Preprocessing, when the `preprocess` line is valid
        self.preprocess_spans: dict[str, Span] = {}
        self.size_names: set[str] = set()
        self.nodes: list[Node] = []
        self.calls: list[BlockCall] = []
        self.blocks: dict[str, ast.BlockDefinition] = {}
        self.consumed: set[str] = set()

    def report(self, code, message, span, help=None, notes=(), fixes=()):
        if len(self.diagnostics) < MAX_ERRORS:
            self.diagnostics.append(error(code, message, span, help, tuple(notes), fixes))
        elif len(self.diagnostics) == MAX_ERRORS:
            self.diagnostics.append(error("E0407", f"too many errors; stopped after {MAX_ERRORS}", span,
                                          help="fix the errors above first"))

    @property
    def gave_up(self) -> bool:
        return len(self.diagnostics) > MAX_ERRORS or len(self.nodes) > MAX_NODES

    # -- headers ---------------------------------------------------------
    def header(self, statement: ast.Statement, index: int, scope: _Scope):
        if statement.expected is not None:
            self.report("E0237", f"`{statement.keyword}` has no output shape to state", statement.expected.span,
                        help="state shapes after layers and block calls: `conv 6 kernel=5 -> 6x24x24`")
        if scope.prefix:
            self.report("E0201", f"`{statement.keyword}` cannot appear inside a block", statement.keyword_span,
                        notes=scope.expansion)
            return
        first = {"network": self.network, "input": self.input, "preprocess": self.preprocess}[statement.keyword]
        if first is not None:
            line = statement.keyword_span.line
            self.report("E0202", f"duplicate `{statement.keyword}` statement", statement.keyword_span,
                        help=f"a spec has exactly one `{statement.keyword}`; remove this one",
                        notes=(Note(first.keyword_span, f"the first `{statement.keyword}` is here"),),
                        fixes=(Fix(statement.span.source.whole_lines(line, line), "", "remove this line"),))
            return
        if statement.label is not None:
            label, keyword = statement.label_span, statement.keyword_span
            remove = f"remove `{statement.label}:`"
            self.report("E0203", f"`{statement.keyword}` cannot carry a name", label, help=remove,
                        fixes=(Fix(Span(label.source, label.line, label.column, keyword.column), "", remove),))
        if statement.keyword != "network" and self.nodes:
            self.report("E0206", f"`{statement.keyword}` must come before the first layer", statement.keyword_span,
                        help=f"move the `{statement.keyword}` line above the layers")
        if statement.keyword == "network":
            self.network = statement
            self.network_name(statement, index)
        elif statement.keyword == "input":
            self.input = statement
            self.input_dims(statement)
        else:
            self.preprocess = statement
            self.preprocessing, spans = self.attributes(PREPROCESS, "preprocess", statement, scope)
            self.preprocess_spans = dict(spans)

    def network_name(self, statement: ast.Statement, index: int):
        if index != 0:
            move = _to_top(statement.span)
            self.report("E0204", "`network NAME` must be the first statement", statement.keyword_span,
                        help=move.note, fixes=(move,))
        args = statement.arguments
        if len(args) != 1 or not isinstance(args[0], ast.Positional) or args[0].value.kind != "word":
            self.report("E0205", "`network` takes one name, e.g. `network lenet5`", statement.span)
            return
        self.name = args[0].value.text

    def input_dims(self, statement: ast.Statement):
        args = statement.arguments
        usage = ("`input CxHxW` for images (e.g. `input 1x28x28`, or `input 3xHxW` for every size at once) "
                 "or `input N` for a flat vector")
        if len(args) != 1 or not isinstance(args[0], ast.Positional) or args[0].value.kind not in ("number", "word"):
            self.report("E0207", f"`input` takes one shape: {usage}", statement.span)
            return
        value = args[0].value
        parts = value.text.split("x")
        if len(parts) not in (1, 3):
            hint = f"for a single-channel image write `input 1x{value.text}`" if len(parts) == 2 else None
            fixes = (Fix(value.span, f"1x{value.text}", hint),) if hint else ()
            self.report("E0208", f"input shape '{value.text[:40]}' is not CxHxW or N: use {usage}", value.span,
                        help=hint, fixes=fixes)
            return
        named = [part for part in parts if NAME.fullmatch(part)]
        if named and (len(parts) == 1 or NAME.fullmatch(parts[0])):
            self.report("E0235", f"input shape '{value.text[:40]}': only the height and width may be names "
                                 "(the channels are a number)", value.span,
                        help="e.g. `input 3xHxW`, or `input 3xNxN` for square inputs")
            return
        try:
            dims = tuple(Size.named(p) if NAME.fullmatch(p) else integer(p, "input size") for p in parts)
        except ParamError as problem:
            self.report(problem.code, f"{problem.message}: use {usage}", value.span)
            return
        if any(isinstance(d, int) and d < 1 for d in dims):
            self.report("E0223", f"input sizes must be positive, got {value.text}", value.span)
            return
        self.input_shape = dims
        self.size_names = set(named)
        if not named and len(dims) == 3 and dims[2] in IMAGE_CHANNELS and dims[0] not in IMAGE_CHANNELS:
            # numpy, PIL and TensorFlow hand images over as height x width x channels
            meant = f"{dims[2]}x{dims[0]}x{dims[1]}"
            help = f"did you mean `input {meant}`? netspec takes channels x height x width"
            self.warnings.append(warning("W0201", f"input {value.text} looks like height x width x channels",
                                         value.span, help=help, fixes=(Fix(value.span, meant, help, False),)))

    def expectations(self, statement: ast.Statement, scope: _Scope) -> tuple:
        """The statement's `-> SHAPE` as ((shape, span),), or () when it states none (or a wrong one)."""
        shape = self.stated_shape(statement, scope) if statement.expected else None
        return ((shape, statement.expected.span),) if shape else ()

    def stated_shape(self, statement: ast.Statement, scope: _Scope) -> tuple | None:
        """The shape after `->`: numbers, the input's size names, and block parameters bound
        to numbers; None (reported) when it is not one."""
        value = statement.expected
        dims = []
        for part in value.text.split("x"):
            given = scope.arguments.get(part)
            if given is not None and given.kind == "number":
                part = given.text
            if NAME.fullmatch(part) and part in self.size_names:
                dims.append(Size.named(part))
                continue
            try:
                dims.append(positive_integer(part, "a size in a stated shape", keyword=False))
            except ParamError as problem:
                known = sorted(self.size_names) + [p for p, v in scope.arguments.items() if v.kind == "number"]
                self.report("E0236", f"`-> {value.text[:40]}`: {problem.message}", value.span,
                            help=f"write the shape as CxHxW or N with numbers{' or ' + ', '.join(known) if known else ''}",
                            notes=scope.expansion)
                return None
        return tuple(dims)

    # -- names and tensors -------------------------------------------------
    def define(self, local: str, span: Span, scope: _Scope) -> str | None:
        """Register a layer or call name in its scope; returns the global name, None if taken."""
        if local in (INPUT, BLOCK_INPUT) and (local == INPUT or scope.prefix):
            self.report("E0213", f"`{local}` names the {'network' if local == INPUT else 'block'}'s input; "
                        "choose another layer name", span, notes=scope.expansion)
            return None
        if local in scope.defined:
            self.report("E0214", f"duplicate layer name `{local}`", span,
                        help="give each layer its own name (weights are keyed by it); inside `repeat`, "
                             "leave layers unnamed or put them in a block",
                        notes=(Note(scope.defined[local], f"`{local}` is first defined here"), *scope.expansion))
            return None
        scope.defined[local] = span
        return scope.prefix + local

    def tensor(self, value: ast.Value, scope: _Scope) -> str | None:
        """The global name of a tensor referred to by `value`, or None (reported)."""
        if value.kind == "word" and value.text in scope.names:
            return scope.names[value.text]
        known = list(scope.names)
        help, fixes = _replacing(value.span, _did_you_mean(value.text, known))
        self.report("E0215", f"no tensor named `{value.text}` is defined before this line", value.span,
                    help=help or (f"defined so far: {', '.join(known[-8:])}" if known else None),
                    notes=scope.expansion, fixes=fixes if _written(value) else ())
        return None

    def bound(self, value: ast.Value, scope: _Scope) -> ast.Value:
        """A block parameter replaced by the value the call gave it."""
        if value.kind == "word" and value.text in scope.arguments:
            given = scope.arguments[value.text]
            return ast.Value(given.kind, given.text, value.span)
        return value

    def substituted(self, statement: ast.Statement, scope: _Scope) -> ast.Statement:
        if not scope.arguments:
            return statement
        arguments = tuple(
            ast.Keyword(a.key, a.key_span, self.bound(a.value, scope)) if isinstance(a, ast.Keyword)
            else ast.Positional(self.bound(a.value, scope))
            for a in statement.arguments)
        return replace(statement, arguments=arguments)

    # -- layers ----------------------------------------------------------
    def layer(self, statement: ast.Statement, scope: _Scope):
        kind = statement.keyword
        op = OPS.get(kind)
        scope.counts[kind] += 1
        local = statement.label or f"{kind}{scope.counts[kind]}"
        name = self.define(local, statement.label_span or statement.keyword_span, scope) or scope.prefix + local
        statement, inputs, operand_spans = self.wiring(statement, op, name, scope)
        if op is None:
            help, fixes = _replacing(statement.keyword_span, _did_you_mean(kind, list(OPS) + list(HEADERS) + list(self.blocks)))
            self.report("E0217", f"unknown layer kind `{kind}`", statement.keyword_span,
                        help=help or f"known layers: {', '.join(OPS)}", notes=scope.expansion, fixes=fixes)
            attrs, spans = None, ()
        else:
            attrs, spans = self.attributes(op, name, statement, scope)
        if inputs is None:
            attrs = None
        self.consumed.update(inputs or ())
        operands = tuple((f"operand{i}", span) for i, span in enumerate(operand_spans))
        self.nodes.append(Node(name, kind, tuple(inputs or (scope.previous,)), attrs, statement.span,
                               statement.keyword_span, spans + operands, scope.expansion,
                               self.expectations(statement, scope)))
        scope.names[local] = name
        scope.previous = name

    def wiring(self, statement: ast.Statement, op: OpDef | None, name: str, scope: _Scope):
        """Which tensors a layer reads: `input=NAME`, the names a join lists, or the previous
        tensor. Returns the statement without those arguments, the inputs (None if invalid)
        and where each input was named."""
        kept, inputs, spans, ok = [], [], [], True
        for argument in statement.arguments:
            names_tensor = (isinstance(argument, ast.Keyword) and argument.key == "input") or (
                op is not None and op.has(Trait.JOINS) and isinstance(argument, ast.Positional))
            if names_tensor:
                source = self.tensor(argument.value, scope)
                ok &= source is not None
                inputs.append(source)
                spans.append(argument.value.span)
            else:
                kept.append(argument)
        statement = replace(statement, arguments=tuple(kept))
        if op is not None and op.has(Trait.JOINS):
            if len(inputs) == 1:
                inputs.insert(0, scope.previous)  # `add shortcut`: the previous tensor plus that one
                spans.insert(0, statement.keyword_span)
            if not inputs:
                self.report("E0224", f"{name}: `{op.kind}` needs the tensors to join, e.g. `{op.kind} a b`",
                            statement.keyword_span, notes=scope.expansion)
                return statement, None, spans
        elif len(inputs) > 1:
            self.report("E0225", f"{name}: `input=` is given twice", statement.keyword_span, notes=scope.expansion)
            return statement, None, spans
        return statement, ((inputs or [scope.previous]) if ok else None), spans

    def attributes(self, op: OpDef | StatementDef, name: str, statement: ast.Statement, scope: _Scope):
        """Match arguments to the op's parameters; returns (attrs or None, param spans)."""
        values, spans, ok = {}, {}, True
        misspelt = set()  # parameters that an unknown key probably meant: not also reported missing
        positional = iter([p for p in op.params if p.positional])
        keys = {a.key for a in statement.arguments if isinstance(a, ast.Keyword)}
        # A value written without its key (`conv 6 5`) is probably the first required key left out.
        unkeyed = iter([p for p in op.params if not p.positional and p.default is REQUIRED and p.name not in keys])
        notes = scope.expansion
        for argument in statement.arguments:
            if self.gave_up:
                break
            if isinstance(argument, ast.Positional):
                param = next(positional, None)
                if param is None:
                    meant = _keyword_for(argument.value, next(unkeyed, None))
                    if meant:
                        misspelt.add(meant.name)
                    self.report("E0220", f"{name}: unexpected value '{argument.value.text[:40]}'", argument.span,
                                notes=notes, **_unkeyed_help(argument.value, meant, op))
                    ok = False
                    continue
            else:
                param = op.param(argument.key)
                if param is None or param.positional:
                    keys = [p.name for p in op.params if not p.positional] + (["input"] if isinstance(op, OpDef) else [])
                    meant = _did_you_mean(argument.key, keys)
                    misspelt.add(meant)
                    help, fixes = _replacing(argument.key_span, meant)
                    self.report("E0218", f"{name}: `{op.kind}` has no parameter `{argument.key}`", argument.key_span,
                                help=help or f"usage: {op.usage}", notes=notes, fixes=fixes)
                    ok = False
                    continue
                if param.name in values:
                    self.report("E0219", f"{name}: `{param.name}` is given twice", argument.key_span, notes=notes)
                    ok = False
                    continue
            try:
                values[param.name] = param.parse(argument.value)
                spans[param.name] = argument.value.span
            except ParamError as problem:
                self.report(problem.code, f"{name}: {problem.message}", argument.value.span, help=problem.help,
                            notes=notes, fixes=_value_fix(argument.value, problem))
                values[param.name] = None
                ok = False
        for param in op.params:
            if param.name not in values:
                if param.default is REQUIRED and param.name not in misspelt:
                    self.report("E0221", f"{name}: `{op.kind}` is missing {param.name.replace('_', ' ')}",
                                statement.keyword_span, help=f"usage: {op.usage}", notes=notes)
                    ok = False
                values[param.name] = param.default
        return (op.attrs(**values) if ok else None), tuple(spans.items())

    # -- blocks and repeats ----------------------------------------------
    def define_block(self, definition: ast.BlockDefinition):
        if definition.name in self.blocks:
            first = self.blocks[definition.name]
            self.report("E0226", f"duplicate block `{definition.name}`", definition.name_span,
                        notes=(Note(first.name_span, "first defined here"),))
        elif definition.name in OPS or definition.name in HEADERS:
            self.report("E0227", f"`{definition.name}` is a layer kind; choose another block name", definition.name_span)
        else:
            if not definition.body:
                self.report("E0228", f"block `{definition.name}` has no layers", definition.name_span)
            self.blocks[definition.name] = definition

    def call(self, statement: ast.Statement, scope: _Scope):
        definition = self.blocks[statement.keyword]
        scope.counts[definition.name] += 1
        local = statement.label or f"{definition.name}{scope.counts[definition.name]}"
        name = self.define(local, statement.label_span or statement.keyword_span, scope) or scope.prefix + local
        site = Note(statement.span, f"in expansion of `{name}` (block `{definition.name}`)")
        if definition.name in scope.calls:
            self.report("E0230", f"block `{definition.name}` calls itself (directly or through other blocks)",
                        statement.keyword_span, notes=scope.expansion)
            return
        if len(scope.calls) >= MAX_DEPTH:
            self.report("E0405", f"block calls nest more than {MAX_DEPTH} levels deep", statement.keyword_span,
                        notes=scope.expansion)
            return
        statement, inputs, _ = self.wiring(statement, None, name, scope)
        arguments = self.bind(definition, statement, name, scope)
        if arguments is None or inputs is None:
            return
        self.consumed.update(inputs)
        self.calls.append(BlockCall(name, definition.name, inputs[0],
                                    tuple((p.name, arguments[p.name].text) for p in definition.parameters)))
        inner = _Scope(prefix=f"{name}.", names={BLOCK_INPUT: inputs[0]}, previous=inputs[0],
                       arguments=arguments, expansion=(*scope.expansion, site),
                       calls=(*scope.calls, definition.name))
        self.items(definition.body, inner)
        stated = self.expectations(statement, scope)
        if stated and self.nodes and self.nodes[-1].name == inner.previous:  # the call's output: its last layer
            self.nodes[-1] = replace(self.nodes[-1], expectations=(*self.nodes[-1].expectations, *stated))
        scope.names[local] = inner.previous
        scope.previous = inner.previous

    def bind(self, definition: ast.BlockDefinition, statement: ast.Statement, name: str, scope: _Scope):
        """The call's arguments by parameter name (caller's parameters substituted), or None."""
        parameters = {p.name: p for p in definition.parameters}
        order = iter(definition.parameters)
        bound, ok = {}, True
        usage = f"{definition.name} " + " ".join(p.name if p.default is None else f"[{p.name}=...]"
                                                   for p in definition.parameters)
        for argument in statement.arguments:
            value = self.bound(argument.value, scope)
            if isinstance(argument, ast.Positional):
                parameter = next(order, None)
                if parameter is None:
                    self.report("E0231", f"{name}: block `{definition.name}` takes {len(parameters)} arguments",
                                argument.span, help=f"usage: {usage}", notes=scope.expansion)
                    ok = False
                    continue
            else:
                parameter = parameters.get(argument.key)
                if parameter is None:
                    help, fixes = _replacing(argument.key_span, _did_you_mean(argument.key, parameters))
                    self.report("E0232", f"{name}: block `{definition.name}` has no parameter `{argument.key}`",
                                argument.key_span, help=help or f"usage: {usage}", notes=scope.expansion, fixes=fixes)
                    ok = False
                    continue
            bound[parameter.name] = value
        for parameter in definition.parameters:
            if parameter.name not in bound:
                if parameter.default is None:
                    self.report("E0233", f"{name}: block `{definition.name}` is missing `{parameter.name}`",
                                statement.keyword_span, help=f"usage: {usage}", notes=scope.expansion)
                    ok = False
                else:
                    bound[parameter.name] = parameter.default
        return bound if ok else None

    def repeat(self, repeat: ast.Repeat, scope: _Scope):
        value = self.bound(repeat.count, scope)
        try:
            count = integer(value.text, "repeat count") if value.kind == "number" else None
        except ParamError as problem:
            self.report(problem.code, problem.message, value.span, notes=scope.expansion)
            return
        if count is None or not 1 <= count <= MAX_REPEAT:
            self.report("E0234", f"repeat needs a count from 1 to {MAX_REPEAT}, got '{value.text[:40]}'", value.span,
                        notes=scope.expansion)
            return
        for _ in range(count):
            if self.gave_up:
                return
            self.items(repeat.body, scope)

    # -- whole program ---------------------------------------------------
    def items(self, items, scope: _Scope):
        for index, item in enumerate(items):
            if self.gave_up:
                return
            if isinstance(item, ast.BlockDefinition):
                if scope.prefix:
                    self.report("E0229", "blocks are defined at the top level, not inside another block", item.name_span)
            elif isinstance(item, ast.Repeat):
                self.repeat(item, scope)
            elif item.keyword in HEADERS:
                self.header(item, index, scope)
            else:
                if self.input is None and not self.nodes and not scope.prefix:
                    self.report("E0211", "a layer comes before `input`", item.keyword_span,
                                help="declare the input first, e.g. `input 1x28x28`")
                item = self.substituted(item, scope)
                if item.keyword in self.blocks:
                    self.call(item, scope)
                else:
                    self.layer(item, scope)

    def preprocess_fits(self):
        """The `preprocess` line against the input it describes (which may come after it)."""
        for name, problem in problems(self.preprocessing, self.input_shape):
            self.report(problem.code, f"preprocess: {problem.message}",
                        self.preprocess_spans.get(name, self.preprocess.keyword_span), help=problem.help)

    def unused(self, output: str):
        # A reference to an unknown tensor (a typo in `add a c`) leaves the tensors it meant
        # unread: those errors follow from the first, so only it is reported.
        if any(d.code == "E0215" for d in self.diagnostics):
            return
        for node in self.nodes:
            if node.name not in self.consumed and node.name != output and node.attrs is not None:
                self.report("E0216", f"`{node.name}` is computed but never used", node.keyword_span,
                            help="use it (e.g. in `add` or `concat`) or remove it; the network's output is "
                                 "the last layer", notes=node.expansion)

    def program(self, program: ast.Program, source: Source):
        for item in program.items:
            if isinstance(item, ast.BlockDefinition):
                self.define_block(item)
        top = _Scope(prefix="", names={INPUT: INPUT}, previous=INPUT)
        self.items(program.items, top)
        first = program.items[0] if program.items else None
        first_span = (first.span if isinstance(first, ast.Statement) else
                      first.name_span if isinstance(first, ast.BlockDefinition) else
                      first.keyword_span) if first is not None else Span(source, 1, 1, 2)
        if self.network is None:
            self.report("E0209", "missing `network NAME` statement", first_span, help="start the file with e.g. `network lenet5`")
        if self.input is None and not any(d.code == "E0211" for d in self.diagnostics):
            self.report("E0210", "missing `input` statement", first_span, help="declare the input, e.g. `input 1x28x28`")
        if not self.nodes and self.input is not None:
            self.report("E0212", "the network has no layers", self.input.span,
                        help="add layers after `input`, e.g. `conv 6 kernel=5`")
        self.output = top.previous
        if self.preprocessing is not None and self.input_shape is not None:
            self.preprocess_fits()
        if self.nodes and not self.gave_up:
            self.unused(self.output)
        if len(self.nodes) > MAX_NODES:
            self.report("E0406", f"the network expands to more than {MAX_NODES:,} layers", first_span)


def build(program: ast.Program, source: Source) -> tuple[Graph | None, tuple[Diagnostic, ...]]:
    """Build the IR graph. The graph is returned whenever its header is valid, so the
    checker can still infer shapes up to the first invalid layer."""
    builder = _Builder()
    builder.program(program, source)
    diagnostics = (*builder.diagnostics, *builder.warnings)
    if builder.name is None or builder.input_shape is None or not builder.nodes or builder.output == INPUT:
        return None, diagnostics
    graph = Graph(builder.name, builder.input_shape, tuple(builder.nodes), builder.output, tuple(builder.calls),
                  builder.preprocessing)
    return graph, diagnostics
