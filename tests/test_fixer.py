"""Applying fixes (netspec/fixer.py) and rewriting spec files (netspec/specfile.py),
from Python and through `netspec fix`."""
import codecs
import glob
import os
import random
import shutil
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import netspec
from netspec import fixer
from netspec.diagnostics import Fix, warning
from netspec.frontend.source import Span, read_source
from netspec.network import check_source
from test_hostile import EXAMPLES, LONG, mutate


def _has_fix(path):
    return any(d.fixes for d in check_source(read_source(path)).diagnostics)


FIXABLE = [path for path in sorted(glob.glob("examples/errors/*.net")) if _has_fix(path)]


def test_the_error_examples_include_fixable_ones():
    assert len(FIXABLE) >= 8


@pytest.mark.parametrize("path", FIXABLE)
def test_every_error_example_with_a_fix_becomes_valid(cli, tmp_path, path):
    copy = tmp_path / os.path.basename(path)
    shutil.copy(path, copy)
    result = cli("fix", str(copy))
    assert result.exit_code == 0, result.stderr
    assert f"{copy}:" in result.stderr and ": fixed E0" in result.stderr
    assert check_source(read_source(str(copy))).ok
    assert cli("check", str(copy)).exit_code == 0


def test_diff_prints_the_change_and_leaves_the_file_as_it_was(cli, tmp_path):
    copy = tmp_path / "kernel_too_large.net"
    shutil.copy("examples/errors/kernel_too_large.net", copy)
    before = copy.read_bytes()
    result = cli("fix", "--diff", str(copy))
    assert result.exit_code == 0
    assert result.stdout == (f"--- {copy}\n+++ {copy}\n@@ -1,4 +1,4 @@\n"
                             " # expect: 4:15: error[E0301]: conv1: kernel 5 is larger than the padded input 3x3\n"
                             " network too_small\n input 1x3x3\n-conv 1 kernel=5\n+conv 1 kernel=5 padding=1\n")
    assert copy.read_bytes() == before


def test_readme_shows_what_fix_diff_prints(cli):
    with open("README.md") as handle:
        readme = handle.read()
    command = "$ netspec fix examples/errors/kernel_too_large.net --diff\n"
    shown = readme[readme.index(command) + len(command):]
    assert cli("fix", "examples/errors/kernel_too_large.net", "--diff").stdout == shown[:shown.index("```")]


def test_language_docs_show_what_fix_prints(cli, tmp_path, monkeypatch):
    with open("docs/language.md") as handle:
        docs = handle.read()
    command = "$ netspec fix examples/errors/dense_unflattened.net\n"
    shown = docs[docs.index(command) + len(command):]
    (tmp_path / "examples" / "errors").mkdir(parents=True)
    shutil.copy("examples/errors/dense_unflattened.net", tmp_path / "examples" / "errors")
    monkeypatch.chdir(tmp_path)
    assert cli("fix", "examples/errors/dense_unflattened.net").stderr == shown[:shown.index("```")]


def test_comments_blank_lines_and_indentation_are_kept(tmp_path):
    spec = tmp_path / "commented.net"
    spec.write_text("# a small network\n\nnetwork commented   # its name\ninput 1x3x3\n\n"
                    "    conv 1 kernel=5      # too large for 3x3\n\n# the end\n")
    fixed = netspec.fix_file(spec)
    assert spec.read_text() == ("# a small network\n\nnetwork commented   # its name\ninput 1x3x3\n\n"
                                "    conv 1 kernel=5 padding=1      # too large for 3x3\n\n# the end\n")
    assert fixed.changed and fixed.result.ok


def test_a_file_with_nothing_to_fix_is_left_byte_identical(cli, tmp_path):
    spec = tmp_path / "lenet5.net"
    shutil.copy("examples/lenet5.net", spec)
    spec.write_bytes(codecs.BOM_UTF8 + spec.read_bytes().replace(b"\n", b"\r\n"))
    before, modified = spec.read_bytes(), spec.stat().st_mtime_ns
    result = cli("fix", str(spec))
    assert result.exit_code == 0
    assert result.stderr == f"{spec}: nothing to fix\n"
    assert spec.read_bytes() == before and spec.stat().st_mtime_ns == modified


def test_an_unfixable_error_is_reported_and_exits_1(cli, tmp_path):
    spec = tmp_path / "duplicate_name.net"
    shutil.copy("examples/errors/duplicate_name.net", spec)
    before = spec.read_bytes()
    result = cli("fix", str(spec))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{spec}: nothing to fix\n{spec}:5:1: error[E0214]: duplicate layer name `c1`")
    assert result.stderr.endswith("for more about an error, try `netspec explain E0214`\n")
    assert spec.read_bytes() == before


@pytest.mark.parametrize("make", [lambda path: None, lambda path: path.mkdir()], ids=["missing", "folder"])
def test_an_unreadable_file_gives_one_clear_error(cli, tmp_path, make):
    path = tmp_path / "spec.net"
    make(path)
    result = cli("fix", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    (message, hint) = result.stderr.splitlines()
    assert message.startswith(f"error[E0401]: cannot read {path}: ")
    assert hint == "for more about an error, try `netspec explain E0401`"


def test_a_fix_that_reveals_a_later_error_is_followed_by_its_fix():
    original = "network x\nnetwork y\ninput 1x3x3   # tiny\n\nconv 1 kernal=5   # a comment\nconv 2 kernel=5\ndense 10"
    fixed = netspec.fix_text(original, "m.net")
    assert fixed.text == ("network x\ninput 1x3x3   # tiny\n\nconv 1 kernel=5 padding=1   # a comment\n"
                          "conv 2 kernel=5 padding=2\nflatten\ndense 10")
    # Each fix is reported where its problem was in the text as written, whichever round found it.
    assert [(a.diagnostic.code, a.span.line, a.span.column) for a in fixed.applied] == [
        ("E0202", 2, 1), ("E0218", 5, 8), ("E0301", 5, 15), ("E0301", 6, 15), ("E0303", 7, 1)]
    assert str(fixed.applied[1]) == "m.net:5:8: fixed E0218: did you mean `kernel`?"
    assert fixed.result.ok and fixed.remaining == ()


def test_fixes_whose_edits_overlap_are_applied_in_turn():
    # Moving `network` to the top rewrites the lines the input's fix edits: it waits a round.
    fixed = netspec.fix_text("input 28x28\nnetwork x\nconv 6 kernel=5\n")
    assert [a.diagnostic.code for a in fixed.applied] == ["E0208", "E0204"]
    assert fixed.text == "network x\ninput 1x28x28\nconv 6 kernel=5\n"


def test_a_warnings_fixes_are_left_to_the_author():
    # They change what a valid network computes (here its output shape): a person decides.
    fixed = netspec.fix_text("network s\ninput 1x8x8\nconv 1 kernel=3 stride=3\n")
    assert fixed.applied == () and not fixed.changed
    assert [d.code for d in fixed.remaining] == ["W0301", "W0301"]
    assert all(not f.machine_applicable for d in fixed.remaining for f in d.fixes)


def test_a_fix_that_does_not_resolve_its_problem_is_not_applied_again(monkeypatch):
    def with_stubborn_warning(source, allow=(), deny_warnings=False):
        result = check_source(source, allow, deny_warnings)
        span = Span(source, 1, 1, 1)
        stubborn = warning("W0301", "never resolved", span, fixes=(Fix(span, "# again\n", "insert a comment"),))
        return replace(result, diagnostics=(stubborn, *result.diagnostics))

    monkeypatch.setattr(fixer, "check_source", with_stubborn_warning)
    fixed = fixer.fix_text("network s\ninput 3\nrelu\n")
    assert fixed.text == "# again\nnetwork s\ninput 3\nrelu\n"
    assert len(fixed.applied) == 1


def test_allowed_warnings_are_not_fixed(cli, tmp_path):
    spec = tmp_path / "strided.net"
    spec.write_text("network s\ninput 1x8x8\nconv 1 kernel=3 stride=3\n")
    assert not netspec.fix_file(spec, allow=["W0301"]).changed
    result = cli("fix", "--allow", "W0301", str(spec))
    assert (result.exit_code, result.stderr) == (0, f"{spec}: nothing to fix\n")
    spec.write_text("network s\ninput 1x8x8\nconv 1 kernel=3 stride=3  # allow W0301\n")
    assert not netspec.fix_file(spec).changed


def test_deny_warnings_counts_the_warnings_left_as_errors(cli, tmp_path):
    spec = tmp_path / "rows.net"
    shutil.copy("examples/warnings/allowed_in_block.net", spec)  # a warning with no fix: it is inside a block
    assert cli("fix", str(spec)).exit_code == 0
    result = cli("fix", "--deny-warnings", str(spec))
    assert result.exit_code == 1
    assert "error[W0301]" in result.stderr


def test_line_breaks_and_byte_order_mark_are_kept(tmp_path):
    spec = tmp_path / "windows.net"
    spec.write_bytes(codecs.BOM_UTF8 + b"network w\r\ninput 1x28x28\r\nconv 6 kernel=5\r\ndense 10\r\n")
    netspec.fix_file(spec)
    assert spec.read_bytes() == codecs.BOM_UTF8 + b"network w\r\ninput 1x28x28\r\nconv 6 kernel=5\r\nflatten\r\ndense 10\r\n"


def test_the_file_keeps_its_permissions_and_a_link_stays_a_link(tmp_path):
    target = tmp_path / "target.net"
    shutil.copy("examples/errors/kernel_too_large.net", target)
    target.chmod(0o640)
    link = tmp_path / "link.net"
    link.symlink_to(target)
    netspec.fix_file(link)
    assert link.is_symlink()
    assert "conv 1 kernel=5 padding=1" in target.read_text()
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.net", "target.net"]  # no temporary file left


def test_a_file_that_is_not_utf8_is_not_rewritten(cli, tmp_path):
    spec = tmp_path / "latin1.net"
    spec.write_bytes(b"# caf\xe9\nnetwork c\ninput 1x3x3\nconv 1 kernel=5\n")
    before = spec.read_bytes()
    result = cli("fix", str(spec))
    assert result.exit_code == 1
    assert result.stderr == f"error: {spec} is not UTF-8 text; rewriting it would replace the bytes netspec cannot read\n"
    assert spec.read_bytes() == before
    assert "+conv 1 kernel=5 padding=1" in cli("fix", "--diff", str(spec)).stdout  # a preview writes nothing


def test_a_read_only_file_is_not_rewritten(cli, tmp_path, monkeypatch):
    spec = tmp_path / "locked.net"
    shutil.copy("examples/errors/kernel_too_large.net", spec)
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as for a user without write permission
    result = cli("fix", str(spec))
    assert result.exit_code == 1
    assert result.stderr == f"error: cannot write {spec}: the file is read-only\n"
    with pytest.raises(PermissionError):
        netspec.fix_file(spec)


def test_a_file_without_a_final_line_break_diffs_as_diff_does():
    fixed = netspec.fix_text("network d\ninput 1x28x28\nconv 6 kernel=5\ndense 10", "d.net")
    assert fixed.diff().endswith(" conv 6 kernel=5\n+flatten\n dense 10\n\\ No newline at end of file\n")
    assert fixed.text.endswith("flatten\ndense 10")


def test_fixing_text_writes_nothing_and_reports_what_remains():
    fixed = netspec.fix_text("network t\ninput 1x28x28\nconv 6 kernal=5\nflatten\nconv 3 kernel=1\n")
    assert [a.diagnostic.code for a in fixed.applied] == ["E0218"]
    assert [d.code for d in fixed.remaining] == ["E0302"]
    assert not fixed.result.ok


@settings(max_examples=5000 if LONG else 300, deadline=None, suppress_health_check=list(HealthCheck))
@given(example=st.sampled_from(EXAMPLES), seed=st.integers(0, 2**32))
def test_fixing_mutated_examples_never_raises_and_leaves_nothing_to_fix(example, seed):
    with open(example, "rb") as handle:
        text = mutate(handle.read(), random.Random(seed)).decode("utf-8", errors="replace")
    fixed = netspec.fix_text(text)
    for applied in fixed.applied:
        assert 0 <= fixed.original.offset(applied.span.line, applied.span.column) <= len(text)
    assert netspec.fix_text(fixed.text).applied == ()
