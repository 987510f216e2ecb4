"""Walk-forward portfolio backtest of one predictor column: top and long-short books, drift, turnover, costs (no I/O).

Input: one row per (date, ticker) at monthly snapshot dates with a column per predictor,
the stock's realised next-month raw return ``fwd_ret_1m`` (NaN if unknown) and the
index's next-month return ``market_ret_1m``. Every number is defined in docs/portfolio.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from invest.errors import DataError
from invest.evaluation import portfolio_stats

DATE, TICKER, RETURN, MARKET = "date", "ticker", "fwd_ret_1m", "market_ret_1m"
STRATEGIES = ("top", "long_short")
REBALANCE_CHOICES = (1, 3, 6, 12)
_EPS = 1e-9  # so that e.g. 0.29 * 100 counts as 29 names, not 28


@dataclass(frozen=True)
class PortfolioSettings:
    top_k: int | None = None  # names in the long-only book; None = top_quantile of the eligible stocks
    top_quantile: float = 0.1  # share of eligible stocks held when top_k is None, (0, 1]
    long_short_quantile: float = 0.1  # share of eligible stocks in each leg of the long-short book, (0, 0.5]
    cost_bps: float = 10.0  # cost per unit of traded notional, in basis points, 0 to 1000
    rebalance_months: int = 1  # months between rebalances: 1, 3, 6 or 12
    missing_return: float | None = None  # None: unknown next-month returns are excluded from ranking; else credited this
    block_months: int = 12  # block length of the circular block bootstrap of monthly excess returns
    bootstrap_samples: int = 1000  # bootstrap resamples (>= 10)
    seed: int = 7  # bootstrap seed

    @classmethod
    def from_params(cls, params) -> PortfolioSettings:
        """From ``EvaluateParams`` (which validates the ranges when params.yaml is loaded)."""
        return cls(
            top_k=params.top_k,
            top_quantile=params.top_quantile,
            long_short_quantile=params.long_short_quantile,
            cost_bps=params.cost_bps,
            rebalance_months=params.rebalance_months,
            block_months=params.block_months,
            bootstrap_samples=params.bootstrap_samples,
            seed=params.seed,
        )


@dataclass(frozen=True)
class BacktestResult:
    monthly: pd.DataFrame  # one row per evaluated month (index: snapshot date); returns, turnover, costs, cumulative
    stats: dict[str, float]  # whole-period statistics (keys in docs/portfolio.md)
    by_year: pd.DataFrame  # the point statistics per calendar year (index: year)
    positions: pd.DataFrame  # date, strategy, ticker, weight (held over the month), drifted (at its end); non-zero only


@dataclass(frozen=True)
class _Panel:
    dates: pd.DatetimeIndex  # [T] evaluated snapshot dates
    tickers: np.ndarray  # [N] sorted; tie-break order
    frame: pd.DataFrame  # the input rows on those dates
    returns: np.ndarray  # [T, N] next-month raw return; NaN = unknown or no row
    present: np.ndarray  # [T, N] a row exists
    market: np.ndarray  # [T] index next-month return
    rebalance: np.ndarray  # [T] rebalance at the start of the month
    counts: dict[str, int]  # dates_dropped, unknown_excluded


def _month_numbers(dates: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(dates.year * 12 + dates.month - 1, dtype=int)


def rebalance_schedule(dates: pd.DatetimeIndex, rebalance_months: int) -> np.ndarray:
    """True where the book is rebalanced: the first date, every ``rebalance_months`` after, and after any gap."""
    months = _month_numbers(dates)
    out = np.zeros(len(months), dtype=bool)
    last = None
    for t, month in enumerate(months):
        if last is None or month - months[t - 1] != 1 or month - last >= rebalance_months:
            out[t], last = True, month
    return out


def _panel(frame: pd.DataFrame, settings: PortfolioSettings) -> _Panel:
    """Wide arrays on the evaluable dates (index return known and at least one stock return known)."""
    for column in (DATE, TICKER, RETURN, MARKET):
        if column not in frame.columns:
            raise DataError(f"portfolio backtest: the predictions frame has no {column!r} column; add it (see docs/portfolio.md)")
    frame = frame.assign(**{DATE: pd.to_datetime(frame[DATE])})
    duplicated = frame.duplicated([DATE, TICKER])
    if duplicated.any():
        row = frame.loc[duplicated].iloc[0]
        raise DataError(
            f"portfolio backtest: ticker {row[TICKER]} appears twice on {row[DATE].date()}; keep one row per (date, ticker)"
        )
    grouped = frame.groupby(DATE)[MARKET]
    spread = (grouped.max() - grouped.min()).fillna(0.0)
    if (spread > 1e-9).any():
        raise DataError(
            f"portfolio backtest: {MARKET} differs between tickers on {spread[spread > 1e-9].index[0].date()}; it must be one index return per date"
        )
    market = grouped.first()
    known_any = frame.groupby(DATE)[RETURN].apply(lambda s: bool(np.isfinite(s.to_numpy(dtype=float)).any()))
    keep = market.index[np.isfinite(market.to_numpy(dtype=float)) & known_any.reindex(market.index).to_numpy()]
    if len(keep) == 0:
        raise DataError(
            f"portfolio backtest: no snapshot date has both a known {RETURN} and a known {MARKET}; nothing to evaluate"
        )
    dates = pd.DatetimeIndex(keep).sort_values()
    months = _month_numbers(dates)
    if (np.diff(months) == 0).any():
        twice = dates[1:][np.diff(months) == 0][0]
        raise DataError(f"portfolio backtest: two snapshot dates in {twice:%Y-%m}; the backtest needs one date per month")
    rows = frame[frame[DATE].isin(dates)]
    returns = rows.pivot(index=DATE, columns=TICKER, values=RETURN).reindex(dates)
    present = rows.assign(one=1.0).pivot(index=DATE, columns=TICKER, values="one").reindex(dates).notna().to_numpy()
    values = returns.to_numpy(dtype=float)
    counts = {"dates_dropped": int(frame[DATE].nunique() - len(dates)), "unknown_excluded": 0, "unknown_filled": 0}
    unknown_rows = int((present & ~np.isfinite(values)).sum())
    counts["unknown_excluded" if settings.missing_return is None else "unknown_filled"] = unknown_rows
    return _Panel(
        dates,
        returns.columns.to_numpy(),
        rows,
        values,
        present,
        market.reindex(dates).to_numpy(dtype=float),
        rebalance_schedule(dates, settings.rebalance_months),
        counts,
    )


def _book_size(n_eligible: int, strategy: str, settings: PortfolioSettings) -> int:
    """Names in the book (per leg for long-short); 0 = stay in cash this date."""
    if strategy == "top":
        if n_eligible < 1:
            return 0
        wanted = settings.top_k if settings.top_k is not None else max(1, math.floor(settings.top_quantile * n_eligible + _EPS))
        return min(wanted, n_eligible)
    return max(1, math.floor(settings.long_short_quantile * n_eligible + _EPS)) if n_eligible >= 2 else 0


def target_weights(
    prediction: np.ndarray, eligible: np.ndarray, strategy: str, settings: PortfolioSettings
) -> tuple[np.ndarray, bool]:
    """Target weights [N] and whether the tie-break by ticker order decided who is in the book.

    Eligible stocks are ordered by prediction, highest first, ties by position (= ticker order).
    ``top``: the first n at 1/n each. ``long_short``: the first n at +1/n and the last n at -1/n.
    """
    weights = np.zeros(prediction.size)
    index = np.flatnonzero(eligible)
    n = _book_size(index.size, strategy, settings)
    if n == 0:
        return weights, False
    order = index[np.lexsort((index, -prediction[index]))]  # primary key last: prediction descending, then ticker
    ranked = prediction[order]
    weights[order[:n]] = 1.0 / n
    tie = n < order.size and ranked[n - 1] == ranked[n]
    if strategy == "long_short":
        weights[order[-n:]] = -1.0 / n
        tie = tie or ranked[-n] == ranked[-n - 1]
    return weights, bool(tie)


def simulate(
    panel: _Panel, prediction: np.ndarray, strategy: str, settings: PortfolioSettings
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Monthly gross return, turnover, cost and names of one book; its positions; counts.

    Weights w are set at a rebalance (from the drifted weights of the previous month) or
    carried as drifted; the month's gross return is w . r and the weights then drift to
    w (1 + r) / (1 + w . r). A held stock whose return is unknown earns ``missing_return``
    (0 if None) and its value moves to cash (weight 0) at the month end. A month that loses
    all the capital (1 + w . r <= 0) books -100% and leaves the book in cash, worth nothing.
    """
    fill = 0.0 if settings.missing_return is None else float(settings.missing_return)
    known = np.isfinite(panel.returns)  # [T, N]
    returns = np.where(known, panel.returns, fill)  # [T, N]
    allowed = panel.present & (known if settings.missing_return is None else True)  # [T, N] may be ranked
    n_months, n_stocks = returns.shape
    gross, traded, names = np.zeros(n_months), np.zeros(n_months), np.zeros(n_months, dtype=int)
    drifted = np.zeros(n_stocks)  # the book starts in cash
    counts, positions = {"tie_break_dates": 0, "unknown_held": 0, "wiped_out": 0}, []
    for t in range(n_months):
        if panel.rebalance[t]:
            weights, tie = target_weights(prediction[t], allowed[t] & np.isfinite(prediction[t]), strategy, settings)
            traded[t] = np.abs(weights - drifted).sum()
            counts["tie_break_dates"] += tie
        else:
            weights = drifted
        gross[t] = weights @ returns[t]
        unknown = (weights != 0) & ~known[t]
        counts["unknown_held"] += int(unknown.sum())
        if 1.0 + gross[t] <= 0:  # e.g. a drifted long-short book whose short leg ran away: the capital is gone
            gross[t] = -1.0
            counts["wiped_out"] += 1
            drifted = np.zeros(n_stocks)
        else:
            drifted = np.where(unknown, 0.0, weights * (1.0 + returns[t]) / (1.0 + gross[t]))
        names[t] = int((weights != 0).sum())
        held = np.flatnonzero(weights)
        positions.append(
            pd.DataFrame(
                {
                    DATE: panel.dates[t],
                    "strategy": strategy,
                    TICKER: panel.tickers[held],
                    "weight": weights[held],
                    "drifted": drifted[held],
                }
            )
        )
    cost = settings.cost_bps / 1e4 * traded
    from_cash = panel.rebalance & (np.r_[0, names[:-1]] == 0)  # nothing held before: the initial purchase, a restart
    monthly = pd.DataFrame(
        {
            f"{strategy}_gross": gross,
            f"{strategy}_net": np.maximum(gross - cost, -1.0),  # limited liability: no more than all is lost
            f"{strategy}_turnover": 0.5 * traded,
            f"{strategy}_cost": cost,
            f"{strategy}_names": names,
            f"{strategy}_from_cash": from_cash,
        },
        index=panel.dates,
    )
    return monthly, pd.concat(positions, ignore_index=True), counts


def _universe(panel: _Panel, settings: PortfolioSettings) -> np.ndarray:
    """Equal-weighted mean next-month return of the stocks that may be ranked each date (benchmark; no costs)."""
    known = np.isfinite(panel.returns)
    members = panel.present & known if settings.missing_return is None else panel.present
    values = np.where(known, panel.returns, 0.0 if settings.missing_return is None else settings.missing_return)
    return (values * members).sum(axis=1) / members.sum(axis=1)


def _run(panel: _Panel, predictor: str, settings: PortfolioSettings) -> BacktestResult:
    if predictor not in panel.frame.columns:
        raise DataError(f"portfolio backtest: the predictions frame has no predictor column {predictor!r}")
    prediction = panel.frame.pivot(index=DATE, columns=TICKER, values=predictor).reindex(index=panel.dates, columns=panel.tickers)
    prediction = prediction.to_numpy(dtype=float)  # [T, N]
    monthly = pd.DataFrame(
        {"market": panel.market, "universe": _universe(panel, settings), "rebalance": panel.rebalance}, index=panel.dates
    )
    monthly.index.name = DATE
    counts, positions = dict(panel.counts), []
    for strategy in STRATEGIES:
        book, held, book_counts = simulate(panel, prediction, strategy, settings)
        monthly = monthly.join(book)
        positions.append(held)
        counts |= {f"{strategy}_{key}": value for key, value in book_counts.items()}
    for column in ("market", "universe", *(f"{s}_{v}" for s in STRATEGIES for v in ("gross", "net"))):
        monthly[f"{column}_cum"] = (1.0 + monthly[column]).cumprod() - 1.0
    stats = portfolio_stats.summary(
        monthly, STRATEGIES, settings.rebalance_months, settings.block_months, settings.bootstrap_samples, settings.seed
    )
    stats |= counts | {"cost_bps": float(settings.cost_bps), "rebalance_months": settings.rebalance_months}
    years = portfolio_stats.by_year(monthly, STRATEGIES, settings.rebalance_months)
    return BacktestResult(monthly, stats, years, pd.concat(positions, ignore_index=True))


def run_backtest(frame: pd.DataFrame, predictor: str, settings: PortfolioSettings) -> BacktestResult:
    """Backtest the ``top`` and ``long_short`` books of one predictor column beside the index and the universe."""
    return _run(_panel(frame, settings), predictor, settings)


def compare_predictors(frame: pd.DataFrame, predictors: list[str], settings: PortfolioSettings) -> dict[str, BacktestResult]:
    """``run_backtest`` for each predictor on the same dates, benchmarks and bootstrap draws."""
    panel = _panel(frame, settings)
    return {name: _run(panel, name, settings) for name in predictors}


SHARED_KEYS = (
    "months",
    "rebalances",
    "dates_dropped",
    "unknown_excluded",
    "unknown_filled",
    "nw_lags",
    "cost_bps",
    "rebalance_months",
)


def flatten(results: dict[str, BacktestResult], prefix: str = "portfolio") -> dict[str, float]:
    """Flat metrics: ``<prefix>_<predictor>_<key>``; benchmark and shared keys once as ``<prefix>_<key>``."""
    out: dict[str, float] = {}
    for name, result in results.items():
        for key, value in result.stats.items():
            shared = key in SHARED_KEYS or key.startswith(("market_", "universe_"))
            out[f"{prefix}_{key}" if shared else f"{prefix}_{name}_{key}"] = value
    return out


def paired_difference(a: BacktestResult, b: BacktestResult, settings: PortfolioSettings, book: str = "top") -> dict[str, float]:
    """B − A in the net monthly return of one book, annualised, on the months both were evaluated:
    the Newey-West t and a block-bootstrap 95% interval (``diff``, ``t``, ``ci_low``, ``ci_high``)."""
    joined = a.monthly[[f"{book}_net"]].join(b.monthly[[f"{book}_net"]], lsuffix="_a", rsuffix="_b", how="inner").dropna()
    d = (joined[f"{book}_net_b"] - joined[f"{book}_net_a"]).to_numpy(dtype=float)
    if d.size < 2:
        return {"diff": float("nan"), "t": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "months": int(d.size)}
    draws = portfolio_stats.block_indices(d.size, settings.block_months, settings.bootstrap_samples, settings.seed)
    lags = portfolio_stats.newey_west_lags(d.size, settings.rebalance_months)
    stats = portfolio_stats.excess(d, lags, draws)
    return {"diff": stats["ann"], "t": stats["t"], "ci_low": stats["lo"], "ci_high": stats["hi"], "months": int(d.size)}
