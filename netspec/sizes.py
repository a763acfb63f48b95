"""Which input sizes a network accepts when its sizes are names (`input 3xHxW`).

Every layer states what it needs of the sizes (a window fits, operands agree, a
dense layer gets its `in_features`) as exact expressions; this module finds the
values of the names, up to LIMIT, that satisfy all of them, and says so in words.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from .symbolic import Requirement, describe_values

# Sizes are searched up to this; networks for larger inputs are checked with numbers.
LIMIT = 1024
# Several names needed together (a dense layer fixing H * W) are searched up to this each.
JOINT_LIMIT = 256


@dataclass(frozen=True)
class Sizes:
    """The values of each name that its own requirements allow, the combinations that the
    requirements on several names allow (when there are any), and the first requirement
    that no value satisfies."""

    names: tuple[str, ...]
    valid: dict[str, tuple[int, ...]]
    together: tuple[Requirement, ...]  # the requirements on several names at once
    joint: tuple[dict[str, int], ...] | None  # the values that satisfy those, when there are any
    impossible: Requirement | None

    @property
    def smallest(self) -> dict[str, int] | None:
        if self.impossible is not None:
            return None
        if self.joint is not None:
            return min(self.joint, key=lambda values: (sum(values.values()), tuple(values.values())))
        return {name: self.valid[name][0] for name in self.names}

    def describe(self) -> str:
        """`H >= 8, W >= 8`; where a layer fixes the sizes together, which ones:
        `dense1 needs 400 features: H = W = 28 only`."""
        if self.impossible is not None:
            return f"no size up to {LIMIT} satisfies {self.impossible}"
        if self.joint is None:
            return ", ".join(f"{name} {describe_values(list(self.valid[name]), LIMIT)}" for name in self.names)
        reasons = "; ".join(dict.fromkeys(r.reason for r in self.together))
        equal = [v for v in self.joint if len(set(v.values())) == 1]
        others = [v for v in self.joint if len(set(v.values())) > 1]
        parts = [f"{' = '.join(self.names)} {describe_values([next(iter(v.values())) for v in equal], JOINT_LIMIT)}"
                 + ("" if others else " only")] if equal else []
        if others:
            pairs = ", ".join("(" + ", ".join(str(v[name]) for name in self.names) + ")" for v in others[:3])
            parts.append(f"{len(others)} other ({', '.join(self.names)}) up to {JOINT_LIMIT} each, such as {pairs}")
        return f"{reasons}: " + "; or ".join(parts)


def solve(names: tuple[str, ...], requirements: tuple[Requirement, ...]) -> Sizes:
    single = {name: [r for r in requirements if r.names == (name,)] for name in names}
    valid = {}
    for name in names:
        valid[name] = tuple(v for v in range(1, LIMIT + 1) if all(r.holds({name: v}) for r in single[name]))
        if not valid[name]:
            return Sizes(names, valid, (), None, _first_impossible(single[name], name))
    several = [r for r in requirements if len(r.names) > 1]
    if not several:
        return Sizes(names, valid, (), None, None)
    ranges = [[v for v in valid[name] if v <= JOINT_LIMIT] for name in names]
    joint = tuple(values for values in (dict(zip(names, combination)) for combination in product(*ranges))
                  if all(r.holds(values) for r in several))
    impossible = None if joint else several[0]
    return Sizes(names, valid, tuple(several), joint, impossible)


def _first_impossible(requirements: list[Requirement], name: str) -> Requirement:
    """The requirement that rules out every value, or the first one when only together they do."""
    return next((r for r in requirements if not any(r.holds({name: v}) for v in range(1, LIMIT + 1))),
                requirements[0])
