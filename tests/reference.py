"""A slow, obviously-correct executor for shaped graphs: direct loops in numpy,
written for clarity. It is the oracle the generated code is compared against.

`REFERENCE` has one function per layer kind, `(layer, operands, weights) -> output`,
working on one example in float64; test_completeness checks it covers the registry.
"""
from __future__ import annotations

import numpy as np


def _weight(layer, weights, suffix):
    """The layer's weight `NAME.suffix` in float64, or None (a layer without bias)."""
    array = weights.get(f"{layer.node.name}.{suffix}")
    return None if array is None else np.asarray(array, dtype=np.float64)


def _pad(x, padding, value):
    return np.pad(x, ((0, 0), (padding.top, padding.bottom), (padding.left, padding.right)), constant_values=value)


def _slide(x, kernel, stride, channels, reduce):
    """out[:, i, j] = reduce(window at (i, j)) for a kernel sliding over a padded C×H×W tensor."""
    (k_h, k_w), (s_h, s_w) = kernel, stride
    out = np.zeros((channels, (x.shape[1] - k_h) // s_h + 1, (x.shape[2] - k_w) // s_w + 1))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            out[:, i, j] = reduce(x[:, i * s_h:i * s_h + k_h, j * s_w:j * s_w + k_w])
    return out


def conv(layer, operands, weights):
    a = layer.attrs
    weight, bias = _weight(layer, weights, "weight"), _weight(layer, weights, "bias")
    shift = bias if bias is not None else 0.0
    return _slide(_pad(operands[0], a.padding, 0.0), a.kernel, a.stride, len(weight),
                  lambda window: np.sum(window * weight, axis=(1, 2, 3)) + shift)


def maxpool(layer, operands, weights):
    a, x = layer.attrs, operands[0]
    return _slide(_pad(x, a.padding, -np.inf), a.kernel, a.step, len(x), lambda window: window.max(axis=(1, 2)))


def avgpool(layer, operands, weights):
    # The padded zeros count, as in PyTorch: the mean is over the whole window.
    a, x = layer.attrs, operands[0]
    return _slide(_pad(x, a.padding, 0.0), a.kernel, a.step, len(x), lambda window: window.mean(axis=(1, 2)))


def globalavgpool(layer, operands, weights):
    return operands[0].mean(axis=(1, 2), keepdims=True)


def adaptiveavgpool(layer, operands, weights):
    x, size = operands[0], layer.attrs.size
    channels, n_h, n_w = x.shape
    out = np.zeros((channels, *size))
    for i in range(size[0]):
        for j in range(size[1]):
            rows = slice(i * n_h // size[0], -(-(i + 1) * n_h // size[0]))
            columns = slice(j * n_w // size[1], -(-(j + 1) * n_w // size[1]))
            out[:, i, j] = x[:, rows, columns].mean(axis=(1, 2))
    return out


def flatten(layer, operands, weights):
    return operands[0].reshape(-1)


def dense(layer, operands, weights):
    bias = _weight(layer, weights, "bias")
    return _weight(layer, weights, "weight") @ operands[0] + (bias if bias is not None else 0.0)


def batchnorm(layer, operands, weights):
    x = operands[0]
    mean, var = _weight(layer, weights, "running_mean"), _weight(layer, weights, "running_var")
    gamma, beta = _weight(layer, weights, "weight"), _weight(layer, weights, "bias")
    shape = (-1,) + (1,) * (x.ndim - 1)  # one value per channel (or per feature of a flat vector)
    normalised = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + layer.attrs.eps)
    return normalised * gamma.reshape(shape) + beta.reshape(shape)


def dropout(layer, operands, weights):
    return operands[0]


def relu(layer, operands, weights):
    return np.maximum(operands[0], 0.0)


def sigmoid(layer, operands, weights):
    return 1.0 / (1.0 + np.exp(-operands[0]))


def tanh(layer, operands, weights):
    return np.tanh(operands[0])


def softmax(layer, operands, weights):
    exponentials = np.exp(operands[0] - operands[0].max())
    return exponentials / exponentials.sum()


def add(layer, operands, weights):
    return sum(operands[1:], operands[0])


def concat(layer, operands, weights):
    return np.concatenate(operands, axis=0)


# Each function is named after the kind it computes.
REFERENCE = {function.__name__: function for function in (
    conv, maxpool, avgpool, globalavgpool, adaptiveavgpool, flatten, dense, batchnorm, dropout,
    relu, sigmoid, tanh, softmax, add, concat,
)}


def run_example(network, weights, x):
    values = {"input": np.asarray(x, dtype=np.float64)}
    for layer in network.layers:
        operands = [values[name] for name in layer.node.inputs]
        values[layer.node.name] = REFERENCE[layer.node.kind](layer, operands, weights)
    return values[network.output]


def run(network, weights, batch):
    return np.stack([run_example(network, weights, x) for x in batch])
