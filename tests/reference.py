"""A slow, obviously-correct executor for checked networks: direct loops in numpy,
written for clarity. It is the oracle the generated code is compared against."""
from __future__ import annotations

import numpy as np


def _pad(x, padding, value):
    return np.pad(x, ((0, 0), (padding.top, padding.bottom), (padding.left, padding.right)), constant_values=value)


def conv(x, weight, bias, stride, padding):
    x = _pad(x.astype(np.float64), padding, 0.0)
    c_o, c_i, k_h, k_w = weight.shape
    s_h, s_w = stride
    o_h = (x.shape[1] - k_h) // s_h + 1
    o_w = (x.shape[2] - k_w) // s_w + 1
    out = np.zeros((c_o, o_h, o_w))
    for oc in range(c_o):
        for i in range(o_h):
            for j in range(o_w):
                window = x[:, i * s_h:i * s_h + k_h, j * s_w:j * s_w + k_w]
                out[oc, i, j] = np.sum(window * weight[oc]) + (bias[oc] if bias is not None else 0.0)
    return out


def pool(x, kernel, stride, padding, kind):
    fill = -np.inf if kind == "maxpool" else 0.0
    x = _pad(x.astype(np.float64), padding, fill)
    (k_h, k_w), (s_h, s_w) = kernel, stride
    o_h = (x.shape[1] - k_h) // s_h + 1
    o_w = (x.shape[2] - k_w) // s_w + 1
    out = np.zeros((x.shape[0], o_h, o_w))
    for i in range(o_h):
        for j in range(o_w):
            window = x[:, i * s_h:i * s_h + k_h, j * s_w:j * s_w + k_w]
            out[:, i, j] = window.max(axis=(1, 2)) if kind == "maxpool" else window.mean(axis=(1, 2))
    return out


ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "softmax": lambda x: np.exp(x - x.max()) / np.exp(x - x.max()).sum(),
}


def batchnorm(x, weights, name, eps):
    mean, var = weights[f"{name}.running_mean"], weights[f"{name}.running_var"]
    gamma, beta = weights[f"{name}.weight"], weights[f"{name}.bias"]
    shape = (-1,) + (1,) * (x.ndim - 1)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + beta.reshape(shape)


def adaptive_average(x, size):
    channels, n_h, n_w = x.shape
    out = np.zeros((channels, *size))
    for i in range(size[0]):
        for j in range(size[1]):
            rows = slice(i * n_h // size[0], -(-(i + 1) * n_h // size[0]))
            columns = slice(j * n_w // size[1], -(-(j + 1) * n_w // size[1]))
            out[:, i, j] = x[:, rows, columns].mean(axis=(1, 2))
    return out


def run_example(network, weights, x):
    values = {"input": np.asarray(x, dtype=np.float64)}
    for layer in network.layers:
        node, a = layer.node, layer.attrs
        source = values[node.inputs[0]]
        operands = [values[name] for name in node.inputs]
        weight = weights.get(f"{node.name}.weight")
        bias = weights.get(f"{node.name}.bias")
        if node.kind == "conv":
            out = conv(source, weight.astype(np.float64), bias, a.stride, a.padding)
        elif node.kind in ("maxpool", "avgpool"):
            out = pool(source, a.kernel, a.step, a.padding, node.kind)
        elif node.kind == "flatten":
            out = source.reshape(-1)
        elif node.kind == "dense":
            out = weight.astype(np.float64) @ source + (bias if bias is not None else 0.0)
        elif node.kind == "batchnorm":
            out = batchnorm(source, weights, node.name, a.eps)
        elif node.kind == "dropout":
            out = source
        elif node.kind == "globalavgpool":
            out = source.mean(axis=(1, 2), keepdims=True)
        elif node.kind == "adaptiveavgpool":
            out = adaptive_average(source, a.size)
        elif node.kind == "add":
            out = sum(operands[1:], operands[0])
        elif node.kind == "concat":
            out = np.concatenate(operands, axis=0)
        else:
            out = ACTIVATIONS[node.kind](source)
        values[node.name] = out
    return values[network.output]


def run(network, weights, batch):
    return np.stack([run_example(network, weights, x) for x in batch])
