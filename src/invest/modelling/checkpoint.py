"""Self-describing model checkpoints: save, load, and check against the current store.

A checkpoint is a ``torch.save``d dict of plain values (loadable with
``weights_only=True``):

  format, format_version      "invest-checkpoint", 2 (version 1, one network under ``state_dict``, still loads)
  architecture                the network's class name
  state_dicts                 the weights of each ensemble member (trained with seeds seed, seed+1, ...)
  model_config                LSTMTransformerNetwork keyword arguments (every member has this shape)
  label_map                   scores -> returns (intercept, slope) when the network learned a
                              cross-sectional label (OLS) or with train.point_map: median (least
                              absolute deviations), else null
  temporal_features           ordered names of the per-step inputs (incl. the step mask)
  static_features             ordered names of the static inputs
  feature_schema              store schema version and a hash of the ordered names
  scaler                      medians/scales fitted on the training rows, and the target's
  target                      horizon, kind (raw or excess), store column, sequence length,
                              feature normalisation and label transform
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
from invest.pipeline import restore_hint

FORMAT = "invest-checkpoint"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
REQUIRED_KEYS = ("model_config", "temporal_features", "static_features", "scaler", "target", "split")


def feature_schema(schema_version: int, temporal: list[str], static: list[str]) -> dict[str, Any]:
    names = "\n".join(["temporal", *temporal, "static", *static])
    return {
        "store_schema_version": schema_version,
        "hash": hashlib.sha256(names.encode()).hexdigest()[:16],
    }


def assemble(
    networks: list[torch.nn.Module],
    scaler: Scaler,
    split: Split,
    temporal: list[str],
    static: list[str],
    schema_version: int,
    target: dict[str, Any],
    label_map: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The core of a checkpoint (everything inference needs); ``train`` adds metadata and intervals.

    ``target``: horizon, kind, seq_len, feature_norm and label_transform (see ``target_spec``).
    """
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": type(networks[0]).__name__,
        "state_dicts": [{key: value.detach().cpu() for key, value in net.state_dict().items()} for net in networks],
        "model_config": networks[0].config.to_dict(),
        "temporal_features": [*temporal, STEP_MASK],
        "static_features": list(static),
        "feature_schema": feature_schema(schema_version, temporal, static),
        "scaler": scaler.to_dict(),
        "target": {**target, "column": label_column(target["horizon"], target["kind"])},
        "split": split.to_dict(),
        "label_map": label_map,
    }


def target_spec(params: Any) -> dict[str, Any]:
    """What a checkpoint records about its inputs and label, from ``TrainParams``."""
    return {
        "horizon": params.horizon,
        "kind": params.target,
        "seq_len": params.seq_len,
        "feature_norm": params.feature_norm,
        "label_transform": params.label_transform,
    }


def state_dicts(checkpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """Every member's weights (a format-1 checkpoint holds one network)."""
    return list(checkpoint["state_dicts"]) if "state_dicts" in checkpoint else [checkpoint["state_dict"]]


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
        raise DataError(f"{file} not found; {restore_hint(file, 'train a model with `dvc repro train`')}")
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
    if checkpoint.get("format_version") not in READABLE_VERSIONS:
        raise DataError(
            f"{file} has checkpoint format {checkpoint.get('format_version')}, this code reads {FORMAT_VERSION}; retrain it"
        )
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if "state_dicts" not in checkpoint and "state_dict" not in checkpoint:
        missing.insert(0, "state_dicts")
    if missing:
        raise DataError(f"{file} is an incomplete checkpoint (no {', '.join(missing)}); retrain it (dvc repro train)")
    return checkpoint


@dataclass
class LoadedModel:
    """An ensemble ready for inference: its networks in eval mode, their scaler, and the checkpoint."""

    networks: list[LSTMTransformerNetwork]
    scaler: Scaler
    checkpoint: dict[str, Any]

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any], networks: list[torch.nn.Module] | None = None) -> LoadedModel:
        """Rebuild (or reuse ``networks``) from a checkpoint dict; ``load_model`` adds the file checks."""
        if networks is None:
            networks = []
            for weights in state_dicts(checkpoint):
                network = LSTMTransformerNetwork.from_config(checkpoint["model_config"])
                network.load_state_dict(weights)
                networks.append(network)
        for network in networks:
            network.eval()
        return cls(list(networks), Scaler.from_dict(checkpoint["scaler"]), checkpoint)

    @property
    def temporal_features(self) -> list[str]:
        return list(self.checkpoint["temporal_features"])

    @property
    def static_features(self) -> list[str]:
        return list(self.checkpoint["static_features"])

    @property
    def label_map(self) -> dict[str, float] | None:
        return self.checkpoint.get("label_map")


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
