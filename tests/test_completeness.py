"""Every layer kind of the registry is complete: it has a kernel, a numpy and a PyTorch
reference, a section in the language reference and a spec that uses it; and nothing
has an entry for a kind the registry does not know. A failure names each kind and
everything it lacks."""
from __future__ import annotations

import ast as python_ast
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Collection, Iterator

import pytest

from netspec.backends.llvm.kernels import KERNELS
from netspec.frontend import ast
from netspec.frontend.parse import parse
from netspec.frontend.source import Source, read_source
from netspec.ops import OPS
from reference import REFERENCE

ROOT = Path(__file__).resolve().parents[1]
LANGUAGE_REFERENCE = ROOT / "docs" / "language.md"


@dataclass(frozen=True)
class Part:
    """Something every kind needs, where it lives, and the kinds that have it."""

    what: str
    where: str
    kinds: Collection[str]

    @property
    def lack(self) -> str:
        return f"no {self.what} in {self.where}"


def incomplete(registry: Collection[str], parts: list[Part]) -> list[str]:
    """One line per kind that some part lacks, naming the kind and every missing part."""
    found = []
    for kind in registry:
        lacks = [part.lack for part in parts if kind not in part.kinds]
        if lacks:
            found.append(f"kind `{kind}`: {', '.join(lacks)}")
    return found


def strays(registry: Collection[str], tables: list[Part]) -> list[str]:
    """Entries of per-kind tables for kinds the registry does not have (renamed or removed kinds)."""
    return [f"{table.where} has an entry for `{kind}`, which is not a kind in netspec.ops.OPS"
            for table in tables for kind in table.kinds if kind not in registry]


def documented_kinds(markdown: str) -> set[str]:
    """The keywords that head a section: the first word of each backticked span in a
    heading, as in ### `conv OUT kernel=K`. A mention in prose or in a table does not
    document a kind."""
    keywords, in_code = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code  # a `#` comment in an example is not a heading
        elif not in_code and re.match(r"#+ ", line):
            keywords |= set(re.findall(r"`(\w+)[^`]*`", line))
    return keywords


def _statement_keywords(items) -> Iterator[str]:
    for item in items:
        if isinstance(item, ast.Statement):
            yield item.keyword
        else:
            yield from _statement_keywords(item.body)


def spec_keywords(text: str) -> set[str]:
    """The statement keywords of a spec, inside blocks and repeats too; none if it does not parse."""
    program, _ = parse(Source("spec.net", text))
    return set(_statement_keywords(program.items)) if program else set()


def string_literals(python: str) -> Iterator[str]:
    """The string literals of a Python module; an f-string with each placeholder written
    as the name `x`, so that `f"conv {c} kernel=3"` still reads as a statement."""
    for node in python_ast.walk(python_ast.parse(python)):
        if isinstance(node, python_ast.JoinedStr):
            yield "".join(part.value if isinstance(part, python_ast.Constant) else "x" for part in node.values)
        elif isinstance(node, python_ast.Constant) and isinstance(node.value, str):
            yield node.value


def spec_keyword_sets() -> Iterator[set[str]]:
    """The statement keywords of every spec of the project: the .net files of examples/
    and tests/, and the strings in the tests that are lines of a spec (they have a line
    break and parse; most tests put a `network` and `input` header before them). Not this
    file: the kinds it names would count as used."""
    for folder in ("examples", "tests"):
        for path in sorted((ROOT / folder).rglob("*.net")):
            yield spec_keywords(read_source(str(path)).text)
    for path in sorted((ROOT / "tests").glob("*.py")):
        if path.resolve() != Path(__file__).resolve():
            yield from (spec_keywords(text) for text in string_literals(path.read_text()) if "\n" in text)


@lru_cache(maxsize=1)
def used_kinds() -> frozenset[str]:
    return frozenset().union(*spec_keyword_sets())


def tables() -> list[Part]:
    return [Part("kernel", "netspec/backends/llvm/kernels (KERNELS)", KERNELS),
            Part("numpy reference", "tests/reference.py (REFERENCE)", REFERENCE)]


def parts() -> list[Part]:
    return [*tables(),
            Part("heading naming it", "docs/language.md", documented_kinds(LANGUAGE_REFERENCE.read_text())),
            Part("spec using it as a statement", "examples/ or tests/", used_kinds())]


def test_every_kind_is_complete():
    lacking = incomplete(OPS, parts())
    assert not lacking, "\n".join(lacking)


def test_every_kind_has_a_torch_reference():
    pytest.importorskip("torch")
    from torch_reference import TORCH

    torch_table = [Part("PyTorch reference", "tests/torch_reference.py (TORCH)", TORCH)]
    problems = incomplete(OPS, torch_table) + strays(OPS, torch_table)
    assert not problems, "\n".join(problems)


def test_no_entry_for_an_unknown_kind():
    unknown = strays(OPS, tables())
    assert not unknown, "\n".join(unknown)


def test_a_new_kind_is_named_with_everything_it_lacks():
    registry = {**OPS, "swish": replace(OPS["relu"], kind="swish")}
    assert incomplete(registry, parts()) == [
        "kind `swish`: no kernel in netspec/backends/llvm/kernels (KERNELS), "
        "no numpy reference in tests/reference.py (REFERENCE), no heading naming it in docs/language.md, "
        "no spec using it as a statement in examples/ or tests/"]
    kernel, *others = parts()
    with_kernel = [replace(kernel, kinds={*KERNELS, "swish"}), *others]
    assert incomplete(registry, with_kernel) == [
        "kind `swish`: no numpy reference in tests/reference.py (REFERENCE), "
        "no heading naming it in docs/language.md, no spec using it as a statement in examples/ or tests/"]


def test_an_entry_for_a_removed_kind_is_named():
    registry = {kind: op for kind, op in OPS.items() if kind != "tanh"}
    assert strays(registry, tables()) == [
        "netspec/backends/llvm/kernels (KERNELS) has an entry for `tanh`, which is not a kind in netspec.ops.OPS",
        "tests/reference.py (REFERENCE) has an entry for `tanh`, which is not a kind in netspec.ops.OPS"]


def test_only_a_heading_documents_a_kind():
    assert documented_kinds("### `swish [beta=1]`\n") == {"swish"}
    assert documented_kinds("## Joins: `swish` and `mish`\n") == {"swish", "mish"}
    prose_table_and_example = "Use `swish` here.\n| `swish` | fails |\n```text\n# `swish` in an example\n```\n"
    assert documented_kinds(prose_table_and_example) == set()


def test_only_a_statement_keyword_uses_a_kind():
    nested = "network n\ninput 4\nblock b() {\n  repeat 2 {\n    s: swish\n  }\n}\nb\n"
    assert spec_keywords(nested) == {"network", "input", "swish", "b"}
    assert "swish" not in spec_keywords("network n\ninput 4\nswish: relu  # swish\ndense 2 input=swish\n")
    assert spec_keywords("network n\ninput 4\nswish(\n") == set()


def test_an_f_string_spec_reads_with_its_placeholders_as_names():
    module = 'f"network n\\ninput {c}x8x8\\nconv {c} kernel={k}\\n"\n"plain"\n'
    assert "network n\ninput xx8x8\nconv x kernel=x\n" in string_literals(module)
    assert "plain" in string_literals(module)
