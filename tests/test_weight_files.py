"""Reading weight files: .npz, .safetensors and PyTorch checkpoints in the order the model
defines its tensors; damaged files, pickled objects and missing packages refused by name."""
import struct
import subprocess
import sys

import numpy as np
import pytest

import netspec
from netspec.interop.weight_files import read_weight_file

torch = pytest.importorskip("torch")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

from d2l_models import lenet5  # noqa: E402  (needs torch)


class NotATensor:
    """Pickled by reference, so loading it would run this module's code: weights_only refuses."""


def state_dict_of_lenet5():
    torch.manual_seed(0)
    return lenet5().eval().state_dict()


def save(state, path):
    """A state_dict in the format the path's suffix names."""
    arrays = {key: value.numpy() for key, value in state.items()}
    if path.suffix in (".pt", ".pth"):
        torch.save(state, path)
    elif path.suffix == ".safetensors":
        safetensors_numpy.save_file(arrays, str(path))
    else:
        np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".safetensors", ".npz"])
def test_a_pytorch_lenet5_runs_as_in_pytorch_from_every_format(tmp_path, suffix):
    torch.manual_seed(0)
    reference = lenet5().eval()
    path = save(reference.state_dict(), tmp_path / f"lenet5{suffix}")
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    got = netspec.load("examples/lenet5.net").compile(weights=path)(x)
    with torch.inference_mode():
        expected = reference(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors", ".npz"])
def test_tensors_come_back_in_the_order_the_model_defines_them(tmp_path, suffix):
    state = state_dict_of_lenet5()
    assert list(read_weight_file(save(state, tmp_path / f"w{suffix}"))) == list(state)


def test_safetensors_order_puts_numbered_modules_by_number_and_batchnorm_tensors_as_pytorch_does(tmp_path):
    keys = ["10.weight", "2.running_var", "2.bias", "2.num_batches_tracked", "2.weight", "2.running_mean",
            "1.sub.weight", "1.weight"]
    safetensors_numpy.save_file({key: np.zeros(1, np.float32) for key in keys}, str(tmp_path / "w.safetensors"))
    assert list(read_weight_file(tmp_path / "w.safetensors")) == [
        "1.weight", "1.sub.weight", "2.weight", "2.bias", "2.running_mean", "2.running_var", "2.num_batches_tracked",
        "10.weight"]


@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_a_checkpoint_dict_holding_the_state_dict_is_read(tmp_path, wrapper):
    state = state_dict_of_lenet5()
    torch.save({"epoch": 3, wrapper: state, "optimizer": {"lr": 0.1}}, tmp_path / "checkpoint.pt")
    arrays = read_weight_file(tmp_path / "checkpoint.pt")
    assert list(arrays) == list(state)
    np.testing.assert_array_equal(arrays["3.weight"], state["3.weight"].numpy())


def test_bfloat16_tensors_are_widened_to_float32_exactly(tmp_path):
    value = torch.tensor([1.5, -0.375, 3e38], dtype=torch.bfloat16)
    torch.save({"w": value}, tmp_path / "w.pt")
    widened = read_weight_file(tmp_path / "w.pt")["w"]
    assert widened.dtype == np.float32
    np.testing.assert_array_equal(widened, value.float().numpy())


@pytest.mark.parametrize("content, message", [
    ({"w": NotATensor()}, "holds Python objects other than tensors (it refers to test_weight_files.NotATensor);"),
    (torch.nn.Linear(2, 3), "holds Python objects other than tensors (it refers to torch.nn.modules.linear.Linear);"),
])
def test_pickled_objects_are_refused_without_being_unpickled(tmp_path, content, message):
    torch.save(content, tmp_path / "objects.pt")
    with pytest.raises(netspec.DataError) as caught:
        read_weight_file(tmp_path / "objects.pt")
    assert str(caught.value).startswith(f"weights file {tmp_path / 'objects.pt'} {message}")
    assert str(caught.value).endswith("never unpickles arbitrary objects: save the model's state_dict() instead")


@pytest.mark.parametrize("content, message", [
    ({"0.weight": torch.zeros(2), "epoch": 3}, "entry epoch: not a tensor but a value of type int"),
    ([torch.zeros(2)], "holds list; expected a state_dict (names to tensors), or a checkpoint dict holding one "
                       "under 'state_dict' or 'model'"),
    ({1: torch.zeros(2)}, "holds a dict with keys 1; expected a state_dict"),
])
def test_checkpoints_without_a_state_dict_say_what_they_hold(tmp_path, content, message):
    torch.save(content, tmp_path / "w.pt")
    with pytest.raises(netspec.DataError, match="^weights file .*w.pt,? " + message.replace("(", r"\(").replace(")", r"\)")):
        read_weight_file(tmp_path / "w.pt")


@pytest.mark.parametrize("suffix", [".pt", ".safetensors", ".npz"])
def test_truncated_files_are_refused_naming_the_file(tmp_path, suffix):
    whole = save(state_dict_of_lenet5(), tmp_path / f"whole{suffix}").read_bytes()
    for cut in (0, 7, len(whole) // 2, len(whole) - 1):
        path = tmp_path / f"cut{suffix}"
        path.write_bytes(whole[:cut])
        with pytest.raises(netspec.DataError) as caught:
            read_weight_file(path)
        assert str(caught.value).startswith(f"weights file {path}"), cut
        assert "truncated" in str(caught.value), cut


@pytest.mark.parametrize("header", [b"{not json", b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 99]}}',
                                    b'{"w": {"dtype": "XX", "shape": [1], "data_offsets": [0, 4]}}'])
def test_a_malformed_safetensors_header_is_refused(tmp_path, header):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(16))
    with pytest.raises(netspec.DataError, match=f"^weights file {path} is truncated or not a valid .safetensors file"):
        read_weight_file(path)


def save_bfloat16_safetensors(path):
    import safetensors.torch

    value = torch.tensor([1.5, -0.375, 3e38], dtype=torch.bfloat16)
    safetensors.torch.save_file({"w": value}, str(path))
    return value


def test_bfloat16_safetensors_are_widened_to_float32_when_numpy_knows_the_type(tmp_path):
    pytest.importorskip("ml_dtypes")  # installed with onnx; it registers bfloat16 with numpy
    value = save_bfloat16_safetensors(tmp_path / "w.safetensors")
    widened = read_weight_file(tmp_path / "w.safetensors")["w"]
    assert widened.dtype == np.float32
    np.testing.assert_array_equal(widened, value.float().numpy())


def test_bfloat16_safetensors_without_ml_dtypes_are_named_with_their_key(tmp_path):
    save_bfloat16_safetensors(tmp_path / "w.safetensors")
    # A fresh interpreter: once imported, ml_dtypes' types stay registered with numpy.
    code = ("import sys; sys.modules['ml_dtypes'] = None\n"
            "from netspec.interop.weight_files import read_weight_file\n"
            f"read_weight_file({str(tmp_path / 'w.safetensors')!r})")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "tensor w: numpy cannot read its type" in result.stderr and "save it as float32" in result.stderr


def test_other_suffixes_are_refused_with_the_formats_netspec_reads(tmp_path):
    with pytest.raises(netspec.DataError, match=r"netspec reads .npz, .safetensors, .pt, .pth files, not '.h5'"):
        read_weight_file(tmp_path / "w.h5")
    with pytest.raises(netspec.DataError, match="not files without a suffix"):
        read_weight_file(tmp_path / "weights")


def test_a_missing_file_and_a_directory_are_named(tmp_path):
    with pytest.raises(netspec.DataError, match="w.pt does not exist"):
        read_weight_file(tmp_path / "w.pt")
    (tmp_path / "d.safetensors").mkdir()
    with pytest.raises(netspec.DataError, match="d.safetensors is a directory, not a .safetensors file"):
        read_weight_file(tmp_path / "d.safetensors")


def test_without_the_safetensors_package_the_message_says_what_to_install(tmp_path, monkeypatch):
    path = save(state_dict_of_lenet5(), tmp_path / "w.safetensors")
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(netspec.DataError, match=r"reading .safetensors needs the safetensors package: "
                                                r"pip install 'netspec\[weights\]'"):
        read_weight_file(path)


def test_without_torch_the_message_says_what_to_install(tmp_path, monkeypatch):
    path = save(state_dict_of_lenet5(), tmp_path / "w.pt")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(netspec.DataError, match=r"reading a PyTorch checkpoint needs torch: pip install 'netspec\[torch\]'"):
        read_weight_file(path)
