"""Sizes written with names (`input 3xHxW`): exact expressions for every size the
window rule can produce, and the sets of values that satisfy a constraint.

The rule out = floor((n - k + p + s) / s) applied to an input size that is a whole
number H gives floor((a*H + b) / d); applied again, floor((floor(x / d) + c) / s)
= floor((x + c*d) / (d*s)) for any integer x, so every size along a chain of
windows keeps that one form, `Size`. `flatten` multiplies sizes: a `Product`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from math import gcd, prod

# A size name: a letter, then letters, digits or underscores (`H`, `W`, `side`).
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass(frozen=True, repr=False)
class Size:
    """floor((sum of coefficient * name + constant) / divisor), with integer coefficients."""

    terms: tuple[tuple[str, int], ...]  # (name, coefficient), sorted by name, no zero coefficient
    constant: int = 0
    divisor: int = 1

    @staticmethod
    def named(name: str) -> "Size":
        return Size(((name, 1),))

    @staticmethod
    def make(terms: dict[str, int], constant: int, divisor: int) -> "Size":
        """The canonical form: common factors cancelled, and floor((d*q + c) / d) = q + floor(c / d)."""
        terms = {name: c for name, c in terms.items() if c}
        common = gcd(divisor, constant, *terms.values())
        terms = {name: c // common for name, c in terms.items()}
        constant, divisor = constant // common, divisor // common
        if all(c % divisor == 0 for c in terms.values()):
            terms = {name: c // divisor for name, c in terms.items()}
            constant, divisor = constant // divisor, 1
        return Size(tuple(sorted(terms.items())), constant, divisor)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.terms)

    def __add__(self, other: int) -> "Size":
        if not isinstance(other, int):
            return NotImplemented
        return Size.make(dict(self.terms), self.constant + other * self.divisor, self.divisor)

    def __sub__(self, other: int) -> "Size":
        if not isinstance(other, int):
            return NotImplemented
        return self + (-other)

    def __floordiv__(self, other: int) -> "Size":
        if not isinstance(other, int) or other < 1:
            return NotImplemented
        return Size.make(dict(self.terms), self.constant, self.divisor * other)

    def __mul__(self, other) -> "Product":
        return Product.of(self, other)

    __rmul__ = __mul__

    def evaluate(self, values: dict[str, int]) -> int:
        return (sum(c * values[name] for name, c in self.terms) + self.constant) // self.divisor

    def __repr__(self) -> str:
        return f"Size({self})"

    def __str__(self) -> str:
        numerator = _linear(self.terms, self.constant)
        if self.divisor == 1:
            return numerator
        if len(self.terms) == 1 and self.terms[0][1] == 1 and not self.constant:
            return f"floor({numerator}/{self.divisor})"
        return f"floor(({numerator})/{self.divisor})"


def _linear(terms, constant: int) -> str:
    parts = []
    for name, coefficient in terms:
        magnitude = abs(coefficient)
        text = name if magnitude == 1 else f"{magnitude}*{name}"
        parts.append(("- " if coefficient < 0 else "+ ") + text)
    if constant or not parts:
        parts.append(("- " if constant < 0 else "+ ") + str(abs(constant)))
    text = " ".join(parts)
    return text[2:] if text.startswith("+ ") else "-" + text[2:]


@dataclass(frozen=True, repr=False)
class Product:
    """factor * the product of sizes: what `flatten` makes of C x H x W."""

    factor: int
    sizes: tuple[Size, ...]

    @staticmethod
    def of(*parts) -> "Product | int":
        factor, sizes = 1, []
        for part in parts:
            if isinstance(part, Product):
                factor *= part.factor
                sizes += part.sizes
            elif isinstance(part, Size):
                if part.terms:
                    sizes.append(part)
                else:
                    factor *= part.constant // part.divisor
            else:
                factor *= part
        return Product(factor, tuple(sizes)) if sizes and factor else factor

    def __mul__(self, other):
        return Product.of(self, other)

    __rmul__ = __mul__

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for size in self.sizes for name in size.names))

    def evaluate(self, values: dict[str, int]) -> int:
        return self.factor * prod(size.evaluate(values) for size in self.sizes)

    def __repr__(self) -> str:
        return f"Product({self})"

    def __str__(self) -> str:
        factors = ([str(self.factor)] if self.factor != 1 else []) + [
            str(size) if size.divisor != 1 or len(size.terms) == 1 and not size.constant else f"({size})"
            for size in self.sizes]
        return "*".join(factors)


def is_symbolic(value) -> bool:
    return isinstance(value, (Size, Product))


def evaluate(value, values: dict[str, int]) -> int:
    """An int as it is; a size or product at the given values of its names."""
    return value.evaluate(values) if is_symbolic(value) else value


def names_of(shape) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for d in shape if is_symbolic(d) for name in d.names))


def describe_values(valid: list[int], limit: int) -> str:
    """A readable description of the values in [1, limit] that satisfy a condition
    (`valid` sorted): `H >= 8`, `H = 28`, `H ≡ 0 (mod 32), H >= 32`, or a short list."""
    if not valid:
        return "no value"
    first = valid[0]
    if valid == list(range(first, limit + 1)):
        return f">= {first}"
    if len(valid) <= 4:
        return "= " + ", ".join(map(str, valid))
    step = valid[1] - valid[0]
    if valid == list(range(first, limit + 1, step)) or valid == list(range(first, valid[-1] + 1, step)) \
            and valid[-1] + step > limit:
        return f"≡ {first % step} (mod {step}), >= {first}"
    return "in {" + ", ".join(map(str, valid[:6])) + ", ...}"


@dataclass(frozen=True)
class Requirement:
    """What a layer needs of the input's sizes when they are names: `left >= right` or
    `left == right`, for the reason given (`conv1: the kernel fits the padded height`)."""

    left: object  # Size, Product or int
    relation: str  # ">=" or "=="
    right: object
    reason: str

    @property
    def names(self) -> tuple[str, ...]:
        return names_of((self.left, self.right))

    def holds(self, values: dict[str, int]) -> bool:
        left, right = evaluate(self.left, values), evaluate(self.right, values)
        return left >= right if self.relation == ">=" else left == right

    def __str__(self) -> str:
        return f"{self.reason}: {self.left} {self.relation} {self.right}"
