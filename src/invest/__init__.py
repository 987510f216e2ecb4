"""invest: a reproducible DVC pipeline for an honestly evaluated stock-return model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invest import numerics

numerics.pin()  # before anything imports numpy or torch: the same bits on every x86-64 CPU

if TYPE_CHECKING:
    from invest.modelling.checkpoint import LoadedModel

__all__ = ["load_model"]


def load_model(path: str) -> LoadedModel:
    """Load a checkpoint written by ``invest train``: the network (eval mode), its scaler and metadata."""
    from invest.modelling.checkpoint import load_model as _load

    return _load(path)
