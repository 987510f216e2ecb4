"""A point-in-time liquid universe: on each month end, the N stocks with the highest median daily dollar
volume over the trailing year, using only what was known that day (``data.universe: {top_dollar_volume: N}``).

Dollar volume is close × volume (Yahoo's split-adjusted close and volume, so a split changes neither).
A stock is eligible on a month end when its trailing window (``lookback_days`` trading days ending that
day) has prices on at least ``MIN_COVERAGE`` of its days and its close that day is at least
``min_price``; the eligible stocks are ranked by the window's median dollar volume and the first N are
members until the next month end. Membership is written as the ``membership`` raw table, so the cache
stage keeps, on each date, only that date's members (as for an index's history).

What it fixes: the look-ahead of choosing today's big stocks (a fixed list picked with hindsight, or
every file of a folder of survivors includes microcaps and penny stocks that nobody could trade). What
it cannot fix: a folder that holds only survivors stays biased; the rule can only choose among the files
it is given (docs/universe.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_COVERAGE = 0.8  # share of the trailing window's trading days a stock must have prices on


@dataclass(frozen=True)
class LiquidityRule:
    top: int
    lookback_days: int = 252
    min_price: float = 1.0

    def describe(self) -> str:
        return (
            f"the top {self.top} by median daily dollar volume over the trailing {self.lookback_days} trading days, "
            f"close at least {self.min_price:g}, chosen on each month end"
        )


def month_ends(days: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The last trading day of each month in ``days``."""
    days = pd.DatetimeIndex(days).unique().sort_values()
    return pd.DatetimeIndex(pd.Series(days).groupby(days.to_period("M")).max().to_numpy())


def members(prices: pd.DataFrame, rule: LiquidityRule) -> pd.DataFrame:
    """``date, ticker, rank, dollar_volume``: each month end's members, rank 1 the most traded.

    ``prices`` has ``ticker, date, close, volume``. Only data up to each month end is read for it
    (``tests/test_liquidity.py`` changes every price after a date and checks that date's members stay).
    """
    wide_close = prices.pivot(index="date", columns="ticker", values="close").sort_index()
    wide_volume = prices.pivot(index="date", columns="ticker", values="volume").reindex_like(wide_close)
    traded = (wide_close * wide_volume).to_numpy(dtype=np.float64)  # [days, tickers]
    close = wide_close.to_numpy(dtype=np.float64)
    days, tickers = wide_close.index, wide_close.columns.to_numpy()
    positions = days.get_indexer(month_ends(days))
    rows = []
    for position in positions:
        begin = position - rule.lookback_days + 1
        if begin < 0:
            continue
        window = traded[begin : position + 1]  # [L, tickers], ends on the month end
        enough = np.isfinite(window).sum(axis=0) >= MIN_COVERAGE * rule.lookback_days
        enough &= np.nan_to_num(close[position], nan=0.0) >= rule.min_price
        if not enough.any():
            continue
        median = np.nanmedian(window[:, enough], axis=0)
        order = np.lexsort((tickers[enough], -median))[: rule.top]  # ties: alphabetical
        rows.append(
            pd.DataFrame(
                {
                    "date": days[position],
                    "ticker": tickers[enough][order],
                    "rank": np.arange(1, len(order) + 1),
                    "dollar_volume": median[order],
                }
            )
        )
    if not rows:
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "ticker": [], "rank": [], "dollar_volume": []})
    return pd.concat(rows, ignore_index=True)


def intervals(chosen: pd.DataFrame, last_day: pd.Timestamp) -> pd.DataFrame:
    """Membership intervals ``ticker, start, end`` (member on start <= date < end) from each month end's members:
    a member from its month end until the next month end (the last one until the day after ``last_day``)."""
    dates = pd.DatetimeIndex(sorted(chosen["date"].unique()))
    following = dict(zip(dates, [*dates[1:], pd.Timestamp(last_day) + pd.Timedelta(days=1)], strict=True))
    frame = chosen[["ticker", "date"]].sort_values(["ticker", "date"]).reset_index(drop=True)
    frame["end"] = frame["date"].map(following)
    position = {date: i for i, date in enumerate(dates)}
    index = frame["date"].map(position).to_numpy()
    new_run = np.r_[True, (frame["ticker"].to_numpy()[1:] != frame["ticker"].to_numpy()[:-1]) | (np.diff(index) != 1)]
    runs = np.cumsum(new_run)
    merged = frame.groupby(runs).agg(ticker=("ticker", "first"), start=("date", "first"), end=("end", "last"))
    return merged.reset_index(drop=True)


def by_year(chosen: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Per year: the mean number of members a month end, and turnover (the mean share of members that are new
    from one month end to the next)."""
    out = {}
    sets = {date: set(group["ticker"]) for date, group in chosen.groupby("date")}
    dates = sorted(sets)
    for year in sorted({date.year for date in dates}):
        months = [date for date in dates if date.year == year]
        changes = []
        for date in months:
            earlier = dates.index(date) - 1
            if earlier >= 0 and sets[date]:
                changes.append(len(sets[date] - sets[dates[earlier]]) / len(sets[date]))
        out[str(year)] = {
            "members": float(np.mean([len(sets[date]) for date in months])),
            "turnover": float(np.mean(changes)) if changes else None,
        }
    return out
