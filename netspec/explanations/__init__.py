"""The long explanation of every diagnostic code, with a small spec that has the
problem and its correction: what `netspec explain CODE` prints.

Each explanation is a text file beside this module, named after its code, so a
new code is one new file.
"""
from __future__ import annotations

from importlib import resources

from ..codes import CODES


def _typos(a: str, b: str) -> int:
    """The edit distance counting a swap of neighbours as one edit (E0310 for E0301)."""
    rows = [list(range(len(b) + 1))]
    for i, x in enumerate(a, 1):
        row = [i]
        for j, y in enumerate(b, 1):
            row.append(min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (x != y)))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def code_named(text: str) -> str:
    """The code `text` names, in any letter case (`e0301` is E0301). Raises ValueError
    saying what is wrong, with the codes one typo away."""
    code = text.strip().upper()
    if code in CODES:
        return code
    near = [known for known in CODES if _typos(code, known) == 1][:4]
    hint = f"did you mean {' or '.join(near)}?" if near else "codes look like E0301 (errors) or W0301 (warnings)"
    raise ValueError(f"`{text.strip()[:40]}` is not a netspec diagnostic code; {hint}")


def explain(code: str) -> str:
    """The explanation of `code` (any letter case) under its one-line title; raises ValueError
    for a string that is not a code."""
    code = code_named(code)
    text = resources.files(__name__).joinpath(f"{code}.txt").read_text(encoding="utf-8")
    return f"{code}: {CODES[code]}\n\n{text}"
