"""A spec file as stored, for rewriting it: its text, and how to write a new text back
the way the file was written (line breaks, byte-order mark), atomically."""
from __future__ import annotations

import codecs
import errno
import os
import re
import tempfile
from dataclasses import dataclass, field

from .frontend.source import Source, decode, read_bytes


@dataclass(frozen=True)
class SpecFile:
    source: Source  # the text as the checker reads it
    data: bytes = field(repr=False)  # the bytes as read

    @property
    def crlf(self) -> bool:
        """Whether every line ends with "\\r\\n" (a file written on Windows)."""
        return b"\r\n" in self.data and self.data.count(b"\n") == self.data.count(b"\r\n")

    def encode(self, text: str) -> bytes:
        """`text` as this file would store it: lines added by a fix end like the others."""
        if self.crlf:
            text = re.sub(r"(?<!\r)\n", "\r\n", text)
        return (codecs.BOM_UTF8 if self.data.startswith(codecs.BOM_UTF8) else b"") + text.encode("utf-8")

    def write(self, text: str) -> None:
        """Replace the file's contents with `text`: written to a temporary file in the same
        folder, then renamed over the file, so a reader sees the old text or the new, never
        half of one. Raises OSError, or UnicodeError for a file that was not UTF-8 text
        (writing would replace the bytes that could not be read)."""
        if self.encode(self.source.text) != self.data:
            raise UnicodeError(f"{self.source.path} is not UTF-8 text; rewriting it would replace the bytes "
                               "netspec cannot read")
        target = os.path.realpath(self.source.path)  # through a symbolic link, not over it
        if not os.access(target, os.W_OK):
            raise PermissionError(errno.EACCES, "the file is read-only", self.source.path)
        mode = os.stat(target).st_mode & 0o7777
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".netspec-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(self.encode(text))
                stream.flush()
                os.fsync(stream.fileno())  # the new text is on disk before the name points at it
            os.chmod(temporary, mode)
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise


def read_spec_file(path: str) -> SpecFile:
    """Read a spec file to rewrite it; raises OSError."""
    data = read_bytes(path)
    return SpecFile(Source(str(path), decode(data)), data)
