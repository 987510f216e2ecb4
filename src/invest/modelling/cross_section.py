"""Cross-sectional normalisation: each stock's feature relative to the other stocks of the same date.

``cs_rank`` maps a feature's values on one date to their rank-gauss scores (average ranks, then
the normal quantile of (rank - 0.5) / n); ``cs_zscore`` to (x - date mean) / date std. Only the
stocks of that date enter, so no value from another date, past or future, changes a feature
(``tests/test_cross_section.py`` checks it as a property). Market-wide features (the same for
every stock on a date) and 0/1 flags are left as they are; missing values stay missing.

Labels get the same treatment (``cs_rank`` is scaled to [-0.5, 0.5], as Qlib's CSRankNorm): a
network trained on them ranks stocks within a date, and ``map_to_returns`` turns its scores back
into returns with a line fitted on the validation block.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy.special import ndtri

from invest.data.features import FLAGS, MARKET_WIDE
from invest.data.panel import Panel

METHODS = ("cs_rank", "cs_zscore")


def normalise(frame: pd.DataFrame, columns: list[str], method: str, by: str = "date") -> pd.DataFrame:
    """``frame`` with ``columns`` normalised within each value of ``by``."""
    out = frame.copy()
    grouped = frame.groupby(by, sort=False)[columns]
    if method == "cs_rank":
        ranks = grouped.rank(method="average")
        counts = grouped.transform("count")
        out[columns] = ndtri((ranks - 0.5) / counts)  # NaN in, NaN out
    elif method == "cs_zscore":
        std = grouped.transform("std").replace(0.0, np.nan)
        out[columns] = ((frame[columns] - grouped.transform("mean")) / std).clip(-5, 5)
    else:
        raise ValueError(f"unknown cross-sectional method {method!r}")
    return out


def relative_features(names: list[str]) -> list[str]:
    """The features that differ between stocks of one date: what a cross-sectional method normalises."""
    return [name for name in names if name not in MARKET_WIDE and name not in FLAGS]


def normalise_panel(panel: Panel, method: str) -> Panel:
    """The panel with its stock-level temporal and static features normalised per date (``robust``: unchanged)."""
    if method == "robust":
        return panel
    monthly = normalise(panel.monthly, relative_features(panel.temporal_features), method)
    snapshots = normalise(panel.snapshots, relative_features(panel.static_features), method)
    return dataclasses.replace(panel, monthly=monthly, snapshots=snapshots)


def label_scores(label: np.ndarray, dates: np.ndarray, method: str) -> np.ndarray:
    """Per-date rank (in [-0.5, 0.5]) or z-score of the label; NaN where the label is unknown."""
    frame = pd.DataFrame({"date": dates, "label": label})
    if method == "cs_rank":
        grouped = frame.groupby("date", sort=False)["label"]
        return ((grouped.rank(method="average") - 0.5) / grouped.transform("count") - 0.5).to_numpy()
    return normalise(frame, ["label"], method)["label"].to_numpy()


def map_to_returns(scores: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """``returns = intercept + slope * score``, OLS on labelled validation rows; the slope is kept
    above zero so the map never reverses the network's ranking (a model without validated skill
    then predicts about the validation mean)."""
    known = np.isfinite(scores) & np.isfinite(target)
    x, y = scores[known], target[known]
    if len(x) < 2 or np.ptp(x) == 0:
        return {"intercept": float(np.mean(y)) if len(y) else 0.0, "slope": 1e-6}
    slope = float(np.cov(x, y, ddof=0)[0, 1] / np.var(x))
    slope = max(slope, 1e-6)
    return {"intercept": float(y.mean() - slope * x.mean()), "slope": slope}


def map_by_median(scores: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """``returns = intercept + slope * score`` by least absolute deviations on labelled validation rows (the
    line whose point forecast has the smallest MAE there); slope kept above zero, as ``map_to_returns``."""
    known = np.isfinite(scores) & np.isfinite(target)
    x, y = scores[known], target[known]
    if len(x) < 2 or np.ptp(x) == 0:
        return {"intercept": float(np.median(y)) if len(y) else 0.0, "slope": 1e-6}

    def mae(slope: float) -> float:  # the best intercept for a slope is the median of the residuals
        residual = y - slope * x
        return float(np.abs(residual - np.median(residual)).mean())

    # MAE after the best intercept is convex in the slope: golden-section search up to 10x the slope of a perfect fit
    low, high, golden = 1e-6, 10.0 * float(np.std(y) / np.std(x)), (5**0.5 - 1) / 2
    for _ in range(100):
        a, b = high - golden * (high - low), low + golden * (high - low)
        low, high = (low, b) if mae(a) <= mae(b) else (a, high)
    slope = (low + high) / 2
    return {"intercept": float(np.median(y - slope * x)), "slope": slope}
