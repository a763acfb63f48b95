"""Progress bars for long work (training epochs, runs over datasets), drawn by tqdm
when it is installed (the `train` and `scale` extras bring it) on standard error, so
standard output keeps only results. A bar appears only once the work has taken a
second, so short runs print nothing extra; without tqdm the work runs the same, unbarred."""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager


class _Unbarred:
    """Stands in for a bar when tqdm is absent or the bar is turned off."""

    def update(self, count: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress_bar(total: int, description: str, unit: str = "images", enabled: bool = True):
    """A bar counting `total` units of work (`update(n)` as they finish) with the rate
    (units/s) and the time left; a context manager, removed when it closes."""
    if not enabled:
        return _Unbarred()
    try:
        from tqdm import tqdm
    except ImportError:
        return _Unbarred()
    return tqdm(total=total, desc=description, unit=f" {unit}", unit_scale=True, delay=1.0, leave=False,
                file=sys.stderr, dynamic_ncols=True)


# The timer thread of `notice_if_slow`: it only waits, then prints, so the compiler may
# still fork while it runs (see jit._in_processes).
NOTICE_THREAD = "netspec-notice"


@contextmanager
def notice_if_slow(message: str, after: float = 1.0):
    """Print `message` on standard error if the block is still running `after` seconds
    in (work without a count to show, such as compiling a network)."""
    timer = threading.Timer(after, lambda: print(message, file=sys.stderr, flush=True))
    timer.name, timer.daemon = NOTICE_THREAD, True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
