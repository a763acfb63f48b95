"""Training speed: images/s of netspec's training steps against PyTorch eager, the same
network, batch, optimizer (Adam) and thread count, each measured in a process of its
own (so peak memory is each one's alone).

    python benchmarks/training.py                 # LeNet-5 at 64 and 256, ResNet-18 at 32; 1 and 2 threads
    python benchmarks/training.py --quick         # LeNet-5 only
    python benchmarks/training.py --json out.json

A step is what training repeats: netspec's generated forward + loss + backward pass
and its optimizer update; PyTorch's `opt.zero_grad(); loss = cross_entropy(model(x), y);
loss.backward(); opt.step()` on the lecture's own nn.Sequential (tests/d2l_models.py),
in training mode. Peak memory is the process's peak resident set (VmHWM) after the
steps, and its growth over the process before the network was built.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CASES = [("lenet5", 64, 1), ("lenet5", 64, 2), ("lenet5", 256, 1), ("lenet5", 256, 2),
         ("resnet18", 32, 1), ("resnet18", 32, 2)]
LR = 0.001


def resident_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def steps_per_second(step, min_time: float) -> float:
    """Steps per second over at least `min_time` (and 3 steps), after two warm-up steps."""
    step()
    step()
    steps, start = 0, time.perf_counter()
    while steps < 3 or time.perf_counter() - start < min_time:
        step()
        steps += 1
    return steps / (time.perf_counter() - start)


def batch_of(shape, batch: int, classes: int):
    rng = np.random.default_rng(0)
    return rng.random((batch, *shape), dtype=np.float32), rng.integers(0, classes, batch)


def measure_netspec(name: str, batch: int, threads: int, min_time: float) -> float:
    sys.path.insert(0, str(ROOT))
    import netspec
    from netspec.backends.llvm.training import compile_training
    from netspec.train.optimizers import Adam, OptimizerState
    from netspec.weights import initial_weights

    graph = netspec.load(str(ROOT / "examples" / f"{name}.net")).graph
    trainer = compile_training(graph, initial_weights(graph, seed=0), threads=threads)
    x, y = batch_of(graph.input_shape, batch, int(np.prod(graph.output_shape)))
    optimizer, state = Adam(lr=LR), OptimizerState()

    def step():
        nonlocal state
        _, gradients = trainer.loss_and_gradients(x, y)
        trainer.weights, state = optimizer.step(trainer.weights, gradients, state)

    return steps_per_second(step, min_time) * batch


def measure_pytorch(name: str, batch: int, threads: int, min_time: float) -> float:
    import torch
    sys.path.insert(0, str(ROOT / "tests"))
    import d2l_models

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = getattr(d2l_models, name)().train()
    shape = (1, 28, 28) if name == "lenet5" else (1, 96, 96)
    x, y = batch_of(shape, batch, 10)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    return steps_per_second(step, min_time) * batch


MEASURE = {"netspec": measure_netspec, "pytorch": measure_pytorch}


def one(peer: str, name: str, batch: int, threads: int, min_time: float) -> None:
    """Measure one cell in this process and print it as JSON (the parent reads it)."""
    before = resident_kib("VmRSS")
    images = MEASURE[peer](name, batch, threads, min_time)
    peak = resident_kib("VmHWM")
    print(json.dumps({"images_per_second": images, "peak_mib": peak / 1024, "growth_mib": (peak - before) / 1024}))


def run_cell(peer: str, name: str, batch: int, threads: int, min_time: float) -> dict | None:
    command = [sys.executable, __file__, "--one", peer, name, str(batch), str(threads), "--min-time", str(min_time)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        print(f"  {peer} {name} batch {batch} threads {threads} failed: {done.stderr.strip().splitlines()[-1:]}",
              file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="LeNet-5 only")
    parser.add_argument("--min-time", type=float, default=3.0, help="seconds of steps per cell")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--one", nargs=4, metavar=("PEER", "NETWORK", "BATCH", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        peer, name, batch, threads = args.one
        one(peer, name, int(batch), int(threads), args.min_time)
        return
    try:
        import torch  # noqa: F401
        peers = ("netspec", "pytorch")
    except ImportError:
        peers = ("netspec",)
        print("PyTorch is not installed: netspec alone (pip install '.[torch]' for the comparison)")
    print(f"CPU: {cpu_model()}; Python {platform.python_version()}; optimizer Adam; images/s of training steps")
    print(f"{'network':<9} {'batch':>5} {'threads':>7} {'netspec':>10} {'pytorch':>10} {'ratio':>6}"
          f" {'netspec MiB':>12} {'pytorch MiB':>12}")
    rows = []
    for name, batch, threads in CASES:
        if args.quick and name != "lenet5":
            continue
        cells = {peer: run_cell(peer, name, batch, threads, args.min_time) for peer in peers}
        ours, theirs = cells.get("netspec"), cells.get("pytorch")
        ratio = f"{ours['images_per_second'] / theirs['images_per_second']:.2f}" if ours and theirs else "-"

        def show(cell, key, spec):
            return format(cell[key], spec) if cell else "-"

        print(f"{name:<9} {batch:>5} {threads:>7} {show(ours, 'images_per_second', ',.0f'):>10} "
              f"{show(theirs, 'images_per_second', ',.0f'):>10} {ratio:>6} {show(ours, 'peak_mib', ',.0f'):>12} "
              f"{show(theirs, 'peak_mib', ',.0f'):>12}", flush=True)
        rows.append({"network": name, "batch": batch, "threads": threads, **{peer: cells[peer] for peer in peers}})
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu_model(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
