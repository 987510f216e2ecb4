"""Normalised split-conformal prediction intervals and their coverage (pure numpy/pandas).

Score on the calibration set: ``s_i = |y_i - ŷ_i| / max(σ_i, min_scale)`` with σ the
MC-dropout standard deviation. For level ``L`` the conformal quantile is the k-th smallest
score, ``k = ceil((n + 1) L)`` (``+inf`` if k > n), and the interval is ``ŷ ± q σ``.
See docs/metrics.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

DEFAULT_MIN_SCALE = 1e-8


def level_label(level: float) -> str:
    """Column suffix for a level: 0.8 -> "80", 0.975 -> "97.5"."""
    return f"{level * 100:.6g}"


def interval_columns(levels: Iterable[float]) -> tuple[list[str], list[str]]:
    """Column names ``lower_<pct>`` / ``upper_<pct>`` written by :func:`intervals`."""
    labels = [level_label(lv) for lv in levels]
    return [f"lower_{lb}" for lb in labels], [f"upper_{lb}" for lb in labels]


def conformal_rank(n: int, level: float) -> int:
    """k = ceil((n + 1) · level), the order statistic giving coverage >= level on exchangeable data."""
    if not 0 < level < 1:
        raise ValueError(f"conformal level must be in (0, 1), got {level}")
    return math.ceil((n + 1) * level - 1e-9)  # tolerance: (n+1)*level is often an integer up to rounding


def scores(residual_abs: np.ndarray, scale: np.ndarray, min_scale: float = DEFAULT_MIN_SCALE) -> np.ndarray:
    """Normalised non-conformity scores |y − ŷ| / max(σ, min_scale)."""
    residual_abs = np.abs(np.asarray(residual_abs, dtype=float))
    return residual_abs / np.maximum(np.asarray(scale, dtype=float), min_scale)


def fit_conformal(
    residual_abs: np.ndarray,
    scale: np.ndarray | float,
    levels: Sequence[float],
    min_scale: float = DEFAULT_MIN_SCALE,
) -> dict[float, float]:
    """Conformal quantile of the normalised scores for each level (``scale=1`` gives plain split conformal).

    Non-finite scores are dropped. Returns ``{level: q}``; ``q = inf`` when the
    calibration set is too small for the level (k > n).
    """
    s = np.broadcast_to(scores(residual_abs, scale, min_scale), np.shape(residual_abs))
    s = np.sort(s[np.isfinite(s)])
    n = s.size
    out: dict[float, float] = {}
    for level in levels:
        k = conformal_rank(n, level)
        out[float(level)] = float(s[k - 1]) if 1 <= k <= n else float("inf")
    return out


def intervals(
    pred: np.ndarray | pd.Series,
    scale: np.ndarray | pd.Series | float,
    qs: Mapping[float, float],
    min_scale: float = DEFAULT_MIN_SCALE,
) -> pd.DataFrame:
    """``ŷ ± q · max(σ, min_scale)`` per level, as columns ``lower_<pct>`` / ``upper_<pct>`` (index of ``pred``)."""
    index = pred.index if isinstance(pred, pd.Series) else None
    p = np.asarray(pred, dtype=float)
    sigma = np.broadcast_to(np.maximum(np.asarray(scale, dtype=float), min_scale), p.shape)
    cols: dict[str, np.ndarray] = {}
    for level, q in qs.items():
        lower, upper = interval_columns([level])
        cols[lower[0]] = p - q * sigma
        cols[upper[0]] = p + q * sigma
    return pd.DataFrame(cols, index=index)


def _nominal(lower_col: str) -> float:
    """Level encoded in a ``lower_<pct>`` column name, else NaN."""
    match = re.fullmatch(r"lower_(\d+(?:\.\d+)?)", lower_col)
    return float(match.group(1)) / 100 if match else float("nan")


def coverage_table(
    frame: pd.DataFrame,
    lower_cols: Sequence[str],
    upper_cols: Sequence[str],
    by: str | list[str] | pd.Series | None = None,
    target: str = "target",
) -> pd.DataFrame:
    """Coverage (share of ``lower <= target <= upper``), mean width and n per interval and group.

    One row per (group, interval). ``by`` is a column name, list of names or a Series
    aligned with ``frame`` (e.g. ``frame.date.dt.year``); None means one group, "all".
    ``nominal`` is read from ``lower_<pct>`` column names (NaN for other names).
    """
    if len(lower_cols) != len(upper_cols):
        raise ValueError("lower_cols and upper_cols must have the same length")
    groups = _group_frame(frame, by)
    y = frame[target].to_numpy(dtype=float)
    parts = []
    for lo_col, hi_col in zip(lower_cols, upper_cols, strict=True):
        lo, hi = frame[lo_col].to_numpy(dtype=float), frame[hi_col].to_numpy(dtype=float)
        ok = np.isfinite(y) & ~np.isnan(lo) & ~np.isnan(hi)
        stats = groups.assign(covered=((lo <= y) & (y <= hi)).astype(float), width=hi - lo)[ok]
        table = stats.groupby(list(groups.columns), sort=True).agg(
            coverage=("covered", "mean"), mean_width=("width", "mean"), n=("covered", "size")
        )
        table.insert(0, "nominal", _nominal(lo_col))
        table.insert(0, "interval", lo_col.removeprefix("lower_"))
        parts.append(table.reset_index())
    out = pd.concat(parts, ignore_index=True)
    return out[["interval", "nominal", *groups.columns, "coverage", "mean_width", "n"]]


def _group_frame(frame: pd.DataFrame, by: str | list[str] | pd.Series | None) -> pd.DataFrame:
    """Grouping columns aligned with ``frame``."""
    if by is None:
        return pd.DataFrame({"group": "all"}, index=frame.index)
    if isinstance(by, pd.Series):
        return by.reindex(frame.index).rename(by.name if by.name is not None else "group").to_frame()
    return frame[[by] if isinstance(by, str) else list(by)].copy()
