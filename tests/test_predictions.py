"""Predictions (netspec/predictions.py): what the scores are, the top classes, labels
files, accuracy and the confusion matrix worked out by hand, and the output files."""
import csv
import json
import math

import numpy as np
import pytest

import netspec
from netspec import predictions
from netspec.errors import DataError
from netspec.predictions import (PROBABILITIES, SOFTMAX, class_named, describe, predict, read_labels, record, scoring,
                                 softmax, write)

DENSE = "network d\ninput 4\ndense 3\n"
SOFTMAX_END = "network s\ninput 4\ndense 3\nsoftmax\n"


def graph(text: str):
    return netspec.loads(text).graph


@pytest.mark.parametrize("text, scored_as", [
    (DENSE, SOFTMAX),
    (SOFTMAX_END, PROBABILITIES),
    (SOFTMAX_END + "dropout 0.5\n", PROBABILITIES),  # an identity at inference
    (SOFTMAX_END + "flatten\n", PROBABILITIES),  # a view
    (SOFTMAX_END + "relu\n", SOFTMAX),  # no longer known to be a distribution
    ("network c\ninput 1x4x4\nconv 2 kernel=1\n", None),  # not a score per class
    ("network one\ninput 4\ndense 1\n", None),  # one output: its softmax would always be 1
])
def test_the_scores_are_probabilities_only_when_the_network_ends_in_softmax(text, scored_as):
    assert scoring(graph(text)) == scored_as


def test_softmax_by_hand_without_overflow_and_nan_for_nan_or_infinity():
    total = math.exp(1) + math.exp(2) + math.exp(3)
    expected = [math.exp(1) / total, math.exp(2) / total, math.exp(3) / total]
    np.testing.assert_allclose(softmax(np.array([[1, 2, 3], [1001, 1002, 1003]], np.float32)), [expected] * 2, rtol=1e-12)
    assert np.isnan(softmax(np.array([[np.nan, 0, 1], [np.inf, 0, 1]]))).all()


def test_probabilities_are_shown_as_the_network_gave_them_and_other_outputs_as_their_softmax():
    outputs = np.array([[0.2, 0.5, 0.3]], np.float32)
    np.testing.assert_allclose(predict(outputs, graph(SOFTMAX_END)).scores, outputs, rtol=1e-7)
    np.testing.assert_allclose(predict(outputs, graph(DENSE)).scores, softmax(outputs))


def test_top_classes_are_in_order_of_score_with_ties_by_index():
    found = predict(np.array([[0.1, 0.3, 0.3, 0.3]], np.float32), graph("network t\ninput 2\ndense 4\nsoftmax\n"))
    assert [k for k, _ in found.top(0, 3)] == [1, 2, 3]


def test_accuracy_and_confusion_matrix_by_hand():
    outputs = np.eye(3, dtype=np.float32)[[0, 1, 2, 2, 1]]  # predicted 0, 1, 2, 2, 1
    found = predict(outputs, graph(DENSE), folders=["0", "1", "1", "2", "cat"])
    assert found.truth == (0, 1, 1, 2, None)
    assert found.accuracy() == (3, 4)  # the third is a 1 taken for a 2; `cat` is no class
    assert found.confusion().tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert found.notes == ("folder cat names no class (not a class index from 0 to 2); its image is not counted",)
    assert predict(outputs, graph(DENSE)).accuracy() is None


def test_folders_may_be_named_by_the_labels():
    outputs = np.eye(3, dtype=np.float32)[[2, 0]]
    found = predict(outputs, graph(DENSE), folders=["two", "one"], labels=["zero", "one", "two"])
    assert found.truth == (2, 1) and found.accuracy() == (1, 2)


@pytest.mark.parametrize("folder, labels, expected", [
    ("cat", ("dog", "cat", "bird"), 1),
    ("2", ("dog", "cat", "bird"), 2),  # an index, when no label is the name
    ("crane", ("crane", "crane", "bird"), None),  # ImageNet names two classes `crane`: ambiguous
    ("03", None, 3),
    ("10", None, None),  # past the last class
    ("-1", None, None),
    ("\u0663", None, None),  # a digit of another script is no index
])
def test_a_folder_names_a_class_by_label_or_index(folder, labels, expected):
    assert class_named(folder, labels, 10 if labels is None else 3) == expected


def test_a_labels_file_may_have_a_byte_order_mark_windows_line_breaks_and_spaces(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(b"\xef\xbb\xbfzero\r\n  one \r\nn01440764 tench\r\n")
    assert read_labels(str(path), graph(DENSE)) == ("zero", "one", "n01440764 tench")


@pytest.mark.parametrize("content, message", [
    (b"a\n\nb\nc\n", "labels.txt:2: an empty line; a labels file has one class name a line"),
    (b"a\nb\x1b[31m\nc\n", "labels.txt:2: a class name with a control character"),
    (b"a\n\xff\nc\n", "is not UTF-8 text (byte 2)"),
    (b"", "is empty; it should hold one class name a line"),
    (b"a\nb\n", "the labels file names 2 classes, but network d outputs 3"),
    (b"a\nb\nc\nd\n", "the labels file names 4 classes, but network d outputs 3"),
])
def test_a_wrong_labels_file_gets_one_clear_error(tmp_path, content, message):
    path = tmp_path / "labels.txt"
    path.write_bytes(content)
    with pytest.raises(DataError) as raised:
        read_labels(str(path), graph(DENSE))
    assert message in str(raised.value)


def test_labels_for_outputs_that_are_no_classes_or_too_large_or_missing(tmp_path, monkeypatch):
    path = tmp_path / "labels.txt"
    path.write_text("a\nb\n")
    with pytest.raises(DataError, match="a labels file names classes, but network c outputs 2x4x4, not a score"):
        read_labels(str(path), graph("network c\ninput 1x4x4\nconv 2 kernel=1\n"))
    monkeypatch.setattr(predictions, "MAX_LABELS_BYTES", 3)
    with pytest.raises(DataError, match="labels.txt is larger than"):
        read_labels(str(path), graph(DENSE))
    with pytest.raises(DataError, match="cannot read labels file .*missing.txt: No such file or directory"):
        read_labels(str(tmp_path / "missing.txt"), graph(DENSE))


def test_the_report_says_what_the_scores_are_and_lists_the_examples():
    outputs = np.array([[3, 1, 0], [0, 0, 5]], np.float32)
    found = predict(outputs, graph(DENSE), names=["a.png", "b\x1b.png"], folders=["one", None],
                    labels=["zero", "one", "two"])
    e3 = math.exp(3) + math.exp(1) + 1
    e5 = math.exp(5) + 2
    assert describe(found, 2).splitlines() == [
        "scores: softmax of the outputs, computed for display (the network does not end in softmax)",
        f"  a.png: top classes zero ({math.exp(3) / e3:.4f}), one ({math.exp(1) / e3:.4f}); true class one",
        f"  b\\x1b.png: top classes two ({math.exp(5) / e5:.4f}), zero ({1 / e5:.4f})",
        "accuracy: 0 of 1 image in class folders (0.0%)",
        "confusion matrix (rows: true class, columns: predicted class):",
        "        0 1 2",
        "  1 one 1 0 0",
    ]


def test_a_report_lists_ten_examples_and_counts_the_rest():
    found = predict(np.zeros((12, 3), np.float32), graph(SOFTMAX_END))
    lines = describe(found, 1).splitlines()
    assert lines[0] == "scores: probabilities (the network ends in softmax)"
    assert lines[1] == "  example 0: top classes 0 (0.0000)"
    assert lines[-1] == "  ... 2 more (an --output file lists every one)" and len(lines) == 12


def test_a_confusion_matrix_of_many_classes_is_left_to_json():
    many = "network m\ninput 2\ndense 30\n"
    found = predict(np.eye(30, dtype=np.float32)[:2], graph(many), folders=["0", "1"])
    assert describe(found, 1).splitlines()[-1] == (
        "confusion matrix: 30 classes, too many to print; --json or a .json --output has it")
    assert np.array(record(found, 1)["confusion"]).shape == (30, 30)


def test_the_json_record_has_no_nan():
    found = predict(np.array([[np.nan, 1, 2]], np.float32), graph(SOFTMAX_END), folders=["2"])
    text = json.dumps(record(found, 3), allow_nan=False)
    assert json.loads(text)["top"][0]["classes"][0] == {"class": 2, "score": 2.0}


def test_outputs_are_written_as_npy_csv_and_json(tmp_path):
    outputs = np.array([[0.25, 2, -1], [np.nan, 0, 1]], np.float32)
    found = predict(outputs, graph(DENSE), names=["d/1/a.png", "d/b.png"], folders=["1", None],
                    labels=["zero", "one", "two"])
    for suffix in ("npy", "csv", "json"):
        write(str(tmp_path / f"y.{suffix}"), found)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), outputs)
    with open(tmp_path / "y.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["path", "true", "predicted", "zero", "one", "two"],
                    ["d/1/a.png", "one", "one", "0.25", "2", "-1"],
                    ["d/b.png", "", "zero", "nan", "0", "1"]]  # argmax of a NaN row is its first NaN
    document = json.loads((tmp_path / "y.json").read_text())
    assert document == {
        "scores": SOFTMAX, "labels": ["zero", "one", "two"],
        "examples": [{"path": "d/1/a.png", "true": 1, "predicted": 1, "outputs": [0.25, 2.0, -1.0]},
                     {"path": "d/b.png", "true": None, "predicted": 0, "outputs": [None, 0.0, 1.0]}],
        "accuracy": {"correct": 1, "counted": 1}, "confusion": [[0, 0, 0], [0, 1, 0], [0, 0, 0]]}


def test_outputs_that_are_no_classes_are_written_by_position(tmp_path):
    found = predict(np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2), graph("network c\ninput 1x2x2\nconv 2 kernel=1\n"))
    write(str(tmp_path / "y.csv"), found)
    with open(tmp_path / "y.csv", newline="") as handle:
        header, row = list(csv.reader(handle))
    assert header == ["path", "true", "predicted"] + [f"output {i}" for i in range(8)]
    assert row == ["example 0", "", ""] + [str(i) for i in range(8)]


def test_an_output_file_of_another_kind_or_in_no_folder_is_refused(tmp_path):
    found = predict(np.zeros((1, 3), np.float32), graph(DENSE))
    with pytest.raises(DataError, match=r"cannot tell how to write y.txt: name it .npy"):
        write("y.txt", found)
    with pytest.raises(DataError, match="cannot write .*/missing/y.csv: No such file or directory"):
        write(str(tmp_path / "missing" / "y.csv"), found)
