"""Run a loaded ensemble on arrays: point predictions, member predictions and their uncertainty.

Each member predicts with dropout off; the ensemble's prediction is their mean. With
``mc_samples`` > 0 every member also runs that many Monte Carlo dropout passes, and the scale of
each prediction combines both sources of doubt: ``σ² = var(member predictions) + mean(member MC
variance)``, the spread between members (which seed made the network) plus the spread within
each one (which dropout mask). A network trained on a cross-sectional label predicts scores;
the checkpoint's ``label_map`` turns them (and σ) into returns.
"""

from __future__ import annotations

import numpy as np
import torch

from invest.modelling.checkpoint import LoadedModel
from invest.modelling.dataset import Arrays
from invest.modelling.model import enable_mc_dropout


def predict(
    loaded: LoadedModel, arrays: Arrays, mc_samples: int = 0, seed: int = 0, batch_size: int = 2048
) -> dict[str, np.ndarray]:
    """``prediction`` (the members' mean, dropout off) and ``members`` [N, M] in target units; with
    ``mc_samples`` > 0 also ``mc_std``, the combined scale above."""
    past, static = loaded.scaler.transform(arrays)
    members, variances = [], []
    for index, network in enumerate(loaded.networks):
        network.eval()
        members.append(loaded.scaler.unscale_target(_forward(network, past, static, batch_size)))
        if mc_samples > 0:
            samples = _mc_samples(network, past, static, mc_samples, seed + index, batch_size)
            samples = loaded.scaler.unscale_target(samples)
            variances.append(samples.var(axis=0, ddof=1) if mc_samples > 1 else np.zeros(len(arrays)))
    stacked = np.stack(members, axis=1)  # [N, M]
    slope, intercept = _label_map(loaded)
    out = {"prediction": intercept + slope * stacked.mean(axis=1), "members": intercept + slope * stacked}
    if mc_samples > 0:
        between = stacked.var(axis=1) if stacked.shape[1] > 1 else 0.0  # [N]
        out["mc_std"] = slope * np.sqrt(between + np.mean(variances, axis=0))
    return out


def _label_map(loaded: LoadedModel) -> tuple[float, float]:
    mapping = loaded.label_map
    return (1.0, 0.0) if not mapping else (float(mapping["slope"]), float(mapping["intercept"]))


def _mc_samples(network, past, static, count: int, seed: int, batch_size: int) -> np.ndarray:
    """[count, N] dropout passes; the global generator's state is restored afterwards."""
    generator_state = torch.get_rng_state()
    torch.manual_seed(seed)
    enable_mc_dropout(network)
    try:
        return np.stack([_forward(network, past, static, batch_size) for _ in range(count)])
    finally:
        network.eval()
        torch.set_rng_state(generator_state)


def _forward(network: torch.nn.Module, past: np.ndarray, static: np.ndarray, batch_size: int) -> np.ndarray:
    parts = []
    with torch.no_grad():
        for start in range(0, len(past), batch_size):
            batch_past = torch.from_numpy(past[start : start + batch_size])  # [B, T, F]
            batch_static = torch.from_numpy(static[start : start + batch_size])  # [B, S]
            parts.append(network(batch_past, batch_static).float().numpy())
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
