"""Run a loaded model on arrays: point predictions and Monte Carlo dropout samples."""

from __future__ import annotations

import numpy as np
import torch

from invest.modelling.checkpoint import LoadedModel
from invest.modelling.dataset import Arrays
from invest.modelling.model import enable_mc_dropout


def predict(
    loaded: LoadedModel, arrays: Arrays, mc_samples: int = 0, seed: int = 0, batch_size: int = 2048
) -> dict[str, np.ndarray]:
    """``prediction`` (dropout off) in target units; with ``mc_samples`` > 0 also ``mc_mean`` and ``mc_std``."""
    past, static = loaded.scaler.transform(arrays)
    network = loaded.network
    network.eval()
    out = {"prediction": loaded.scaler.unscale_target(_forward(network, past, static, batch_size))}
    if mc_samples > 0:
        generator_state = torch.get_rng_state()
        torch.manual_seed(seed)
        enable_mc_dropout(network)
        samples = np.stack([_forward(network, past, static, batch_size) for _ in range(mc_samples)])  # [K, N]
        network.eval()
        torch.set_rng_state(generator_state)
        samples = loaded.scaler.unscale_target(samples)
        out["mc_mean"] = samples.mean(axis=0)
        out["mc_std"] = samples.std(axis=0, ddof=1) if mc_samples > 1 else np.zeros(len(arrays))
    return out


def _forward(network: torch.nn.Module, past: np.ndarray, static: np.ndarray, batch_size: int) -> np.ndarray:
    parts = []
    with torch.no_grad():
        for start in range(0, len(past), batch_size):
            batch_past = torch.from_numpy(past[start : start + batch_size])  # [B, T, F]
            batch_static = torch.from_numpy(static[start : start + batch_size])  # [B, S]
            parts.append(network(batch_past, batch_static).float().numpy())
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
