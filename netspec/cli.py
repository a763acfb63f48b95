"""The `netspec` command: parses options, calls the library, formats the results.

Exit codes: 0 success, 1 invalid spec or data, 2 usage error. Results go to
stdout, diagnostics to stderr.
"""
from __future__ import annotations

import json
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
from .errors import DataError
from .explanations import explain as explanation
from .fixer import fix_source
from .network import CheckResult, Network, check_onnx, check_source, is_onnx, unreadable
from . import resize
from .report import check_record
from .frontend.source import Source, read_source
from .specfile import read_spec_file
from .table import layer_table


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


def _load_input(path: str) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"input file {path} does not exist") from None
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(f"input file {path} contains pickled Python objects; netspec only loads numeric arrays") from None
        raise DataError(f"input file {path} is not a valid .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"input file {path} is truncated or not a .npy array ({exc})") from None
    if not isinstance(array, np.ndarray):
        raise DataError(f"input file {path} is a .npz archive; save the input with numpy.save as one .npy array")
    return array


def _top_classes(scores: np.ndarray, count: int) -> str:
    order = np.argsort(-scores, kind="stable")[:count]
    return ", ".join(f"{int(i)} ({scores[i]:.4f})" for i in order)


def _top_records(output: np.ndarray, top: int) -> list:
    if output.ndim != 2:
        return []
    count = min(top, output.shape[1])
    return [[{"class": int(i), "score": float(row[i])} for i in np.argsort(-row, kind="stable")[:count]]
            for row in output[:10]]


def _run_record(model, output, seconds, notes, output_path, top) -> dict:
    graph = model.graph
    return {
        "network": graph.name, "input": list(graph.input_shape), "output_shape": list(output.shape),
        "params": graph.params, "macs": graph.macs, "untrained": model.untrained,
        "from_cache": model.from_cache, "compile_ms": model.compile_seconds * 1e3, "run_ms": seconds * 1e3,
        "top": _top_records(output, top), "notes": notes, "output_file": output_path,
    }


def _report(model, output: np.ndarray, seconds: float, top: int) -> None:
    graph = model.graph
    batch = output.shape[0]
    how = "loaded from cache" if model.from_cache else "compiled"
    click.echo(f"{how} in {model.compile_seconds * 1e3:.1f} ms; ran {batch} example{'s' * (batch != 1)} "
               f"in {seconds * 1e3:.3f} ms ({batch / seconds:,.0f} images/s)")
    click.echo(f"output: {'x'.join(map(str, output.shape))}")
    if len(graph.output_shape) == 1:
        shown = min(batch, 10)
        for n in range(shown):
            click.echo(f"  example {n}: top classes {_top_classes(output[n], min(top, output.shape[1]))}")
        if batch > shown:
            click.echo(f"  ... {batch - shown} more")


@main.command()
@click.argument("file")
@click.option("--input", "input_path", metavar="X.npy", help="Input batch NxCxHxW (or one CxHxW example).")
@click.option("--weights", "weights_path", metavar="W.npz", help="Weights, keyed NAME.weight and NAME.bias.")
@click.option("--output", "output_path", metavar="Y.npy", help="Write the outputs (N x ...) here.")
@click.option("--batch", type=click.IntRange(min=1), help="Size of the random input batch (default 1).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed for untrained weights and the random input.")
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True, help="Classes shown per example.")
@click.option("--threads", type=click.IntRange(min=1), help="Threads to split the batch across (default: all cores).")
@click.option("--max-memory", type=ByteSize(), help="Refuse runs needing more memory (default: half the RAM).")
@click.option("--json", "as_json", is_flag=True, help="Print the report (or the errors) as JSON on stdout.")
@_warning_options
def run(file, input_path, weights_path, output_path, batch, seed, top, threads, max_memory, as_json, allow,
        deny_warnings):
    """Compile FILE to native code and run it.

    Without --weights the weights are initialised from --seed (PyTorch's default
    bounds), so outputs come from an untrained network; an ONNX model (a FILE
    ending in .onnx) runs with its own weights. Without --input a deterministic
    random batch (uniform in [0, 1)) of --batch examples is used.

    \b
    Example:
      netspec run examples/lenet5.net
      netspec run examples/lenet5.net --input x.npy --weights w.npz --output y.npy
      netspec run model.onnx --input x.npy
    """
    if input_path and batch:
        raise click.UsageError("--batch sets the size of the random input; it cannot be combined with --input")
    from .backends.llvm.memory import default_limit, require_memory
    from .backends.llvm.runtime import as_batch, available_cores

    network = _network(file, as_json, allow, deny_warnings)
    limit = max_memory or default_limit()
    threads = threads or available_cores()
    try:
        network.graph.require_numbers()
        if input_path:
            x = _load_input(input_path)
            require_memory(network.graph, len(x) if x.ndim > len(network.input_shape) else 1, threads, limit)
        else:
            require_memory(network.graph, batch or 1, threads, limit)
            generator = np.random.Generator(np.random.PCG64(seed))
            x = generator.random((batch or 1, *network.input_shape), dtype=np.float32)
        model = network.compile(weights=weights_path, seed=seed, threads=threads, max_memory=limit)
        batch, notes = as_batch(network.graph, x)
        model.run(batch[:1])  # the first call sets up the workspace: not timed
        started = time.perf_counter()
        output, _ = model.run(batch)
        seconds = time.perf_counter() - started
        if output_path:
            _save(output_path, output)
    except DataError as problem:
        _fail(str(problem), as_json)
    if as_json:
        click.echo(json.dumps(_run_record(model, output, seconds, notes, output_path, top), indent=2))
        return
    for note in notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"network {network.name}: input {'x'.join(map(str, network.input_shape))}, "
               f"{network.graph.params:,} parameters, {network.graph.macs:,} MACs per example")
    if model.untrained:
        click.echo(f"note: untrained weights (initialised from seed {seed}); the outputs are not predictions")
    _report(model, output, seconds, top)
    if output_path:
        click.echo(f"wrote {output_path}")


def _written(path: str, write) -> None:
    """Call `write` on the file opened (in binary) at `path`; a failure is a DataError naming the file."""
    try:
        with open(path, "wb") as handle:
            write(handle)
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None


def _save(path: str, array: np.ndarray) -> None:
    _written(path, lambda handle: np.save(handle, array))


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


@main.command()
@click.argument("file")
@click.option("-o", "--output", "output_path", required=True, metavar="OUT", help="Where to write the .onnx or .py file.")
@click.option("--to", "target", type=click.Choice(["onnx", "pytorch"]),
              help="What to write (default: pytorch for a .py output, else onnx).")
@click.option("--weights", "weights_path", metavar="W.npz", help="The ONNX model's weights (default: seeded).")
@click.option("--seed", type=click.IntRange(min=0), help="Seed for the ONNX model's untrained weights (default 0).")
def export(file, output_path, target, weights_path, seed):
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
        raise click.UsageError("--weights and --seed are for ONNX models; a PyTorch module takes its weights "
                               "with load_state_dict, as the generated file's docstring shows")
    network = _network(file)
    try:
        network.graph.require_numbers()
        if target == "onnx":
            _export_onnx(network, output_path, weights_path, seed or 0)
        else:
            _export_pytorch(network, output_path)
    except DataError as problem:
        _fail(f"cannot export {file}: {problem}")


def _export_onnx(network: Network, path: str, weights_path: str | None, seed: int) -> None:
    try:
        from .interop.onnx_export import OPSET, export_onnx, save_onnx
    except ModuleNotFoundError as missing:
        _fail(str(missing))
    weights = weights_path if weights_path is not None else network.weights
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
if __name__ == "__main__":
    main()
