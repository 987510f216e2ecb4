"""Pick the compute device named in params (``auto`` tries cuda, then mps, then cpu)."""

from __future__ import annotations

import torch

from invest.errors import DeviceError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            "train.device is cuda but this machine has no usable CUDA GPU (or torch is a CPU build); "
            "set train.device to auto or cpu, or install a CUDA build of torch"
        )
    if name == "mps" and not _mps_available():
        raise DeviceError("train.device is mps but Apple's MPS backend is not available here; set train.device to auto or cpu")
    return torch.device(name)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
