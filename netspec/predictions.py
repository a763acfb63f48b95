"""What a network's outputs say about its inputs: the top classes, scored as probabilities
when the network ends in softmax and otherwise as the softmax of its outputs, computed for
display (raw outputs are never shown as if they were probabilities); class names from a
labels file; accuracy and the confusion matrix for images in class folders; and the
outputs written as .npy, .csv or .json.
"""
from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass

import numpy as np

from .check import ShapedGraph
from .diagnostics import printable as shown
from .errors import DataError
from .ir import format_shape
from .ops import OPS, Trait

PROBABILITIES = "probabilities"
SOFTMAX = "softmax of the outputs"
OUTPUT_FORMATS = (".npy", ".csv", ".json")
# A file this large is no list of class names (ImageNet's 1,000 take 30 KB).
MAX_LABELS_BYTES = 16 * 2**20
# The examples a report lists one by one; an --output file has every one.
SHOWN_EXAMPLES = 10
# The most classes a confusion matrix printed as a table has; JSON has any.
MAX_TABLE_CLASSES = 20
# Longer class names are cut in the confusion table.
MAX_NAME_WIDTH = 20


@dataclass(frozen=True)
class Predictions:
    outputs: np.ndarray  # N x (output shape), as the network gave them
    names: tuple[str, ...]  # what each example is: its image file, or `example N`
    scored_as: str | None  # PROBABILITIES or SOFTMAX; None when the outputs are not a score per class
    scores: np.ndarray | None  # N x classes, float64: what the top classes are ranked and shown by
    labels: tuple[str, ...] | None  # the class names, from a labels file
    truth: tuple[int | None, ...]  # each example's class, from its folder; None when unknown
    notes: tuple[str, ...] = ()  # e.g. folders that name no class

    @property
    def predicted(self) -> np.ndarray | None:
        return None if self.scores is None else np.argmax(self.scores, axis=1)

    def class_name(self, index: int) -> str:
        return self.labels[index] if self.labels else str(index)

    def top(self, example: int, count: int) -> list[tuple[int, float]]:
        order = np.argsort(-self.scores[example], kind="stable")[:count]
        return [(int(k), float(self.scores[example, k])) for k in order]

    @property
    def counted(self) -> list[int]:
        """The examples whose class is known."""
        return [i for i, truth in enumerate(self.truth) if truth is not None] if self.scores is not None else []

    def accuracy(self) -> tuple[int, int] | None:
        """(correct, counted) over the examples whose class is known; None when there are none."""
        counted = self.counted
        if not counted:
            return None
        predicted = self.predicted
        return sum(int(predicted[i] == self.truth[i]) for i in counted), len(counted)

    def confusion(self) -> np.ndarray | None:
        """classes x classes counts: row the true class, column the predicted one."""
        if not self.counted:
            return None
        matrix = np.zeros((self.scores.shape[1],) * 2, np.int64)
        predicted = self.predicted
        for i in self.counted:
            matrix[self.truth[i], predicted[i]] += 1
        return matrix


def scoring(graph: ShapedGraph) -> str | None:
    """PROBABILITIES when the network ends in softmax (seen through layers that are views
    or identities at inference), SOFTMAX for other outputs with a score per class (a flat
    vector of 2 or more), None for outputs that are not."""
    shape = graph.output_shape
    if len(shape) != 1 or shape[0] < 2:
        return None
    layer = graph.layer(graph.output)
    while layer is not None and (OPS[layer.node.kind].has(Trait.VIEW) or
                                 OPS[layer.node.kind].has(Trait.IDENTITY_AT_INFERENCE)):
        layer = graph.layer(layer.node.inputs[0])
    return PROBABILITIES if layer is not None and OPS[layer.node.kind].has(Trait.DISTRIBUTION) else SOFTMAX


def softmax(outputs: np.ndarray) -> np.ndarray:
    """Row-wise, in float64, with the maximum subtracted so exp cannot overflow."""
    x = outputs.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and inf outputs give NaN scores
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def predict(outputs: np.ndarray, graph: ShapedGraph, names=(), folders=(), labels=None) -> Predictions:
    """The predictions of `outputs` (N x output shape) of `graph`'s network. `names` say
    what each example is (default `example N`), `folders` each image's CLASS folder (a
    class index or a name in `labels`), `labels` every class's name."""
    scored_as = scoring(graph)
    labels = None if labels is None else check_labels(labels, graph)
    scores = None if scored_as is None else (
        outputs.astype(np.float64) if scored_as == PROBABILITIES else softmax(outputs))
    names = tuple(names) or tuple(f"example {i}" for i in range(len(outputs)))
    truth, notes = _classes(tuple(folders), labels, graph.output_shape[0]) if folders and scored_as else (
        (None,) * len(outputs), ())
    return Predictions(outputs, names, scored_as, scores, labels, truth, notes)


def _classes(folders, labels, count: int) -> tuple[tuple[int | None, ...], tuple[str, ...]]:
    """Each image's class from its folder, and notes on folders that name none."""
    named = {folder: class_named(folder, labels, count) for folder in set(folders) if folder is not None}
    index = f"a class index from 0 to {count - 1}"
    meant = f"neither a name in the labels file nor {index}" if labels else f"not {index}"
    notes = tuple(f"folder {shown(folder)} names no class ({meant}); {_images(folders.count(folder))} not counted"
                  for folder in sorted(named) if named[folder] is None)
    return tuple(named.get(folder) if folder is not None else None for folder in folders), notes


def _images(count: int) -> str:
    return "its image is" if count == 1 else f"its {count} images are"


def class_named(folder: str, labels, count: int) -> int | None:
    """The class a folder's name names: a name in `labels` (when it is there once), or an index."""
    if labels and labels.count(folder) == 1:
        return labels.index(folder)
    if re.fullmatch(r"[0-9]{1,9}", folder) and int(folder) < count:
        return int(folder)
    return None


def check_labels(labels, graph: ShapedGraph) -> tuple[str, ...]:
    """`labels` as a tuple, when they name every class of the network's output."""
    if scoring(graph) is None:
        raise DataError(f"a labels file names classes, but network {graph.name} outputs "
                        f"{format_shape(graph.output_shape)}, not a score per class")
    if len(labels) != graph.output_shape[0]:
        raise DataError(f"the labels file names {len(labels)} classes, but network {graph.name} outputs "
                        f"{graph.output_shape[0]}")
    return tuple(labels)


def read_labels(path: str, graph: ShapedGraph) -> tuple[str, ...]:
    """The class names in a labels file, one a line, for `graph`'s network (UTF-8; blank
    lines are refused, as a class without a name would shift every name after it)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_LABELS_BYTES + 1)
    except OSError as problem:
        raise DataError(f"cannot read labels file {path}: {problem.strerror or problem}") from None
    if len(data) > MAX_LABELS_BYTES:
        raise DataError(f"labels file {path} is larger than {MAX_LABELS_BYTES // 2**20} MiB; it should hold one class "
                        "name a line")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as problem:
        raise DataError(f"labels file {path} is not UTF-8 text (byte {problem.start})") from None
    names = [line.strip() for line in text.split("\n")]
    if names[-1] == "":
        names.pop()  # after the last line's line break
    if not names:
        raise DataError(f"labels file {path} is empty; it should hold one class name a line")
    for number, name in enumerate(names, 1):
        if not name:
            raise DataError(f"{path}:{number}: an empty line; a labels file has one class name a line")
        if not name.isprintable():
            raise DataError(f"{path}:{number}: a class name with a control character")
    return check_labels(names, graph)


def describe(predictions: Predictions, top: int) -> str:
    """The report: what the scores are, each example's top classes, accuracy and the confusion matrix."""
    p = predictions
    if p.scored_as is None:
        return ""
    why = " (the network ends in softmax)" if p.scored_as == PROBABILITIES else \
        ", computed for display (the network does not end in softmax)"
    lines = [f"scores: {p.scored_as}{why}"]
    count = min(top, p.scores.shape[1])
    for i in range(min(len(p.names), SHOWN_EXAMPLES)):
        classes = ", ".join(f"{shown(p.class_name(k))} ({score:.4f})" for k, score in p.top(i, count))
        truth = f"; true class {shown(p.class_name(p.truth[i]))}" if p.truth[i] is not None else ""
        lines.append(f"  {shown(p.names[i])}: top classes {classes}{truth}")
    if len(p.names) > SHOWN_EXAMPLES:
        lines.append(f"  ... {len(p.names) - SHOWN_EXAMPLES} more (an --output file lists every one)")
    accuracy = p.accuracy()
    if accuracy is not None:
        correct, counted = accuracy
        lines.append(f"accuracy: {correct} of {counted} image{'s' * (counted != 1)} in class folders "
                     f"({100 * correct / counted:.1f}%)")
        lines.extend(_confusion_table(p))
    return "\n".join(lines)


def _confusion_table(p: Predictions) -> list[str]:
    matrix = p.confusion()
    classes = len(matrix)
    if classes > MAX_TABLE_CLASSES:
        return [f"confusion matrix: {classes} classes, too many to print; --json or a .json --output has it"]
    rows = [k for k in range(classes) if matrix[k].sum()]  # the true classes present
    heads = [f"{k} {shown(p.labels[k])[:MAX_NAME_WIDTH]}" if p.labels else str(k) for k in rows]
    width = max(len(str(classes - 1)), len(str(matrix.max())))
    indent = max(map(len, heads))
    lines = ["confusion matrix (rows: true class, columns: predicted class):",
             "  " + " " * indent + "".join(f" {k:>{width}}" for k in range(classes))]
    lines += ["  " + head.ljust(indent) + "".join(f" {n:>{width}}" for n in matrix[k]) for k, head in zip(rows, heads)]
    return lines


def _number(value) -> float | None:
    """A score or output for JSON, which has no NaN or infinity."""
    value = float(value)
    return value if math.isfinite(value) else None


def record(predictions: Predictions, top: int) -> dict:
    """The report as JSON: the top classes of the examples a report lists, accuracy, confusion matrix."""
    p = predictions
    count = 0 if p.scores is None else min(top, p.scores.shape[1])
    return {
        "scores": p.scored_as,
        "labels": list(p.labels) if p.labels else None,
        "top": [{"example": p.names[i], "true": p.truth[i],
                 "classes": [{"class": k, **({"label": p.labels[k]} if p.labels else {}), "score": _number(score)}
                             for k, score in p.top(i, count)]}
                for i in range(min(len(p.names), SHOWN_EXAMPLES))] if count else [],
        **_tally(p),
    }


def _tally(p: Predictions) -> dict:
    accuracy, confusion = p.accuracy(), p.confusion()
    return {"accuracy": {"correct": accuracy[0], "counted": accuracy[1]} if accuracy else None,
            "confusion": confusion.tolist() if confusion is not None else None}


def require_output_format(path: str) -> None:
    if not path.lower().endswith(OUTPUT_FORMATS):
        raise DataError(f"cannot tell how to write {path}: name it .npy (the outputs as an array), .csv (a row per "
                        "example) or .json")


def write(path: str, predictions: Predictions) -> None:
    """The outputs as .npy (the array), .csv (a row per example: its path, true and predicted
    class, then its outputs) or .json (the same, with accuracy and the confusion matrix)."""
    require_output_format(path)
    writer = {".npy": _write_npy, ".csv": _write_csv, ".json": _write_json}[path[path.rindex("."):].lower()]
    try:
        writer(path, predictions)
    except OSError as problem:
        raise DataError(f"cannot write {path}: {problem.strerror or problem}") from None


def _write_npy(path: str, p: Predictions) -> None:
    with open(path, "wb") as handle:
        np.save(handle, p.outputs)


def _columns(p: Predictions) -> list[str]:
    if p.scored_as is not None:
        return [p.class_name(k) for k in range(p.outputs.shape[1])]
    return [f"output {i}" for i in range(int(np.prod(p.outputs.shape[1:])))]


def _write_csv(path: str, p: Predictions) -> None:
    predicted = p.predicted
    # surrogateescape writes a file name's bytes back as they were, when they are not UTF-8
    with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        table = csv.writer(handle)
        table.writerow(["path", "true", "predicted", *_columns(p)])
        for i, name in enumerate(p.names):
            truth = p.class_name(p.truth[i]) if p.truth[i] is not None else ""
            guess = p.class_name(int(predicted[i])) if predicted is not None else ""
            table.writerow([name, truth, guess, *(f"{v:.9g}" for v in p.outputs[i].ravel())])


def _write_json(path: str, p: Predictions) -> None:
    predicted = p.predicted
    examples = [{"path": name, "true": p.truth[i], "predicted": int(predicted[i]) if predicted is not None else None,
                 "outputs": [_number(v) for v in p.outputs[i].ravel()]} for i, name in enumerate(p.names)]
    document = {"scores": p.scored_as, "labels": list(p.labels) if p.labels else None, "examples": examples,
                **_tally(p)}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1)
