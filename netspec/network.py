"""The public face of a spec: text -> parse -> build -> check, in one call.

`check_source` returns diagnostics as values (for the command line);
`load`/`loads` raise `SpecError` so Python users cannot miss a broken spec.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

from .allow import deny, silence, warning_codes
from .check import ShapedGraph, check
from .diagnostics import Diagnostic, error, has_errors
from .errors import DataError, SpecError
from .frontend.build import build
from .frontend.parse import parse
from .frontend.source import Source, read_source
from .portability import portability_notes
from .preprocessing import Preprocessing
from .table import layer_table


@dataclass(frozen=True)
class CheckResult:
    source: Source
    graph: ShapedGraph | None  # None when the spec did not get as far as shapes
    diagnostics: tuple[Diagnostic, ...]
    weights: Mapping | None = None  # the weights that came with the spec: an imported model's

    @property
    def ok(self) -> bool:
        return self.graph is not None and not has_errors(self.diagnostics)


def unreadable(path: str, problem: OSError) -> Diagnostic:
    """The error for a spec file that cannot be opened (it has no line to point at)."""
    return error("E0401", f"cannot read {path}: {problem.strerror or problem}", None)


def _check(source: Source) -> CheckResult:
    program, syntax = parse(source)
    if program is None:
        return CheckResult(source, None, syntax)
    graph, problems = build(program, source)
    if graph is None:
        return CheckResult(source, None, problems)
    shaped = check(graph)
    ordered = _in_order(problems + shaped.diagnostics)
    return CheckResult(source, replace(shaped, diagnostics=ordered), ordered)


def _in_order(diagnostics) -> tuple[Diagnostic, ...]:
    """By where they point in the spec, so the first cause comes first."""
    return tuple(sorted(diagnostics, key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0)))


def check_source(source: Source, allow=(), deny_warnings: bool = False, portable: bool = False) -> CheckResult:
    """Parse, build and check a spec. With `portable`, notes (W0302) where another
    framework's conventions would give other shapes are added. Warnings whose code is in
    `allow`, or that an `# allow CODE` comment silences, are dropped; with `deny_warnings`
    the rest become errors. Raises ValueError when `allow` names something other than
    warnings' codes."""
    allowed = warning_codes(allow)
    result = _check(source)
    found = result.diagnostics
    if portable and result.ok and not result.graph.symbolic:
        found = _in_order(found + portability_notes(result.graph))
    diagnostics = silence(found, source, allowed)
    if deny_warnings:
        diagnostics = deny(diagnostics)
    graph = replace(result.graph, diagnostics=diagnostics) if result.graph else None
    return CheckResult(source, graph, diagnostics)


def is_onnx(path: str) -> bool:
    """Whether a file is read as an ONNX model rather than a spec: by its extension."""
    return str(path).lower().endswith(".onnx")


def check_onnx(path: str, allow=(), deny_warnings: bool = False, portable: bool = False) -> CheckResult:
    """Import the ONNX model in a file (in memory) and check the spec it gives, as
    `check_source` does; the result carries the model's weights. A model netspec
    cannot import, or a missing onnx package, is one error (E0408)."""
    try:
        from .interop.onnx_import import import_onnx
    except ModuleNotFoundError as missing:
        return CheckResult(Source(path, ""), None, (error("E0408", str(missing), None),))
    try:
        imported = import_onnx(path)
    except OSError as exc:
        return CheckResult(Source(path, ""), None, (unreadable(path, exc),))
    except DataError as problem:
        return CheckResult(Source(path, ""), None, (error("E0408", str(problem), None),))
    result = check_source(Source(path, imported.spec), allow, deny_warnings, portable)
    return replace(result, weights=imported.weights)


class Network:
    """A valid spec, checked: ready to summarise or compile. `graph` is its shaped graph;
    `weights` the weights that came with it (an imported ONNX model's), or None."""

    def __init__(self, graph: ShapedGraph, weights: Mapping | None = None):
        self.graph = graph
        self.weights = weights

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def input_shape(self):
        return self.graph.input_shape

    @property
    def output_shape(self):
        return self.graph.output_shape

    @property
    def preprocessing(self) -> Preprocessing:
        """What an image goes through to become an input example: the spec's `preprocess`
        line, or the defaults (resized bilinearly to the input's size, scaled to [0, 1])."""
        return self.graph.preprocessing or Preprocessing()

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.graph.diagnostics if not d.is_error)

    def summary(self) -> str:
        return layer_table(self.graph)

    def compile(self, weights=None, seed: int = 0, threads: int | None = None, bounds_check: bool = False,
                max_memory: int | None = None, tuned: bool = False):
        """Compile to native code. `weights` is a weight file's path (.npz, .safetensors,
        .pt, .pth), a mapping of arrays, or None for the network's own weights (an imported
        model's) or else seeded initialisation; keys that are not netspec's are bound by
        order and shape; `threads` defaults to every available core; `bounds_check` builds a
        slower test version that counts out-of-bounds accesses; `max_memory` (bytes, default
        half the RAM) bounds what one example may need; `tuned` gives each convolution the
        schedule and register tile timed fastest on this host (timed once per layer shape and stored in
        the compile cache's directory; docs/performance.md)."""
        from .backends.llvm.runtime import compile_network

        weights = self.weights if weights is None else weights
        return compile_network(self.graph, weights=weights, seed=seed, threads=threads,
                               bounds_check=bounds_check, max_memory=max_memory, tuned=tuned)

    def trainer(self, weights=None, seed: int = 0, threads: int = 1, loss: str = "cross-entropy"):
        """The training step compiled to native code, starting from `weights` (as for
        `compile`): `loss_and_gradients(x, targets)` of a batch. Raises DataError naming
        the kinds of layer that cannot be trained yet."""
        from .backends.llvm.training import compile_training

        return compile_training(self.graph, self._initial(weights, seed), seed, threads=threads, loss=loss)

    def _initial(self, weights, seed: int) -> dict:
        from .interop.binding import resolve

        arrays, _ = resolve(self.graph, self.weights if weights is None else weights, seed)
        return arrays

    def train(self, data, epochs: int = 10, batch: int = 16, optimizer: str = "adam", lr: float | None = None,
              momentum: float | None = None, weight_decay: float | None = None, schedule: str = "constant",
              step_size: int = 10, gamma: float = 0.1, loss: str = "cross-entropy", validation=None,
              val_split: float = 0.2, weights=None, seed: int = 0, threads: int = 1, progress: bool = True):
        """Train, as `netspec train` does, and return the `History`: each epoch's report
        and the trained `weights`. `data` and `validation` are "digits", an .npz path, an
        image folder ROOT/CLASS/ or a pair of arrays (x, y); the other arguments are the
        command's options. Raises DataError for data or settings that do not fit and
        TrainingError when the loss stops being finite."""
        from .train.loop import fit
        from .train.optimizers import choose_optimizer
        from .train.schedules import choose_schedule

        settings = choose_optimizer(optimizer, lr, momentum, weight_decay)
        rates = choose_schedule(schedule, epochs, step_size, gamma)
        return fit(self.graph, self._initial(weights, seed), data, settings, epochs, batch, seed, rates, loss=loss,
                   validation=validation, share=val_split, threads=threads, progress=progress)


def _network(result: CheckResult) -> Network:
    if not result.ok:
        raise SpecError(tuple(d for d in result.diagnostics if d.is_error))
    return Network(result.graph, result.weights)


def load(path: str, allow=(), deny_warnings: bool = False) -> Network:
    """Read, check and return the network in a `.net` file; raises SpecError if it is invalid.
    `allow` and `deny_warnings` control warnings as in `check_source`."""
    try:
        source = read_source(str(path))
    except OSError as exc:
        raise SpecError((unreadable(path, exc),)) from None
    return _network(check_source(source, allow, deny_warnings))


def loads(text: str, path: str = "<string>", allow=(), deny_warnings: bool = False) -> Network:
    """Check a spec given as text; `path` is the name diagnostics report it under. A leading
    byte-order mark is ignored, as in files."""
    return _network(check_source(Source(path, text.removeprefix("\ufeff")), allow, deny_warnings))


def load_onnx(path: str, allow=(), deny_warnings: bool = False) -> Network:
    """Import, check and return the network of an ONNX model, with its weights (compile
    uses them); raises SpecError (E0408) when netspec cannot import it. `allow` and
    `deny_warnings` control warnings as in `check_source`."""
    return _network(check_onnx(str(path), allow, deny_warnings))
