"""Parameter types of layer statements: how a written value becomes a typed value.

A parser returns the value, or raises `ParamError` with a diagnostic code, the
message, a help line and, when one number is simply out of range, the number to
write instead; the builder turns that into a diagnostic (and a fix) at the value's span.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from ..frontend.ast import Value

# Larger sizes cannot describe a network that fits in memory; refusing them
# early keeps every later product of sizes far inside 64-bit arithmetic.
MAX_SIZE = 2**31 - 1

_INT = re.compile(r"[-+]?\d+")


class ParamError(Exception):
    def __init__(self, code: str, message: str, help: str | None = None, replacement: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.help = help
        self.replacement = replacement


@dataclass(frozen=True)
class Padding:
    """Rows added at top and bottom, columns added at left and right."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def rows(self) -> int:
        return self.top + self.bottom

    @property
    def columns(self) -> int:
        return self.left + self.right

    def is_symmetric(self) -> bool:
        return self.top == self.bottom and self.left == self.right

    def text(self) -> str:
        """As a spec writes it: `P`, `PHxPW` when symmetric, else `TOP,BOTTOM,LEFT,RIGHT`."""
        if self.is_symmetric():
            return str(self.top) if self.top == self.left else f"{self.top}x{self.left}"
        return f"{self.top},{self.bottom},{self.left},{self.right}"


@dataclass(frozen=True)
class SamePadding:
    """`padding=same`: resolved by the checker so that out = ceil(n / s)."""


def integer(text: str, what: str) -> int:
    if not _INT.fullmatch(text):
        raise ParamError("E0222", f"{what} must be an integer, got '{_clip(text)}'")
    # Compare digit counts first: converting a 100,000-digit string is slow (and refused by Python).
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > len(str(MAX_SIZE)) or int(text) > MAX_SIZE:
        raise ParamError("E0403", f"{what} {_clip(text)} is too large (at most {MAX_SIZE})")
    return int(text)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def positive_integer(text: str, what: str, keyword: bool = True) -> int:
    value = integer(text, what)
    if value < 1:
        # A keyword such as stride=0 has an obvious smallest valid value; a count has none.
        raise ParamError("E0223", f"{what} must be positive, got {value}",
                         help=f"use {what}=1 or more" if keyword else None, replacement="1" if keyword else None)
    return value


def non_negative_integer(text: str, what: str) -> int:
    value = integer(text, what)
    if value < 0:
        raise ParamError("E0223", f"{what} must not be negative, got {value}", help=f"use {what}=0 for no padding",
                         replacement="0")
    return value


def count(what: str) -> Callable[[Value], int]:
    """A positive integer such as a number of channels or features."""

    def parse(value: Value) -> int:
        if value.kind != "number":
            raise ParamError("E0222", f"{what} must be a positive integer, got '{value.text}'")
        return positive_integer(value.text, what, keyword=False)

    return parse


def _pair_parts(value: Value, what: str) -> list[str]:
    parts = value.text.split("x") if value.kind == "number" else []
    if len(parts) not in (1, 2) or not all(parts):
        raise ParamError("E0222", f"{what} must be an integer K or HxW, got '{value.text}'",
                         help=f"e.g. {what}=3 or {what}=3x5")
    return parts


def size_pair(what: str) -> Callable[[Value], tuple[int, int]]:
    """A positive size for height and width: `K` or `HxW` (kernel, stride)."""

    def parse(value: Value) -> tuple[int, int]:
        parts = _pair_parts(value, what)
        sizes = [positive_integer(p, what) for p in parts]
        return (sizes[0], sizes[-1])

    return parse


def padding(value: Value) -> Padding | SamePadding:
    """`P`, `PHxPW`, `TOP,BOTTOM,LEFT,RIGHT`, `same` or `valid`."""
    if value.kind == "word":
        if value.text == "same":
            return SamePadding()
        if value.text == "valid":
            return Padding(0, 0, 0, 0)
        raise ParamError(
            "E0222", f"padding must be a number, HxW, TOP,BOTTOM,LEFT,RIGHT, 'same' or 'valid', got '{value.text}'"
        )
    if value.kind == "list":
        parts = value.text.split(",")
        if len(parts) != 4:
            raise ParamError(
                "E0222", f"asymmetric padding takes four numbers TOP,BOTTOM,LEFT,RIGHT, got {len(parts)}",
                help="e.g. padding=0,1,0,1 adds one row at the bottom and one column at the right",
            )
        top, bottom, left, right = (non_negative_integer(p, "padding") for p in parts)
        return Padding(top, bottom, left, right)
    return _symmetric(value)


def _symmetric(value: Value) -> Padding:
    sizes = [non_negative_integer(p, "padding") for p in _pair_parts(value, "padding")]
    rows, columns = sizes[0], sizes[-1]
    return Padding(rows, rows, columns, columns)


def boolean(value: Value) -> bool:
    if value.kind == "word" and value.text in ("true", "false"):
        return value.text == "true"
    raise ParamError("E0222", f"expected true or false, got '{value.text}'")


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def real(value: Value, what: str) -> float:
    """A decimal number as written: `0.5`, `-1`, `1e-5`."""
    if value.kind != "number" or not _FLOAT.fullmatch(value.text) or len(value.text) > 40:
        raise ParamError("E0222", f"{what} must be a number such as 0.5 or 1e-5, got '{value.text[:40]}'")
    return float(value.text)


def probability(value: Value) -> float:
    """A dropout probability p with 0 <= p < 1."""
    p = real(value, "a probability")
    if not 0.0 <= p < 1.0:
        raise ParamError("E0223", f"a probability must satisfy 0 <= p < 1, got {value.text}")
    return p


def positive_real(what: str):
    def parse(value: Value) -> float:
        x = real(value, what)
        if not 0.0 < x < float("inf"):
            raise ParamError("E0223", f"{what} must be positive, got {value.text}")
        return x

    return parse
