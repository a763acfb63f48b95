"""The PyTorch equivalent of a shaped graph, built layer by layer from torch.nn.functional.

Used by the tests as an independent oracle and by the benchmark as the PyTorch
and ONNX Runtime peers (it exports to ONNX like any nn.Module). `TORCH` has one
function per layer kind, `(layer, operands, weights) -> output` on a batch;
test_completeness checks it covers the registry.
"""
import numpy as np
import torch

F = torch.nn.functional


def torch_forward(network, weights, x):
    """Apply the shaped graph's layers with torch.nn.functional to a numpy batch."""
    return _apply(network, {k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()}, torch.from_numpy(x)).numpy()


class TorchNetwork(torch.nn.Module):
    """The same computation as an nn.Module (weights as buffers), for eager runs and ONNX export."""

    def __init__(self, network, weights):
        super().__init__()
        self.network = network
        self.keys = list(weights)
        for i, key in enumerate(self.keys):
            self.register_buffer(f"w{i}", torch.from_numpy(np.asarray(weights[key], dtype=np.float32)))

    def forward(self, x):
        weights = {key: getattr(self, f"w{i}") for i, key in enumerate(self.keys)}
        return _apply(self.network, weights, x)


def _weight(layer, weights, suffix):
    """The layer's weight `NAME.suffix`, or None (a layer without bias)."""
    return weights.get(f"{layer.node.name}.{suffix}")


def _padded(t, padding, fill):
    """The tensor and the `padding=` argument for a windowed torch function. Symmetric
    padding is the layer's own, as a PyTorch user would write it; torch has no asymmetric
    form, so that is an explicit F.pad (with `fill`) and the layer pads nothing."""
    if padding.is_symmetric():
        return t, (padding.top, padding.left)
    return F.pad(t, (padding.left, padding.right, padding.top, padding.bottom), value=fill), (0, 0)


def conv(layer, operands, weights):
    a = layer.attrs
    t, padding = _padded(operands[0], a.padding, 0.0)
    return F.conv2d(t, _weight(layer, weights, "weight"), _weight(layer, weights, "bias"),
                    stride=a.stride, padding=padding)


def maxpool(layer, operands, weights):
    a = layer.attrs
    t, padding = _padded(operands[0], a.padding, float("-inf"))
    return F.max_pool2d(t, a.kernel, a.step, padding=padding)


def avgpool(layer, operands, weights):
    a = layer.attrs
    t, padding = _padded(operands[0], a.padding, 0.0)
    return F.avg_pool2d(t, a.kernel, a.step, padding=padding)


def globalavgpool(layer, operands, weights):
    return F.adaptive_avg_pool2d(operands[0], 1)


def adaptiveavgpool(layer, operands, weights):
    return F.adaptive_avg_pool2d(operands[0], layer.attrs.size)


def flatten(layer, operands, weights):
    return torch.flatten(operands[0], 1)


def dense(layer, operands, weights):
    return F.linear(operands[0], _weight(layer, weights, "weight"), _weight(layer, weights, "bias"))


def batchnorm(layer, operands, weights):
    return F.batch_norm(operands[0], _weight(layer, weights, "running_mean"), _weight(layer, weights, "running_var"),
                        _weight(layer, weights, "weight"), _weight(layer, weights, "bias"),
                        training=False, eps=layer.attrs.eps)


def dropout(layer, operands, weights):
    return F.dropout(operands[0], layer.attrs.p, training=False)


def relu(layer, operands, weights):
    return torch.relu(operands[0])


def sigmoid(layer, operands, weights):
    return torch.sigmoid(operands[0])


def tanh(layer, operands, weights):
    return torch.tanh(operands[0])


def softmax(layer, operands, weights):
    return torch.softmax(operands[0], dim=1)


def add(layer, operands, weights):
    return sum(operands[1:], operands[0])


def concat(layer, operands, weights):
    return torch.cat(operands, dim=1)


# Each function is named after the kind it computes.
TORCH = {function.__name__: function for function in (
    conv, maxpool, avgpool, globalavgpool, adaptiveavgpool, flatten, dense, batchnorm, dropout,
    relu, sigmoid, tanh, softmax, add, concat,
)}


def _apply(network, weights, x):
    values = {"input": x}
    for layer in network.layers:
        operands = [values[name] for name in layer.node.inputs]
        values[layer.node.name] = TORCH[layer.node.kind](layer, operands, weights)
    return values[network.output]
