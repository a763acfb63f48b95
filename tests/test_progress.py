"""Notices for long work: shown on standard error only when the work is slow."""
import time

from netspec.progress import notice_if_slow


def test_slow_work_prints_its_notice_on_stderr_and_quick_work_prints_nothing(capsys):
    with notice_if_slow("compiling slowly...", after=0.01):
        time.sleep(0.3)
    slow = capsys.readouterr()
    with notice_if_slow("compiling quickly...", after=5.0):
        pass
    time.sleep(0.05)
    quick = capsys.readouterr()
    assert (slow.out, slow.err) == ("", "compiling slowly...\n")
    assert (quick.out, quick.err) == ("", "")
