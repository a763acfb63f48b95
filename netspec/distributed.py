"""`netspec run --dask`: the chunks of a streamed run (stream.py) sent to a Dask cluster,
an existing one by its scheduler's address or a LocalCluster of worker processes on this
machine's loopback interface, started and stopped here. The model goes to each worker
once and is compiled there once (from that worker's own cache when it has the same CPU
and netspec); chunks lost with a worker are run again by Dask on another."""
from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .backends.llvm.blocks import dask_modules, run_block
from .errors import DataError

LOCAL = re.compile(r"local:(\d+)")
# Chunks in flight per worker thread: one running and one on its way, so no worker waits.
IN_FLIGHT_PER_THREAD = 2
# Copies of a chunk in flight on this machine until its task is done: the client's pickled
# frames, the scheduler's (in this process for local:N) and the mapped pages being sent.
COPIES_IN_FLIGHT = 4


def local_workers(address: str) -> int | None:
    """N for `local:N`; None for a scheduler's address."""
    match = LOCAL.fullmatch(address)
    return int(match.group(1)) if match else None


@contextmanager
def dask_client(address: str):
    """A client of the cluster at `address`: a scheduler's address (tcp://HOST:8786), or
    local:N for N worker processes here, one thread each, stopped on leaving."""
    dask, _ = dask_modules()
    try:
        from distributed import Client, LocalCluster
    except ModuleNotFoundError:
        raise DataError("--dask needs Dask's distributed scheduler: pip install 'netspec[scale]'") from None

    workers = local_workers(address)
    cluster = None
    try:
        if workers is not None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
            client = Client(cluster)
        else:
            client = Client(address)
    except (OSError, TimeoutError, ValueError) as problem:
        if cluster is not None:
            cluster.close()
        raise DataError(f"cannot reach the Dask scheduler at {address}: {problem}") from None
    try:
        # A chunk travels inside its task, so that the scheduler can run it again on another
        # worker when its worker dies; Dask warns about tasks past 10 MB, as chunks are.
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "4GiB"}):
            yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def worker_threads(client) -> int:
    return max(1, sum(worker["nthreads"] for worker in client.scheduler_info()["workers"].values()))


@dataclass(frozen=True)
class _Chunk:
    future: object

    def result(self) -> np.ndarray:
        from distributed import KilledWorker

        try:
            return self.future.result()
        except KilledWorker as killed:
            raise DataError(f"Dask gave up on a chunk after the workers running it died ({killed})") from None


class DaskRunner:
    """Runs chunks as Dask tasks; the model is a task of its own whose result each worker
    fetches once, so it is not sent with every chunk."""

    def __init__(self, client, model):
        self._client = client
        self._model = client.submit(_itself, model, pure=False)
        self.window = IN_FLIGHT_PER_THREAD * worker_threads(client)
        self.copies = COPIES_IN_FLIGHT * self.window  # what the memory limit is divided among

    def submit(self, examples: np.ndarray) -> _Chunk:
        return _Chunk(self._client.submit(run_block, self._model, examples, pure=False))


def _itself(model):
    return model
