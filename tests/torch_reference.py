"""The PyTorch equivalent of a checked network, built layer by layer from torch.nn.functional.

Used by the tests as an independent oracle and by the benchmark as the PyTorch
and ONNX Runtime peers (it exports to ONNX like any nn.Module).
"""
import numpy as np
import torch

F = torch.nn.functional


def torch_forward(network, weights, x):
    """Apply the checked network's layers with torch.nn.functional to a numpy batch."""
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


def _apply(network, weights, x):
    values = {"input": x}
    for layer in network.layers:
        node, a = layer.node, layer.attrs
        t = values[node.inputs[0]]
        operands = [values[name] for name in node.inputs]
        w = weights.get(f"{node.name}.weight")
        b = weights.get(f"{node.name}.bias")
        padding = (0, 0)
        if node.kind in ("conv", "maxpool", "avgpool"):
            p = a.padding
            if p.is_symmetric():
                padding = (p.top, p.left)  # the layer pads itself, as a PyTorch user would write it
            else:
                t = F.pad(t, (p.left, p.right, p.top, p.bottom), value=float("-inf") if node.kind == "maxpool" else 0.0)
        if node.kind == "conv":
            t = F.conv2d(t, w, b, stride=a.stride, padding=padding)
        elif node.kind == "maxpool":
            t = F.max_pool2d(t, a.kernel, a.step, padding=padding)
        elif node.kind == "avgpool":
            t = F.avg_pool2d(t, a.kernel, a.step, padding=padding)
        elif node.kind == "flatten":
            t = torch.flatten(t, 1)
        elif node.kind == "dense":
            t = F.linear(t, w, b)
        elif node.kind == "softmax":
            t = torch.softmax(t, dim=1)
        elif node.kind == "dropout":
            t = F.dropout(t, a.p, training=False)
        elif node.kind == "batchnorm":
            t = F.batch_norm(t, weights[f"{node.name}.running_mean"], weights[f"{node.name}.running_var"],
                             w, b, training=False, eps=a.eps)
        elif node.kind == "globalavgpool":
            t = F.adaptive_avg_pool2d(t, 1)
        elif node.kind == "adaptiveavgpool":
            t = F.adaptive_avg_pool2d(t, a.size)
        elif node.kind == "add":
            t = sum(operands[1:], operands[0])
        elif node.kind == "concat":
            t = torch.cat(operands, dim=1)
        else:
            t = getattr(torch, node.kind)(t)
        values[node.name] = t
    return values[network.output]


