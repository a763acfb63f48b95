"""`netspec check` end to end: tables, JSON, exit codes and every example file."""
import glob
import json
import re

import pytest


def test_check_lenet5_prints_the_table(cli):
    result = cli("check", "examples/lenet5.net")
    assert result.exit_code == 0
    assert "conv1     conv     6x28x28      156  117,600" in result.stdout
    assert re.search(r"total\s+61,706\s+416,520", result.stdout)
    assert result.stdout.rstrip().endswith("output 10")


def test_check_json_success_shape(cli):
    result = cli("check", "examples/lenet5.net", "--json")
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert record["network"] == "lenet5"
    assert record["input"] == [1, 28, 28]
    assert record["output"] == [10]
    assert (record["params"], record["macs"]) == (61706, 416520)
    assert record["layers"][0] == {"name": "conv1", "kind": "conv", "line": 7, "output": [6, 28, 28],
                                   "params": 156, "macs": 117600}
    assert [layer["name"] for layer in record["layers"]][-1] == "dense3"


def test_check_json_failure_shape(cli):
    result = cli("check", "examples/errors/kernel_too_large.net", "--json")
    assert result.exit_code == 1
    record = json.loads(result.stdout)
    (e,) = record["errors"]
    assert (e["file"], e["line"], e["column"], e["end_line"], e["end_column"]) == (
        "examples/errors/kernel_too_large.net", 4, 15, 4, 16)
    assert e["code"] == "E0301"
    assert e["message"].startswith("conv1: kernel 5 is larger than the padded input 3x3")
    path = "examples/errors/kernel_too_large.net"
    assert e["fixes"] == [
        {"file": path, "line": 4, "column": 16, "end_line": 4, "end_column": 16, "replacement": " padding=1",
         "note": "use padding=1 (height and width: out = floor((n - k + p + s) / s) = floor((3 - 5 + 2 + 1) / 1) = 1)",
         "applicability": "machine-applicable"},
        {"file": path, "line": 4, "column": 15, "end_line": 4, "end_column": 16, "replacement": "3",
         "note": "use kernel=3 (the largest that fits)", "applicability": "machine-applicable"},
    ]
    assert record["warnings"] == []


def test_check_json_warnings_carry_codes(cli):
    record = json.loads(cli("check", "examples/warnings/stride_skips_rows.net", "--json").stdout)
    assert [(w["code"], w["severity"], w["line"]) for w in record["warnings"]] == [("W0301", "warning", 6)]
    assert [f["replacement"] for f in record["warnings"][0]["fixes"]] == ["1", "1x4"]


def test_readme_shows_what_check_prints_for_a_kernel_too_large(cli):
    with open("README.md") as handle:
        readme = handle.read()
    command = "$ netspec check examples/errors/kernel_too_large.net\n"
    shown = readme[readme.index(command) + len(command):]
    shown = shown[:shown.index("```")]
    result = cli("check", "examples/errors/kernel_too_large.net")
    assert result.stdout + result.stderr == shown


def test_language_docs_show_what_check_prints_for_an_add_mismatch(cli):
    with open("docs/language.md") as handle:
        docs = handle.read()
    shown = docs[docs.index("error[E0305]"):]
    shown = shown[:shown.index("```")].splitlines()
    assert len(shown) == 2  # the message and the help
    stderr = cli("check", "examples/errors/add_shape_mismatch.net").stderr
    assert all(any(printed.endswith(line) for printed in stderr.splitlines()) for line in shown)  # after FILE:LINE:COL


def test_failure_prints_diagnostic_and_table_up_to_failing_layer(cli):
    result = cli("check", "examples/errors/pool_padding_too_large.net")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "pool_padding_too_large.net:5:26: error[E0304]: maxpool1: padding 2" in result.stderr
    assert " 5 | maxpool kernel=3 padding=2\n   |                          ^\n" in result.stderr
    assert "help: use padding=1 or less" in result.stderr
    assert re.search(r"conv1\s+conv\s+6x24x24.*\nmaxpool1\s+maxpool\s+\?.*<- error", result.stderr)


def _expectation(path):
    with open(path) as handle:
        match = re.search(r"^# expect: (\d+):(\d+): ((?:error|warning)\[[EW]\d{4}\]): (.*)$", handle.read(), re.M)
    return match.groups()


@pytest.mark.parametrize("path", sorted(glob.glob("examples/errors/*.net")))
def test_every_error_example_gives_its_documented_diagnostic(cli, path):
    line, column, severity, message = _expectation(path)
    result = cli("check", path)
    assert result.exit_code == 1
    assert f"{path}:{line}:{column}: {severity}: {message}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("path", sorted(glob.glob("examples/warnings/*.net")))
def test_warning_examples_pass_with_their_warning(cli, path):
    line, column, severity, message = _expectation(path)
    result = cli("check", path)
    assert result.exit_code == 0
    assert f"{path}:{line}:{column}: {severity}: {message}" in result.stderr


@pytest.mark.parametrize("path", sorted(glob.glob("examples/portable/*.net")))
def test_portability_examples_pass_with_their_note(cli, path):
    line, column, severity, message = _expectation(path)
    assert "W0302" not in cli("check", path).stderr  # notes only when asked for
    result = cli("check", path, "--portable")
    assert result.exit_code == 0
    assert f"{path}:{line}:{column}: {severity}: {message}" in result.stderr


@pytest.mark.parametrize("path", sorted(glob.glob("examples/*.net") + glob.glob("examples/sizes/*.net")))
def test_every_example_checks(cli, path):
    assert cli("check", path).exit_code == 0


def test_several_files_and_one_bad_exit_1(cli):
    result = cli("check", "examples/lenet5.net", "examples/errors/unknown_layer.net")
    assert result.exit_code == 1
    assert "network lenet5" in result.stdout
    assert "error[E0217]: unknown layer kind `maxpol`" in result.stderr


def test_missing_file_is_an_error_not_a_traceback(cli):
    result = cli("check", "no/such/file.net")
    assert result.exit_code == 1
    assert "error[E0401]: cannot read no/such/file.net" in result.stderr


def test_usage_errors_exit_2(cli):
    assert cli("check").exit_code == 2
    assert cli("check", "--bogus", "examples/lenet5.net").exit_code == 2


def test_version_and_help_with_examples(cli):
    assert re.match(r"netspec, version \d+\.\d+", cli("--version").stdout)
    for command in ([], ["check"], ["run"], ["init"], ["compile"]):
        text = cli(*command, "--help").stdout
        assert "Example" in text and "examples/lenet5.net" in text
    for command in ("cache", "fix", "explain"):
        assert "Example" in cli(command, "--help").stdout


def test_sizes_near_the_spec_s_own_and_which_read_every_row(cli):
    result = cli("check", "examples/lenet5.net", "--sizes")
    assert result.exit_code == 0
    # 28 to 31 all give 16x5x5 after the last pooling; only 28 leaves no row past a window
    assert result.stdout.splitlines()[-1] == (
        "sizes within 8: 1xNxN is valid for N = 28, 29, 30, 31; every row and column is read for N = 28 "
        "(dense1 keeps its 400 input features; dense2 keeps its 120 input features; dense3 keeps its 84 input "
        "features)")
    record = json.loads(cli("check", "examples/lenet5.net", "--sizes", "--json").stdout)
    assert record["nearby"] == {"valid": [28, 29, 30, 31], "reads_every_row": [28], "square": True}


def test_portable_notes_caffe_pooling_and_onnx_same_lower(cli, tmp_path):
    spec = tmp_path / "p.net"
    spec.write_text("network p\ninput 3x7x7\nmaxpool kernel=2 stride=2  # allow W0301\nconv 4 kernel=2 padding=same\n")
    assert "W0302" not in cli("check", str(spec)).stderr  # off unless asked for
    result = cli("check", str(spec), "--portable")
    notes = [line for line in result.stderr.splitlines() if "warning[W0302]" in line]
    assert notes == [
        f"{spec}:3:1: warning[W0302]: maxpool1: Caffe rounds pooling up and gives 3x4x4; netspec (like PyTorch and "
        "ONNX) rounds down and gives 3x3x3",
        f"{spec}:4:25: warning[W0302]: conv1: `padding=same` pads 0,1,0,1 (top, bottom, left, right) as PyTorch and "
        "TensorFlow do; ONNX's auto_pad=SAME_LOWER pads 1,0,1,0: the same shape, windows one row or column higher "
        "or further left"]
    assert cli("check", str(spec), "--portable", "--allow", "W0302").stderr == ""
    assert "W0302" not in cli("check", "examples/lenet5.net", "--portable").stderr  # 28 halves evenly
