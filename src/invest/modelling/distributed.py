"""Data-parallel training with PyTorch's own engine (torchrun + DistributedDataParallel).

``train.nproc > 1`` makes ``invest train`` relaunch itself under
``python -m torch.distributed.run --standalone --nproc-per-node N``; each process
then joins the group (gloo on CPU, NCCL on CUDA), trains on its shard of every
global batch, and rank 0 alone writes outputs.
"""

from __future__ import annotations

import os
import subprocess
import sys

import torch
import torch.distributed as dist

from invest.errors import ConfigError


def under_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


# torchrun itself, except that a failed worker (which has printed its own one-line error) ends it with
# exit code 1 instead of torchrun's ChildFailedError traceback.
_TORCHRUN = """
import sys
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import main
try:
    main()
except ChildFailedError:
    sys.exit(1)
"""


def preflight(device_name: str, db_path: str | os.PathLike[str]) -> None:
    """Fail in the launching process, with one line, on what every worker would fail on: device and store."""
    from invest.data.store import connect_readonly
    from invest.modelling.device import resolve_device

    resolve_device(device_name)
    connect_readonly(db_path).close()


def relaunch(nproc: int, argv: list[str]) -> int:
    """Run ``invest <argv>`` in ``nproc`` processes with torchrun; return its exit code."""
    command = [sys.executable, "-c", _TORCHRUN, "--standalone", f"--nproc-per-node={nproc}", "-m", "invest", *argv]
    return subprocess.call(command)


def setup(device: torch.device) -> torch.device:
    """Join the process group when started by torchrun and return this rank's device; else ``device``."""
    if not under_torchrun():
        return device
    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and not torch.cuda.is_available():
        raise ConfigError("train.device is cuda with train.nproc > 1 but no CUDA GPU is visible; use cpu (gloo)")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    local_rank = int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def mean_over_ranks(total: float, count: int) -> float:
    """Sum ``total`` and ``count`` over ranks and return the global mean."""
    if world_size() == 1:
        return total / max(count, 1)
    values = torch.tensor([total, float(count)], dtype=torch.float64)
    dist.all_reduce(values)
    return float(values[0] / values[1].clamp(min=1))


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
