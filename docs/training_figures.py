"""The figures of docs/training.md: trains LeNet-5 on the digits exactly as
examples/lenet5.npz was made (the command in docs/training.md, with --json), draws
its loss and accuracies by epoch (docs/images/lenet5-training.png), and prints the
confusion matrix of examples/lenet5.npz on the held-out digits as a markdown table.

    pip install '.[train]' matplotlib    # matplotlib draws the figure; netspec does not use it
    python docs/training_figures.py      # from the repository root
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import netspec
from netspec.interop.weight_files import read_npz
from netspec.train.data import load_dataset, wanted

SPEC, WEIGHTS = "examples/lenet5.net", "examples/lenet5.npz"
COMMAND = ["train", SPEC, "--data", "digits", "--epochs", "40", "--batch", "64", "--lr", "0.002", "--json"]
FIGURE = Path("docs/images/lenet5-training.png")


def train(weights: Path) -> list[dict]:
    """Each epoch's record, as `netspec train --json` prints it."""
    printed = subprocess.run([sys.executable, "-m", "netspec.cli", *COMMAND, "-o", str(weights)], check=True,
                             capture_output=True, text=True).stdout
    return [record for record in map(json.loads, printed.splitlines()) if "epoch" in record]


def draw(history: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    epochs = [record["epoch"] for record in history]
    figure, (loss, accuracy) = pyplot.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    loss.plot(epochs, [record["loss"] for record in history], color="tab:red")
    loss.set(xlabel="epoch", ylabel="training loss (cross-entropy)", yscale="log", title="loss")
    for key, label in (("accuracy", "training"), ("validation_accuracy", "held-out fifth")):
        accuracy.plot(epochs, [100 * record[key] for record in history], label=label)
    accuracy.axhline(97, color="grey", linestyle=":", linewidth=1, label="97%")
    accuracy.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 100), title="accuracy")
    accuracy.legend(loc="lower right")
    for axes in (loss, accuracy):
        axes.grid(alpha=0.3)
    figure.suptitle(f"netspec {' '.join(COMMAND[:-1])} -o lenet5.npz", fontsize=9)
    figure.savefig(FIGURE, dpi=100)


def confusion() -> np.ndarray:
    """Counts of (true digit, predicted digit) of the shipped weights on the held-out digits."""
    network = netspec.load(SPEC)
    held = load_dataset("digits", wanted(network.graph), seed=0).validation
    predicted = network.compile(weights=WEIGHTS, threads=1)(held.x).argmax(axis=1)
    counts = np.zeros((10, 10), np.int64)
    np.add.at(counts, (held.y, predicted), 1)
    return counts


def table(counts: np.ndarray) -> str:
    rows = ["| true \\ predicted | " + " | ".join(map(str, range(10))) + " |", "|---" * 11 + "|"]
    rows += [f"| **{digit}** | " + " | ".join(str(n) if n else "·" for n in row) + " |"
             for digit, row in enumerate(counts)]
    return "\n".join(rows)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        trained = Path(folder) / "lenet5.npz"
        history = train(trained)
        again, shipped = read_npz(str(trained)), read_npz(WEIGHTS)
        apart = max(float(np.max(np.abs(again[key] - shipped[key]))) for key in shipped)
    draw(history)
    last = history[-1]
    print(f"wrote {FIGURE}; epoch {last['epoch']}: validation accuracy {last['validation_accuracy']:.1%}, "
          f"{sum(record['seconds'] for record in history):.1f} s in all; the weights differ from {WEIGHTS}'s "
          f"by at most {apart:g}" + (" (bit for bit the same)" if apart == 0 else ""))
    counts = confusion()
    print(f"\n{WEIGHTS} on the held-out digits: {np.trace(counts)} of {counts.sum()} right "
          f"({np.trace(counts) / counts.sum():.1%})\n")
    print(table(counts))


if __name__ == "__main__":
    main()
