"""Shaped graph -> the source of an equivalent PyTorch `nn.Module`, as readable Python.

Layers become attributes named after them, `forward` is written out with one variable
per tensor, and each block becomes a class whose instances are the calls, so
`state_dict()` keys are netspec's weight keys (`residual1.conv1.weight`). What each
kind becomes is the table `PYTORCH`; the rest of this module writes classes.
"""
from __future__ import annotations

import keyword
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Callable

from .. import __version__
from ..check import Layer, ShapedGraph
from ..errors import DataError
from ..ir import INPUT, BlockCall

NO_DEFAULT = object()


@dataclass(frozen=True)
class Argument:
    """One argument of a module's constructor, named as PyTorch names it."""

    name: str
    value: Any  # a Python literal
    keyword: bool = True  # written name=value, else by position
    default: Any = NO_DEFAULT  # left out when every instance has this value


@dataclass(frozen=True)
class Construction:
    callee: str  # `nn.Conv2d`, or the class of a block
    arguments: tuple[Argument, ...]


@dataclass(frozen=True)
class TorchLayer:
    """A layer in PyTorch: the module `__init__` builds (None when `forward` calls a
    function instead) and the expression `forward` computes."""

    module: Construction | None
    expression: str


def _pair(values) -> int | tuple[int, int]:
    """Height and width as PyTorch writes them: one number when they agree."""
    return values[0] if values[0] == values[1] else tuple(values)


def _padded(operand: str, padding, fill: str = "") -> str:
    """Symmetric padding is the module's own; PyTorch's modules cannot pad unevenly, so
    uneven padding comes first (F.pad's order: left, right, top, bottom)."""
    if padding.is_symmetric():
        return operand
    sides = (padding.left, padding.right, padding.top, padding.bottom)
    return f"nn.functional.pad({operand}, {sides}{fill})"


def _symmetric(padding) -> int | tuple[int, int]:
    return _pair((padding.top, padding.left)) if padding.is_symmetric() else 0


def _conv(layer: Layer, module: str, operands) -> TorchLayer:
    a = layer.attrs
    return TorchLayer(
        Construction("nn.Conv2d", (
            Argument("in_channels", layer.input_shape[0], keyword=False),
            Argument("out_channels", a.out_channels, keyword=False),
            Argument("kernel_size", _pair(a.kernel)),
            Argument("stride", _pair(a.stride), default=1),
            Argument("padding", _symmetric(a.padding), default=0),
            Argument("bias", a.bias, default=True))),
        f"{module}({_padded(operands[0], a.padding)})")


def _pool(callee: str, fill: str = "") -> Callable:
    """`fill`: what uneven padding adds; max pooling pads with -inf, as its own padding does.
    Average pooling counts padded zeros on both paths (PyTorch's count_include_pad)."""

    def emit(layer: Layer, module: str, operands) -> TorchLayer:
        a = layer.attrs
        arguments = (Argument("kernel_size", _pair(a.kernel)),
                     Argument("stride", _pair(a.step), default=_pair(a.kernel)),
                     Argument("padding", _symmetric(a.padding), default=0))
        return TorchLayer(Construction(callee, arguments), f"{module}({_padded(operands[0], a.padding, fill)})")

    return emit


def _module(callee: str, *arguments: Callable[[Layer], Argument]) -> Callable:
    """A kind that is one PyTorch module applied to the layer's input."""
    return lambda layer, module, operands: TorchLayer(
        Construction(callee, tuple(argument(layer) for argument in arguments)), f"{module}({operands[0]})")


def _function(template: str) -> Callable:
    """A kind without state: a torch function in `forward` (`{}` is the input)."""
    return lambda layer, module, operands: TorchLayer(None, template.format(operands[0]))


def _batchnorm(layer: Layer, module: str, operands) -> TorchLayer:
    callee = "nn.BatchNorm2d" if len(layer.input_shape) == 3 else "nn.BatchNorm1d"
    arguments = (Argument("num_features", layer.input_shape[0], keyword=False),
                 Argument("eps", layer.attrs.eps, default=1e-5))
    return TorchLayer(Construction(callee, arguments), f"{module}({operands[0]})")


PYTORCH: dict[str, Callable[[Layer, str, tuple[str, ...]], TorchLayer]] = {
    "conv": _conv,
    "maxpool": _pool("nn.MaxPool2d", fill=', value=float("-inf")'),
    "avgpool": _pool("nn.AvgPool2d"),
    "globalavgpool": _module("nn.AdaptiveAvgPool2d", lambda layer: Argument("output_size", 1, keyword=False)),
    "adaptiveavgpool": _module("nn.AdaptiveAvgPool2d",
                               lambda layer: Argument("output_size", _pair(layer.attrs.size), keyword=False)),
    "flatten": _function("torch.flatten({}, 1)"),
    "dense": _module("nn.Linear", lambda layer: Argument("in_features", layer.input_shape[0], keyword=False),
                     lambda layer: Argument("out_features", layer.attrs.out_features, keyword=False),
                     lambda layer: Argument("bias", layer.attrs.bias, default=True)),
    "relu": _function("torch.relu({})"),
    "sigmoid": _function("torch.sigmoid({})"),
    "tanh": _function("torch.tanh({})"),
    "softmax": _function("torch.softmax({}, dim=1)"),  # over the features of an N x F batch
    "batchnorm": _batchnorm,
    "dropout": _module("nn.Dropout", lambda layer: Argument("p", layer.attrs.p, keyword=False)),
    "add": lambda layer, module, operands: TorchLayer(None, " + ".join(operands)),
    "concat": lambda layer, module, operands: TorchLayer(None, f"torch.cat([{', '.join(operands)}], dim=1)"),
}

# nn.Module's own attributes (and names starting with `_`, its internals): a layer
# called this cannot be a submodule. tests/test_pytorch_source.py keeps it complete.
MODULE_ATTRIBUTES = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile", "cpu",
    "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer", "get_extra_state",
    "get_parameter", "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers",
    "named_children", "named_modules", "named_parameters", "parameters", "register_backward_hook",
    "register_buffer", "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook",
    "requires_grad_", "set_extra_state", "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train",
    "training", "type", "xpu", "zero_grad",
})

# Names the generated code uses itself; a variable or parameter spelt so gets a `_`.
RESERVED = frozenset({"self", "input", "torch", "nn", "super", "float"})


# -- the network as nested scopes ------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The layers and block calls at one level: the network, or one block call."""

    call: BlockCall | None  # None for the network itself
    items: tuple  # Layer or Scope, in order
    input: str  # the tensor the scope reads
    output: str  # the tensor it returns: its last layer's

    @property
    def local_name(self) -> str:
        return self.call.name.rsplit(".", 1)[-1]


def _output(item) -> str:
    return item.output if isinstance(item, Scope) else item.node.name


def _scope(layers, call: BlockCall | None, calls: dict[str, BlockCall]) -> Scope:
    """Group the layers named `PREFIX.CALL.…` into the scope of that call (recursively)."""
    prefix = f"{call.name}." if call else ""

    def child(layer: Layer) -> str | None:
        rest = layer.node.name[len(prefix):]
        return prefix + rest.split(".", 1)[0] if "." in rest else None

    items = []
    for name, group in groupby(layers, key=child):
        if name is None:
            items.extend(group)
        else:
            items.append(_scope(list(group), calls[name], calls))
    return Scope(call, tuple(items), call.input if call else INPUT, _output(items[-1]))


def _depth(scope: Scope) -> int:
    return max((1 + _depth(item) for item in scope.items if isinstance(item, Scope)), default=0)


def _calls(scope: Scope):
    for item in scope.items:
        if isinstance(item, Scope):
            yield from _calls(item)
            yield item


# -- one scope as code with its values left open ---------------------------------


@dataclass(frozen=True)
class Written:
    """A scope's `__init__` constructions (by attribute) and `forward` lines. Calls of one
    block share a class when they agree on everything but the argument values."""

    modules: tuple[tuple[str, Construction], ...]
    forward: tuple[str, ...]

    @property
    def form(self) -> tuple:
        """Everything except the argument values."""
        return (tuple((attribute, c.callee, tuple((a.name, a.keyword) for a in c.arguments))
                      for attribute, c in self.modules), self.forward)

    @property
    def arguments(self) -> list[tuple[str, Argument]]:
        return [(attribute, argument) for attribute, c in self.modules for argument in c.arguments]


class _Names:
    """Python names for netspec names: a `_` is appended to keywords and reserved names."""

    def __init__(self):
        self.taken: set[str] = set()

    def add(self, wanted: str) -> str:
        name = wanted
        while keyword.iskeyword(name) or name in RESERVED or name in self.taken:
            name += "_"
        self.taken.add(name)
        return name


def _attribute(name: str, layer_name: str) -> str:
    if keyword.iskeyword(name) or name in MODULE_ATTRIBUTES or name.startswith("_"):
        why = ("is a Python keyword" if keyword.iskeyword(name) else
               "names PyTorch's internals" if name.startswith("_") else "is an attribute of nn.Module")
        raise DataError(f"`{layer_name}` cannot be a PyTorch submodule: `{name}` {why}; rename it in the spec")
    return name


def _write(scope: Scope, constructions: dict[str, Construction]) -> Written:
    """`constructions`: how each block call in the scope is built (its class and arguments)."""
    names = _Names()
    variables = {scope.input: "input"}
    modules, forward = [], []
    for item in scope.items:
        operands = [variables[tensor] for tensor in ([item.input] if isinstance(item, Scope) else item.node.inputs)]
        if isinstance(item, Scope):
            attribute = _attribute(item.local_name, item.call.name)
            modules.append((attribute, constructions[item.call.name]))
            expression = f"self.{attribute}({operands[0]})"
            local = item.local_name
        else:
            local = item.node.name.rsplit(".", 1)[-1]
            written = PYTORCH[item.node.kind](item, f"self.{local}", tuple(operands))
            if written.module is not None:
                modules.append((_attribute(local, item.node.name), written.module))
            expression = written.expression
        variables[_output(item)] = names.add(local)
        forward.append(f"{variables[_output(item)]} = {expression}")
    forward.append(f"return {variables[scope.output]}")
    return Written(tuple(modules), tuple(forward))


# -- classes -----------------------------------------------------------------------


@dataclass(frozen=True)
class ClassSource:
    name: str
    doc: str
    parameters: tuple[str, ...]
    modules: tuple[tuple[str, str], ...]  # attribute, constructor call
    forward: tuple[str, ...]

    def text(self, closing: tuple[str, ...] = ()) -> str:
        signature = ", ".join(("self", *self.parameters))
        lines = [f"class {self.name}(nn.Module):", f'    """{self.doc}"""', "",
                 f"    def __init__({signature}):", "        super().__init__()"]
        lines += [f"        self.{attribute} = {call}" for attribute, call in self.modules]
        lines += [f"        {line}" for line in closing]
        lines += ["", "    def forward(self, input):"]
        lines += [f"        {line}" for line in self.forward]
        return "\n".join(lines) + "\n"


def _literal(text: str):
    """A block argument as the value it gives a constructor (`3x3` is 3, `3x5` is (3, 5))."""
    parts = text.split("x")
    if all(part.isdigit() for part in parts) and len(parts) in (1, 2):
        return _pair([int(parts[0]), int(parts[-1])])
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text)
    except ValueError:
        return text


def _key(values) -> tuple[str, ...]:
    """Values compared as written, so that True and 1 stay apart."""
    return tuple(map(repr, values))


def _parameter_names(varying: list[tuple], slots: list[tuple[str, Argument]], calls: list[BlockCall]) -> list[str]:
    """Name each varying value after the block parameter that carries it in every call, else
    after the argument it fills (`in_channels`, or `conv2_in_channels` if taken)."""
    by_parameter = {}
    for index, (parameter, _) in enumerate(calls[0].arguments if calls else ()):
        by_parameter.setdefault(_key(_literal(call.arguments[index][1]) for call in calls), parameter)
    names = _Names()
    chosen = []
    for key, (attribute, argument) in zip(varying, slots):
        wanted = by_parameter.get(key)
        if wanted is None or wanted in names.taken:
            wanted = argument.name if argument.name not in names.taken else f"{attribute}_{argument.name}"
        chosen.append(names.add(wanted))
    return chosen


def _naming_slot(slots, keys, key) -> tuple[str, Argument]:
    """The argument a varying value is named after: an input size (`in_channels`) when it
    fills one, since that is what a caller knows; else its first argument."""
    filled = [slot for slot, other in zip(slots, keys) if other == key]
    return next((slot for slot in filled if slot[1].name.startswith("in_")), filled[0])


def _argument_text(argument: Argument, text: str) -> str:
    return f"{argument.name}={text}" if argument.keyword else text


def _unify(name: str, doc: str, written: list[Written], calls: list[BlockCall]):
    """One class for calls written alike: a value every call shares is written in the class
    (or left out when it is PyTorch's default), a value that differs becomes a constructor
    parameter (one per distinct column of values). Returns the class and each call's construction."""
    slots = written[0].arguments
    columns = [[w.arguments[i][1] for w in written] for i in range(len(slots))]
    keys = [_key(a.value for a in column) for column in columns]
    varying = list(dict.fromkeys(key for key in keys if len(set(key)) > 1))
    parameters = _parameter_names(varying, [_naming_slot(slots, keys, key) for key in varying], calls)
    parameter_of = dict(zip(varying, parameters))
    texts = [parameter_of.get(key) for key in keys]
    modules, position = [], 0
    for attribute, construction in written[0].modules:
        parts = []
        for argument, column, text in zip(construction.arguments, columns[position:], texts[position:]):
            if text is not None:
                parts.append(_argument_text(argument, text))
            elif not all(a.keyword and a.default == a.value for a in column):
                parts.append(_argument_text(argument, repr(argument.value)))
        position += len(construction.arguments)
        modules.append((attribute, f"{construction.callee}({', '.join(parts)})"))
    source = ClassSource(name, doc, tuple(parameters), tuple(modules), written[0].forward)
    values = [[column[i].value for column in columns] for i in range(len(written))]
    built = [Construction(name, tuple(Argument(p, call_values[keys.index(key)]) for p, key in zip(parameters, varying)))
             for call_values in values]
    return source, built


def _class_name(name: str, taken: set[str]) -> str:
    base = "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)
    base = base if base.isidentifier() else f"Block{base}"
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}{number}"
    taken.add(candidate)
    return candidate


def _block_classes(top: Scope, taken: set[str]):
    """Every block's classes, inner blocks first, and how each call is built."""
    by_block: dict[str, list[Scope]] = {}
    for scope in _calls(top):
        by_block.setdefault(scope.call.block, []).append(scope)
    constructions: dict[str, Construction] = {}
    classes = []
    for block, scopes in sorted(by_block.items(), key=lambda entry: max(map(_depth, entry[1]))):
        written = {scope.call.name: _write(scope, constructions) for scope in scopes}
        forms: dict[tuple, list[Scope]] = {}
        for scope in scopes:
            forms.setdefault(written[scope.call.name].form, []).append(scope)
        for alike in forms.values():
            names = [scope.call.name for scope in alike]
            doc = f"Block `{block}` ({', '.join(names) if len(names) < 4 else f'{names[0]} to {names[-1]}'})."
            source, built = _unify(_class_name(block, taken), doc, [written[s.call.name] for s in alike],
                                   [s.call for s in alike])
            classes.append(source)
            constructions.update((scope.call.name, c) for scope, c in zip(alike, built))
    return classes, constructions


_BATCH_COUNTER = '''
def without_batch_counters(model):
    """Drop every batchnorm's batch counter (num_batches_tracked), so the state_dict holds
    exactly netspec's weights. Training updates the running statistics with the fixed
    momentum, which needs no counter."""
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            module.num_batches_tracked = None
            module.register_load_state_dict_pre_hook(_skip_batch_counter)


def _skip_batch_counter(module, state_dict, prefix, *rest):
    # Before loading, PyTorch adds a zero counter to a state dict without one (as files
    # older than the counter are); netspec's weights have none, so it is dropped again.
    state_dict.pop(prefix + "num_batches_tracked", None)
'''


def _header(graph: ShapedGraph, class_name: str) -> str:
    shapes = [" x ".join(map(str, ("N", *shape))) for shape in (graph.input_shape, graph.output_shape)]
    return f'''"""The network {graph.name} as a PyTorch module, written by netspec {__version__}.

Input {shapes[0]} float32, output {shapes[1]}.
The state_dict keys are netspec's weight keys, so weights move both ways unchanged:

    model = {class_name}()
    model.load_state_dict({{key: torch.from_numpy(array) for key, array in numpy.load("weights.npz").items()}})
    ...  # train
    numpy.savez("trained.npz", **{{key: value.numpy() for key, value in model.state_dict().items()}})
"""
import torch
from torch import nn
'''


def to_pytorch_source(graph: ShapedGraph) -> str:
    """Python source defining an `nn.Module` that computes the valid shaped graph `graph`.
    Raises DataError when a layer's name cannot be a PyTorch attribute."""
    graph.require_numbers()
    top = _scope(graph.layers, None, {call.name: call for call in graph.calls})
    taken: set[str] = set()
    name = _class_name(graph.name, taken)
    blocks, constructions = _block_classes(top, taken)
    network, _ = _unify(name, f"{graph.name}: {len(graph.layers)} layers, {graph.params:,} parameters.",
                        [_write(top, constructions)], [])
    has_batchnorm = any(layer.node.kind == "batchnorm" for layer in graph.layers)
    parts = [_header(graph, name)]
    if has_batchnorm:
        parts.append(_BATCH_COUNTER)
    parts += [f"\n{source.text()}" for source in blocks]
    parts.append(f"\n{network.text(('without_batch_counters(self)',) if has_batchnorm else ())}")
    return "\n".join(parts)
