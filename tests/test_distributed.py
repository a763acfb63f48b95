"""Runs on Dask: `Model.map_blocks` on a dask array, and `run --dask` on a LocalCluster of
worker processes on the loopback interface (stopped by each test's fixture), including a
worker killed mid-run; outputs always those of one in-memory call of the model."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.errors import DataError

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

ROOT = Path(netspec.__file__).parent.parent
SPEC, WEIGHTS = str(ROOT / "examples/lenet5.net"), str(ROOT / "examples/lenet5.npz")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0")
    with distributed.Client(cluster) as connected:
        yield connected
    cluster.close()


@pytest.fixture(scope="module")
def model():
    return netspec.load(SPEC).compile(weights=WEIGHTS, threads=1)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(3).random((1500, 1, 28, 28), dtype=np.float32)


def test_map_blocks_is_lazy_and_gives_the_in_memory_outputs(client, model, x):
    outputs = model.map_blocks(da.from_array(x, chunks=(200, 1, 28, 28)))
    assert isinstance(outputs, da.Array)
    assert (outputs.shape, outputs.chunks[0]) == ((1500, 10), (200,) * 7 + (100,))
    np.testing.assert_array_equal(outputs.compute(), model(x))


def test_each_worker_compiles_the_model_once(client, model, x):
    model.map_blocks(da.from_array(x, chunks=(100, 1, 28, 28))).compute()

    def received():
        from netspec.backends.llvm import runtime

        return sorted(digest for digest, _ in runtime._RECEIVED)

    # 15 chunks on 2 workers: each holds one compiled model, of this digest, or none if given no chunk
    assert set(map(tuple, client.run(received).values())) <= {(model.digest,), ()}


def test_map_blocks_refuses_arrays_of_another_shape(model):
    with pytest.raises(DataError, match="map_blocks takes a float dask array N x 1x28x28; got 10x3x28x28"):
        model.map_blocks(da.zeros((10, 3, 28, 28), chunks=5))


def test_a_killed_worker_leaves_the_output_complete_and_identical(client, model, x, tmp_path, monkeypatch):
    import netspec.stream
    from netspec.distributed import DaskRunner

    np.save(tmp_path / "x.npy", x)
    source = netspec.stream.ArrayInput(str(tmp_path / "x.npy"), model.graph)
    before = client.run(os.getpid)
    victim = sorted(before.values())[0]
    record = netspec.stream.write_progress

    def record_and_kill(output, progress):
        record(output, progress)
        if len(progress.done) == 3:
            os.kill(victim, signal.SIGKILL)

    monkeypatch.setattr(netspec.stream, "write_progress", record_and_kill)
    streamed = netspec.stream.stream(source, str(tmp_path / "y.npy"), DaskRunner(client, model), model, 50, False)
    assert streamed.chunks == 30
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), model(x))
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid).values()  # it did die, and the nanny started another


def test_cli_on_a_local_cluster_writes_the_bytes_of_the_local_run(cli, tmp_path, x):
    np.save(tmp_path / "x.npy", x)
    common = ("run", SPEC, "--weights", WEIGHTS, "--input", str(tmp_path / "x.npy"), "--max-memory", "3M")
    assert cli(*common, "--output", str(tmp_path / "here.npy")).exit_code == 0
    result = cli(*common, "--output", str(tmp_path / "dask.npy"), "--dask", "local:2", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["dask"] == {"scheduler": "local:2", "worker_threads": 2}
    assert record["chunks"] > 1 and record["examples"] == 1500
    assert (tmp_path / "dask.npy").read_bytes() == (tmp_path / "here.npy").read_bytes()


def test_an_unreachable_scheduler_is_one_clear_error(tmp_path, x):
    np.save(tmp_path / "x.npy", x[:10])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    ran = subprocess.run([sys.executable, "-m", "netspec.cli", "run", SPEC, "--input", str(tmp_path / "x.npy"),
                          "--output", str(tmp_path / "y.npy"), "--dask", "tcp://127.0.0.1:9"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 1
    assert ran.stderr.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert "Traceback" not in ran.stderr


def test_local_needs_a_worker(cli, tmp_path):
    result = cli("run", SPEC, "--input", "x.npy", "--output", "y.npy", "--dask", "local:0")
    assert result.exit_code == 2
    assert "local:N needs at least one worker" in result.output
