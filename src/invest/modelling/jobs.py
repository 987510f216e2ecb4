"""Run independent jobs here, in a pool of local processes, or on a Ray cluster; results in job order.

The walk-forward evaluation is a set of independent jobs (each test year's ensemble members and
baselines), and so is the ``train`` stage's ensemble when ``train.n_jobs`` > 1 (chunks of members). Every job seeds itself and caps its own threads (``train.num_threads``), so the results
do not depend on where or in what order it runs: ``evaluate.n_jobs: 1`` (in this process),
``n_jobs: N`` (N local processes, joblib's loky backend) and ``backend: ray`` (Ray tasks on the
cluster at ``evaluate.ray_address``) give identical numbers (``tests/test_jobs.py``).

Inputs every job reads (the walk-forward's model arrays) travel once, apart from the jobs: ``run``'s
``shared`` object stands in wherever a job's arguments hold ``SHARED``. Local processes get its large
arrays as read-only memory maps of one temporary file each, Ray workers get it from the object store
(put once), and a serial run passes it as it is: no job pickles its own copy.

Why Ray for clusters: one ``ray start`` per machine makes a cluster, tasks move numpy arrays through
its shared object store, and the same code runs on a laptop's local instance. The workers get the
pinned CPU numerics of ``invest.numerics`` through Ray's runtime environment, so a cluster computes
the same bits as this machine (docs/cluster.md).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from invest import numerics
from invest.errors import ConfigError


@dataclass(frozen=True)
class Job:
    function: Callable[..., Any]  # a module-level function: it travels by reference
    args: tuple[Any, ...]


class _Shared:
    def __repr__(self) -> str:
        return "SHARED"


SHARED = _Shared()  # in a job's arguments: the ``shared`` object of ``run``
MEMMAP_BYTES = 1 << 20  # arrays at least this large reach local processes as memory maps


@dataclass(frozen=True)
class Pool:
    """Where jobs run: ``n_jobs`` local processes (1: here), or a Ray cluster (``backend: ray``)."""

    n_jobs: int = 1
    backend: str = "local"
    ray_address: str = "auto"

    @classmethod
    def of(cls, settings: Any) -> Pool:
        """The pool ``evaluate.n_jobs`` / ``backend`` / ``ray_address`` describe (any object with those fields)."""
        return cls(settings.n_jobs, getattr(settings, "backend", "local"), getattr(settings, "ray_address", "auto"))


def run(jobs: Sequence[Job], settings: Pool | Any, shared: Any = None) -> list[Any]:
    """Every job's result, in the order of ``jobs`` (``SHARED`` in their arguments stands for ``shared``)."""
    settings = settings if isinstance(settings, Pool) else Pool.of(settings)
    if settings.backend == "ray":
        return _on_ray(jobs, settings, shared)
    if settings.n_jobs == 1 or len(jobs) <= 1:
        return [job.function(*_with(job.args, shared)) for job in jobs]
    from joblib import Parallel, delayed

    with tempfile.TemporaryDirectory(prefix="invest-jobs-") as folder:
        mapped = memory_mapped(shared, Path(folder))
        # max_nbytes=None: joblib must not dump its own copy of an argument per job
        pool = Parallel(n_jobs=settings.n_jobs, backend="loky", max_nbytes=None)
        return pool(delayed(job.function)(*_with(job.args, mapped)) for job in jobs)


def _with(args: tuple[Any, ...], shared: Any) -> tuple[Any, ...]:
    return tuple(shared if arg is SHARED else arg for arg in args)


def memory_mapped(value: Any, folder: Path) -> Any:
    """``value`` (a dataclass of arrays) with each large array replaced by a read-only memory map of a file
    written once in ``folder``; a memory map pickles as its file name, so every process maps the same pages."""
    if value is None or not dataclasses.is_dataclass(value):
        return value
    fields = {}
    for field in dataclasses.fields(value):
        array = getattr(value, field.name)
        if isinstance(array, np.ndarray) and array.dtype != object and array.nbytes >= MEMMAP_BYTES:
            path = folder / f"{field.name}.npy"
            np.save(path, array)
            array = np.load(path, mmap_mode="r")
        fields[field.name] = array
    return dataclasses.replace(value, **fields)


def _on_ray(jobs: Sequence[Job], settings: Pool, shared: Any = None) -> list[Any]:
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
    stored: dict[int, Any] = {}  # each large argument goes to the object store once, however many jobs use it

    def put(value: Any) -> Any:
        if isinstance(value, (int, float, str, bool)) or value is None:
            return value
        if id(value) not in stored:
            stored[id(value)] = ray.put(value)
        return stored[id(value)]

    return ray.get([remote.remote(job.function, *(put(arg) for arg in _with(job.args, shared))) for job in jobs])


def _call(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)
