"""Walk-forward jobs give identical results here, in local processes and on a real Ray cluster."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import SMALL_PARAMS

from invest.data.panel import load_panel
from invest.evaluation import walk_forward
from invest.params import from_dict

# two test years, two members each: four member jobs and the baselines' jobs
PARAMS = {**SMALL_PARAMS, "evaluate": {**SMALL_PARAMS["evaluate"], "test_years": [2016, 2017]}}


def run(small_store: Path, **evaluate) -> pd.DataFrame:
    params = from_dict({**PARAMS, "evaluate": {**PARAMS["evaluate"], **evaluate}})
    return walk_forward.walk_forward(load_panel(small_store), params)


@pytest.fixture(scope="module")
def serial(small_store) -> pd.DataFrame:
    return run(small_store, n_jobs=1)


def test_local_processes_give_the_serial_results(serial, small_store):
    pd.testing.assert_frame_equal(run(small_store, n_jobs=2), serial, check_exact=True)
    assert {"model", "ridge", "gbt", "model_member_0", "model_member_1"} <= set(serial.columns)


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A real one-node Ray cluster on 127.0.0.1, started and stopped by the test (Ray is in requirements.lock)."""
    ray_cli = str(Path(sys.executable).parent / "ray")
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = subprocess.run(
        [ray_cli, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={tmp_path_factory.mktemp('ray')}"],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        ray.shutdown()
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120, env=env)


@pytest.mark.slow
def test_a_ray_cluster_gives_the_serial_results(serial, small_store, ray_cluster):
    on_ray = run(small_store, backend="ray", ray_address=ray_cluster)
    pd.testing.assert_frame_equal(on_ray, serial, check_exact=True)


def test_a_warm_start_gives_the_same_results_serial_and_in_processes(small_store):
    """Each chunk of members runs through the test years in order; the pool changes nothing."""
    serial = run(small_store, n_jobs=1, warm_start=True)
    pd.testing.assert_frame_equal(run(small_store, n_jobs=2, warm_start=True), serial, check_exact=True)
