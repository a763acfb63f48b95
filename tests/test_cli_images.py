"""`netspec run` on images from the command line: sample digits end to end, class folders
with accuracy and the confusion matrix worked out by hand, the spec's preprocessing and
the options that override it, output files, and hostile images: one error each, the
rest of the folder still run, exit code 1, never a traceback."""
import json

import numpy as np
import pytest

pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

# One example is a 1x3 image; the identity makes each output its pixel, so the predicted
# class is the brightest column.
PICK = "network pick\ninput 1x1x3\n{line}\nflatten\ndense 3 bias=false\n"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def pick(tmp_path):
    """The spec's path and its weights' path, with a `preprocess` line if given."""

    def make(line: str = "", end: str = "") -> tuple[str, str]:
        spec = tmp_path / "pick.net"
        spec.write_text(PICK.format(line=line) + end)
        np.savez(tmp_path / "identity.npz", **{"dense1.weight": np.eye(3, dtype=np.float32)})
        return str(spec), str(tmp_path / "identity.npz")

    return make


def bright(path, column: int, gray: int = 0) -> None:
    """A 1x3 image, white in `column` and `gray` elsewhere."""
    row = np.full((1, 3), gray, np.uint8)
    row[0, column] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(row).save(path)


@pytest.fixture
def classes(tmp_path):
    """ROOT/CLASS/ folders: 0/a (white at 0: right), 1/b (1: right), 1/c (2: wrong), 2/d (2: right), and
    loose.png outside any class folder."""
    root = tmp_path / "digits"
    for name, column in (("0/a.png", 0), ("1/b.png", 1), ("1/c.png", 2), ("2/d.png", 2), ("loose.png", 0)):
        bright(root / name, column)
    return root


def test_lenet5_runs_on_a_sample_digit(cli):
    result = cli("run", "examples/lenet5.net", "--input", "examples/digits/3.png")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "untrained weights" in result.stdout and "ran 1 example" in result.stdout
    assert "scores: softmax of the outputs, computed for display (the network does not end in softmax)" in lines
    assert lines[-1].startswith("  examples/digits/3.png: top classes ")
    assert result.stderr == ""


def test_a_folder_of_sample_digits_runs_as_one_batch(cli):
    result = cli("run", "examples/lenet5.net", "--input", "examples/digits")
    assert result.exit_code == 0, result.output
    assert "ran 10 examples" in result.stdout and "output: 10x10" in result.stdout
    assert [line.split(":")[0] for line in result.stdout.splitlines() if ": top classes" in line] == [
        f"  examples/digits/{d}.png" for d in range(10)]


def test_the_trained_lenet5_names_every_sample_digit(cli):
    result = cli("run", "examples/lenet5.net", "--weights", "examples/lenet5.npz", "--input", "examples/digits")
    assert result.exit_code == 0, result.output
    predicted = [line.split()[3] for line in result.stdout.splitlines() if ": top classes" in line]
    assert predicted == [str(d) for d in range(10)]


def test_readme_shows_the_trained_lenet5_reading_a_digit(cli):
    with open("README.md") as handle:
        readme = handle.read()
    command = "netspec run examples/lenet5.net --weights examples/lenet5.npz --input examples/digits/3.png"
    assert command in readme.splitlines()[9]  # the first set-up command
    shown = readme[readme.index(f"$ {command}\n"):].split("```")[0].splitlines()
    result = cli(*command.split()[1:])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == shown[-1]


def test_class_folders_give_accuracy_and_the_confusion_matrix(cli, pick, classes):
    spec, weights = pick()
    result = cli("run", spec, "--weights", weights, "--input", str(classes))
    assert result.exit_code == 0, result.output
    high, low = np.e / (np.e + 2), 1 / (np.e + 2)  # the softmax of (1, 0, 0)
    assert result.stdout.splitlines()[-12:] == [
        "scores: softmax of the outputs, computed for display (the network does not end in softmax)",
        f"  {classes}/loose.png: top classes 0 ({high:.4f}), 1 ({low:.4f}), 2 ({low:.4f})",
        f"  {classes}/0/a.png: top classes 0 ({high:.4f}), 1 ({low:.4f}), 2 ({low:.4f}); true class 0",
        f"  {classes}/1/b.png: top classes 1 ({high:.4f}), 0 ({low:.4f}), 2 ({low:.4f}); true class 1",
        f"  {classes}/1/c.png: top classes 2 ({high:.4f}), 0 ({low:.4f}), 1 ({low:.4f}); true class 1",
        f"  {classes}/2/d.png: top classes 2 ({high:.4f}), 0 ({low:.4f}), 1 ({low:.4f}); true class 2",
        "accuracy: 3 of 4 images in class folders (75.0%)",
        "confusion matrix (rows: true class, columns: predicted class):",
        "    0 1 2",
        "  0 1 0 0",
        "  1 0 1 1",
        "  2 0 0 1"]


def test_a_network_ending_in_softmax_shows_probabilities(cli, pick, classes):
    spec, weights = pick(end="softmax\n")
    result = cli("run", spec, "--weights", weights, "--input", str(classes / "0" / "a.png"))
    assert result.exit_code == 0, result.output
    assert "scores: probabilities (the network ends in softmax)" in result.stdout


def test_labels_name_the_classes_and_the_folders(cli, pick, tmp_path):
    spec, weights = pick()
    bright(tmp_path / "named" / "cat" / "x.png", 1)
    bright(tmp_path / "named" / "bird" / "y.png", 1)
    (tmp_path / "labels.txt").write_text("dog\ncat\nbird\n")
    result = cli("run", spec, "--weights", weights, "--input", str(tmp_path / "named"), "--labels",
                 str(tmp_path / "labels.txt"), "--top", "1")
    assert result.exit_code == 0, result.output
    assert f"  {tmp_path}/named/bird/y.png: top classes cat (0.5761); true class bird" in result.stdout
    assert "accuracy: 1 of 2 images in class folders (50.0%)" in result.stdout
    assert "  1 cat  0 1 0" in result.stdout and "  2 bird 0 1 0" in result.stdout


def test_outputs_are_written_with_every_images_path(cli, pick, classes, tmp_path):
    spec, weights = pick()
    for suffix in ("npy", "csv", "json"):
        result = cli("run", spec, "--weights", weights, "--input", str(classes), "--output", str(tmp_path / f"y.{suffix}"))
        assert result.exit_code == 0 and f"wrote {tmp_path}/y.{suffix}" in result.stdout
    expected = np.eye(3, dtype=np.float32)[[0, 0, 1, 2, 2]]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)
    assert (tmp_path / "y.csv").read_text().splitlines() == [
        "path,true,predicted,0,1,2",
        f"{classes}/loose.png,,0,1,0,0", f"{classes}/0/a.png,0,0,1,0,0", f"{classes}/1/b.png,1,1,0,1,0",
        f"{classes}/1/c.png,1,2,0,0,1", f"{classes}/2/d.png,2,2,0,0,1"]
    document = json.loads((tmp_path / "y.json").read_text())
    assert [e["path"] for e in document["examples"]] == [f"{classes}/{n}" for n in
                                                         ("loose.png", "0/a.png", "1/b.png", "1/c.png", "2/d.png")]
    assert document["accuracy"] == {"correct": 3, "counted": 4}


def test_the_specs_preprocessing_is_applied_and_options_override_it(cli, pick, tmp_path):
    bright(tmp_path / "x.png", 0, gray=51)  # pixels 1.0, 0.2, 0.2
    spec, weights = pick("preprocess invert=true mean=0.5 std=0.25")

    def outputs(*options):
        result = cli("run", spec, "--weights", weights, "--input", str(tmp_path / "x.png"),
                     "--output", str(tmp_path / "y.npy"), *options)
        assert result.exit_code == 0, result.output
        return np.load(tmp_path / "y.npy")[0]

    np.testing.assert_allclose(outputs(), [(0 - 0.5) / 0.25, (0.8 - 0.5) / 0.25, (0.8 - 0.5) / 0.25], rtol=1e-6)
    np.testing.assert_allclose(outputs("--no-invert"), [(1 - 0.5) / 0.25, (0.2 - 0.5) / 0.25, (0.2 - 0.5) / 0.25],
                               rtol=1e-6)
    np.testing.assert_allclose(outputs("--mean", "0", "--std", "1"), [0, 0.8, 0.8], rtol=1e-6)


def test_images_are_resized_to_the_input(cli, pick, tmp_path):
    Image.fromarray(np.kron(np.array([[0, 255, 0]], np.uint8), np.ones((4, 4), np.uint8))).save(tmp_path / "big.png")
    spec, weights = pick()
    result = cli("run", spec, "--weights", weights, "--input", str(tmp_path / "big.png"), "--resize", "box",
                 "--output", str(tmp_path / "y.npy"))
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), [[0, 1, 0]])


HOSTILE = ("a_tiff_named.png", "bomb.png", "bomb_under_twice_the_limit.png", "empty.png",
           "garbage_after_signature.png", "huge_screen.gif", "not_an_image.png", "truncated.jpg", "truncated.png")


def test_a_folder_of_hostile_images_runs_the_rest_and_lists_one_error_each(cli):
    result = cli("run", "examples/lenet5.net", "--input", "tests/corpus/images")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [line.split(":")[1].strip() for line in errors] == [f"tests/corpus/images/{n}" for n in HOSTILE]
    assert "note: tests/corpus/images/animated.gif is animated; netspec reads its first frame" in result.stderr
    assert result.stderr.splitlines()[-len(HOSTILE):] == errors  # listed at the end
    assert "ran 3 examples" in result.stdout
    for name in ("animated.gif", "palette_transparent.png", "sixteen_bit.png"):
        assert f"  tests/corpus/images/{name}: top classes" in result.stdout


def test_json_lists_the_images_that_could_not_be_read(cli):
    result = cli("run", "examples/lenet5.net", "--input", "tests/corpus/images", "--json")
    assert result.exit_code == 1
    record = json.loads(result.stdout)
    assert [error["file"] for error in record["errors"]] == [f"tests/corpus/images/{n}" for n in HOSTILE]
    assert record["errors"][0]["message"] == "is not a PNG, JPEG, BMP or GIF image"
    assert [top["example"] for top in record["top"]] == [
        f"tests/corpus/images/{n}" for n in ("animated.gif", "palette_transparent.png", "sixteen_bit.png")]
    assert record["scores"] == "softmax of the outputs"


def test_when_nothing_can_be_read_there_is_one_error_and_nothing_runs(cli):
    result = cli("run", "examples/lenet5.net", "--input", "tests/corpus/images/truncated.png")
    assert result.exit_code == 1
    assert result.stderr == "error: tests/corpus/images/truncated.png: is truncated or corrupt (image file is truncated)\n"
    assert result.stdout == ""


def test_file_names_reach_the_terminal_escaped(cli, pick, tmp_path):
    spec, weights = pick()
    bright(tmp_path / "names" / "a\x1b[31m.png", 0)
    result = cli("run", spec, "--weights", weights, "--input", str(tmp_path / "names"))
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "a\\x1b[31m.png: top classes" in result.stdout


@pytest.mark.parametrize("arguments, message", [
    (["--input", "x.npy", "--invert"], "--invert preprocesses images; arrays and the random input are used as they are"),
    (["--resize", "nearest"], "--resize preprocesses images"),
    (["--input", "examples/digits", "--mean", "0.1,0.2"], "--mean: mean has 2 values, but the input has 1 channel"),
    (["--input", "examples/digits", "--std", "0"], "--std: std must be positive (it divides), got 0"),
    (["--input", "examples/digits", "--crop", "left"], "Invalid value for '--crop'"),
    (["--output", "y.txt"], "cannot tell how to write y.txt: name it .npy"),
])
def test_wrong_options_are_usage_errors(cli, arguments, message):
    result = cli("run", "examples/lenet5.net", *arguments)
    assert result.exit_code == 2 and message in result.stderr


@pytest.mark.parametrize("spec, arguments, message", [
    ("examples/mlp.net", ["--input", "examples/digits/3.png"], "the network's input 784 is not an image"),
    ("examples/lenet5.net", ["--input", "examples/digits/3.png", "--input", "x.npy"],
     "x.npy is an array, which holds a whole batch"),
    ("examples/lenet5.net", ["--input", "examples/digits", "--labels", "LABELS"],
     "the labels file names 3 classes, but network lenet5 outputs 10"),
])
def test_inputs_that_do_not_fit_get_one_clear_error(cli, tmp_path, spec, arguments, message):
    (tmp_path / "labels.txt").write_text("zero\none\ntwo\n")
    result = cli("run", spec, *(str(tmp_path / "labels.txt") if a == "LABELS" else a for a in arguments))
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output
