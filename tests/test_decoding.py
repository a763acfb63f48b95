"""Images run a chunk at a time, decoded by a pool of threads: the same outputs, names,
classes and unreadable files as reading the whole folder first."""
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.decoding import run_images
from netspec.inputs import load_inputs
from netspec.preprocessing import Preprocessing

pytest.importorskip("PIL")
ROOT = Path(netspec.__file__).parent.parent


@pytest.fixture
def folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(5)
    for label in "01":
        (tmp_path / label).mkdir()
    for index in range(23):
        size = (28, 28) if index % 3 else (40, 31)  # some are resized
        pixels = rng.integers(0, 256, size, dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / str(index % 2) / f"{index:02}.png")
    (tmp_path / "1" / "broken.png").write_bytes(b"\x89PNG not really")
    return tmp_path


@pytest.mark.parametrize("chunk", [1, 4, 50])
def test_chunks_decoded_in_a_pool_give_what_the_whole_folder_gives(folder, chunk):
    model = netspec.load(str(ROOT / "examples/lenet5.net")).compile(weights=str(ROOT / "examples/lenet5.npz"))
    whole = load_inputs([str(folder)], model.input_shape, Preprocessing())
    inputs, outputs, seconds, network_seconds = run_images(model, [str(folder)], Preprocessing(), chunk, workers=3)
    np.testing.assert_array_equal(outputs, model(whole.array))
    assert (inputs.names, inputs.folders, inputs.unread) == (whole.names, whole.folders, whole.unread)
    assert len(inputs.names) == 23 and [u.path for u in inputs.unread] == [str(folder / "1" / "broken.png")]
    assert seconds > network_seconds > 0  # the network's share of the time, decoding excluded
