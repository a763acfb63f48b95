"""The losses a training step can minimise, keyed by name, each as a generated function
loss(outputs, targets, gradient, loss, count, total) that adds the contribution of
`count` examples to the mean over a batch of `total` (a batch may be split among
threads) and writes the gradient of that mean with respect to the outputs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from llvmlite import ir

from ...errors import DataError
from . import mathfn
from .builder import F32, F32_PTR, I64, Buffer, KernelBuilder, constant


@dataclass(frozen=True)
class Loss:
    """`reads_logits`: whether a final softmax is left out of the forward pass the loss
    reads (the loss applies its own, more accurately); `targets(y, size)` turns the
    given targets into the array the generated function reads, or raises DataError."""

    lower: Callable[[ir.Module, int, bool], ir.Function]  # (module, outputs per example, guarded)
    reads_logits: bool
    targets: Callable[[np.ndarray, int], np.ndarray]
    target_type: ir.Type


def _function(module: ir.Module, target_type: ir.Type, guarded: bool) -> tuple[ir.Function, KernelBuilder]:
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [F32_PTR, ir.PointerType(target_type), F32_PTR,
                                                                   F32_PTR, I64, I64]), "loss")
    function.linkage = "internal"
    return function, KernelBuilder(function, "loss", guarded)


def _cross_entropy(module: ir.Module, classes: int, guarded: bool) -> ir.Function:
    """The mean over the examples of log sum_j exp(z_j) - z_label, computed as
    m + log sum_j exp(z_j - m) with m = max z (so exp never overflows), and its
    gradient (softmax(z) - onehot(label)) / total."""
    function, k = _function(module, I64, guarded)
    logits, labels, gradient, loss, count, total = function.args
    examples = k.b.sitofp(total, F32)
    sum_loss = k.variable("total", 0.0)
    with k.loop("n", 0, count) as n:
        row = k.mul(n, classes)
        z = Buffer(k.at(logits, row), classes)
        largest = k.variable("max", float("-inf"))
        with k.loop("max", 0, classes) as i:
            k.b.store(k.fmaximum(k.b.load(largest), k.load(z, i)), largest)
        largest = k.b.load(largest)
        sum_exp = k.variable("sum", 0.0)
        with k.loop("sum", 0, classes) as i:
            k.b.store(k.fadd(k.b.load(sum_exp), mathfn.exp(k, k.fsub(k.load(z, i), largest))), sum_exp)
        sum_exp = k.b.load(sum_exp)
        label = k.b.load(k.b.gep(labels, [n]))
        log_sum_exp = k.fadd(largest, k.intrinsic("llvm.log", sum_exp))
        k.b.store(k.fadd(k.b.load(sum_loss), k.fsub(log_sum_exp, k.load(z, label))), sum_loss)
        target = Buffer(k.at(gradient, row), classes)
        with k.loop("gradient", 0, classes) as i:
            probability = k.fdiv(mathfn.exp(k, k.fsub(k.load(z, i), largest)), sum_exp)
            onehot = k.b.select(k.b.icmp_signed("==", i, label), constant(F32, 1.0), constant(F32, 0.0))
            k.store(k.fdiv(k.fsub(probability, onehot), examples), target, i)
    k.b.store(k.fdiv(k.b.load(sum_loss), examples), loss)
    k.b.ret_void()
    return function


def _squared_error(module: ir.Module, size: int, guarded: bool) -> ir.Function:
    """The mean over every output of every example of (y - t)^2 (PyTorch's mse_loss),
    and its gradient 2 (y - t) / (total * size)."""
    function, k = _function(module, F32, guarded)
    outputs, targets, gradient, loss, count, total = function.args
    elements = k.fmul(k.b.sitofp(total, F32), float(size))
    floats = k.mul(count, size)
    y, t, dy = Buffer(outputs, floats), Buffer(targets, floats), Buffer(gradient, floats)
    sum_loss = k.variable("total", 0.0)
    with k.loop("i", 0, floats) as i:
        difference = k.fsub(k.load(y, i), k.load(t, i))
        k.b.store(k.fadd(k.b.load(sum_loss), k.fmul(difference, difference)), sum_loss)
        k.store(k.fdiv(k.fmul(difference, 2.0), elements), dy, i)
    k.b.store(k.fdiv(k.b.load(sum_loss), elements), loss)
    k.b.ret_void()
    return function


def class_labels(y: np.ndarray, classes: int) -> np.ndarray:
    """Integer class labels, each in [0, classes)."""
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iuf" or not (y.dtype.kind in "iu" or np.all(y == np.round(y))):
        raise DataError(f"cross-entropy needs one integer class label per example; got an array of shape "
                        f"{y.shape} and type {y.dtype}")
    labels = y.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise DataError(f"labels must be classes 0 to {classes - 1}; found {labels.min()} to {labels.max()}")
    return np.ascontiguousarray(labels)


def regression_targets(y: np.ndarray, size: int) -> np.ndarray:
    """Float targets, one of the network's outputs per example; integer labels (N,)
    stand for their one-hot vectors."""
    y = np.asarray(y)
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        return np.eye(size, dtype=np.float32)[class_labels(y, size)]
    if y.dtype.kind not in "iuf":
        raise DataError(f"mean squared error needs numbers as targets; got an array of {y.dtype}")
    targets = np.ascontiguousarray(y, dtype=np.float32).reshape(len(y), -1) if y.ndim else y
    if y.ndim == 0 or targets.shape[1] != size:
        raise DataError(f"mean squared error needs targets of {size} values per example (or integer class "
                        f"labels); got an array of shape {y.shape}")
    return targets


LOSSES = {
    "cross-entropy": Loss(_cross_entropy, True, class_labels, I64),
    "mse": Loss(_squared_error, False, regression_targets, F32),
}
