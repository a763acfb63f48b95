"""The exceptions netspec raises for things a user got wrong (never for its own bugs)."""
from __future__ import annotations

from .diagnostics import Diagnostic, render_text


class SpecError(ValueError):
    """An invalid `.net` spec; carries the diagnostics."""

    def __init__(self, diagnostics: tuple[Diagnostic, ...]):
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(render_text(d) for d in self.diagnostics if d.is_error))


class DataError(ValueError):
    """A weight file, input array or run setting that does not fit the network."""


class TrainingError(RuntimeError):
    """Training that cannot go on (a loss or gradient that is no longer finite)."""
