"""Self-describing model checkpoints: save, load, and check against the current store.

A checkpoint is a ``torch.save``d dict of plain values (loadable with
``weights_only=True``):

  format, format_version      "invest-checkpoint", 1
  architecture                the network's class name
  state_dict                  the network's weights
  model_config                LSTMTransformerNetwork keyword arguments
  temporal_features           ordered names of the per-step inputs (incl. the step mask)
  static_features             ordered names of the static inputs
  feature_schema              store schema version and a hash of the ordered names
  scaler                      medians/scales fitted on the training rows, and the target's
  target                      horizon, kind (raw or excess) and store column
  split                       train/validation/test boundaries
  metadata                    package version, code hash, git commit of the code and its time
                              (``created``; see invest/provenance.py), data hash, params,
                              training period, sample counts, metrics, device
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from invest.data.features import STEP_MASK, label_column
from invest.errors import DataError
from invest.io import atomic_path
from invest.modelling.model import LSTMTransformerNetwork
from invest.modelling.scaling import Scaler
from invest.modelling.splits import Split

FORMAT = "invest-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("state_dict", "model_config", "temporal_features", "static_features", "scaler", "target", "split")


def feature_schema(schema_version: int, temporal: list[str], static: list[str]) -> dict[str, Any]:
    names = "\n".join(["temporal", *temporal, "static", *static])
    return {
        "store_schema_version": schema_version,
        "hash": hashlib.sha256(names.encode()).hexdigest()[:16],
    }


def assemble(
    network: torch.nn.Module,
    scaler: Scaler,
    split: Split,
    temporal: list[str],
    static: list[str],
    schema_version: int,
    horizon: str,
    kind: str,
    seq_len: int,
) -> dict[str, Any]:
    """The core of a checkpoint (everything inference needs); ``train`` adds metadata and intervals."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": type(network).__name__,
        "state_dict": {key: value.detach().cpu() for key, value in network.state_dict().items()},
        "model_config": network.config.to_dict(),
        "temporal_features": [*temporal, STEP_MASK],
        "static_features": list(static),
        "feature_schema": feature_schema(schema_version, temporal, static),
        "scaler": scaler.to_dict(),
        "target": {"horizon": horizon, "kind": kind, "column": label_column(horizon, kind), "seq_len": seq_len},
        "split": split.to_dict(),
    }


def save(path: str | os.PathLike[str], checkpoint: dict[str, Any]) -> None:
    # Serialise in memory first: torch.save names the zip's records after the file it writes to,
    # so saving straight to the random temporary name would make every checkpoint's bytes differ.
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and sanity-check a checkpoint file."""
    file = Path(path)
    if not file.exists():
        raise DataError(f"{file} not found; train a model with `dvc repro train` or `dvc pull`")
    try:
        checkpoint = torch.load(file, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError) as exc:
        raise DataError(
            f"{file} is not a readable checkpoint ({type(exc).__name__}); retrain it (dvc repro train) or "
            "restore it (dvc checkout / dvc pull)"
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise DataError(
            f"{file} is a bare state dict or another format, not an invest checkpoint; build the network with "
            "LSTMTransformerNetwork.from_config(ModelConfig.from_params(TrainParams(), n_temporal, n_static)) and call "
            "load_state_dict, or retrain"
        )
    if checkpoint.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{file} has checkpoint format {checkpoint.get('format_version')}, this code reads {FORMAT_VERSION}; retrain it"
        )
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise DataError(f"{file} is an incomplete checkpoint (no {', '.join(missing)}); retrain it (dvc repro train)")
    return checkpoint


@dataclass
class LoadedModel:
    """A network ready for inference: eval mode, its scaler, and the checkpoint it came from."""

    network: LSTMTransformerNetwork
    scaler: Scaler
    checkpoint: dict[str, Any]

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any], network: torch.nn.Module | None = None) -> LoadedModel:
        """Rebuild (or reuse ``network``) from a checkpoint dict; ``load_model`` adds the file checks."""
        if network is None:
            network = LSTMTransformerNetwork.from_config(checkpoint["model_config"])
            network.load_state_dict(checkpoint["state_dict"])
        network.eval()
        return cls(network, Scaler.from_dict(checkpoint["scaler"]), checkpoint)

    @property
    def temporal_features(self) -> list[str]:
        return list(self.checkpoint["temporal_features"])

    @property
    def static_features(self) -> list[str]:
        return list(self.checkpoint["static_features"])


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """The network in eval mode, its scaler and the checkpoint dict."""
    checkpoint = load(path)
    try:
        return LoadedModel.from_checkpoint(checkpoint)
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        first = lines[1] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else lines[0]
        raise DataError(
            f"{path}: the weights, model_config or scaler do not fit together ({type(exc).__name__}: {first[:200]}); "
            "retrain it (dvc repro train) or restore it (dvc checkout / dvc pull)"
        ) from None


def check_schema(checkpoint: dict[str, Any], temporal: list[str], static: list[str], where: str) -> None:
    """Raise a DataError naming the difference if the checkpoint's features differ from the store's."""
    model_temporal = [name for name in checkpoint["temporal_features"] if name != STEP_MASK]
    for kind, model_names, store_names in (
        ("temporal", model_temporal, temporal),
        ("static", checkpoint["static_features"], static),
    ):
        if list(model_names) != list(store_names):
            missing = [n for n in model_names if n not in store_names]
            extra = [n for n in store_names if n not in model_names]
            detail = []
            if missing:
                detail.append(f"model needs {', '.join(missing[:5])} which {where} lacks")
            if extra:
                detail.append(f"{where} has {', '.join(extra[:5])} which the model never saw")
            if not detail:
                detail.append("same names in a different order")
            raise DataError(
                f"the model's {kind} features differ from {where}: {'; '.join(detail)}; "
                "retrain the model on this data (dvc repro train) or rebuild the data it was trained on"
            )
