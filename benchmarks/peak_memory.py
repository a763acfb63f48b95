"""Peak resident memory of one network's inference, netspec's or ONNX Runtime's, in this process.

    python benchmarks/peak_memory.py netspec examples/vgg11.net --weights w.npz --threads 1 --batch 16
    python benchmarks/peak_memory.py onnxruntime vgg11.onnx --shape 1 224 224 --threads 1 --batch 16

Run in a fresh process for each measurement (bench.py does): it imports only numpy and the one
runtime, allocates a seeded input batch, reads the peak resident set (VmHWM), then builds the
model from its file (netspec: load and compile with the weight file; ONNX Runtime: a session on
the .onnx file), runs the batch twice and reads the peak again. Prints both in bytes as JSON.
The first reading is the peak of a process that did nothing but the imports and the input.
"""
from __future__ import annotations

import argparse
import importlib
import json

import numpy as np


def peak_resident_bytes() -> int:
    """This process's peak resident set: VmHWM, which starts afresh at exec (getrusage's
    ru_maxrss is inherited from the process that forked this one)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def ort_session(model, threads: int):
    """An ONNX Runtime CPU session on `model` (the .onnx bytes or a path) with `threads` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def netspec_runner(args):
    import netspec

    return netspec.load(args.model).compile(weights=args.weights, threads=args.threads)


def ort_runner(args):
    session = ort_session(args.model, args.threads)
    return lambda x: session.run(None, {"x": x})[0]


RUNNERS = {"netspec": netspec_runner, "onnxruntime": ort_runner}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runtime", choices=tuple(RUNNERS))
    parser.add_argument("model", help="the .net file (netspec) or the .onnx file (onnxruntime)")
    parser.add_argument("--weights", help="netspec's weight file")
    parser.add_argument("--shape", nargs="+", type=int, required=True, help="one example's shape")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()

    importlib.import_module(args.runtime)  # before the baseline reading: it counts the library
    x = np.random.default_rng(0).random((args.batch, *args.shape), dtype=np.float32)
    baseline = peak_resident_bytes()
    run = RUNNERS[args.runtime](args)
    for _ in range(2):
        run(x)
    print(json.dumps({"baseline_bytes": baseline, "peak_bytes": peak_resident_bytes()}))


if __name__ == "__main__":
    main()
