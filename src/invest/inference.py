"""Run a loaded model on arrays: point predictions and Monte Carlo dropout samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from invest import uncertainty
from invest.checkpoint import LoadedModel
from invest.dataset import Arrays
from invest.model import enable_mc_dropout


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


def predict_with_uncertainty(
    loaded: LoadedModel,
    arrays: Arrays,
    calibration: dict,
    mc_samples: int,
    seed: int = 0,
) -> pd.DataFrame:
    """Per row: prediction, MC-dropout std, calibrated and raw MC intervals, and confidence.

    ``arrays`` must carry ``dates``; the temporal/static feature names come from the checkpoint.
    """
    out = predict(loaded, arrays, mc_samples=max(mc_samples, 2), seed=seed)
    frame = pd.DataFrame({"date": arrays.dates, "prediction": out["prediction"], "mc_std": out["mc_std"]})
    frame = pd.concat([frame, uncertainty.interval_frame(out["prediction"], out["mc_std"], calibration)], axis=1)
    temporal = [name for name in loaded.temporal_features if name != "step_observed"]
    static = loaded.static_features
    frame["vol_3m"] = arrays.past[:, -1, temporal.index("vol_3m")]
    frame["log_market_cap"] = arrays.static[:, static.index("log_market_cap")]
    frame["missing_share"] = uncertainty.input_quality(arrays, static)["missing_share"].to_numpy()
    past_scaled, static_scaled = loaded.scaler.transform(arrays)
    frame["clipped_share"] = uncertainty.clipped_share(past_scaled, static_scaled)
    frame["confidence"] = uncertainty.confidence(frame, max(calibration["levels"])).to_numpy()
    return frame


def calibrate_on(loaded: LoadedModel, arrays: Arrays, levels: list[float], mc_samples: int, seed: int = 0) -> dict:
    """Conformal calibration of ``loaded`` on the labelled rows of ``arrays`` (an embargoed block)."""
    out = predict(loaded, arrays, mc_samples=max(mc_samples, 2), seed=seed)
    calibration = uncertainty.calibrate(arrays.target, out["prediction"], out["mc_std"], levels)
    calibration["mc_samples"] = max(mc_samples, 2)
    return calibration
