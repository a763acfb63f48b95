"""What each statement produced: a layer, or a block call with its layers. A statement in
a block body or a repeat produces one instance per expansion; hints, hovers, definitions
and completions all read the graph through them."""
from __future__ import annotations

from dataclasses import dataclass

from ..frontend.source import Span
from ..ir import Graph, Node


@dataclass(frozen=True)
class Instance:
    name: str  # the global name: `conv1`, `res1` (a block call), `res1.conv1`
    local: str  # the name its statement gives, as the statements around it refer to it: `conv1`, `res1`
    scope: str | None  # the block whose body holds the statement; None at the top level
    span: Span  # the statement
    nodes: tuple[Node, ...]  # the layer, or the call's layers in order
    block: str | None = None  # for a block call, the block it expands

    @property
    def tensor(self) -> str:
        """The tensor it produces (a call's is its last layer's)."""
        return self.nodes[-1].name


def instances_of(graph: Graph) -> tuple[Instance, ...]:
    """Every layer and every block call, in the order their first layer comes."""
    blocks = {call.name: call.block for call in graph.calls}
    found: dict[str, Instance] = {}
    for node in graph.nodes:
        parts = node.name.split(".")
        for depth, local in enumerate(parts):
            name = ".".join(parts[:depth + 1])
            # A layer in a block has a call site per enclosing call: depth d's statement is the d-th.
            span = node.expansion[depth].span if depth < len(node.expansion) else node.span
            earlier = found.get(name)
            nodes = (*earlier.nodes, node) if earlier else (node,)
            found[name] = Instance(name, local, blocks.get(".".join(parts[:depth])), span, nodes, blocks.get(name))
    return tuple(found.values())
