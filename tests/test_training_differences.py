"""Training without PyTorch: the loss and every weight gradient of the generated training
step equal central differences of the numpy reference's loss, in float64, on tiny specs
with every kind the reference computes as training does (all but batchnorm and dropout,
which it computes in their inference form) and every padding form."""
import numpy as np
import pytest

import netspec
from netspec.backends.llvm.training import compile_training
from netspec.weights import initial_weights
from reference import run


@pytest.mark.parametrize("text", [
    "input 1x3x3\nconv 2 kernel=2 stride=2 padding=1\ntanh\nflatten\ndense 3\n",
    # pooling with asymmetric padding, and 1x0 padding; `same` padding unevenly (1 row, 0 columns);
    # a layer before each pooling, so the gradients of weights depend on its backward pass
    "input 2x4x4\nconv 2 kernel=1\nmaxpool kernel=2 stride=1 padding=0,1,1,0\nsigmoid\navgpool kernel=2 padding=1x0\n"
    "conv 2 kernel=2x1 stride=2x1 padding=same\nflatten\ndense 3\n",
    # joins: add with an operand twice, concat; max pooling with `same`; adaptive pooling
    # up in height and unevenly down in width; a softmax inside
    "input 1x4x5\na: conv 2 kernel=1\nb: conv 2 kernel=3 padding=same input=input\nr: relu\ns: add a r a\n"
    "concat s b\nmaxpool kernel=3 stride=2 padding=same\nadaptiveavgpool 3x2\nflatten\nsoftmax\ndense 3\n",
    "input 2x5x5\nconv 2 kernel=1\navgpool kernel=3 stride=2 padding=same\nconv 3 kernel=2 padding=0,1,1,0 bias=false\nrelu\n"
    "globalavgpool\nflatten\ndense 3 bias=false\n",
], ids=["conv-tanh-dense", "pooling-padding-forms", "joins-adaptive-softmax", "global-no-bias"])
def test_gradients_equal_central_differences_of_the_numpy_reference(text):
    graph = netspec.loads(f"network t\n{text}").graph
    rng = np.random.default_rng(5)
    weights = {key: array.astype(np.float64) for key, array in initial_weights(graph, seed=5).items()}
    x, labels = rng.standard_normal((2, *graph.input_shape)), np.array([2, 0])

    def loss(arrays):
        logits = run(graph, arrays, x)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -log_softmax[np.arange(len(labels)), labels].mean()

    value, gradients = compile_training(graph, weights).loss_and_gradients(x, labels)
    assert value == pytest.approx(loss(weights), rel=1e-5)
    step = 1e-6
    for key, array in weights.items():
        for position in np.ndindex(array.shape):
            up, down = ({**weights, key: array.copy()} for _ in range(2))
            up[key][position] += step
            down[key][position] -= step
            expected = (loss(up) - loss(down)) / (2 * step)
            assert gradients[key][position] == pytest.approx(expected, abs=1e-5), (key, position)
