"""Dataset-scale runs of LeNet-5: in memory, streamed from disk, and on Dask, side by side.

    pip install '.[scale]'
    python benchmarks/scale.py                          # 100,000 examples (314 MB), --max-memory 64M
    python benchmarks/scale.py --examples 680000 --max-memory 256M --json scale.json

Writes a seeded input .npy (at least 4x the memory limit) to a temporary folder, then
runs each mode in fresh processes, in turn, and reports images/s (the best of three runs
in each of --rounds processes; compiling and starting a cluster are not timed) and the
peak resident memory of that process (and of each Dask worker): the whole array in
memory (`model(x)`, one call), streamed chunk by chunk (`netspec.stream`, as
`netspec run --input X.npy --output Y.npy`), and on a LocalCluster of 1 and 2 worker
processes (as `--dask local:N`). Every output is compared with the in-memory one. Small
chunks measure what one chunk costs beyond its compute.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPEC, WEIGHTS = str(ROOT / "examples/lenet5.net"), str(ROOT / "examples/lenet5.npz")
# Examples in the small chunks that measure the cost of a chunk.
SMALL_CHUNK = 256
# Each mode runs this many times in its process and keeps its fastest: the machine may be shared.
REPEATS = 3


def cpu_model() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no lscpu)"
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return f"{fields.get('Model name', '?').strip()}, {fields.get('CPU(s)', '?').strip()} CPUs"


def peak_bytes() -> int:
    """This process's peak resident memory: VmHWM, which starts afresh at exec (getrusage's
    maxrss keeps the parent's peak across fork and exec, so it would show the input's writer)."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def write_input(path: Path, examples: int) -> None:
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(examples, 1, 28, 28))
    for start in range(0, examples, 20_000):
        stop = min(start + 20_000, examples)
        array[start:stop] = np.random.default_rng(start).random((stop - start, 1, 28, 28), dtype=np.float32)
    array.flush()


def model_of(threads: int):
    import netspec

    return netspec.load(SPEC).compile(weights=WEIGHTS, threads=threads)


def in_memory(args) -> dict:
    model = model_of(args.threads)
    x = np.load(args.input)
    model(x[:64])
    seconds = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        outputs = model(x)
        seconds.append(time.perf_counter() - started)
    np.save(args.output, outputs)
    return {"seconds": min(seconds), "chunks": 1}


def streamed(args) -> dict:
    from netspec.stream import ArrayInput, LocalRunner, chunk_examples, stream

    model = model_of(args.threads)
    source = ArrayInput(args.input, model.graph)
    chunk = args.chunk or chunk_examples(model.graph, args.threads, args.max_memory)
    runs = [stream(source, args.output, LocalRunner(model), model, chunk, False) for _ in range(REPEATS)]
    return {"seconds": min(run.seconds for run in runs), "chunks": runs[0].chunks}


def on_dask(args) -> dict:
    from netspec.distributed import DaskRunner, dask_client
    from netspec.stream import ArrayInput, chunk_examples, stream

    model = model_of(1)
    source = ArrayInput(args.input, model.graph)
    with dask_client(f"local:{args.workers}") as client:
        runner = DaskRunner(client, model)
        chunk = args.chunk or chunk_examples(model.graph, 1, args.max_memory, runner.copies)
        runs = [stream(source, args.output, runner, model, chunk, False) for _ in range(REPEATS)]
        workers = sorted(client.run(peak_bytes).values())
    return {"seconds": min(run.seconds for run in runs), "chunks": runs[0].chunks, "worker_peaks": workers}


MODES = {"memory": in_memory, "stream": streamed, "dask": on_dask}


def measure(folder: Path, mode: str, examples: int, max_memory: int, threads: int = 1, workers: int = 0,
            chunk: int = 0) -> dict:
    """One mode in a fresh process: its images/s and peak memory, its output checked."""
    output = folder / f"y-{mode}-{threads}-{workers}-{chunk}.npy"
    command = [sys.executable, __file__, "--mode", mode, "--input", str(folder / "x.npy"), "--output", str(output),
               "--max-memory", str(max_memory), "--threads", str(threads), "--workers", str(workers),
               "--chunk", str(chunk)]
    ran = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if ran.returncode:
        sys.exit(f"{mode} failed:\n{ran.stderr}")
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    reference = folder / "y-memory-1-0-0.npy"
    if reference.exists() and reference != output:
        result["identical"] = reference.read_bytes() == output.read_bytes()
    if reference != output:
        output.unlink()
    return {"mode": mode, "threads": threads, "workers": workers, "small_chunks": chunk == SMALL_CHUNK,
            "images_per_s": examples / result["seconds"], **result}


def run_modes(folder: Path, examples: int, max_memory: int, rounds: int) -> list[dict]:
    """Every mode once per round, in turn, each keeping its fastest round and its highest
    peak: a shared machine's other work then falls on every mode alike."""
    cores = len(os.sched_getaffinity(0))
    modes = [("memory", 1, 0, 0), ("stream", 1, 0, 0), ("stream", 1, 0, SMALL_CHUNK)]
    if cores > 1:
        modes += [("memory", cores, 0, 0), ("stream", cores, 0, 0)]
    modes += [("dask", 1, 1, 0), ("dask", 1, 1, SMALL_CHUNK), ("dask", 1, 2, 0)]
    best: dict[tuple, dict] = {}
    for _ in range(rounds):
        for mode, threads, workers, chunk in modes:
            row = measure(folder, mode, examples, max_memory, threads, workers, chunk)
            kept = best.setdefault((mode, threads, workers, chunk), row)
            fastest = min((kept, row), key=lambda r: r["seconds"])
            best[mode, threads, workers, chunk] = {**fastest, "peak": max(kept["peak"], row["peak"])}
    return [best[key] for key in modes]


def chunk_cost(rows: list[dict], mode: str) -> float | None:
    """Seconds one chunk costs beyond its compute: the time small chunks add, per added
    chunk, on one thread or one worker."""
    single = [r for r in rows if r["mode"] == mode and r["threads"] == 1 and r["workers"] <= 1]
    default = next(r for r in single if not r["small_chunks"])
    small = next(r for r in single if r["small_chunks"])
    added = small["chunks"] - default["chunks"]
    return (small["seconds"] - default["seconds"]) / added if added > 0 else None


def show(rows: list[dict]) -> None:
    print(f"{'mode':<8} {'threads':>7} {'workers':>7} {'chunks':>7} {'images/s':>10} {'peak MB':>8}  identical")
    for r in rows:
        peaks = "+".join(f"{p / 2**20:.0f}" for p in [r["peak"], *r.get("worker_peaks", [])])
        print(f"{r['mode']:<8} {r['threads']:>7} {r['workers'] or '-':>7} {r['chunks']:>7} {r['images_per_s']:>10,.0f} "
              f"{peaks:>8}  {r.get('identical', 'reference')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--max-memory", default="64M", help="the streamed runs' memory limit (input >= 4x this)")
    parser.add_argument("--rounds", type=int, default=2, help="times every mode is measured (the fastest is kept)")
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    for hidden in ("--input", "--output"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    for hidden in ("--threads", "--workers", "--chunk"):
        parser.add_argument(hidden, type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from netspec.cli import ByteSize

    args.max_memory = ByteSize().convert(args.max_memory, None, None)
    if args.mode:
        print(json.dumps({**MODES[args.mode](args), "peak": peak_bytes()}))
        return
    if args.examples * 4 * 784 < 4 * args.max_memory:
        sys.exit(f"{args.examples} examples are less than 4x --max-memory; give more")
    print(f"CPU: {cpu_model()}")
    with tempfile.TemporaryDirectory(prefix="netspec-scale-") as folder:
        folder = Path(folder)
        write_input(folder / "x.npy", args.examples)
        print(f"input: {args.examples:,} LeNet-5 examples ({args.examples * 3136 / 1e6:,.0f} MB); "
              f"streamed runs limited to {args.max_memory / 2**20:.0f} MiB")
        rows = run_modes(folder, args.examples, args.max_memory, args.rounds)
    show(rows)
    for mode in ("stream", "dask"):
        cost = chunk_cost(rows, mode)
        if cost is not None:
            print(f"cost of one chunk beyond its compute, {mode}: {cost * 1e3:.2f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu_model(), "examples": args.examples, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
