"""The model card: what a checkpoint is and, after ``evaluate``, how it scored.

Two files, because a path can be the output of only one DVC stage:

* ``train`` writes ``models/model_card.train.json`` (:func:`write_card`): the description
  alone, from the checkpoint it has just saved;
* ``evaluate`` writes ``models/model_card.json`` (:func:`complete_card`): the same description,
  rebuilt from the checkpoint it scored, plus the headline metrics. This is the card to read,
  diff and commit (``cache: false`` in dvc.yaml).

Both are deterministic: every value comes from the checkpoint (whose ``created`` is the time of
the last commit that changed the code, not the wall clock: invest/provenance.py) or from the evaluation summary, and keys are sorted.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invest import pipeline
from invest.errors import DataError
from invest.evaluation import MODEL, ORACLE, verdict
from invest.io import read_json, write_json

if TYPE_CHECKING:
    from invest.evaluation.scoring import Evaluation

CARD_VERSION = 1
MODEL_KEYS = (
    "rank_ic",
    "rank_ic_std",
    "icir",
    "rank_ic_t_nw",
    "mae",
    "rmse",
    "hit_rate",
    "excess_hit_rate",
    "quintile_spread",
    "calibration_slope",
)


def describe(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The description part of the card, from a checkpoint dict (see invest.modelling.checkpoint)."""
    meta = checkpoint.get("metadata", {})
    temporal = list(checkpoint["temporal_features"])
    static = list(checkpoint["static_features"])
    members = checkpoint.get("state_dicts") or [checkpoint.get("state_dict", {})]
    card: dict[str, Any] = {
        "card_version": CARD_VERSION,
        "artifact": pipeline.ARTIFACT,
        "status": "trained",
        "model": {
            "architecture": checkpoint.get("architecture", "LSTMTransformerNetwork"),
            "config": dict(checkpoint["model_config"]),
            "parameters": int(sum(value.numel() for value in members[0].values() if hasattr(value, "numel"))),
            "ensemble_size": len(members),  # networks of this shape, seeds seed, seed+1, ...; the model is their mean
            "label_map": checkpoint.get("label_map"),
            "checkpoint_format": f"{checkpoint.get('format')} v{checkpoint.get('format_version')}",
        },
        "features": {
            "temporal": temporal,
            "static": static,
            "n_temporal": len(temporal),
            "n_static": len(static),
            "left_out": meta.get("features_left_out", {}),
            "schema": dict(checkpoint.get("feature_schema", {})),
        },
        "target": dict(checkpoint["target"]),
        "split": dict(checkpoint["split"]),
        "training": {
            "period": meta.get("training_period"),
            "samples": meta.get("samples"),
            "metrics": meta.get("metrics"),
            "device": meta.get("device"),
        },
        "provenance": {
            "git_commit": meta.get("git_commit"),
            "created": meta.get("created"),
            "code_hash": meta.get("code_hash"),
            "code_dirty": meta.get("code_dirty"),
            "data_hash": meta.get("data_hash"),
            "package_version": meta.get("package_version"),
            "torch_version": meta.get("torch_version"),
        },
        "params": meta.get("params"),
        "intervals": _intervals(checkpoint.get("intervals")),
        "confidence": checkpoint.get("confidence"),
        "evaluation": None,
    }
    return _plain(card)


def write_card(path: str | os.PathLike[str], checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Write the description of a freshly trained checkpoint (no metrics yet)."""
    card = describe(checkpoint)
    write_json(path, card)
    return card


def complete_card(
    path: str | os.PathLike[str],
    evaluation: Evaluation,
    checkpoint: dict[str, Any] | None = None,
    evaluate_params: Any = None,
) -> dict[str, Any]:
    """Add the headline metrics of ``evaluation`` to the card at ``path``.

    With ``checkpoint`` the description is rebuilt from it (what the evaluate stage does, so the
    card never depends on a file another stage wrote); without, the card at ``path`` is read.
    ``evaluate_params`` (EvaluateParams or a dict) records how the metrics were obtained.
    """
    if checkpoint is not None:
        card = describe(checkpoint)
    elif Path(path).exists():
        card = read_json(path)
    else:
        raise DataError(f"{path} not found; pass the checkpoint or run `invest train` first")
    card["status"] = "evaluated"
    card["evaluation"] = _plain(headline(evaluation, evaluate_params))
    write_json(path, card)
    return card


def headline(evaluation: Evaluation, evaluate_params: Any = None) -> dict[str, Any]:
    """The metrics a reader of the card needs: the model's, the oracle's share, baselines, margins."""
    settings = _as_dict(evaluate_params)
    scores, frame = evaluation.scores, evaluation.frame
    years = [str(year) for year in evaluation.by_year.index]
    oracle_ic = scores.loc[ORACLE, "rank_ic"] if evaluation.has_oracle else None
    out: dict[str, Any] = {
        "mode": settings.get("mode"),
        "test_years": settings.get("test_years") if settings.get("mode") == "walk_forward" else years,
        "rows": len(frame),
        "dates": int(frame["date"].nunique()),
        "model": {key: scores.loc[MODEL, key] for key in MODEL_KEYS},
        "base_rate": evaluation.base_rates.get("base_rate"),
        "baselines": {
            name: {"rank_ic": scores.loc[name, "rank_ic"], "mae": scores.loc[name, "mae"]} for name in evaluation.baselines
        },
        "verdict": verdict.skill(evaluation).replace("**", ""),
        "margin_convention": "model − baseline, signed, with its 95% interval (rank IC, net return: positive = model better; MAE: negative = model better)",
        "margins": {
            name: {
                metric: {"diff": row[metric], "ci_low": row[f"{metric}_lo"], "ci_high": row[f"{metric}_hi"]}
                for metric in ("rank_ic", "mae", "portfolio")
                if metric in row.index
            }
            for name, row in evaluation.margins.iterrows()
        },
    }
    if oracle_ic is not None:  # the simulated market's planted expected return; real data has none
        out["oracle_rank_ic"] = oracle_ic
        out["oracle_share"] = scores.loc[MODEL, "rank_ic"] / oracle_ic
    if out["mode"] == "walk_forward":
        out["note"] = "walk-forward: the network was retrained per test year with these settings; scores describe the method"
    out["by_year"] = {
        str(year): {"rows": int(row["rows"]), "rank_ic": row[f"{MODEL}_rank_ic"], "mae": row[f"{MODEL}_mae"]}
        for year, row in evaluation.by_year.iterrows()
    }
    return out


def _intervals(intervals: Any) -> dict[str, Any] | None:
    if not isinstance(intervals, dict):
        return None
    return {"levels": intervals.get("levels"), "quantiles": intervals.get("quantiles"), "mc_samples": intervals.get("mc_samples")}


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return dict(value)


def _plain(value: Any) -> Any:
    """JSON-safe: tuples to lists, numpy/torch scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
