"""The `netspec` command: parses options, calls the library, formats the results.

Exit codes: 0 success, 1 invalid spec or data, 2 usage error. Results go to
stdout, diagnostics to stderr.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import click
import numpy as np

from . import __version__
from .allow import warning_codes
from .codes import CODES
from .diagnostics import Diagnostic, has_errors, render_text
from .errors import DataError, TrainingError
from .explanations import explain as explanation
from .fixer import fix_source
from .inputs import is_array, load_inputs, random_inputs
from .network import CheckResult, Network, check_onnx, check_source, is_onnx, unreadable
from .predictions import Predictions, describe, predict, read_labels, require_output_format, write
from .predictions import record as predictions_record
from .progress import notice_if_slow
from .preprocessing import CROPS, RESIZE_FILTERS, with_options
from . import resize
from .report import check_record
from .frontend.source import Source, read_source
from .specfile import read_spec_file
from .table import layer_table
from .train.data import LOSSES
from .train.optimizers import OPTIMIZERS, choose_optimizer
from .train.schedules import SCHEDULES, choose_schedule


def _read(path: str, allow=(), deny_warnings: bool = False, portable: bool = False) -> CheckResult:
    if is_onnx(path):
        return check_onnx(path, allow, deny_warnings, portable)
    try:
        source = read_source(path)
    except OSError as exc:
        return CheckResult(Source(path, ""), None, (unreadable(path, exc),))
    return check_source(source, allow, deny_warnings, portable)


def _echo_diagnostics(diagnostics) -> None:
    for diagnostic in diagnostics:
        click.echo(render_text(diagnostic), err=True)


def _echo_explain_hint(diagnostics: list[Diagnostic]) -> None:
    """One closing line, as rustc has, when errors were shown."""
    first = next((d for d in diagnostics if d.is_error), None)
    if first is not None:
        click.echo(f"for more about an error, try `netspec explain {first.code}`", err=True)


def _allowed_codes(ctx, param, codes):
    try:
        return warning_codes(codes)
    except ValueError as problem:
        raise click.BadParameter(str(problem)) from None


def _warning_options(command):
    """--allow CODE and --deny-warnings, for the commands that check a spec."""
    command = click.option("--deny-warnings", is_flag=True,
                           help="Treat warnings as errors (exit 1), e.g. in CI.")(command)
    return click.option("--allow", multiple=True, metavar="CODE", callback=_allowed_codes,
                        help="Do not report warnings with this code (repeatable), e.g. --allow W0301.")(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="netspec")
def main():
    """netspec: check and compile convolutional networks written as .net files.

    \b
    Example:
      netspec check examples/lenet5.net
      netspec run examples/lenet5.net
      netspec import model.onnx -o model.net
    """


@main.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--json", "as_json", is_flag=True, help="Print the result (or the errors) as JSON on stdout.")
@click.option("--collapse", is_flag=True, help="One table row per block call instead of its layers.")
@click.option("--sizes", "nearby_sizes", is_flag=True,
              help="Also say which input sizes near the spec's are valid and read every row.")
@click.option("--portable", is_flag=True,
              help="Also note (W0302) layers that Caffe or ONNX conventions would compute differently.")
@_warning_options
def check(files, as_json, collapse, nearby_sizes, portable, allow, deny_warnings):
    """Infer every layer's shape and report parameters and MACs.

    Prints a table per network and exits 0; prints diagnostics to stderr and
    exits 1 when a spec is invalid. A FILE ending in .onnx is an ONNX model,
    imported in memory.

    \b
    Example:
      netspec check examples/lenet5.net
      netspec check examples/lenet5.net --json
      netspec check examples/resnet18.net --collapse
      netspec check examples/warnings/stride_skips_rows.net --deny-warnings
      netspec check examples/lenet5.net --sizes --portable
    """
    results = [_read(path, allow, deny_warnings, portable) for path in files]
    nearby = {r.source.path: resize.nearby(r.source) if nearby_sizes and r.ok else None for r in results}
    if as_json:
        records = [{**check_record(r), **({"nearby": _nearby_record(nearby[r.source.path])}
                                          if nearby[r.source.path] else {})} for r in results]
        click.echo(json.dumps(records[0] if len(records) == 1 else records, indent=2))
    for result in results:
        if not as_json:
            _echo_diagnostics(result.diagnostics)
            if result.ok:
                click.echo(layer_table(result.graph, collapse))
                if nearby[result.source.path]:
                    click.echo(resize.describe(nearby[result.source.path], result.graph.input_shape[0]))
            elif result.graph is not None:
                click.echo(layer_table(result.graph, collapse), err=True)
    if not as_json:
        _echo_explain_hint([d for r in results for d in r.diagnostics])
    sys.exit(0 if all(r.ok for r in results) else 1)


def _nearby_record(found) -> dict:
    return {"valid": [list(v) if isinstance(v, tuple) else v for v in found.valid],
            "reads_every_row": [list(v) if isinstance(v, tuple) else v for v in found.reads_every_row],
            "square": found.square}


def _fix_one(path: str, show_diff: bool, allow, deny_warnings: bool) -> tuple[Diagnostic, ...] | None:
    """Fix one file, or print the diff fixing it would make; returns the diagnostics left
    (shown on stderr), or None when the file could not be written."""
    if is_onnx(path):
        click.echo(f"error: {path} is an ONNX model; `netspec import` it to a spec, then fix the spec", err=True)
        return None
    try:
        spec = read_spec_file(path)
    except OSError as exc:
        problem = unreadable(path, exc)
        click.echo(render_text(problem), err=True)
        return (problem,)
    fixed = fix_source(spec.source, allow, deny_warnings)
    if show_diff:
        click.echo(fixed.diff(), nl=False)
    elif fixed.changed:
        try:
            spec.write(fixed.text)
        except OSError as exc:
            click.echo(f"error: cannot write {path}: {exc.strerror or exc}", err=True)
            return None
        except UnicodeError as exc:
            click.echo(f"error: {exc}", err=True)
            return None
        for applied in fixed.applied:
            click.echo(str(applied), err=True)
    if not fixed.applied:
        click.echo(f"{path}: nothing to fix", err=True)
    _echo_diagnostics(fixed.remaining)
    return fixed.remaining


@main.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--diff", "show_diff", is_flag=True, help="Print the changes as a unified diff instead of writing them.")
@_warning_options
def fix(files, show_diff, allow, deny_warnings):
    """Apply the fixes netspec suggests, then check again.

    Applies each problem's preferred fix, again until nothing more can be fixed
    (a fix may reveal a problem further on), and rewrites FILE in place,
    comments and formatting kept. Prints each fix applied and the problems left
    on stderr; exits 0 when the result is valid.

    \b
    Example:
      netspec fix examples/errors/kernel_too_large.net --diff
      netspec fix my.net
    """
    left = [_fix_one(path, show_diff, allow, deny_warnings) for path in files]
    _echo_explain_hint([d for diagnostics in left if diagnostics for d in diagnostics])
    sys.exit(0 if all(diagnostics is not None and not has_errors(diagnostics) for diagnostics in left) else 1)


@main.command()
@click.argument("code", required=False)
def explain(code):
    """Explain a diagnostic code, with an example and its correction.

    CODE is written as in the messages, in any letter case (E0301, e0301).
    Without CODE, lists every code.

    \b
    Example:
      netspec explain E0301
      netspec explain
    """
    if code is None:
        for known, title in CODES.items():
            click.echo(f"{known}  {title}")
        return
    try:
        click.echo(explanation(code), nl=False)
    except ValueError as problem:
        _fail(str(problem))


def _map_needs_weights(ctx, param, map_path):
    if map_path is not None and ctx.params.get("weights_path") is None:
        raise click.UsageError("--map binds the keys of a --weights file; give --weights too")
    return map_path


def _weights_options(command):
    """--weights FILE and --map FILE, for the commands that take trained weights."""
    command = click.option("--map", "map_path", metavar="MAP", callback=_map_needs_weights,
                           help="Bind these keys of the weight file first: one `FILE_KEY NETSPEC_KEY` per line.")(command)
    # Eager, so that --map's check sees it wherever it was written on the command line.
    return click.option("--weights", "weights_path", metavar="W", is_eager=True,
                        help="Trained weights: .npz, .safetensors or a PyTorch .pt/.pth. Keys that are not "
                             "netspec's are bound by order and shape.")(command)


class ByteSize(click.ParamType):
    """A memory size: bytes, or a number with K, M, G or T (powers of 1024)."""

    name = "SIZE"
    _UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B").removesuffix("I")
        number, unit = (text[:-1], text[-1]) if text and text[-1] in self._UNITS else (text, "")
        try:
            size = float(number) * self._UNITS[unit]
        except ValueError:
            self.fail(f"{value!r} is not a size such as 512M or 4G", param, ctx)
        if not 0 < size < 2**62:
            self.fail(f"{value!r} must be a positive size", param, ctx)
        return int(size)


def _fail(message: str, as_json: bool = False) -> None:
    if as_json:
        click.echo(json.dumps({"errors": [{"file": None, "line": None, "column": None, "message": message}],
                               "warnings": []}, indent=2))
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _network(path: str, as_json: bool = False, allow=(), deny_warnings: bool = False) -> Network:
    """A valid network, or its diagnostics (on stderr, or as JSON on stdout) and exit 1."""
    result = _read(path, allow, deny_warnings)
    if as_json and not result.ok:
        click.echo(json.dumps(check_record(result), indent=2))
        sys.exit(1)
    if not as_json:
        _echo_diagnostics(result.diagnostics)
    if not result.ok:
        if result.graph is not None:
            click.echo(layer_table(result.graph), err=True)
        _echo_explain_hint(list(result.diagnostics))
        sys.exit(1)
    return Network(result.graph, result.weights)


def _run_record(model, found: Predictions, times: tuple[float, float], notes, unread, output_path, top) -> dict:
    """`times`: seconds the network took, and in all (with reading the images)."""
    graph = model.graph
    seconds, total = times
    return {
        "network": graph.name, "input": list(graph.input_shape), "output_shape": list(found.outputs.shape),
        "params": graph.params, "macs": graph.macs, "untrained": model.untrained,
        "from_cache": model.from_cache, "compile_ms": model.compile_seconds * 1e3, "run_ms": seconds * 1e3,
        "total_ms": total * 1e3,
        **predictions_record(found, top), "notes": notes, "output_file": output_path,
        "errors": [{"file": u.path, "line": None, "column": None, "message": u.problem} for u in unread],
    }


def _report(model, output: np.ndarray, seconds: float, total: float) -> None:
    """`seconds`: the network's time; `total`: with reading the images, when there were any."""
    batch = output.shape[0]
    how = "loaded from cache" if model.from_cache else "compiled"
    reading = f"; reading the images took {(total - seconds) * 1e3:.1f} ms" if total > seconds else ""
    click.echo(f"{how} in {model.compile_seconds * 1e3:.1f} ms; ran {batch} example{'s' * (batch != 1)} "
               f"in {seconds * 1e3:.3f} ms ({batch / seconds:,.0f} images/s){reading}")
    click.echo(f"output: {'x'.join(map(str, output.shape))}")


def _output_format(ctx, param, path):
    """Refused before anything runs: a name that says no format would only fail at the end."""
    try:
        if path:
            require_output_format(path)
    except DataError as problem:
        raise click.BadParameter(str(problem)) from None
    return path


def _preprocessing_options(command):
    """--resize, --crop, --invert, --mean and --std: in place of the spec's `preprocess` line."""
    options = [
        click.option("--resize", type=click.Choice(RESIZE_FILTERS), help="Resampling filter for resizing images."),
        click.option("--crop", type=click.Choice(CROPS),
                     help="none: stretch images to the input's size; center: keep the aspect ratio, cut the middle."),
        click.option("--invert/--no-invert", default=None, help="Invert images (x -> 1 - x), e.g. dark digits on white."),
        click.option("--mean", metavar="M|M1,M2,M3", help="Subtract from every channel, or from each (after scaling to [0, 1])."),
        click.option("--std", metavar="S|S1,S2,S3", help="Then divide every channel, or each, by this."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _dask_address(ctx, param, address):
    from .distributed import local_workers

    if address is not None and local_workers(address) == 0:
        raise click.BadParameter("local:N needs at least one worker")
    return address


@main.command()
@click.argument("file")
@click.option("--input", "input_paths", multiple=True, metavar="PATH",
              help="A .npy batch NxCxHxW (or one CxHxW example), or PNG, JPEG, BMP and GIF images and folders of "
                   "them (ROOT/CLASS/*.png: accuracy by class); repeatable for images.")
@click.option("--labels", "labels_path", metavar="FILE", help="Class names, one a line.")
@_weights_options
@click.option("--output", "output_path", metavar="Y.npy|.csv|.json", callback=_output_format,
              help="Write the outputs here: an array (.npy), a row per example with its path (.csv), or .json.")
@click.option("--batch", type=click.IntRange(min=1), help="Size of the random input batch (default 1).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed for untrained weights and the random input.")
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True, help="Classes shown per example.")
@click.option("--threads", type=click.IntRange(min=1), help="Threads to split the batch across (default: all cores).")
@click.option("--max-memory", type=ByteSize(), help="Refuse runs needing more memory (default: half the RAM).")
@click.option("--tuned", is_flag=True,
              help="Give each convolution the schedule and register tile timed fastest on this CPU (timed once per "
                   "layer shape, then stored; see `netspec tune`).")
@click.option("--json", "as_json", is_flag=True, help="Print the report (or the errors) as JSON on stdout.")
@click.option("--verify", is_flag=True,
              help="Also run the network in ONNX Runtime and compare every layer's output, stopping at the first "
                   "that differs (exit 1).")
@click.option("--tolerance", type=click.FloatRange(min=0), metavar="T",
              help="With --verify: the largest difference allowed, relative to a layer's largest value "
                   "(default 1e-4).")
@click.option("--resume", is_flag=True,
              help="Continue a run of --input X.npy into --output Y.npy that was stopped: the chunks it wrote and "
                   "verified are kept.")
@click.option("--dask", "dask_address", metavar="ADDRESS|local:N", callback=_dask_address,
              help="Run the chunks of --input X.npy on the Dask cluster whose scheduler is at ADDRESS "
                   "(tcp://HOST:8786), or on N worker processes started here (local:N); needs netspec[scale].")
@_preprocessing_options
@_warning_options
def run(file, input_paths, labels_path, weights_path, map_path, output_path, batch, seed, top, threads, max_memory,
        tuned, as_json, verify, tolerance, resume, dask_address, allow, deny_warnings, **preprocess):
    """Compile FILE to native code and run it.

    Without --weights the weights are initialised from --seed (PyTorch's default
    bounds), so outputs come from an untrained network; an ONNX model (a FILE
    ending in .onnx) runs with its own weights. Without --input a deterministic
    random batch (uniform in [0, 1)) of --batch examples is used.
    Images are converted to the input's channels, resized and normalised as the
    spec's `preprocess` line says; --resize, --crop, --invert, --mean and --std
    override it. Images that cannot be read are listed at the end (exit 1); the
    others still run.
    A weight file whose keys are not netspec's is bound by order and shape, and
    the binding is shown. --verify compares every layer with ONNX Runtime.
    An array input with an array output (--input X.npy --output Y.npy) streams:
    X is memory-mapped and run in chunks that fit --max-memory, each written to Y
    as it finishes, so a stopped run continues with --resume and a cluster can run
    the chunks (--dask).

    \b
    Example:
      netspec run examples/lenet5.net
      netspec run examples/lenet5.net --input examples/digits/3.png
      netspec run examples/lenet5.net --input digits/ --labels names.txt --output y.csv
      netspec run examples/lenet5.net --input x.npy --weights w.npz --output y.npy
      netspec run examples/lenet5.net --input big.npy --output y.npy --max-memory 256M --resume
      netspec run examples/lenet5.net --input big.npy --output y.npy --dask local:2
      netspec run examples/lenet5.net --weights lenet5.pt --verify
      netspec run model.onnx --input x.npy
    """
    if input_paths and batch:
        raise click.UsageError("--batch sets the size of the random input; it cannot be combined with --input")
    if tolerance is not None and not verify:
        raise click.UsageError("--tolerance is the tolerance of --verify; give --verify too")
    given = [name for name, value in preprocess.items() if value is not None]
    if given and (not input_paths or is_array(input_paths)):
        raise click.UsageError(f"--{given[0]} preprocesses images; arrays and the random input are used as they are")
    streams = is_array(input_paths) and (output_path or "").lower().endswith(".npy") and not verify
    if (resume or dask_address) and not streams:
        raise click.UsageError("--resume and --dask stream an array into an array: give --input X.npy and "
                               "--output Y.npy (without --verify)")
    from .backends.llvm.memory import default_limit, require_memory
    from .backends.llvm.runtime import as_batch, available_cores
    from .decoding import run_images
    from .stream import chunk_examples

    network = _network(file, as_json, allow, deny_warnings)
    if streams:
        _run_streaming(network, input_paths[0], output_path, _Weights(weights_path, map_path, seed),
                       threads, max_memory or default_limit(), resume, dask_address, as_json, tuned)
    try:
        preprocessing = with_options(network.preprocessing, network.input_shape, preprocess)
    except ValueError as problem:
        raise click.UsageError(str(problem)) from None
    limit = max_memory or default_limit()
    threads = threads or available_cores()
    try:
        network.graph.require_numbers()
        labels = read_labels(labels_path, network.graph) if labels_path else None
        if input_paths and not is_array(input_paths) and not verify:
            model = _compiled(network, _bound_weights(network, weights_path, map_path), seed, threads, limit, tuned)
            inputs, output, total, seconds = run_images(model, input_paths, preprocessing,
                                                        chunk_examples(network.graph, threads, limit),
                                                        available_cores())
            converted = []
        else:
            if input_paths:
                inputs = load_inputs(input_paths, network.input_shape, preprocessing,
                                     require=lambda count: require_memory(network.graph, count, threads, limit))
            else:
                require_memory(network.graph, batch or 1, threads, limit)
                inputs = random_inputs(network.input_shape, batch or 1, seed)
            weights = _bound_weights(network, weights_path, map_path)
            model = _compiled(network, weights, seed, threads, limit, tuned)
            batch, converted = as_batch(network.graph, inputs.array)
            model.run(batch[:1])  # the first call sets up the workspace: not timed
            started = time.perf_counter()
            output, _ = model.run(batch)
            seconds = total = time.perf_counter() - started
        found = predict(output, network.graph, inputs.names, inputs.folders, labels)
        if output_path:
            write(output_path, found)
        verification = _verify(network, batch, weights, seed, tolerance, threads, limit, as_json) if verify else None
    except DataError as problem:
        _fail(str(problem), as_json)
    notes = [*inputs.notes, *converted, *found.notes]
    if as_json:
        record = _run_record(model, found, (seconds, total), notes, inputs.unread, output_path, top)
        click.echo(json.dumps({**record, **({"verify": _verify_record(verification)} if verify else {})}, indent=2))
        sys.exit(1 if inputs.unread or verification and verification.diverged else 0)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"network {network.name}: input {'x'.join(map(str, network.input_shape))}, "
               f"{network.graph.params:,} parameters, {network.graph.macs:,} MACs per example")
    if model.untrained:
        click.echo(f"note: untrained weights (initialised from seed {seed}); the outputs are not predictions")
    _report(model, output, seconds, total)
    report = describe(found, top)
    if report:
        click.echo(report)
    if output_path:
        click.echo(f"wrote {output_path}")
    for problem in inputs.unread:
        click.echo(f"error: {problem}", err=True)
    if verification:
        _show_verification(verification)
    sys.exit(1 if inputs.unread else 0)


@dataclasses.dataclass(frozen=True)
class _Weights:
    path: str | None
    map_path: str | None
    seed: int


def _compiled(network, weights, seed: int, threads: int, limit: int, tuned: bool = False):
    """The network compiled for `run`, saying so on standard error once that takes a second."""
    doing = "tuning and compiling" if tuned else "compiling"
    with notice_if_slow(f"{doing} {network.graph.name} ({len(network.graph.layers)} layers) for this CPU..."):
        return network.compile(weights=weights, seed=seed, threads=threads, max_memory=limit, tuned=tuned)


def _run_streaming(network: Network, input_path: str, output_path: str, weights: _Weights, threads, limit: int,
                   resume: bool, dask_address: str | None, as_json: bool, tuned: bool) -> None:
    """`run --input X.npy --output Y.npy`: chunk by chunk (stream.py), here or on Dask; exits."""
    from .backends.llvm.runtime import available_cores
    from .stream import ArrayInput, LocalRunner, chunk_examples, stream

    # On Dask a chunk runs on one thread unless told: the cluster runs a chunk per worker thread.
    threads = threads or (1 if dask_address else available_cores())
    try:
        network.graph.require_numbers()
        source = ArrayInput(input_path, network.graph)
        model = _compiled(network, _bound_weights(network, weights.path, weights.map_path), weights.seed, threads,
                          limit, tuned)
        if dask_address is None:
            streamed = stream(source, output_path, LocalRunner(model), model,
                              chunk_examples(network.graph, threads, limit), resume)
            workers = None
        else:
            from .distributed import DaskRunner, dask_client, worker_threads

            with dask_client(dask_address) as client:
                runner = DaskRunner(client, model)
                workers = worker_threads(client)
                streamed = stream(source, output_path, runner, model,
                                  chunk_examples(network.graph, threads, limit, runner.copies), resume)
    except DataError as problem:
        _fail(str(problem), as_json)
    except KeyboardInterrupt:
        _fail(f"interrupted; {output_path}.progress records the chunks written: continue with --resume", as_json)
    record = _streamed_record(model, streamed, source.notes, output_path, dask_address, workers)
    if as_json:
        click.echo(json.dumps(record, indent=2))
    else:
        _show_streamed(network, model, streamed, record, weights.seed)
    sys.exit(0)


def _show_streamed(network: Network, model, streamed, record: dict, seed: int) -> None:
    for note in record["notes"]:
        click.echo(f"note: {note}", err=True)
    click.echo(f"network {network.name}: input {'x'.join(map(str, network.input_shape))}, "
               f"{network.graph.params:,} parameters, {network.graph.macs:,} MACs per example")
    if model.untrained:
        click.echo(f"note: untrained weights (initialised from seed {seed}); the outputs are not predictions")
    how = "loaded from cache" if model.from_cache else "compiled"
    workers = record["dask"] and record["dask"]["worker_threads"]
    where = f" on {workers} Dask worker thread{'s' * (workers != 1)}" if workers else ""
    click.echo(f"{how} in {record['compile_ms']:.1f} ms; ran {streamed.ran:,} examples in "
               f"{streamed.seconds:.3f} s ({record['images_per_second']:,.0f} images/s){where}, "
               f"in {streamed.chunks} chunk{'s' * (streamed.chunks != 1)} of up to {streamed.chunk_examples:,}")
    if streamed.resumed:
        click.echo(f"resumed: kept {streamed.resumed} chunk{'s' * (streamed.resumed != 1)} already written and verified")
    if streamed.redone:
        click.echo(f"note: ran again {len(streamed.redone)} recorded chunk(s) whose output no longer matched "
                   "its checksum", err=True)
    click.echo(f"wrote {record['output_file']}")


def _streamed_record(model, streamed, notes, output_path: str, dask_address, workers) -> dict:
    graph = model.graph
    return {
        "network": graph.name, "input": list(graph.input_shape), "output_shape": [streamed.examples,
                                                                                  *graph.output_shape],
        "params": graph.params, "macs": graph.macs, "untrained": model.untrained, "from_cache": model.from_cache,
        "compile_ms": model.compile_seconds * 1e3, "examples": streamed.examples, "chunks": streamed.chunks,
        "chunk_examples": streamed.chunk_examples, "resumed_chunks": streamed.resumed,
        "redone_chunks": list(streamed.redone), "run_ms": streamed.seconds * 1e3,
        "images_per_second": streamed.ran / streamed.seconds if streamed.seconds else 0.0,
        "dask": {"scheduler": dask_address, "worker_threads": workers} if dask_address else None,
        "notes": list(notes), "output_file": output_path, "errors": [],
    }


def _bound_weights(network: Network, weights_path: str | None, map_path: str | None):
    """The weights in the file, keyed as the network's (the binding on stderr when the
    file's keys were not); without a file, the network's own (an imported model's), or
    None for seeded weights."""
    if weights_path is None:
        return network.weights
    from .interop.binding import bind_file, binding_table

    binding = bind_file(network.graph, weights_path, map_path)
    if binding.renamed:
        click.echo(binding_table(binding), err=True)
    return binding.arrays


def _verify(network: Network, batch, weights, seed: int, tolerance, threads: int, limit: int, as_json: bool):
    try:
        from .verify import DEFAULT_TOLERANCE, verify
    except ModuleNotFoundError as missing:
        _fail(str(missing), as_json)
    return verify(network.graph, batch, weights, seed, DEFAULT_TOLERANCE if tolerance is None else tolerance,
                  threads, limit)


def _verify_record(verification) -> dict:
    def number(value: float) -> float | None:
        return value if math.isfinite(value) else None  # JSON has no NaN or infinity

    diverged = verification.diverged
    return {"tolerance": verification.tolerance, "diverged": diverged.layer if diverged else None,
            "layers": [{"layer": c.layer, "line": c.line, "max_abs_diff": number(c.max_abs),
                        "relative": number(c.relative)} for c in verification.compared]}


def _show_verification(verification) -> None:
    from .verify import divergence_message, verification_table

    click.echo(verification_table(verification))
    if verification.diverged:
        _fail(divergence_message(verification))


def _written(path: str, write) -> None:
    """Call `write` on the file opened (in binary) at `path`; a failure is a DataError naming the file."""
    try:
        with open(path, "wb") as handle:
            write(handle)
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None


def _save_npz(path: str, arrays: dict) -> None:
    _written(path, lambda handle: np.savez(handle, **arrays))


def _save_text(path: str, text: str) -> None:
    _written(path, lambda handle: handle.write(text.encode("utf-8")))


@main.command()
@click.argument("file")
@click.option("-o", "--output", "output_path", required=True, metavar="W.npz", help="Where to write the weights.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
def init(file, output_path, seed):
    """Write FILE's weights, initialised from --seed, as a .npz file.

    Shows the exact keys and shapes a trained weight file must have.

    \b
    Example:
      netspec init examples/lenet5.net -o lenet5-weights.npz
    """
    from .backends.llvm.memory import default_limit, require_memory
    from .weights import initial_weights

    network = _network(file)
    try:
        network.graph.require_numbers()
        require_memory(network.graph, 1, 1, default_limit())
    except DataError as problem:
        _fail(str(problem))
    arrays = initial_weights(network.graph, seed)
    try:
        _save_npz(output_path, arrays)
    except DataError as problem:
        _fail(str(problem))
    for key, array in arrays.items():
        click.echo(f"{key:24} {'x'.join(map(str, array.shape))}")
    click.echo(f"wrote {output_path} ({len(arrays)} arrays, seed {seed})")


@main.group("weights")
def weights_group():
    """Work with weight files (.npz, .safetensors, PyTorch .pt/.pth)."""


def _npz_output(ctx, param, path):
    if not path.lower().endswith(".npz"):
        raise click.BadParameter(f"{path!r} must end in .npz, which netspec reads as a weight file")
    return path


@weights_group.command()
@click.argument("file", metavar="IN")
@click.option("-o", "--output", "output_path", required=True, metavar="OUT.npz", callback=_npz_output,
              help="Where to write the weights, under netspec's keys.")
@click.option("--spec", "spec_path", required=True, metavar="FILE", help="The .net spec the weights are for.")
@click.option("--map", "map_path", metavar="MAP",
              help="Bind these keys of IN first: one `FILE_KEY NETSPEC_KEY` per line.")
def convert(file, output_path, spec_path, map_path):
    """Bind the weights in IN to the spec's keys once and write them as a .npz file.

    IN is a .npz, .safetensors or PyTorch .pt/.pth file. Keys that are not
    netspec's are bound by order and shape (the binding is printed); the
    result needs no binding when given to `run --weights` or `export --weights`.

    \b
    Example:
      netspec weights convert lenet5.pt -o lenet5.npz --spec examples/lenet5.net
      netspec weights convert model.safetensors -o w.npz --spec my.net --map keys.txt
    """
    from .interop.binding import bind_file, binding_table

    network = _network(spec_path)
    try:
        network.graph.require_numbers()
        binding = bind_file(network.graph, file, map_path)
        _save_npz(output_path, binding.arrays)
    except DataError as problem:
        _fail(str(problem))
    click.echo(binding_table(binding))
    click.echo(f"wrote {output_path} ({len(binding.arrays)} arrays under netspec's keys)")


@main.command()
@click.argument("file")
@click.option("-o", "--output", "output_path", required=True, metavar="OUT", help="Where to write the .onnx or .py file.")
@click.option("--to", "target", type=click.Choice(["onnx", "pytorch"]),
              help="What to write (default: pytorch for a .py output, else onnx).")
@_weights_options
@click.option("--seed", type=click.IntRange(min=0), help="Seed for the ONNX model's untrained weights (default 0).")
def export(file, output_path, target, weights_path, map_path, seed):
    """Write FILE as an ONNX model or as the source of a PyTorch module.

    The ONNX model (any batch size) holds the weights as initializers
    named by netspec's keys; without --weights they are initialised from --seed.
    The PyTorch source defines an nn.Module whose state_dict keys are netspec's
    weight keys; it holds no weights (its docstring shows how to load them).

    \b
    Example:
      netspec export examples/lenet5.net -o lenet5.onnx
      netspec export examples/lenet5.net -o lenet5.onnx --weights w.npz
      netspec export examples/resnet18.net --to pytorch -o resnet18.py
    """
    target = target or ("pytorch" if output_path.endswith(".py") else "onnx")
    if target == "pytorch" and (weights_path or seed is not None):
        raise click.UsageError("--weights, --map and --seed are for ONNX models; a PyTorch module takes its weights "
                               "with load_state_dict, as the generated file's docstring shows")
    network = _network(file)
    try:
        network.graph.require_numbers()
        if target == "onnx":
            _export_onnx(network, output_path, _bound_weights(network, weights_path, map_path), seed or 0)
        else:
            _export_pytorch(network, output_path)
    except DataError as problem:
        _fail(f"cannot export {file}: {problem}")


def _export_onnx(network: Network, path: str, weights, seed: int) -> None:
    try:
        from .interop.onnx_export import OPSET, export_onnx, save_onnx
    except ModuleNotFoundError as missing:
        _fail(str(missing))
    model = export_onnx(network.graph, weights, seed)
    save_onnx(model, path)
    if weights is None:
        click.echo(f"note: untrained weights (initialised from seed {seed}); the outputs are not predictions")
    graph = model.graph
    click.echo(f"wrote {path}: ONNX opset {OPSET}, {len(graph.node)} nodes, {len(graph.initializer)} initializers, "
               + _size(model.ByteSize()))


def _export_pytorch(network: Network, path: str) -> None:
    from .interop.pytorch_source import to_pytorch_source

    source = to_pytorch_source(network.graph)
    _save_text(path, source)
    click.echo(f"wrote {path}: the nn.Module for {network.name}, {len(source.splitlines())} lines")


@main.command("import")
@click.argument("model", metavar="MODEL.onnx")
@click.option("-o", "--output", "output_path", required=True, metavar="NAME.net",
              help="Where to write the spec; the weights go beside it, as NAME.npz.")
def import_(model, output_path):
    """Write an ONNX model as a spec and a weight file.

    NAME.net gets one layer a line, named after the model's nodes, each with
    the shape it gives (`-> 6x28x28`); NAME.npz beside it gets the weights.
    The spec is then checked. `netspec check` and `netspec run` also take
    MODEL.onnx directly.

    \b
    Example:
      netspec import lenet5.onnx -o lenet5.net
      netspec run lenet5.net --weights lenet5.npz
    """
    if not output_path.endswith(".net"):
        raise click.UsageError(f"the spec's file name must end in .net (the weights go beside it, in .npz): "
                               f"{output_path}")
    try:
        from .interop.onnx_import import import_onnx
    except ModuleNotFoundError as missing:
        _fail(str(missing))
    weights_path = output_path[:-len(".net")] + ".npz"
    try:
        imported = import_onnx(model, Path(output_path).stem)
        _save_text(output_path, imported.spec)
        _save_npz(weights_path, imported.weights)
    except OSError as exc:
        _fail(f"cannot read {model}: {exc.strerror or exc}")
    except DataError as problem:
        _fail(str(problem))
    result = check_source(Source(output_path, imported.spec))
    _echo_diagnostics(result.diagnostics)
    if result.graph is not None:
        graph = result.graph
        click.echo(f"wrote {output_path}: network {graph.name}, {len(graph.layers)} layers"
                   + (f", {graph.params:,} parameters" if result.ok else ""))
    click.echo(f"wrote {weights_path}: {len(imported.weights)} arrays, {_size(os.path.getsize(weights_path))}")
    _echo_explain_hint(list(result.diagnostics))
    sys.exit(0 if result.ok else 1)


def _size(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB" if size >= 2**20 else f"{size / 2**10:,.0f} KiB"


@main.command()
@click.argument("file")
@click.option("--optimized", is_flag=True, help="Show the IR after LLVM's optimizations.")
def compile(file, optimized):
    """Print the LLVM IR that netspec generates for FILE.

    \b
    Example:
      netspec compile examples/lenet5.net | less
    """
    from .backends.llvm import jit
    from .backends.llvm.codegen import llvm_ir
    from .backends.llvm.rewrite import rewrite_for_inference

    network = _network(file)
    try:
        network.graph.require_numbers()
    except DataError as problem:
        _fail(str(problem))
    text = llvm_ir(rewrite_for_inference(network.graph).graph)
    click.echo(str(jit.optimize(text)) if optimized else text)


@main.command()
@click.argument("file")
@click.option("-o", "--output", "output_path", required=True, metavar="OUT",
              help="Where to write the picture: .svg, .png, or .dot for Graphviz's source.")
@click.option("--collapse", is_flag=True, help="One box per block call instead of its layers.")
@_warning_options
def draw(file, output_path, collapse, allow, deny_warnings):
    """Draw FILE's network: a box per layer with its output shape and parameters.

    Block calls are framed and labelled with the call; layers with errors are
    red and those with warnings orange, with the message. A spec with errors is
    drawn as far as its shapes are known, and the command exits 1. Needs
    Graphviz (pip install 'netspec[draw]', and its dot program).

    \b
    Example:
      netspec draw examples/lenet5.net -o lenet5.svg
      netspec draw examples/resnet18.net --collapse -o resnet18.png
    """
    from .drawing import FORMATS, CannotDraw, diagram, write

    suffix = os.path.splitext(output_path)[1].lower().removeprefix(".")
    if suffix not in FORMATS:
        raise click.UsageError(f"cannot tell what to write from '{output_path}': name it .svg, .png or .dot")
    result = _read(file, allow, deny_warnings)
    _echo_diagnostics(result.diagnostics)
    if result.graph is not None:
        try:
            write(diagram(result.graph, collapse), output_path, suffix)
        except CannotDraw as problem:
            _fail(str(problem))
        except OSError as exc:
            _fail(f"cannot write {output_path}: {exc.strerror or exc}")
        click.echo(f"wrote {output_path}", err=not result.ok)
    else:
        click.echo(f"nothing drawn: {file} has no layers to draw until these errors are fixed", err=True)
    _echo_explain_hint(list(result.diagnostics))
    sys.exit(0 if result.ok else 1)


@main.command()
@click.argument("file")
def tune(file):
    """Choose FILE's convolution tiles for this CPU and show each layer's choice.

    Each distinct convolution is compiled alone with a few register tiles of both schedules
    and timed (batch 1, one thread); the fastest is stored next to the compile
    cache and used by `run --tuned`. Layer shapes tuned before are not timed again.

    \b
    Example:
      netspec tune examples/resnet18.net
    """
    from .backends.llvm import jit, tuning
    from .backends.llvm.kernels.conv import describe_tile, fixed_tile
    from .backends.llvm.rewrite import rewrite_for_inference
    from .backends.llvm.runtime import single_threaded

    network = _network(file)
    try:
        network.graph.require_numbers()
    except DataError as problem:
        _fail(str(problem))
    graph = rewrite_for_inference(network.graph).graph
    with notice_if_slow(f"timing the convolutions of {graph.name} on this CPU..."):
        chosen = tuning.tune(graph, single_threaded)
    width = jit.host_vector_width()
    click.echo(f"{'layer':<24} {'fixed tile':>12} {'us':>9} {'tuned tile':>12} {'us':>9} {'speedup':>8}")
    for layer in tuning.tuned_layers(graph):
        choice = chosen[layer.node.name]
        click.echo(f"{layer.node.name:<24} {describe_tile(fixed_tile(layer, width)):>12} "
                   f"{choice.fixed_seconds * 1e6:9.1f} {describe_tile(choice.tile):>12} {choice.seconds * 1e6:9.1f} "
                   f"{choice.fixed_seconds / choice.seconds:7.2f}x")
    click.echo(f"tiles: rows:CxV = C output channels x V vectors of {width} positions; "
               f"lanes:PxV = P positions x V vectors of {width} output channels; stored in {tuning.tiles_file()}")


@main.command()
@click.option("--clear", is_flag=True, help="Delete every cached compiled network.")
def cache(clear):
    """Show (or clear) the cache of compiled networks.

    The cache lives in $NETSPEC_CACHE_DIR, else $XDG_CACHE_HOME/netspec, else ~/.cache/netspec.

    \b
    Example:
      netspec cache --clear
    """
    from .backends.llvm import jit

    directory = jit.cache_dir()
    if clear:
        click.echo(f"removed {jit.clear_cache()} entries from {directory}")
        return
    entries = list(directory.glob("*.o"))
    size = sum(entry.stat().st_size for entry in entries)
    click.echo(f"{directory}: {len(entries)} entries, {size / 1024:.0f} KiB (limit {jit.CACHE_LIMIT_BYTES // 2**20} MiB)")


@main.command()
@click.argument("file")
@click.option("--data", required=True, metavar="digits|X.npz|ROOT",
              help="The examples: scikit-learn's 8x8 digits (centred in a 1xHxW input), an .npz with arrays "
                   "`x` (N x the input shape) and `y` (N classes), or an image folder ROOT/CLASS/*.png (the CLASS "
                   "folders sorted by name are classes 0, 1, ...). --val-split of them, chosen by --seed, is "
                   "held out.")
@click.option("--val-split", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
              help="The share of --data held out for validation (default 0.2).")
@click.option("--val", "validation", metavar="digits|X.npz|ROOT",
              help="Validate on these examples instead; all of --data is trained on.")
@click.option("-o", "--output", "output_path", required=True, metavar="W.npz",
              help="Write the trained weights here (after every epoch).")
@_weights_options
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True, help="Examples per step.")
@click.option("--loss", type=click.Choice(LOSSES), default=LOSSES[0], show_default=True,
              help="Softmax cross-entropy of class labels, or the mean squared error of the outputs and their "
                   "targets: the one-hot vectors of class labels, or float targets y (N x the output shape).")
@click.option("--optimizer", type=click.Choice(sorted(OPTIMIZERS)), default="adam", show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Learning rate (default: the optimizer's).")
@click.option("--momentum", type=click.FloatRange(min=0), help="SGD's momentum (default 0).")
@click.option("--weight-decay", type=click.FloatRange(min=0),
              help="L2 for SGD and Adam, decoupled for AdamW (default: the optimizer's).")
@click.option("--schedule", type=click.Choice(SCHEDULES), default="constant", show_default=True,
              help="The learning rate by epoch, as PyTorch's StepLR (--step-size, --gamma) or CosineAnnealingLR "
                   "(over --epochs).")
@click.option("--step-size", type=click.IntRange(min=1), default=10, show_default=True,
              help="Epochs between the step schedule's decays.")
@click.option("--gamma", type=click.FloatRange(min=0, min_open=True), default=0.1, show_default=True,
              help="What the step schedule multiplies the rate by.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed for the initial weights, the validation split and the shuffles.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Threads a training step is split across (the same seed and threads give the same weights).")
@click.option("--checkpoint", "checkpoint_path", metavar="C.npz",
              help="Where the checkpoint goes after every epoch (default: W.npz with .checkpoint.npz).")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint up to --epochs, exactly as if never stopped.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON on stdout: one object per epoch, after one with the class names of an image folder.")
def train(file, data, val_split, validation, output_path, weights_path, map_path, epochs, batch, loss, optimizer, lr,
          momentum, weight_decay, schedule, step_size, gamma, seed, threads, checkpoint_path, resume, as_json):
    """Train FILE's weights and write them to W.npz.

    A progress bar shows each epoch's steps (on stderr), then one line per epoch
    says the loss, the accuracy on the training and the validation examples (the
    validation loss instead for float targets), the images per second of the
    training steps and the epoch's time. A checkpoint after every epoch lets
    --resume continue exactly. docs/training.md says what can be trained.

    \b
    Examples:
      netspec train examples/lenet5.net --data digits -o lenet5.npz --epochs 40 --batch 64 --lr 0.002
      netspec train examples/lenet5.net --data digits -o lenet5.npz --epochs 60 --batch 64 --lr 0.002 --resume
      netspec train shapes.net --data shapes/ --val shapes-test/ -o shapes.npz --threads 2
    """
    from .interop.binding import resolve
    from .train.checkpoint import load_checkpoint, refuse_other_run, save_checkpoint
    from .train.data import VALIDATION_SHARE, load_dataset, wanted
    from .train.loop import run_identity
    from .train.loop import train as train_epochs

    network = _network(file, as_json)
    graph = network.graph
    if val_split is not None and validation is not None:
        _fail("--val-split and --val both choose the validation examples; give one", as_json)
    rates = choose_schedule(schedule, epochs, step_size, gamma)
    checkpoint_path = checkpoint_path or output_path.removesuffix(".npz") + ".checkpoint.npz"
    epoch = 0
    try:
        settings = choose_optimizer(optimizer, lr, momentum, weight_decay)
        weights, _ = resolve(graph, _bound_weights(network, weights_path, map_path), seed)
        dataset = load_dataset(data, wanted(graph, loss), seed, val_split or VALIDATION_SHARE, validation)
        _echo_classes(dataset.class_names, as_json)
        start = load_checkpoint(checkpoint_path) if resume else None
        if start:
            identity = run_identity(graph, dataset, settings, batch, seed, rates, loss, threads)
            refuse_other_run(checkpoint_path, start, identity)
            epoch = start.epoch
        for report, reached in train_epochs(graph, weights, dataset, settings, epochs, batch, seed, start, rates,
                                            loss=loss, threads=threads, progress=True):
            click.echo(json.dumps(dataclasses.asdict(report)) if as_json else report.line())
            save_checkpoint(checkpoint_path, reached)
            _save_npz(output_path, reached.weights)  # after every epoch: an interrupted run keeps what it learned
            epoch = reached.epoch
    except (DataError, TrainingError) as problem:
        _fail(f"{problem}" + (f" (the checkpoint after epoch {epoch} is in {checkpoint_path})" if epoch else ""),
              as_json)
    except KeyboardInterrupt:
        kept = f"the checkpoint after epoch {epoch} is in {checkpoint_path}; --resume continues from it" if epoch \
            else "no epoch had finished, so there is no checkpoint"
        click.echo(f"interrupted in epoch {epoch + 1}: {kept}", err=True)
        sys.exit(130)


def _echo_classes(names: tuple[str, ...], as_json: bool) -> None:
    """An image folder's classes, once: which output (label) stands for which folder."""
    if not names:
        return
    if as_json:
        click.echo(json.dumps({"classes": {name: label for label, name in enumerate(names)}}))
    else:
        click.echo("classes: " + ", ".join(f"{label} {name}" for label, name in enumerate(names)))


@main.command()
def lsp():
    """Run the language server for .net files, speaking LSP on stdin and stdout.

    Editors start it: diagnostics as you type, each layer's output shape at the
    end of its line, hovers, go to definition, fixes and completion. Needs the
    lsp extra (pip install 'netspec[lsp]'); docs/editor.md shows how to set up
    VS Code and other editors.

    \b
    Example:
      netspec lsp
    """
    try:
        from .lsp.server import serve
    except ModuleNotFoundError as missing:
        _fail(f"netspec lsp needs pygls ({missing}): pip install 'netspec[lsp]'")
    serve()


if __name__ == "__main__":
    main()
