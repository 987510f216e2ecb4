"""Pure evaluation metrics for cross-sectional return predictions (no I/O).

Input: a frame with ``date`` (snapshot date, monthly), ``ticker``, ``prediction``,
``target`` (realised forward return) and optionally ``market_return``. Every metric
is defined once in ``docs/metrics.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

# the one rank IC (training selects epochs with it) lives in the modelling layer; scored from here too
from invest.modelling.ranking import DATE, MIN_ROWS_PER_DATE, rank_ic_by_date  # noqa: F401
from invest.modelling.ranking import clean_rows as _clean


def newey_west_lags(n: int, horizon_months: int) -> int:
    """Bartlett lag count: max(horizon_months, floor(4 (n/100)^(2/9))), capped at n - 1."""
    return int(max(0, min(n - 1, max(horizon_months, math.floor(4 * (n / 100) ** (2 / 9))))))


def newey_west_se(x: np.ndarray, lags: int) -> float:
    """Newey-West (Bartlett kernel) standard error of the mean of ``x``."""
    x = np.asarray(x, dtype=float)
    n = x.size
    e = x - x.mean()
    s = e @ e / n
    for lag in range(1, min(lags, n - 1) + 1):
        s += 2 * (1 - lag / (lags + 1)) * (e[lag:] @ e[:-lag]) / n
    return float(np.sqrt(max(s, 0.0) / n))


def _month_index(index: pd.Index) -> np.ndarray:
    """Month number of each date (positions if the index is not dates)."""
    if isinstance(index, pd.DatetimeIndex):
        return np.asarray(index.year * 12 + index.month - 1, dtype=int)
    return np.arange(len(index))


def nonoverlap_t(ic: pd.Series, horizon_months: int) -> tuple[float, float]:
    """Mean over the ``horizon_months`` offsets of the plain t-stat on non-overlapping dates; also mean n per offset."""
    months = _month_index(ic.index)
    values = ic.to_numpy(dtype=float)
    h = max(1, int(horizon_months))
    ts, ns = [], []
    for offset in range(h):
        sub = values[(months - months.min()) % h == offset] if months.size else values
        if sub.size >= 2 and sub.std(ddof=1) > 0:
            ts.append(sub.mean() / (sub.std(ddof=1) / np.sqrt(sub.size)))
            ns.append(sub.size)
    return (float(np.mean(ts)), float(np.mean(ns))) if ts else (float("nan"), 0.0)


def ic_summary(ic: pd.Series, horizon_months: int, lags: int | None = None) -> dict[str, float]:
    """Mean, std, ICIR, n_dates, Newey-West t (overlap-robust) and non-overlapping t of a per-date IC series."""
    ic = ic.dropna().sort_index()
    x = ic.to_numpy(dtype=float)
    n = x.size
    nan = float("nan")
    mean = float(x.mean()) if n else nan
    std = float(x.std(ddof=1)) if n >= 2 else nan
    nw_lags = newey_west_lags(n, horizon_months) if lags is None else int(lags)
    se = newey_west_se(x, nw_lags) if n >= 2 else nan
    t_no, n_no = nonoverlap_t(ic, horizon_months)
    return {
        "mean": mean,
        "std": std,
        "icir": mean / std if n >= 2 and std > 0 else nan,
        "n_dates": n,
        "nw_lags": nw_lags,
        "t_newey_west": mean / se if n >= 2 and se > 0 else nan,
        "t_nonoverlap": t_no,
        "n_nonoverlap": n_no,
    }


def point_metrics(frame: pd.DataFrame, pred: str = "prediction", target: str = "target") -> dict[str, float]:
    """Pooled MAE, RMSE, Pearson and Spearman correlation, and row count."""
    df = _clean(frame, [pred, target])
    p, y = df[pred].to_numpy(dtype=float), df[target].to_numpy(dtype=float)
    err = p - y
    nan = float("nan")
    varying = len(df) >= 2 and np.ptp(p) > 0 and np.ptp(y) > 0
    return {
        "mae": float(np.abs(err).mean()) if len(df) else nan,
        "rmse": float(np.sqrt((err**2).mean())) if len(df) else nan,
        "pearson": float(np.corrcoef(p, y)[0, 1]) if varying else nan,
        "spearman": float(np.corrcoef(rankdata(p), rankdata(y))[0, 1]) if varying else nan,
        "n": len(df),
    }


def _sign_stats(pred_pos: np.ndarray, target_pos: np.ndarray, prefix: str = "") -> dict[str, float]:
    base = float(target_pos.mean())
    return {
        f"{prefix}hit_rate": float((pred_pos == target_pos).mean()),
        f"{prefix}base_rate": base,
        f"{prefix}best_constant_hit_rate": max(base, 1 - base),
        f"{prefix}pred_positive_share": float(pred_pos.mean()),
    }


def hit_rates(
    frame: pd.DataFrame, market_return: str | None = "market_return", pred: str = "prediction", target: str = "target"
) -> dict[str, float]:
    """Sign hit rates against the base rate and the best constant-sign guess ("positive" means > 0).

    If the ``market_return`` column is present, also ``excess_*``: the realised excess
    ``target - market_return`` against the predicted excess ``prediction - mean prediction
    on that date`` (the market level is not known when predicting; see docs/metrics.md).
    """
    df = _clean(frame, [pred, target])
    if df.empty:
        return {"n": 0}
    out = _sign_stats(df[pred].to_numpy() > 0, df[target].to_numpy() > 0)
    out["n"] = len(df)
    if market_return is not None and market_return in frame.columns:
        dm = _clean(df, [market_return])
        if not dm.empty:
            pred_excess = dm[pred] - dm.groupby(DATE)[pred].transform("mean")
            target_excess = dm[target] - dm[market_return]
            out |= _sign_stats(pred_excess.to_numpy() > 0, target_excess.to_numpy() > 0, "excess_")
            out["excess_n"] = len(dm)
    return out


def _buckets(frame: pd.DataFrame, n_buckets: int, pred: str) -> pd.Series:
    """Bucket 1..n_buckets by ``pred`` within each date (ties broken by order); NaN on dates with < n rows."""
    grouped = frame.groupby(DATE)[pred]
    pct = grouped.rank(method="first") - 1
    size = grouped.transform("size")
    bucket = np.floor(pct * n_buckets / size) + 1
    return bucket.where(size >= n_buckets)


def returns_by_bucket(frame: pd.DataFrame, n_buckets: int = 10, pred: str = "prediction", target: str = "target") -> pd.DataFrame:
    """Per predicted bucket (1 = lowest): date-averaged mean prediction and realised target, and n_dates."""
    df = _clean(frame, [pred, target])
    df = df.assign(bucket=_buckets(df, n_buckets, pred)).dropna(subset=["bucket"])
    per_date = df.groupby([DATE, "bucket"])[[pred, target]].mean()
    out = per_date.groupby(level="bucket").agg(
        mean_prediction=(pred, "mean"), mean_target=(target, "mean"), n_dates=(target, "size")
    )
    out.index = out.index.astype(int)
    return out


def quantile_spread(frame: pd.DataFrame, q: int = 5, pred: str = "prediction", target: str = "target") -> float:
    """Mean over dates of (mean target of the top ``q``-quantile by prediction − that of the bottom one)."""
    df = _clean(frame, [pred, target])
    df = df.assign(bucket=_buckets(df, q, pred)).dropna(subset=["bucket"])
    means = df[df["bucket"].isin([1, q])].groupby([DATE, "bucket"])[target].mean().unstack()
    if means.empty or 1 not in means or q not in means:
        return float("nan")
    return float((means[q] - means[1]).mean())


def calibration_slope(frame: pd.DataFrame, pred: str = "prediction", target: str = "target") -> float:
    """Pooled OLS slope of target on prediction (1 = calibrated scale, < 1 = overconfident spread)."""
    df = _clean(frame, [pred, target])
    p, y = df[pred].to_numpy(dtype=float), df[target].to_numpy(dtype=float)
    if p.size < 2 or np.ptp(p) == 0:
        return float("nan")
    pc = p - p.mean()
    return float(pc @ (y - y.mean()) / (pc @ pc))


def block_indices(n_dates: int, block_months: int, n_samples: int, seed: int) -> np.ndarray:
    """(n_samples, n_dates) positions drawn by the circular moving-block bootstrap."""
    if n_dates < 1:
        raise ValueError("block bootstrap needs at least one date")
    block = max(1, min(int(block_months), n_dates))
    n_blocks = -(-n_dates // block)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n_dates, size=(n_samples, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)) % n_dates
    return idx.reshape(n_samples, -1)[:, :n_dates]


def block_bootstrap(
    frame: pd.DataFrame,
    statistic: Callable[[pd.DataFrame], float],
    block_months: int,
    n_samples: int,
    seed: int,
) -> np.ndarray:
    """``statistic`` on ``n_samples`` date-block resamples of ``frame`` (deterministic given ``seed``).

    Whole dates are drawn in circular blocks of ``block_months`` consecutive sorted dates.
    The j-th drawn date is relabelled as the j-th original date, so the resample has the
    same calendar, a date drawn twice counts twice, and the drawn date is kept in ``source_date``.
    """
    df = frame.sort_values(DATE, kind="stable").reset_index(drop=True)
    codes, dates = pd.factorize(df[DATE], sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(dates) + 1))
    rows = [order[bounds[i] : bounds[i + 1]] for i in range(len(dates))]
    out = np.empty(n_samples)
    for s, draw in enumerate(block_indices(len(dates), block_months, n_samples, seed)):
        take = np.concatenate([rows[i] for i in draw])
        sample = df.iloc[take].reset_index(drop=True)
        sample["source_date"] = sample[DATE]
        sample[DATE] = np.repeat(np.asarray(dates), [len(rows[i]) for i in draw])
        out[s] = statistic(sample)
    return out


def _compare(a: float, b: float, diffs: np.ndarray, alpha: float) -> dict[str, Any]:
    """Point estimate and percentile CI of B − A; significant when the CI excludes 0."""
    lo, hi = (float(v) for v in np.nanquantile(diffs, [alpha / 2, 1 - alpha / 2]))
    a, b = float(a), float(b)
    return {"a": a, "b": b, "diff": b - a, "ci_low": lo, "ci_high": hi, "significant": bool(lo > 0 or hi < 0)}


def paired_margin(
    frame: pd.DataFrame,
    pred_a: str,
    pred_b: str,
    block_months: int,
    n_samples: int,
    seed: int,
    alpha: float = 0.05,
    target: str = "target",
) -> dict[str, Any]:
    """B − A in mean rank IC and in MAE on the same rows, with date-block bootstrap CIs (in words: ``verdict``).

    Same draws as ``block_bootstrap`` with the same seed, but computed from per-date sums,
    so it is fast. Dates where either IC is undefined are dropped from the IC part (then
    its draws are over the remaining dates). CI: bootstrap percentiles; ± is its half-width.
    """
    df = _clean(frame, [pred_a, pred_b, target])
    ic = pd.concat([rank_ic_by_date(df, pred_a, target), rank_ic_by_date(df, pred_b, target)], axis=1).dropna()
    per_date = pd.DataFrame({"ea": (df[pred_a] - df[target]).abs(), "eb": (df[pred_b] - df[target]).abs()})
    per_date = per_date.groupby(df[DATE]).agg(ea=("ea", "sum"), eb=("eb", "sum"), n=("ea", "size"))
    out: dict[str, Any] = {"n_dates": len(per_date), "n_ic_dates": len(ic), "n_samples": n_samples, "alpha": alpha}
    if len(ic):
        icd = (ic.iloc[:, 1] - ic.iloc[:, 0]).to_numpy()
        draws = block_indices(len(icd), block_months, n_samples, seed)
        out["rank_ic"] = _compare(float(ic.iloc[:, 0].mean()), float(ic.iloc[:, 1].mean()), icd[draws].mean(axis=1), alpha)
        out["rank_ic"]["detectable"] = detectable_margin(pd.Series(icd, index=ic.index))
    if len(per_date):
        ea, eb, n = (per_date[c].to_numpy(dtype=float) for c in ("ea", "eb", "n"))
        draws = block_indices(len(n), block_months, n_samples, seed)
        boot = (eb[draws].sum(axis=1) - ea[draws].sum(axis=1)) / n[draws].sum(axis=1)
        out["mae"] = _compare(ea.sum() / n.sum(), eb.sum() / n.sum(), boot, alpha)
    return out


POWER_Z = 2.8016  # z(0.975) + z(0.80): a two-sided 5% test with 80% power


def detectable_margin(differences: pd.Series) -> float:
    """The smallest margin these data could tell from zero: 80% power, 5% two-sided, from the spread of the
    yearly means of the per-date differences (one year is about one independent observation of 1-year
    labels). NaN with fewer than two years."""
    dates = pd.DatetimeIndex(differences.index)
    yearly = differences.groupby(dates.year).mean()
    if len(yearly) < 2:
        return float("nan")
    return float(POWER_Z * yearly.std(ddof=1) / np.sqrt(len(yearly)))


VERDICT_METRICS = (  # key in scoring's margins and compare's, words, higher is better, format
    ("rank_ic", "rank IC", True, "{:+.3f}"),
    ("mae", "MAE", False, "{:+.4f}"),
    ("portfolio", "top-book net return a year", True, "{:+.1%}"),
)


def verdict(
    what: str,
    diff: float | None,
    low: float | None,
    high: float | None,
    higher_is_better: bool,
    fmt: str = "{:+.3f}",
    names: tuple[str, str] = ("A", "B"),
    detectable: float | None = None,
) -> str:
    """One metric's verdict on B − A (``diff`` with its 95% interval) in plain words, marked significant
    (the interval excludes 0) or not; ``names`` say what A and B are. One sign convention everywhere:
    the difference and its interval are always B − A, signed, whichever side is better."""
    a, b = names
    if diff is None or low is None or high is None or not np.all(np.isfinite([diff, low, high])):
        return f"{what}: no verdict (undefined on these rows)"
    difference = f"{b} − {a} = {fmt.format(diff)}, 95% interval {fmt.format(low)} to {fmt.format(high)}"
    if low > 0 or high < 0:
        winner = b if (diff > 0) == higher_is_better else a
        return f"{what}: {winner} better ({difference}; significant)"
    power = ""
    if detectable is not None and np.isfinite(detectable):
        power = f"; these data detect a margin of {fmt.format(detectable).lstrip('+')} or more at 80% power"
    return f"{what}: no significant difference ({difference}{power})"
