"""The modern CNNs of the examples: shapes and parameter counts against hand-derived
figures, and, where PyTorch is installed, against an independent PyTorch build of
each (parameter counts, every weight's shape in order, and outputs on the same weights)."""
import numpy as np
import pytest

import netspec
from netspec.weights import weight_shapes

# Totals derived by hand from the architectures (e.g. AlexNet: 11,712 + 614,656 + 885,120
# + 1,327,488 + 884,992 + 26,218,496 + 16,781,312 + 40,970).
PARAMS = {"alexnet": 46_764_746, "vgg11": 128_806_154, "nin": 1_992_166, "googlenet": 5_977_530,
          "resnet18": 11_178_378, "densenet": 758_226}

# Output shapes at stage boundaries, from out = floor((n - k + p + s) / s) by hand.
SHAPES = {
    "alexnet": {"conv1": (96, 54, 54), "maxpool1": (96, 26, 26), "maxpool2": (256, 12, 12),
                "maxpool3": (256, 5, 5), "flatten1": (6400,), "dense3": (10,)},
    "vgg11": {"vgg_block1.maxpool1": (64, 112, 112), "vgg_block3.conv2": (256, 56, 56),
              "vgg_block5.maxpool1": (512, 7, 7), "flatten1": (25088,), "dense3": (10,)},
    "nin": {"nin_block1.relu3": (96, 54, 54), "maxpool1": (96, 26, 26), "maxpool3": (384, 5, 5),
            "nin_block4.relu3": (10, 5, 5), "globalavgpool1": (10, 1, 1), "flatten1": (10,)},
    "googlenet": {"maxpool2": (192, 12, 12), "inception1.concat1": (256, 12, 12),
                  "inception2.concat1": (480, 12, 12), "inception7.concat1": (832, 6, 6),
                  "inception9.concat1": (1024, 3, 3), "dense1": (10,)},
    "resnet18": {"maxpool1": (64, 24, 24), "same_residual2.relu2": (64, 24, 24),
                 "residual1.shortcut": (128, 12, 12), "residual3.relu2": (512, 3, 3), "dense1": (10,)},
    "densenet": {"maxpool1": (64, 24, 24), "conv_block4.concat1": (192, 24, 24), "transition1.avgpool1": (96, 12, 12),
                 "conv_block8.concat1": (224, 12, 12), "transition3.avgpool1": (120, 3, 3),
                 "conv_block16.concat1": (248, 3, 3), "dense1": (10,)},
}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_shapes_and_parameter_count_by_hand(name):
    network = netspec.load(f"examples/{name}.net").graph
    assert network.params == PARAMS[name]
    for layer, shape in SHAPES[name].items():
        assert network.layer(layer).output_shape == shape, layer


def random_weights(network, rng):
    weights = {}
    for key, shape in weight_shapes(network).items():
        if key.endswith("running_var"):
            weights[key] = rng.uniform(0.5, 2.0, shape).astype(np.float32)
        elif key.endswith("running_mean") or key.endswith(".bias"):
            weights[key] = rng.normal(0, 0.1, shape).astype(np.float32)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            weights[key] = (rng.normal(size=shape) / np.sqrt(fan_in) if len(shape) > 1
                            else rng.uniform(0.5, 1.5, shape)).astype(np.float32)
    return weights


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_matches_an_independent_pytorch_build(name):
    torch = pytest.importorskip("torch")
    from d2l_models import MODELS

    network = netspec.load(f"examples/{name}.net")
    model = MODELS[name]().eval()
    assert sum(p.numel() for p in model.parameters()) == network.graph.params
    ours = weight_shapes(network.graph)
    theirs = [(k, v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
    assert [tuple(v.shape) for _, v in theirs] == list(ours.values())
    rng = np.random.default_rng(0)
    weights = random_weights(network.graph, rng)
    model.load_state_dict({k: torch.from_numpy(weights[ours_key]) for (k, _), ours_key in zip(theirs, ours)},
                          strict=False)
    x = rng.random((2, *network.input_shape), dtype=np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    got = network.compile(weights=weights)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))


def test_resnet_table_shows_blocks_expanded_and_collapsed(cli):
    expanded = cli("check", "examples/resnet18.net")
    assert expanded.exit_code == 0
    assert "residual1.shortcut" in expanded.stdout
    collapsed = cli("check", "examples/resnet18.net", "--collapse")
    assert collapsed.exit_code == 0
    assert "residual1.shortcut" not in collapsed.stdout
    assert "residual1" in collapsed.stdout and "11,178,378" in collapsed.stdout
