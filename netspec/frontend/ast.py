"""What the user wrote: statements with their arguments and spans.

Nothing here knows what a layer is; meaning is given by `netspec.build`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .source import Span


@dataclass(frozen=True)
class Value:
    """One argument value as written: `number` (incl. sizes like 3x5), `word`, or `list` (1,2,0,1)."""

    kind: str
    text: str
    span: Span


@dataclass(frozen=True)
class Positional:
    value: Value

    @property
    def span(self) -> Span:
        return self.value.span


@dataclass(frozen=True)
class Keyword:
    key: str
    key_span: Span
    value: Value

    @property
    def span(self) -> Span:
        return self.key_span.to(self.value.span)


Argument = Union[Positional, Keyword]


@dataclass(frozen=True)
class Statement:
    label: str | None
    label_span: Span | None
    keyword: str
    keyword_span: Span
    arguments: tuple[Argument, ...]
    # `-> 6x28x28`: the output shape the author states, as written
    expected: Value | None = None

    @property
    def span(self) -> Span:
        start = self.label_span or self.keyword_span
        end = self.arguments[-1].span if self.arguments else self.keyword_span
        return start.to(end)


@dataclass(frozen=True)
class BlockParameter:
    name: str
    span: Span
    default: Value | None


@dataclass(frozen=True)
class BlockDefinition:
    """`block NAME(PARAMS) { ... }`: expanded at every call, like a macro."""

    name: str
    name_span: Span
    parameters: tuple[BlockParameter, ...]
    body: tuple["Item", ...]


@dataclass(frozen=True)
class Repeat:
    """`repeat N { ... }`: the body N times in sequence."""

    count: Value
    keyword_span: Span
    body: tuple["Item", ...]


Item = Union[Statement, BlockDefinition, Repeat]


@dataclass(frozen=True)
class Program:
    items: tuple[Item, ...]
