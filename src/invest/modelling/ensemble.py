"""An ensemble is the model: ``train.ensemble_size`` networks trained on the same rows with seeds
``seed, seed + 1, ...``; their mean prediction is the model's (``inference.predict``).

One seed's network is noise plus signal; the noise part differs from seed to seed, so the mean of
several cancels much of it, and the spread between them measures it. Members are independent
jobs: the ``train`` stage fits them one after another, the walk-forward evaluation hands them to
a pool of processes or a Ray cluster (``evaluation.jobs``) with identical results.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from invest.modelling.checkpoint import LoadedModel, assemble, target_spec
from invest.modelling.cross_section import map_to_returns
from invest.modelling.dataset import Arrays
from invest.modelling.inference import predict
from invest.modelling.training import Prepared, configure_runtime, fit
from invest.params import TrainParams


def member_params(params: TrainParams, member: int) -> TrainParams:
    """The params member ``member`` trains with: its own seed, everything else shared."""
    return dataclasses.replace(params, seed=params.seed + member)


def fit_member(prepared: Prepared, params: TrainParams, member: int, device: torch.device | None = None, log=None, verbose=True):
    """Train one member; the unit of work a job runs (threads and kernels set up in its own process)."""
    configure_runtime(params.num_threads)
    return fit(prepared, member_params(params, member), device or torch.device("cpu"), log, verbose)


def fit_members(prepared: Prepared, params: TrainParams, device: torch.device, log=None) -> tuple[list, list[dict[str, Any]]]:
    """Every member in turn (``log`` receives the first member's curves)."""
    networks, summaries = [], []
    for member in range(params.ensemble_size):
        network, summary = fit_member(prepared, params, member, device, log if member == 0 else None)
        networks.append(network)
        summaries.append(summary)
    return networks, summaries


def fit_label_map(loaded: LoadedModel, validation: Arrays) -> dict[str, float]:
    """Scores -> returns on the validation block, for a network that learned a cross-sectional label."""
    scores = predict(loaded, validation)["prediction"]
    return map_to_returns(np.asarray(scores, dtype=float), validation.target)


def checkpoint_core(
    networks: list, prepared: Prepared, temporal: list[str], static: list[str], schema_version: int, params: TrainParams
) -> dict[str, Any]:
    """The checkpoint's core for trained members, with the label map fitted on the validation block
    when they learned a cross-sectional label (``train``, and each walk-forward fold)."""
    networks = [network.cpu() for network in networks]
    core = assemble(networks, prepared.scaler, prepared.split, temporal, static, schema_version, target_spec(params))
    if params.label_transform != "none":
        validation = prepared.arrays.subset(prepared.masks["val"])
        core["label_map"] = fit_label_map(LoadedModel.from_checkpoint(core, networks), validation)
    return core


def summarise(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The training summary: the first member's, plus each member's chosen epoch and validation rank IC."""
    first = {key: value for key, value in summaries[0].items() if key != "history"}
    return {
        **first,
        "ensemble_size": len(summaries),
        "members_best_epoch": [s["best_epoch"] for s in summaries],
        "members_best_val_rank_ic": [s["best_val_rank_ic"] for s in summaries],
    }
