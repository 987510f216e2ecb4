"""Prediction intervals and a confidence score for each prediction.

Intervals: Monte Carlo dropout gives a mean and a standard deviation per prediction.
Its raw interval (mean ± z·std) is only a first signal: dropout measures the model's
doubt, not the market's noise, so it under-covers badly. Normalised split conformal
fixes the level: on a calibration block (the embargoed validation block) take the
scores |y − ŷ| / σ and their finite-sample quantile q_L; the interval is ŷ ± q_L·σ.
We normalise by σ = the MC std (floored) so that wide-doubt rows get wide intervals,
rather than fitting quantile heads: it needs no second model and no change to the
loss, and MC dropout is already what inference runs.

Confidence (0 = least, 1 = most), from six documented factors, each turned into a
penalty in [0, 1] (cross-sectional percentile within a date where it is relative):

  width        calibrated interval width                       weight 0.35
  volatility   the stock's trailing 3-month volatility          weight 0.20
  size         small market capitalisation (missing = small)    weight 0.15
  extremity    |prediction − the date's median prediction|      weight 0.10
  completeness share of missing inputs (fundamentals, months)   weight 0.10
  extremes     share of inputs clipped at ±5 robust std         weight 0.10

confidence = 1 − Σ weight·penalty. Evaluate checks that higher confidence means
lower error (error and rank IC by confidence bucket).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from invest import conformal
from invest.dataset import CLIP, Arrays

CONFIDENCE_WEIGHTS = {"width": 0.35, "volatility": 0.20, "size": 0.15, "extremity": 0.10, "completeness": 0.10, "extremes": 0.10}
GAUSSIAN_Z = {0.5: 0.6745, 0.8: 1.2816, 0.9: 1.6449, 0.95: 1.9600, 0.99: 2.5758}
MIN_SCALE_QUANTILE = 0.05  # floor σ at the 5th percentile of calibration σ, so no row gets a zero-width interval


def scale_floor(calibration_std: np.ndarray) -> float:
    positive = calibration_std[np.isfinite(calibration_std) & (calibration_std > 0)]
    return float(np.quantile(positive, MIN_SCALE_QUANTILE)) if len(positive) else 1e-6


def calibrate(target: np.ndarray, prediction: np.ndarray, std: np.ndarray, levels: Sequence[float]) -> dict:
    """Conformal quantiles of |y − ŷ| / σ on the calibration rows (and the σ floor used)."""
    known = np.isfinite(target) & np.isfinite(prediction) & np.isfinite(std)
    floor = scale_floor(std[known])
    quantiles = conformal.fit_conformal(np.abs(target[known] - prediction[known]), std[known], levels, min_scale=floor)
    return {
        "levels": list(levels),
        "quantiles": {str(level): float(q) for level, q in quantiles.items()},
        "min_scale": floor,
        "n_calibration": int(known.sum()),
    }


def interval_frame(prediction: np.ndarray, std: np.ndarray, calibration: dict) -> pd.DataFrame:
    """Calibrated (``lower_80`` ...) and raw MC-dropout (``mc_lower_80`` ...) bounds."""
    scale = np.maximum(std, calibration["min_scale"])
    out = {}
    for level in calibration["levels"]:
        label = conformal.level_label(level)
        q = calibration["quantiles"][str(level)]
        out[f"lower_{label}"], out[f"upper_{label}"] = prediction - q * scale, prediction + q * scale
        z = GAUSSIAN_Z.get(level) or _z(level)
        out[f"mc_lower_{label}"], out[f"mc_upper_{label}"] = prediction - z * std, prediction + z * std
    return pd.DataFrame(out)


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def input_quality(arrays: Arrays, static_names: Sequence[str]) -> pd.DataFrame:
    """Per row: share of missing inputs and share of inputs beyond the clip (from unscaled arrays)."""
    missing_steps = np.isnan(arrays.past).all(axis=-1).mean(axis=1)
    names = list(static_names)
    fundamentals_missing = arrays.static[:, names.index("fundamentals_missing")] if "fundamentals_missing" in names else 0.0
    completeness = np.clip(0.5 * missing_steps + 0.5 * np.nan_to_num(fundamentals_missing, nan=1.0), 0, 1)
    return pd.DataFrame({"missing_share": completeness})


def clipped_share(past_scaled: np.ndarray, static_scaled: np.ndarray) -> np.ndarray:
    at_edge = np.abs(static_scaled) >= CLIP - 1e-6
    at_edge_past = np.abs(past_scaled[:, -1, :-1]) >= CLIP - 1e-6
    return np.concatenate([at_edge, at_edge_past], axis=1).mean(axis=1)


def confidence(frame: pd.DataFrame, widest_level: float) -> pd.Series:
    """Confidence in [0, 1] per row; ``frame`` needs date, prediction, lower/upper at the level,
    vol_3m, log_market_cap, missing_share and clipped_share."""
    label = conformal.level_label(widest_level)
    by_date = frame.groupby("date")
    width = frame[f"upper_{label}"] - frame[f"lower_{label}"]
    extremity = (frame["prediction"] - by_date["prediction"].transform("median")).abs()
    penalties = {
        "width": width.groupby(frame["date"]).rank(pct=True),
        "volatility": frame["vol_3m"].groupby(frame["date"]).rank(pct=True).fillna(1.0),
        "size": 1 - frame["log_market_cap"].groupby(frame["date"]).rank(pct=True).fillna(0.0),
        "extremity": extremity.groupby(frame["date"]).rank(pct=True),
        "completeness": frame["missing_share"].clip(0, 1),
        "extremes": (frame["clipped_share"] * 5).clip(0, 1),
    }
    score = 1 - sum(CONFIDENCE_WEIGHTS[name] * penalty for name, penalty in penalties.items())
    return score.clip(0, 1).rename("confidence")


def summary(frame: pd.DataFrame, levels: Sequence[float], target: str = "target") -> dict[str, float]:
    """Flat coverage/width of calibrated and raw MC intervals (pooled, per year, per volatility
    tercile) and error/rank IC by confidence quintile (1 = least confident)."""
    from invest import metrics

    out: dict[str, float] = {}
    vol_bucket = pd.qcut(frame["vol_3m"].rank(method="first"), 3, labels=[1, 2, 3])
    years = frame["date"].dt.year
    for level in levels:
        label = conformal.level_label(level)
        for kind, prefix in (("interval", ""), ("mc_interval", "mc_")):
            lower, upper = frame[f"{prefix}lower_{label}"], frame[f"{prefix}upper_{label}"]
            inside = (frame[target] >= lower) & (frame[target] <= upper)
            out[f"{kind}_{label}_coverage"] = float(inside.mean())
            out[f"{kind}_{label}_width"] = float((upper - lower).mean())
            for year, hits in inside.groupby(years):
                out[f"y{year}_{kind}_{label}_coverage"] = float(hits.mean())
            for bucket, hits in inside.groupby(vol_bucket, observed=True):
                out[f"vol{bucket}_{kind}_{label}_coverage"] = float(hits.mean())
    quintile = pd.qcut(frame["confidence"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5])
    maes = []
    for bucket, block in frame.groupby(quintile, observed=True):
        mae = float((block["model"] - block[target]).abs().mean())
        maes.append(mae)
        out[f"confidence_q{bucket}_mae"] = mae
        out[f"confidence_q{bucket}_rank_ic"] = float(metrics.rank_ic_by_date(block, "model", target).mean())
    out["confidence_mae_order"] = float(pd.Series(maes).corr(pd.Series(range(len(maes))), method="spearman"))
    return out
