"""Prediction intervals and confidence: calibrate, predict with intervals, score them. One room.

Intervals: Monte Carlo dropout gives a mean and a standard deviation σ per prediction. Its raw
interval (ŷ ± z·σ) is only a first signal: dropout measures the model's doubt, not the market's
noise, so it under-covers badly. Normalised split conformal fixes the level: on a calibration
block (the embargoed validation block) take the scores s = |y − ŷ| / max(σ, floor) and, for level
L, the k-th smallest score with k = ceil((n + 1)·L) (+inf if k > n); the interval is ŷ ± q_L·σ.
Normalising by σ gives wide-doubt rows wide intervals without fitting quantile heads: no second
model, no change to the loss, and MC dropout is already what inference runs (docs/metrics.md).

Confidence (0 = least, 1 = most), from six documented factors, each turned into a penalty in
[0, 1] (a cross-sectional percentile within a date where it is relative):

  width        calibrated interval width                       weight 0.35
  volatility   the stock's trailing 3-month volatility          weight 0.20
  size         small market capitalisation (missing = small)    weight 0.15
  extremity    |prediction − the date's median prediction|      weight 0.10
  completeness share of missing inputs (fundamentals, months)   weight 0.10
  extremes     share of inputs clipped at ±5 robust std         weight 0.10

confidence = 1 − Σ weight·penalty. ``invest.evaluation.coverage`` checks both on test rows:
coverage per level, year and volatility tercile; error and rank IC by confidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from invest.data.features import FUNDAMENTALS_MISSING, SIZE, STEP_MASK, VOLATILITY
from invest.modelling.checkpoint import LoadedModel
from invest.modelling.dataset import Arrays
from invest.modelling.inference import predict
from invest.modelling.scaling import CLIP

CONFIDENCE_WEIGHTS = {"width": 0.35, "volatility": 0.20, "size": 0.15, "extremity": 0.10, "completeness": 0.10, "extremes": 0.10}
CONFIDENCE_VERSION = 1
GAUSSIAN_Z = {0.5: 0.6745, 0.8: 1.2816, 0.9: 1.6449, 0.95: 1.9600, 0.99: 2.5758}
MIN_SCALE_QUANTILE = 0.05  # floor σ at the 5th percentile of calibration σ, so no row gets a zero-width interval
KINDS = {"calibrated": "", "mc_dropout": "mc_"}  # interval kind -> column prefix


LOG_SPACE = "log1p"  # intervals live in log(1 + raw return): skewed like returns, never below -100%
FLOOR = 0.01  # 1 + raw return is floored here before the log (a 99% loss): a scale, not a claim


def level_label(level: float) -> str:
    """Column suffix for a level: 0.8 -> "80", 0.975 -> "97.5"."""
    return f"{level * 100:.6g}"


def interval_columns(levels: Sequence[float], prefix: str = "") -> tuple[list[str], list[str]]:
    """Column names ``lower_<pct>`` / ``upper_<pct>`` (``mc_lower_<pct>`` ... with prefix ``mc_``)."""
    labels = [level_label(level) for level in levels]
    return [f"{prefix}lower_{label}" for label in labels], [f"{prefix}upper_{label}" for label in labels]


# ---------------------------------------------------------------------------- calibration


def conformal_rank(n: int, level: float) -> int:
    """k = ceil((n + 1) · level), the order statistic giving coverage >= level on exchangeable data."""
    if not 0 < level < 1:
        raise ValueError(f"conformal level must be in (0, 1), got {level}")
    return math.ceil((n + 1) * level - 1e-9)  # tolerance: (n+1)*level is often an integer up to rounding


def fit_conformal(
    residual_abs: np.ndarray, scale: np.ndarray | float, levels: Sequence[float], min_scale: float
) -> dict[float, float]:
    """Conformal quantile of |y − ŷ| / max(σ, min_scale) per level (``scale=1``: plain split conformal).

    Non-finite scores are dropped; ``q = inf`` when the calibration set is too small for the level.
    """
    residual_abs = np.abs(np.asarray(residual_abs, dtype=float))
    scores = np.broadcast_to(residual_abs / np.maximum(np.asarray(scale, dtype=float), min_scale), residual_abs.shape)
    scores = np.sort(scores[np.isfinite(scores)])
    out: dict[float, float] = {}
    for level in levels:
        k = conformal_rank(scores.size, level)
        out[float(level)] = float(scores[k - 1]) if 1 <= k <= scores.size else float("inf")
    return out


def scale_floor(calibration_std: np.ndarray) -> float:
    positive = calibration_std[np.isfinite(calibration_std) & (calibration_std > 0)]
    return float(np.quantile(positive, MIN_SCALE_QUANTILE)) if len(positive) else 1e-6


def calibrate(
    target: np.ndarray,
    prediction: np.ndarray,
    std: np.ndarray,
    levels: Sequence[float],
    offset: float = 0.0,
    space: str = LOG_SPACE,
) -> dict:
    """The calibration a checkpoint stores: conformal quantiles per level in log-return space (``space``
    "linear": in returns, as before; kept to measure the two side by side), the σ floor and the ``offset``
    that turns an excess return into a raw one (the expected market move; 0 for raw)."""
    known = np.isfinite(target) & np.isfinite(prediction) & np.isfinite(std)
    if space == LOG_SPACE:
        z_target, _ = _to_log(target[known], 0.0, offset)
        z_prediction, scale = _to_log(prediction[known], std[known], offset)
    else:
        z_target, z_prediction, scale = target[known], prediction[known], std[known]
    floor = scale_floor(scale)
    quantiles = fit_conformal(np.abs(z_target - z_prediction), scale, levels, min_scale=floor)
    realised = target[known]
    return {
        "levels": list(levels),
        "quantiles": {str(level): float(q) for level, q in quantiles.items()},
        "min_scale": floor,
        "n_calibration": int(known.sum()),
        "space": space,
        "offset": float(offset),
        # the spread of every stock's outcomes at each level: an interval wider than this says less about a
        # stock than the cross-section already does (``too_uncertain``)
        "outcome_band": {
            str(level): [float(np.quantile(realised, (1 - level) / 2)), float(np.quantile(realised, (1 + level) / 2))]
            for level in levels
        }
        if realised.size
        else {},
    }


def expected_market(arrays: Arrays, kind: str) -> float:
    """The offset of excess-return intervals: the training rows' mean market move over the horizon."""
    if kind != "excess":
        return 0.0
    moves = arrays.market[np.isfinite(arrays.market)]
    return float(moves.mean()) if len(moves) else 0.0


def calibrate_model(
    loaded: LoadedModel,
    arrays: Arrays,
    levels: list[float],
    mc_samples: int,
    seed: int = 0,
    offset: float = 0.0,
    rows: np.ndarray | None = None,
) -> dict:
    """Conformal calibration of ``loaded`` on the labelled rows of ``arrays`` (an embargoed block), or of
    its ``rows`` (a mask; the other rows of their dates are context: ``inference.predict``)."""
    out = predict(loaded, arrays, mc_samples=max(mc_samples, 2), seed=seed, rows=rows)
    return calibration_of(out, arrays if rows is None else arrays.subset(rows), levels, mc_samples, offset)


def calibration_of(out: dict[str, np.ndarray], arrays: Arrays, levels: list[float], mc_samples: int, offset: float) -> dict:
    """``calibrate`` on predictions already made (``inference.predict`` or ``inference.combine``) of ``arrays``' rows."""
    calibration = calibrate(arrays.target, out["prediction"], out["mc_std"], levels, offset)
    calibration["mc_samples"] = max(mc_samples, 2)
    return calibration


# ---------------------------------------------------------------------------- prediction


def _to_log(value: np.ndarray, std: np.ndarray | float, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """log(1 + raw return) and the scale there (delta method: σ / (1 + raw return))."""
    level = np.maximum(1.0 + value + offset, FLOOR)
    return np.log(level), np.asarray(std) / level


def intervals(prediction: np.ndarray, std: np.ndarray, calibration: dict) -> pd.DataFrame:
    """Calibrated (``lower_80`` ...) and raw MC-dropout (``mc_lower_80`` ...) bounds, per level.

    Built in log(1 + raw return) and mapped back, so a raw return's bound never falls below -100%
    and the upper side is wider, as returns are skewed. An excess return's lower bound is clipped at
    -100% too: below it lies only a stock that lost everything while the market rose, and a bound
    there reads as a loss of more than everything. Calibrations written before log space (no
    ``space``) stay symmetric.
    """
    out = {}
    log_space = calibration.get("space") == LOG_SPACE
    offset = float(calibration.get("offset", 0.0))
    z, z_std = _to_log(prediction, std, offset) if log_space else (prediction, std)
    scale = np.maximum(z_std, calibration["min_scale"])

    def back(value: np.ndarray) -> np.ndarray:
        return np.maximum(np.exp(value) - 1.0 - offset, -1.0) if log_space else value

    for level in calibration["levels"]:
        (lower,), (upper,) = interval_columns([level])
        q = calibration["quantiles"][str(level)]
        out[lower], out[upper] = back(z - q * scale), back(z + q * scale)
        (mc_lower,), (mc_upper,) = interval_columns([level], KINDS["mc_dropout"])
        gauss = GAUSSIAN_Z.get(level) or _z(level)
        out[mc_lower], out[mc_upper] = back(z - gauss * z_std), back(z + gauss * z_std)
    return pd.DataFrame(out)


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def predict_with_uncertainty(
    loaded: LoadedModel, arrays: Arrays, calibration: dict, mc_samples: int, seed: int = 0, rows: np.ndarray | None = None
) -> pd.DataFrame:
    """Per row (of ``rows``, if given: ``inference.predict``): prediction, MC-dropout std, calibrated and
    raw MC intervals, confidence and its inputs."""
    out = predict(loaded, arrays, mc_samples=max(mc_samples, 2), seed=seed, rows=rows)
    return uncertainty_frame(out, loaded, arrays if rows is None else arrays.subset(rows), calibration)


def uncertainty_frame(out: dict[str, np.ndarray], loaded: LoadedModel, arrays: Arrays, calibration: dict) -> pd.DataFrame:
    """``predict_with_uncertainty``'s frame from predictions already made of ``arrays``' rows."""
    frame = pd.DataFrame({"date": arrays.dates, "prediction": out["prediction"], "mc_std": out["mc_std"]})
    frame = pd.concat([frame, intervals(out["prediction"], out["mc_std"], calibration)], axis=1)
    temporal = [name for name in loaded.checkpoint["temporal_features"] if name != STEP_MASK]
    static = list(loaded.checkpoint["static_features"])
    frame[VOLATILITY] = arrays.past[:, -1, temporal.index(VOLATILITY)]
    frame[SIZE] = arrays.static[:, static.index(SIZE)] if SIZE in static else np.nan  # price-only data: no size
    frame["missing_share"] = missing_share(arrays, static)
    past_scaled, static_scaled = loaded.scaler.transform(arrays)
    frame["clipped_share"] = clipped_share(past_scaled, static_scaled)
    frame["confidence"] = confidence(frame, max(calibration["levels"])).to_numpy()
    frame[TOO_UNCERTAIN] = too_uncertain(frame, calibration)
    for member in range(out["members"].shape[1]):  # each network of the ensemble on its own
        frame[member_column(member)] = out["members"][:, member]
    return frame


TOO_UNCERTAIN = "too_uncertain"


def too_uncertain(frame: pd.DataFrame, calibration: dict) -> np.ndarray:
    """1 where the narrowest calibrated interval is wider than the spread of every stock's outcomes at that
    level (``outcome_band``): the model then knows less about this stock than the cross-section does, and
    its prediction is too uncertain to act on; 0 otherwise; NaN for a calibration without the band."""
    band = calibration.get("outcome_band") or {}
    level = min(calibration["levels"])
    if str(level) not in band:
        return np.full(len(frame), np.nan)
    (lower,), (upper,) = interval_columns([level])
    low, high = band[str(level)]
    return ((frame[upper] - frame[lower]).to_numpy() > high - low).astype(float)


MEMBER_PREFIX = "model_member_"


def member_column(member: int) -> str:
    return f"{MEMBER_PREFIX}{member}"


def missing_share(arrays: Arrays, static_names: Sequence[str]) -> np.ndarray:
    """Per row, from the unscaled arrays: half the share of unobserved months, half "no fundamentals yet"."""
    missing_steps = np.isnan(arrays.past).all(axis=-1).mean(axis=1)
    names = list(static_names)
    no_fundamentals = arrays.static[:, names.index(FUNDAMENTALS_MISSING)] if FUNDAMENTALS_MISSING in names else 0.0
    return np.clip(0.5 * missing_steps + 0.5 * np.nan_to_num(no_fundamentals, nan=1.0), 0, 1)


def clipped_share(past_scaled: np.ndarray, static_scaled: np.ndarray) -> np.ndarray:
    """Per row: the share of the last step's and the static inputs that sit at the scaler's clip."""
    at_edge = np.abs(static_scaled) >= CLIP - 1e-6
    at_edge_past = np.abs(past_scaled[:, -1, :-1]) >= CLIP - 1e-6
    return np.concatenate([at_edge, at_edge_past], axis=1).mean(axis=1)


def confidence(frame: pd.DataFrame, widest_level: float) -> pd.Series:
    """Confidence in [0, 1] per row; ``frame`` needs date, prediction, the widest calibrated bounds,
    the volatility and size features, missing_share and clipped_share. A factor whose input the data
    lacks everywhere (size without fundamentals) is left out and the other weights rescaled."""
    (lower,), (upper,) = interval_columns([widest_level])
    by_date = frame.groupby("date")
    width = frame[upper] - frame[lower]
    extremity = (frame["prediction"] - by_date["prediction"].transform("median")).abs()
    penalties = {
        "width": width.groupby(frame["date"]).rank(pct=True),
        "volatility": frame[VOLATILITY].groupby(frame["date"]).rank(pct=True).fillna(1.0),
        "size": 1 - frame[SIZE].groupby(frame["date"]).rank(pct=True).fillna(0.0),
        "extremity": extremity.groupby(frame["date"]).rank(pct=True),
        "completeness": frame["missing_share"].clip(0, 1),
        "extremes": (frame["clipped_share"] * 5).clip(0, 1),
    }
    lacking = {name for name, column in (("volatility", VOLATILITY), ("size", SIZE)) if frame[column].isna().all()}
    weights = {name: weight for name, weight in CONFIDENCE_WEIGHTS.items() if name not in lacking}
    total = sum(weights.values())
    score = 1 - sum(weight / total * penalties[name] for name, weight in weights.items())
    return score.clip(0, 1).rename("confidence")
