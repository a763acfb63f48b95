"""The `preprocess` statement (netspec/preprocessing.py): what it declares, how the builder
reports what is wrong with it, how the check shows it, and options that replace it."""
import json

import pytest

import netspec
from conftest import check_text, errors_of, where
from netspec.preprocessing import Preprocessing, with_options

HEADER = "network t\ninput 3x32x32\n"


def spec(line: str, header: str = HEADER) -> str:
    return f"{header}{line}\nconv 4 kernel=3\n"


def test_a_spec_without_preprocess_gets_the_defaults():
    network = netspec.loads(spec(""))
    assert network.graph.preprocessing is None
    assert network.preprocessing == Preprocessing("bilinear", "none", False, (0.0,), (1.0,))


def test_every_option_is_read_and_reachable_from_python():
    network = netspec.loads(spec("preprocess resize=bicubic crop=center invert=true "
                                 "mean=0.485,0.456,0.406 std=0.229,0.224,0.225"))
    assert network.preprocessing == Preprocessing("bicubic", "center", True, (0.485, 0.456, 0.406),
                                                  (0.229, 0.224, 0.225))


def test_preprocess_may_come_before_input_and_one_value_serves_every_channel():
    network = netspec.loads("network t\npreprocess mean=0.5 std=0.25\ninput 3x8x8\nrelu\n")
    assert (network.preprocessing.mean, network.preprocessing.std) == ((0.5,), (0.25,))


def test_check_shows_the_preprocessing_under_the_table_and_in_json(cli, tmp_path):
    path = tmp_path / "p.net"
    path.write_text(spec("preprocess resize=nearest crop=center invert=true mean=0.5 std=0.5"))
    result = cli("check", str(path))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == (
        "images: RGB, resized (nearest) to 32x32, keeping the aspect ratio and cutting out the middle, "
        "scaled to [0, 1], inverted (x -> 1 - x), normalised (x - 0.5) / 0.5")
    record = json.loads(cli("check", str(path), "--json").stdout)
    assert record["preprocess"] == {"resize": "nearest", "crop": "center", "invert": True, "mean": [0.5], "std": [0.5]}


def test_a_grayscale_input_is_described_as_grayscale_and_defaults_are_not_listed():
    network = netspec.loads("network t\ninput 1x28x28\npreprocess invert=false\nrelu\n")
    assert network.summary().splitlines()[-1] == "images: grayscale, resized (bilinear) to 28x28, scaled to [0, 1]"


def test_without_preprocess_the_check_output_is_unchanged(cli):
    assert "images:" not in cli("check", "examples/lenet5.net").stdout


@pytest.mark.parametrize("line, code, message", [
    ("preprocess resize=cubic", "E0222",
     "preprocess: resize must be one of nearest, bilinear, bicubic, lanczos, box, hamming, got 'cubic'"),
    ("preprocess crop=left", "E0222", "preprocess: crop must be one of none, center, got 'left'"),
    ("preprocess invert=yes", "E0222", "preprocess: expected true or false, got 'yes'"),
    ("preprocess mean=dark", "E0222",
     "preprocess: mean must be a number, or one per channel such as 0.485,0.456,0.406, got 'dark'"),
    ("preprocess mean=0.5x0.5", "E0222", "preprocess: mean must be a number such as 0.5 or 1e-5, got '0.5x0.5'"),
    ("preprocess mean=1e999", "E0223", "preprocess: mean must be finite, got 1e999"),
    ("preprocess std=0.2,0,0.2", "E0223", "preprocess: std must be positive (it divides), got 0.2,0,0.2"),
    ("preprocess std=-1", "E0223", "preprocess: std must be positive (it divides), got -1"),
    ("preprocess mean=0.5,0.5", "E0238", "preprocess: mean has 2 values, but the input has 3 channels"),
    ("preprocess sdt=0.5", "E0218", "preprocess: `preprocess` has no parameter `sdt`"),
    ("preprocess bilinear", "E0220", "preprocess: unexpected value 'bilinear'"),
    ("preprocess invert=true invert=false", "E0219", "preprocess: `invert` is given twice"),
    ("p: preprocess", "E0203", "`preprocess` cannot carry a name"),
    ("preprocess -> 3x32x32", "E0237", "`preprocess` has no output shape to state"),
])
def test_a_wrong_preprocess_line_gets_one_error_with_its_code(line, code, message):
    (problem,) = errors_of(check_text(spec(line)))
    assert (problem.code, problem.message, problem.span.line) == (code, message, 3)


def test_a_mean_per_channel_of_another_input_points_at_the_values():
    (problem,) = errors_of(check_text(spec("preprocess mean=0.485,0.456,0.406", header="network t\ninput 1x28x28\n")))
    assert (problem.code, problem.span.column, problem.span.end_column) == ("E0238", 17, 34)
    assert problem.help == "give one value for every channel, or 1"


@pytest.mark.parametrize("input_line", ["input 784", "input 4x8x8", "input 2x8x8"])
def test_preprocess_for_an_input_that_is_no_image_is_an_error(input_line):
    (problem,) = errors_of(check_text(f"network t\n{input_line}\npreprocess\nrelu\n"))
    assert problem.code == "E0239" and problem.span.line == 3
    assert "is not an image (1xHxW grayscale or 3xHxW RGB)" in problem.message


@pytest.mark.parametrize("text, code, line", [
    ("network t\ninput 1x8x8\nrelu\npreprocess\n", "E0206", 4),
    ("network t\ninput 1x8x8\npreprocess\npreprocess invert=true\nrelu\n", "E0202", 4),
    ("network t\ninput 1x8x8\nblock b() {\n  preprocess\n  relu\n}\nb\n", "E0201", 4),
])
def test_preprocess_is_placed_as_a_header(text, code, line):
    (problem,) = errors_of(check_text(text))
    assert (problem.code, problem.span.line) == (code, line)


def test_a_misspelt_choice_is_fixed():
    (problem,) = errors_of(check_text(spec("preprocess resize=bilinaer crop=centre")))[:1]
    assert problem.help == "did you mean `bilinear`?"
    assert [where(fix) for fix in problem.fixes] == [(3, 19, 3, 27, "bilinear")]
    fixed = netspec.fix_text(spec("preprocess resize=bilinaer crop=centre"))
    assert fixed.result.ok and "preprocess resize=bilinear crop=center\n" in fixed.text


def test_a_misspelt_keyword_gets_a_did_you_mean():
    (problem,) = errors_of(check_text(spec("preprocesss invert=true")))
    assert (problem.code, problem.help) == ("E0217", "did you mean `preprocess`?")


def test_options_replace_the_specs_and_none_keeps_it():
    declared = Preprocessing("nearest", "center", True, (0.5,), (0.5,))
    chosen = with_options(declared, (3, 8, 8), {"resize": "lanczos", "crop": None, "invert": False,
                                                "mean": "0.1,0.2,0.3", "std": None})
    assert chosen == Preprocessing("lanczos", "center", False, (0.1, 0.2, 0.3), (0.5,))


@pytest.mark.parametrize("options, message", [
    ({"mean": "0.1,0.2"}, "--mean: mean has 2 values, but the input has 3 channels"),
    ({"std": "0"}, "--std: std must be positive (it divides), got 0"),
    ({"mean": "grey"}, "--mean: mean must be a number, or one per channel such as 0.485,0.456,0.406, got 'grey'"),
    ({"resize": "cubic"}, "--resize: resize must be one of nearest, bilinear, bicubic, lanczos, box, hamming, got 'cubic'"),
])
def test_wrong_options_name_the_option(options, message):
    with pytest.raises(ValueError) as raised:
        with_options(Preprocessing(), (3, 8, 8), options)
    assert str(raised.value) == message


def test_exporters_and_the_compiled_code_read_the_layers_only():
    from netspec.backends.llvm.codegen import canonical_form
    from netspec.interop.pytorch_source import to_pytorch_source

    plain = netspec.loads(spec("")).graph
    declared = netspec.loads(spec("preprocess invert=true mean=0.5 std=0.5")).graph
    assert to_pytorch_source(declared) == to_pytorch_source(plain)
    assert canonical_form(declared) == canonical_form(plain)  # one cache entry: images are prepared before the code runs
