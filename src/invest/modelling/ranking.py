"""Rank IC, the one implementation: per-date Spearman correlation of a prediction and the realised
return. Training picks epochs with it (``train.select_by: rank_ic``) and logs it; evaluation scores
with it (``invest.evaluation.metrics`` re-exports it)."""

from __future__ import annotations

import numpy as np
import pandas as pd

DATE = "date"
MIN_ROWS_PER_DATE = 5


def clean_rows(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Rows where every column in ``cols`` is finite."""
    values = frame[cols].to_numpy(dtype=float)
    return frame.loc[np.isfinite(values).all(axis=1)]


def rank_ic_by_date(frame: pd.DataFrame, pred: str = "prediction", target: str = "target") -> pd.Series:
    """Spearman correlation of ``pred`` and ``target`` per date (dates with < 5 rows or a constant column dropped)."""
    df = clean_rows(frame, [pred, target])[[DATE, pred, target]]
    grouped = df.groupby(DATE, sort=True)
    rp = grouped[pred].rank() - grouped[pred].transform("size").add(1).div(2)  # centred average ranks
    rt = grouped[target].rank() - grouped[target].transform("size").add(1).div(2)
    sums = pd.DataFrame({DATE: df[DATE], "xy": rp * rt, "xx": rp * rp, "yy": rt * rt}).groupby(DATE).sum()
    n = grouped.size()
    denom = np.sqrt(sums["xx"] * sums["yy"])
    ok = (n >= MIN_ROWS_PER_DATE) & (sums["xx"] > 1e-12) & (sums["yy"] > 1e-12)
    ic = (sums["xy"] / denom)[ok].clip(-1.0, 1.0)
    ic.name = "rank_ic"
    return ic


def mean_rank_ic(prediction: np.ndarray, target: np.ndarray, dates: np.ndarray) -> float:
    """Mean over dates of ``rank_ic_by_date`` (NaN when no date qualifies)."""
    frame = pd.DataFrame({DATE: dates, "prediction": prediction, "target": target})
    ic = rank_ic_by_date(frame)
    return float(ic.mean()) if len(ic) else float("nan")
