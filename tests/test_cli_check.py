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
    assert record["layers"][0] == {"name": "conv1", "kind": "conv", "line": 6, "output": [6, 28, 28],
                                   "params": 156, "macs": 117600}
    assert [layer["name"] for layer in record["layers"]][-1] == "dense3"


def test_check_json_failure_shape(cli):
    result = cli("check", "examples/errors/kernel_too_large.net", "--json")
    assert result.exit_code == 1
    record = json.loads(result.stdout)
    (e,) = record["errors"]
    assert (e["file"], e["line"], e["column"]) == ("examples/errors/kernel_too_large.net", 4, 15)
    assert e["message"].startswith("conv1: kernel 5 is larger than the padded input 3x3")
    assert record["warnings"] == []


def test_failure_prints_diagnostic_and_table_up_to_failing_layer(cli):
    result = cli("check", "examples/errors/pool_padding_too_large.net")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "pool_padding_too_large.net:5:26: error: maxpool1: padding 2" in result.stderr
    assert " 5 | maxpool kernel=3 padding=2\n   |                          ^\n" in result.stderr
    assert "help: use padding=1 or less" in result.stderr
    assert re.search(r"conv1\s+conv\s+6x24x24.*\nmaxpool1\s+maxpool\s+\?.*<- error", result.stderr)


def _expectation(path):
    with open(path) as handle:
        match = re.search(r"^# expect: (\d+):(\d+): (error|warning): (.*)$", handle.read(), re.M)
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


@pytest.mark.parametrize("path", sorted(glob.glob("examples/*.net")))
def test_every_example_checks(cli, path):
    assert cli("check", path).exit_code == 0


def test_several_files_and_one_bad_exit_1(cli):
    result = cli("check", "examples/lenet5.net", "examples/errors/unknown_layer.net")
    assert result.exit_code == 1
    assert "network lenet5" in result.stdout
    assert "unknown layer kind `maxpol`" in result.stderr


def test_missing_file_is_an_error_not_a_traceback(cli):
    result = cli("check", "no/such/file.net")
    assert result.exit_code == 1
    assert "cannot read no/such/file.net" in result.stderr


def test_usage_errors_exit_2(cli):
    assert cli("check").exit_code == 2
    assert cli("check", "--bogus", "examples/lenet5.net").exit_code == 2


def test_version_and_help_with_examples(cli):
    assert re.match(r"netspec, version \d+\.\d+", cli("--version").stdout)
    for command in ([], ["check"], ["run"], ["init"], ["compile"]):
        text = cli(*command, "--help").stdout
        assert "Example" in text and "examples/lenet5.net" in text
    assert "Example" in cli("cache", "--help").stdout
