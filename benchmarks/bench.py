"""netspec against PyTorch eager and ONNX Runtime, side by side in one process.

    pip install '.[bench]'
    python benchmarks/bench.py                    # every runnable network in examples/
    python benchmarks/bench.py --networks lenet5 --json results.json

For each network, batch size and thread count it checks that all outputs agree
(1e-5), then measures images/s and per-call latency of netspec (`model(x)`),
PyTorch eager (`torch.inference_mode`) and ONNX Runtime (CPU provider), and two
peaks of the machine: PyTorch's sgemm and the cores' FMA peak (a generated
register-only FMA loop, see fma_peak.py); it prints ratios netspec/peer and
netspec's GFLOP/s as a fraction of each peak. It also measures what a user feels: a cold and a warm
`netspec run examples/lenet5.net` in fresh processes, the cold compile times of
LeNet-5 and GoogLeNet, and peak memory at batch 4096. When VGG-11 is among the networks
it compares netspec's peak resident memory at batch 16 with ONNX Runtime's, each loading
the same weights from files in fresh processes (peak_memory.py; --no-memory skips it).

With --tuned it also compiles each network with its convolution tiles tuned for this
CPU (`compile(tuned=True)`, timing any layer shape not tuned before) and measures that
model in the same run: the fixed and the tuned builds are timed in turns (columns
marked *, so that other work on the machine slows both alike), with their ratio.
"""
from __future__ import annotations

import argparse
import glob
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the PyTorch equivalent the tests check against

import netspec  # noqa: E402
from fma_peak import fma_peak  # noqa: E402
from peak_memory import ort_session  # noqa: E402
from netspec.weights import initial_weights  # noqa: E402

BATCHES = (1, 16, 256, 4096)
COMPILE_TIMED = ("lenet5", "googlenet")  # cold compiles (empty cache, fresh process): a small and a large network
MEMORY_NETWORK, MEMORY_BATCH = "vgg11", 16  # peak memory against ONNX Runtime: a large network at a served batch
THREADS = (1, 2)


def optional(name):
    try:
        return __import__(name)
    except ImportError:
        return None


torch = optional("torch")
ort = optional("onnxruntime")


def seconds_per_call(function, x, min_time: float) -> float:
    """Median over repeats of the mean time per call, after a warm-up call."""
    function(x)
    repeats = []
    deadline = time.perf_counter() + min_time
    while time.perf_counter() < deadline or len(repeats) < 3:
        calls, start = 0, time.perf_counter()
        while calls < 2 or time.perf_counter() - start < min_time / 10:
            function(x)
            calls += 1
        repeats.append((time.perf_counter() - start) / calls)
    return float(np.median(repeats))


def cpu_model() -> str:
    """The CPU's name as the kernel reports it (Linux), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.platform()


def sgemm_peak(threads: int) -> float:
    """GFLOP/s of a large float32 matrix product (PyTorch's BLAS, else numpy's)."""
    n = 2048
    if torch is not None:
        torch.set_num_threads(threads)
        a, b = torch.rand(n, n), torch.rand(n, n)
        seconds = seconds_per_call(lambda _: torch.mm(a, b), None, 1.0)
    else:
        a = np.random.rand(n, n).astype(np.float32)
        seconds = seconds_per_call(lambda _: a @ a, None, 1.0)
    return 2 * n**3 / seconds / 1e9


class Peers:
    """PyTorch and ONNX Runtime versions of one network, with netspec's weights."""

    def __init__(self, network, weights, threads=THREADS):
        self.torch_module = self.sessions = None
        if torch is None:
            return
        from torch_reference import TorchNetwork

        self.torch_module = TorchNetwork(network.graph, weights).eval()
        if ort is None:
            return
        model = self.onnx_model(network.input_shape)
        self.sessions = {count: ort_session(model, count) for count in threads}

    def onnx_model(self, input_shape) -> bytes:
        """The PyTorch module exported to ONNX, batch size free, input `x` and output `y`."""
        buffer = io.BytesIO()
        torch.onnx.export(self.torch_module, torch.zeros((1, *input_shape)), buffer, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False)
        return buffer.getvalue()

    def runners(self, threads: int) -> dict:
        found = {}
        if self.torch_module is not None:
            def eager(x):
                with torch.inference_mode():
                    return self.torch_module(torch.from_numpy(x)).numpy()

            found["pytorch"] = eager
        if self.sessions:
            session = self.sessions[threads]
            found["onnxruntime"] = lambda x: session.run(None, {"x": x})[0]
        return found


def runnable_networks(names):
    paths = sorted(glob.glob(str(ROOT / "examples" / "*.net")))
    for path in paths:
        if names and Path(path).stem not in names:
            continue
        try:
            yield Path(path).stem, netspec.load(path)
        except netspec.SpecError:
            continue


def paired_seconds_per_call(fixed, tuned, x, min_time: float) -> tuple[float, float]:
    """The best over rounds of seconds per call of each model, the two taking turns, so that
    other work on the machine slows both alike: their ratio is the tuning's effect."""
    best = [float("inf"), float("inf")]
    for _ in range(5):
        for i, model in enumerate((fixed, tuned)):
            best[i] = min(best[i], seconds_per_call(model, x, min_time / 5))
    return best[0], best[1]


def tuned_models(name, network, weights, threads, expected, check) -> dict:
    """The network compiled with tuned tiles for each thread count, checked against the fixed build."""
    started = time.perf_counter()
    models = {t: network.compile(weights=weights, threads=t, tuned=True) for t in threads}
    print(f"{name}: tuned and compiled in {time.perf_counter() - started:.1f} s", flush=True)
    got = models[threads[0]](check)
    if not np.allclose(expected, got, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(got).max()))):
        raise SystemExit(f"{name}: tuned and fixed builds disagree (max difference {np.abs(expected - got).max():.3g})")
    return models


def bench_network(name, network, batches, min_time, peaks, max_work, threads=THREADS, tuned=False):
    """`peaks`: {"sgemm" or "fma": {threads: GFLOP/s}}."""
    weights = initial_weights(network.graph, seed=0)
    peers = Peers(network, weights, threads)
    models = {t: network.compile(weights=weights, threads=t) for t in threads}
    batches = [b for b in batches if b == batches[0] or b * network.graph.macs <= max_work]
    flops = 2 * network.graph.macs
    rng = np.random.default_rng(0)
    check = rng.random((16, *network.input_shape), dtype=np.float32)
    expected = models[threads[0]](check)
    for peer, run in peers.runners(1).items():
        got = run(check)
        scale = max(1.0, float(np.abs(got).max()))
        if not np.allclose(expected, got, rtol=1e-5, atol=1e-5 * scale):
            raise SystemExit(f"{name}: netspec and {peer} disagree (max difference {np.abs(expected - got).max():.3g})")
    tuned = tuned_models(name, network, weights, threads, expected, check) if tuned else {}
    rows = []
    for count in threads:
        if torch is not None:
            torch.set_num_threads(count)
        runners = {"netspec": models[count], **peers.runners(count)}
        for batch in batches:
            x = rng.random((batch, *network.input_shape), dtype=np.float32)
            row = {"network": name, "threads": count, "batch": batch}
            for peer, run in runners.items():
                seconds = seconds_per_call(run, x, min_time)
                row[peer] = {"images_per_s": batch / seconds, "latency_us": seconds * 1e6}
            row["netspec_gflops"] = flops * row["netspec"]["images_per_s"] / 1e9
            row["fraction_of_peak"] = row["netspec_gflops"] / peaks["sgemm"][count]
            row["fraction_of_fma_peak"] = row["netspec_gflops"] / peaks["fma"][count]
            if tuned:
                fixed_seconds, tuned_seconds = paired_seconds_per_call(models[count], tuned[count], x, min_time)
                row["tuning"] = {"fixed_images_per_s": batch / fixed_seconds, "tuned_images_per_s": batch / tuned_seconds,
                                 "speedup": fixed_seconds / tuned_seconds}
            rows.append(row)
            print_row(row, list(runners))
    return rows


def print_header(peers, tuned=False):
    columns = (["network", "thr", "batch", "netspec img/s", "latency"] + [f"x {p}" for p in peers]
               + ["GFLOP/s", "of sgemm", "of FMA peak"] + (["fixed img/s*", "tuned img/s*", "tuned/fixed"] if tuned else []))
    print("  ".join(f"{c:>13}" if i > 2 else f"{c:>8}" for i, c in enumerate(columns)))


def print_row(row, runners):
    netspec_rate = row["netspec"]["images_per_s"]
    cells = [f"{row['network']:>8}", f"{row['threads']:>8}", f"{row['batch']:>8}", f"{netspec_rate:13,.0f}",
             f"{row['netspec']['latency_us']:11,.1f}us"]
    cells += [f"{netspec_rate / row[p]['images_per_s']:13.2f}" for p in runners if p != "netspec"]
    cells += [f"{row['netspec_gflops']:13.1f}", f"{row['fraction_of_peak']:12.0%}", f"{row['fraction_of_fma_peak']:12.0%}"]
    if "tuning" in row:
        tuning = row["tuning"]
        cells += [f"{tuning['fixed_images_per_s']:13,.0f}", f"{tuning['tuned_images_per_s']:13,.0f}",
                  f"{tuning['speedup']:13.2f}"]
    print("  ".join(cells), flush=True)


def user_experience() -> dict:
    """Fresh-process timings of the CLI, compile time, and peak memory at batch 4096."""
    spec = str(ROOT / "examples" / "lenet5.net")
    results = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NETSPEC_CACHE_DIR": cache}
        for label in ("cold_run_s", "warm_run_s"):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "netspec.cli", "run", spec], env=env, check=True, capture_output=True)
            results[label] = time.perf_counter() - start
    for name in COMPILE_TIMED:
        with tempfile.TemporaryDirectory() as cache:
            probe = "import netspec; m = netspec.load(%r).compile(); print(m.compile_seconds)" % str(
                ROOT / "examples" / f"{name}.net")
            out = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "NETSPEC_CACHE_DIR": cache},
                                 check=True, capture_output=True, text=True)
            results[f"{name}_compile_s"] = float(out.stdout.strip())
    # Peak resident memory from /proc (VmHWM): unlike ru_maxrss it is not inherited
    # from the benchmark process that forked the probe.
    memory_probe = (
        "import re, numpy as np, netspec\n"
        "peak = lambda: int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) * 1024\n"
        "m = netspec.load(%r).compile()\n"
        "m(np.zeros((16, 1, 28, 28), np.float32))\n"
        "x = np.random.default_rng(0).random((4096, 1, 28, 28), dtype=np.float32)\n"
        "before = peak()\n"
        "y = m(x)\n"
        "after = peak()\n"
        "print(before, after, x.nbytes + y.nbytes)\n" % spec)
    # The first run fills the compile cache, so the second measures a run, not LLVM.
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", memory_probe], check=True, capture_output=True, text=True)
    before, after, data = map(int, out.stdout.split())
    results.update(peak_rss_bytes=after, run_growth_bytes=after - before, input_output_bytes=data,
                   rss_before_run_bytes=before)
    return results


def print_experience(experience: dict) -> None:
    compiles = ", ".join(f"{name} {experience[f'{name}_compile_s'] * 1e3:.0f} ms" for name in COMPILE_TIMED)
    print(f"cold `netspec run examples/lenet5.net` (empty cache): {experience['cold_run_s']:.2f} s; "
          f"warm: {experience['warm_run_s']:.2f} s; cold compile: {compiles}")
    print(f"batch 4096: peak RSS {experience['peak_rss_bytes'] / 2**20:.0f} MiB (process with input allocated: "
          f"{experience['rss_before_run_bytes'] / 2**20:.0f} MiB; the run added "
          f"{experience['run_growth_bytes'] / 2**20:.1f} MiB); input + output {experience['input_output_bytes'] / 2**20:.1f} MiB")


def measure_peak_memory(runtime: str, model: list[str], shape, threads: int, env: dict) -> dict:
    """peak_memory.py's readings for one runtime in two fresh processes, one after the other: the
    second is reported (netspec's first fills the compile cache, so the second measures a run, not
    LLVM); the first one's peak is kept beside it."""
    command = [sys.executable, str(ROOT / "benchmarks" / "peak_memory.py"), runtime, *model,
               "--shape", *map(str, shape), "--threads", str(threads), "--batch", str(MEMORY_BATCH)]
    first, second = (json.loads(subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout)
                     for _ in range(2))
    return {**second, "growth_bytes": second["peak_bytes"] - second["baseline_bytes"],
            "first_process_peak_bytes": first["peak_bytes"]}


def memory_comparison(name, network, threads=THREADS) -> list[dict]:
    """Peak resident memory of netspec and ONNX Runtime loading the network from files (the
    same weights) and running one batch twice, each in a fresh process, per thread count."""
    weights = initial_weights(network.graph, seed=0)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        weight_file = Path(folder) / "weights.npz"
        np.savez(weight_file, **weights)
        models = {"netspec": [str(ROOT / "examples" / f"{name}.net"), "--weights", str(weight_file)]}
        if torch is not None and ort is not None:
            onnx_file = Path(folder) / "model.onnx"
            onnx_file.write_bytes(Peers(network, weights, threads=()).onnx_model(network.input_shape))
            models["onnxruntime"] = [str(onnx_file)]
        env = {**os.environ, "NETSPEC_CACHE_DIR": folder}
        for count in threads:
            row = {"network": name, "threads": count, "batch": MEMORY_BATCH}
            row.update({runtime: measure_peak_memory(runtime, model, network.input_shape, count, env)
                        for runtime, model in models.items()})
            rows.append(row)
    return rows


def print_memory(rows: list[dict]) -> None:
    first = rows[0]
    runtimes = [r for r in ("netspec", "onnxruntime") if r in first]
    print(f"peak resident memory (VmHWM, MiB) of {first['network']} at batch {first['batch']}, each runtime in a "
          "fresh process; 'imports': after the imports and the input's allocation")
    columns = ["threads"] + [f"{r} {c}" for r in runtimes for c in ("imports", "peak", "growth")]
    columns += ["peak ratio", "growth ratio"] if len(runtimes) == 2 else []
    print("  ".join(f"{c:>19}" if i else f"{c:>7}" for i, c in enumerate(columns)))
    for row in rows:
        cells = [f"{row['threads']:>7}"] + [f"{row[r][key] / 2**20:19,.0f}" for r in runtimes
                                            for key in ("baseline_bytes", "peak_bytes", "growth_bytes")]
        if len(runtimes) == 2:
            cells += [f"{row['netspec'][key] / row['onnxruntime'][key]:19.2f}" for key in ("peak_bytes", "growth_bytes")]
        print("  ".join(cells), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", nargs="*", help="example names (default: every runnable one)")
    parser.add_argument("--batches", nargs="*", type=int, default=list(BATCHES))
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per measurement")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--max-work", type=float, default=2e10,
                        help="skip batch sizes whose multiply-accumulates per call exceed this (big networks)")
    parser.add_argument("--threads", nargs="*", type=int, default=list(THREADS), help="thread counts to measure")
    parser.add_argument("--no-user", action="store_true",
                        help="skip the fresh-process timings of the CLI, the cold compiles and the memory probe")
    parser.add_argument("--no-memory", action="store_true",
                        help=f"skip the peak-memory comparison with ONNX Runtime ({MEMORY_NETWORK} at batch "
                             f"{MEMORY_BATCH}, run when {MEMORY_NETWORK} is among the networks)")
    parser.add_argument("--tuned", action="store_true",
                        help="also measure netspec with convolution tiles tuned for this CPU, beside the fixed schedule")
    args = parser.parse_args()

    missing = [name for name, module in (("torch==2.13.0", torch), ("onnxruntime", ort)) if module is None]
    if missing:
        print(f"note: {', '.join(missing)} not installed; those peers are skipped (pip install '.[bench]')")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {cpu_model()}")
    threads = tuple(args.threads)
    peaks = {"sgemm": {t: sgemm_peak(t) for t in threads}, "fma": {t: fma_peak(t) for t in threads}}
    for label, name in (("sgemm", "sgemm peak"), ("fma", "FMA peak (generated register-only loop)")):
        print(f"{name}: " + ", ".join(f"{peaks[label][t]:.0f} GFLOP/s on {t} thread{'s' * (t > 1)}" for t in threads))
    print_header([p for p, m in (("pytorch", torch), ("onnxruntime", ort)) if m is not None], args.tuned)
    rows = []
    for name, network in runnable_networks(args.networks):
        rows += bench_network(name, network, args.batches, args.min_time, peaks, args.max_work, threads, args.tuned)
    memory = []
    if not args.no_memory and (not args.networks or MEMORY_NETWORK in args.networks):
        for name, network in runnable_networks([MEMORY_NETWORK]):
            memory = memory_comparison(name, network, threads)
            print_memory(memory)
    experience = {} if args.no_user else user_experience()
    if experience:
        print_experience(experience)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"peaks_gflops": peaks, "rows": rows, "memory": memory, "user": experience,
                       "versions": {"netspec": netspec.__version__,
                                    "torch": getattr(torch, "__version__", None),
                                    "onnxruntime": getattr(ort, "__version__", None)}}, handle, indent=2)


if __name__ == "__main__":
    main()
