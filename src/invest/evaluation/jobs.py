"""Run independent jobs here, in a pool of local processes, or on a Ray cluster; results in job order.

The walk-forward evaluation is a set of independent jobs (each test year's ensemble members and
baselines). Every job seeds itself and caps its own threads (``train.num_threads``), so the results
do not depend on where or in what order it runs: ``evaluate.n_jobs: 1`` (in this process),
``n_jobs: N`` (N local processes, joblib's loky backend) and ``backend: ray`` (Ray tasks on the
cluster at ``evaluate.ray_address``) give identical numbers (``tests/test_jobs.py``).

Why Ray for clusters: one ``ray start`` per machine makes a cluster, tasks move numpy arrays through
its shared object store, and the same code runs on a laptop's local instance. The workers get the
pinned CPU numerics of ``invest.numerics`` through Ray's runtime environment, so a cluster computes
the same bits as this machine (docs/cluster.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from invest import numerics
from invest.errors import ConfigError
from invest.params import EvaluateParams


@dataclass(frozen=True)
class Job:
    function: Callable[..., Any]  # a module-level function: it travels by reference
    args: tuple[Any, ...]


def run(jobs: Sequence[Job], settings: EvaluateParams) -> list[Any]:
    """Every job's result, in the order of ``jobs``."""
    if settings.backend == "ray":
        return _on_ray(jobs, settings)
    if settings.n_jobs == 1 or len(jobs) <= 1:
        return [job.function(*job.args) for job in jobs]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=settings.n_jobs, backend="loky")(delayed(job.function)(*job.args) for job in jobs)


def _on_ray(jobs: Sequence[Job], settings: EvaluateParams) -> list[Any]:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "evaluate.backend is ray but Ray is not installed; pip install ray, or set evaluate.backend: local"
        ) from None
    address = settings.ray_address if settings.ray_address != "auto" else os.environ.get("RAY_ADDRESS")
    if not ray.is_initialized():
        try:  # the workers compute with the same pinned numerics as this process
            ray.init(address=address, runtime_env={"env_vars": numerics.pin()}, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = address or "a local Ray instance"
            raise ConfigError(
                f"cannot connect to Ray at {where} ({' '.join(str(exc).split())[:160]}); check evaluate.ray_address"
            ) from None
    remote = ray.remote(num_cpus=1)(_call)
    shared: dict[int, Any] = {}  # each large argument goes to the object store once, however many jobs use it

    def put(value: Any) -> Any:
        if isinstance(value, (int, float, str, bool)) or value is None:
            return value
        if id(value) not in shared:
            shared[id(value)] = ray.put(value)
        return shared[id(value)]

    return ray.get([remote.remote(job.function, *(put(arg) for arg in job.args)) for job in jobs])


def _call(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)
