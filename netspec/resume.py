"""The progress record of a run writing a `.npy` output (`OUTPUT.progress`, next to it):
what the output is the output of, and the chunks already written and verified with their
SHA-256, so that `netspec run --resume` skips them. Written atomically after every chunk."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

from .errors import DataError

SUFFIX = ".progress"


@dataclass(frozen=True)
class Progress:
    run: dict  # what the output is of: the model's digest, the input file, the chunk size, the shapes
    done: dict[int, str] = field(default_factory=dict)  # chunk index -> SHA-256 of its output bytes

    def with_chunk(self, index: int, digest: str) -> Progress:
        return Progress(self.run, {**self.done, index: digest})


def checksum(data) -> str:
    return hashlib.sha256(memoryview(data).cast("B")).hexdigest()


def progress_path(output: str) -> str:
    return output + SUFFIX


def read_progress(output: str) -> Progress | None:
    """The record of an earlier run into `output`; None when there is none."""
    path = progress_path(output)
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
        if not isinstance(record["run"], dict):
            raise TypeError("its run is not a record of settings")
        return Progress(record["run"], {int(index): str(digest) for index, digest in record["done"].items()})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as problem:
        raise DataError(f"{path} is not a progress record netspec wrote ({problem}); delete it and run "
                        "without --resume") from None


def write_progress(output: str, progress: Progress) -> None:
    """Replaces the record in one step (a temporary file renamed over it), so a run killed at
    any moment leaves the old record or the new one, never half of one. Neither the record
    nor the output is synced to disk (a sync per chunk cost a tenth of LeNet-5's throughput):
    after a power cut, a recorded chunk whose bytes did not reach the disk fails its checksum
    and runs again, and a record that did not is refused with a message."""
    path = progress_path(output)
    temporary = f"{path}.{os.getpid()}.tmp"
    text = json.dumps({"run": progress.run, "done": {str(i): d for i, d in sorted(progress.done.items())}})
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None


def remove_progress(output: str) -> None:
    try:
        os.remove(progress_path(output))
    except FileNotFoundError:
        pass
