"""Statistics of monthly portfolio return series (no I/O); every formula is in docs/portfolio.md."""

from __future__ import annotations

import numpy as np
import pandas as pd

from invest.evaluation.metrics import block_indices, newey_west_lags, newey_west_se

PERIODS_PER_YEAR = 12
NAN = float("nan")


def annual_return(r: np.ndarray) -> float:
    """Geometric annualised return: (prod(1 + r))^(12 / n) - 1."""
    if r.size == 0:
        return NAN
    wealth = float(np.prod(1.0 + r))
    return wealth ** (PERIODS_PER_YEAR / r.size) - 1.0 if wealth > 0 else -1.0


def annual_vol(r: np.ndarray) -> float:
    """Sample standard deviation (ddof = 1) of monthly returns times sqrt(12)."""
    return float(r.std(ddof=1) * np.sqrt(PERIODS_PER_YEAR)) if r.size >= 2 else NAN


def ratio(r: np.ndarray) -> float:
    """Annualised mean / std of monthly values, sqrt(12) mean / std (NaN if fewer than 2 or constant)."""
    if r.size < 2:
        return NAN
    std = r.std(ddof=1)
    return float(np.sqrt(PERIODS_PER_YEAR) * r.mean() / std) if std > 1e-15 else NAN


def max_drawdown(r: np.ndarray) -> float:
    """Largest fall of wealth from its running peak, min_t (W_t / max_{s<=t} W_s - 1), with W_0 = 1 (<= 0)."""
    if r.size == 0:
        return NAN
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + r)])
    return float((wealth / np.maximum.accumulate(wealth) - 1.0).min())


def excess(d: np.ndarray, lags: int, draws: np.ndarray | None) -> dict[str, float]:
    """Annualised mean of monthly differences ``d`` with Newey-West t, block-bootstrap 95% CI, IR and hit rate."""
    n = d.size
    out = {"ann": PERIODS_PER_YEAR * float(d.mean()) if n else NAN, "ir": ratio(d), "hit": float((d > 0).mean()) if n else NAN}
    if draws is not None:
        se = newey_west_se(d, lags) if n >= 2 else NAN
        out["t"] = float(d.mean() / se) if n >= 2 and se > 0 else NAN
        boot = PERIODS_PER_YEAR * d[draws].mean(axis=1)
        out["lo"], out["hi"] = (float(v) for v in np.quantile(boot, [0.025, 0.975]))
    return out


def series_stats(
    r: np.ndarray, market: np.ndarray, universe: np.ndarray, lags: int, draws: np.ndarray | None
) -> dict[str, float]:
    """Return, risk and excess statistics of one monthly series (t and CI only when ``draws`` is given)."""
    out = {"return_ann": annual_return(r), "vol_ann": annual_vol(r), "sharpe": ratio(r), "max_drawdown": max_drawdown(r)}
    for name, bench in (("index", market), ("ew", universe)):
        ex = excess(r - bench, lags, draws)
        out[f"excess_{name}_ann"] = ex["ann"]
        if draws is not None:
            out[f"excess_{name}_t"], out[f"excess_{name}_lo"], out[f"excess_{name}_hi"] = ex["t"], ex["lo"], ex["hi"]
        out[f"ir_{name}"], out[f"hit_{name}"] = ex["ir"], ex["hit"]
    return out


def benchmark_stats(name: str, r: np.ndarray) -> dict[str, float]:
    """Return and risk statistics of a benchmark series, keys prefixed with ``name``."""
    return {
        f"{name}_return_ann": annual_return(r),
        f"{name}_vol_ann": annual_vol(r),
        f"{name}_sharpe": ratio(r),
        f"{name}_max_drawdown": max_drawdown(r),
    }


def mean_turnover(turnover: np.ndarray, counted: np.ndarray) -> float:
    """Mean one-way turnover over the ``counted`` months (rebalances not made from an all-cash book)."""
    return float(turnover[counted].mean()) if counted.any() else NAN


def block_stats(
    monthly: pd.DataFrame, strategies: tuple[str, ...], rebalance_months: int, draws: np.ndarray | None
) -> dict[str, float]:
    """All statistics of a block of consecutive months of ``monthly`` (t and CIs only when ``draws`` is given)."""
    market, universe = monthly["market"].to_numpy(), monthly["universe"].to_numpy()
    rebalance = monthly["rebalance"].to_numpy(dtype=bool)
    lags = newey_west_lags(len(monthly), rebalance_months)
    out: dict[str, float] = {"months": len(monthly), "rebalances": int(rebalance.sum())}
    for s in strategies:
        for version in ("gross", "net"):
            r = monthly[f"{s}_{version}"].to_numpy()
            out |= {f"{s}_{version}_{key}": value for key, value in series_stats(r, market, universe, lags, draws).items()}
            if s == "long_short":  # dollar-neutral: its own mean is the excess over doing nothing
                mean = excess(r, lags, draws)
                out |= {f"{s}_{version}_mean_{key}": mean[key] for key in ("ann", "t", "lo", "hi") if key in mean}
        counted = rebalance & ~monthly[f"{s}_from_cash"].to_numpy(dtype=bool)
        out[f"{s}_turnover"] = mean_turnover(monthly[f"{s}_turnover"].to_numpy(), counted)
        out[f"{s}_cost_ann"] = PERIODS_PER_YEAR * float(monthly[f"{s}_cost"].mean())
        out[f"{s}_names_mean"] = float(monthly[f"{s}_names"].mean())
        out[f"{s}_names_min"] = int(monthly[f"{s}_names"].min())
        out[f"{s}_cash_months"] = int((monthly[f"{s}_names"] == 0).sum())
    out |= benchmark_stats("market", market) | benchmark_stats("universe", universe)
    out["universe_excess_index_ann"] = PERIODS_PER_YEAR * float((universe - market).mean())
    if draws is not None:
        out["nw_lags"] = lags
    return out


def summary(
    monthly: pd.DataFrame, strategies: tuple[str, ...], rebalance_months: int, block_months: int, samples: int, seed: int
) -> dict[str, float]:
    """Whole-period statistics with Newey-West t-stats and block-bootstrap CIs (same draws for every series)."""
    draws = block_indices(len(monthly), block_months, samples, seed)
    return block_stats(monthly, strategies, rebalance_months, draws)


def by_year(monthly: pd.DataFrame, strategies: tuple[str, ...], rebalance_months: int) -> pd.DataFrame:
    """The same point statistics per calendar year of the snapshot date (no t-stats or CIs on ~12 months)."""
    years = pd.DatetimeIndex(monthly.index).year
    rows = {int(year): block_stats(block, strategies, rebalance_months, None) for year, block in monthly.groupby(years)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "year"
    return out
