"""Every diagnostic code with a one-line title: the list the docs show and a
`netspec explain CODE` can read.

A code names a kind of problem, not its wording: messages may be reworded, a
code keeps its meaning. The first digits group codes by the stage that finds
them: E01 syntax, E02 building the graph (headers, names, layer kinds and
parameters, blocks and repeats), E03 shape checking, E04 reading files and
netspec's limits; W02 warnings of building the graph, W03 of the shape check.
"""
from __future__ import annotations

CODES: dict[str, str] = {
    "E0101": "unexpected character",
    "E0102": "unexpected token",
    "E0103": "unexpected end of file",
    "E0104": "a `{` that is never closed",
    "E0105": "a value written as another language writes it (quotes, a tuple)",
    "E0201": "`network` or `input` inside a block",
    "E0202": "duplicate `network` or `input` statement",
    "E0203": "`network` or `input` with a name",
    "E0204": "`network` is not the first statement",
    "E0205": "`network` without exactly one name",
    "E0206": "`input` after a layer",
    "E0207": "`input` without exactly one shape",
    "E0208": "input shape is neither CxHxW nor N",
    "E0209": "missing `network` statement",
    "E0210": "missing `input` statement",
    "E0211": "a layer before `input`",
    "E0212": "a network without layers",
    "E0213": "`input` or `in` used as a layer name",
    "E0214": "duplicate layer name",
    "E0215": "unknown tensor name",
    "E0216": "a tensor computed but never used",
    "E0217": "unknown layer kind",
    "E0218": "unknown parameter",
    "E0219": "parameter given twice",
    "E0220": "unexpected positional value",
    "E0221": "missing required parameter",
    "E0222": "value of the wrong form",
    "E0223": "value out of range",
    "E0224": "join without the tensors to join",
    "E0225": "`input=` given twice",
    "E0226": "duplicate block",
    "E0227": "block named like a layer kind",
    "E0228": "block without layers",
    "E0229": "block defined inside a block",
    "E0230": "block that calls itself",
    "E0231": "too many block arguments",
    "E0232": "unknown block parameter",
    "E0233": "missing block argument",
    "E0234": "repeat count out of range",
    "E0301": "kernel larger than the padded input",
    "E0302": "layer needs a CxHxW input",
    "E0303": "layer needs a flat vector",
    "E0304": "pooling padding more than half the kernel",
    "E0305": "`add` operands of different shapes",
    "E0306": "`concat` operands of different heights or widths",
    "W0201": "an input shape that looks like height x width x channels",
    "W0301": "input rows or columns past the last window",
    "E0401": "file cannot be read",
    "E0402": "file larger than a spec may be",
    "E0403": "number larger than a size may be",
    "E0404": "blocks and repeats nested too deep",
    "E0405": "block calls nested too deep",
    "E0406": "network that expands to too many layers",
    "E0407": "too many errors",
}
