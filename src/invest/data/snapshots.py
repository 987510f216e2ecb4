"""From the validated raw tables to the store's tables: monthly steps, snapshots, labels.

``build_tables`` computes every feature and label (``invest.data.features``) on one calendar,
keeps the snapshots with enough history and a tradable price (and, when the raw data has a
``membership`` table, only those of index members on their date), and ``with_ticker_ids`` swaps
ticker symbols for the store's integer ids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from invest.data import features, membership
from invest.data.schema import MAX_FILL_DAYS, MEMBERSHIP, UNKNOWN
from invest.errors import DataError
from invest.params import CacheParams


def build_tables(raw: dict[str, pd.DataFrame], params: CacheParams) -> dict[str, pd.DataFrame]:
    """All store tables (keyed by ticker symbol, not id yet) from the raw tables."""
    prices, market = raw["prices"], raw["market"]
    if prices.empty or market.empty:
        raise DataError("the raw prices or market table is empty; rerun `invest fetch` and check its report")
    calendar = pd.DatetimeIndex(market["date"]).union(pd.DatetimeIndex(prices["date"].unique()))
    month_ends = features.month_ends(calendar, "monthly")
    month_ends = _complete_periods(month_ends)
    panels = features.price_panels(prices, calendar)
    monthly = features.temporal_features(panels, market, month_ends)

    history = panels["adj_close"].notna().cumsum().loc[month_ends].stack(future_stack=True).rename("history_days")
    history.index.names = ["date", "ticker"]
    close = panels["close"].loc[month_ends]
    snapshot_dates = features.month_ends(month_ends, params.snapshot_freq)
    candidates = monthly[["ticker", "date"]].join(history, on=["date", "ticker"])
    candidates = candidates.join(
        close.stack(future_stack=True).rename("close_price").rename_axis(["date", "ticker"]), on=["date", "ticker"]
    )
    keep = (
        candidates["date"].isin(snapshot_dates)
        & (candidates["history_days"] >= params.min_history_days)
        & (candidates["close_price"] >= params.min_price)
    )
    if MEMBERSHIP.name in raw:  # a point-in-time universe: on each date only the stocks in the index that day
        keep &= membership.member_mask(membership.from_table(raw[MEMBERSHIP.name], "the raw membership table"), candidates)
    snapshots = candidates.loc[keep, ["ticker", "date"]].reset_index(drop=True)
    if snapshots.empty:
        raise DataError(
            f"no (ticker, date) has {params.min_history_days} days of history; fetch a longer period "
            "or lower cache.min_history_days"
        )

    static = features.fundamental_features(snapshots, raw["fundamentals"], panels["close"].ffill(limit=MAX_FILL_DAYS))
    static = static.merge(features.macro_features(market, raw["macro"], snapshot_dates), on="date", how="left")
    static = static.merge(features.sector_features(raw["companies"]), on="ticker", how="left")
    static[list(features.SECTOR_FEATURES)] = static[list(features.SECTOR_FEATURES)].fillna(0.0)
    relative = features.sector_relative_features(snapshots, monthly, raw["companies"])  # same-date rows only
    static = static.merge(relative, on=["ticker", "date"], how="left")
    index_close = market.set_index("date")["index_close"].reindex(calendar).ffill(limit=MAX_FILL_DAYS)
    labels = features.forward_returns(panels["adj_close"].ffill(limit=MAX_FILL_DAYS), index_close, snapshot_dates, month_ends)
    snapshots = static.merge(labels, on=["ticker", "date"], how="left")
    temporal, static_names = built_features(raw)
    snapshots = snapshots[["ticker", "date", *static_names, *features.LABELS]]

    tables = {
        "companies": _companies(raw["companies"], prices),
        "monthly": monthly[["ticker", "date", *temporal]],
        "snapshots": snapshots.sort_values(["ticker", "date"], kind="mergesort").reset_index(drop=True),
    }
    if "oracle" in raw:
        oracle = raw["oracle"]
        tables["oracle"] = oracle[oracle["date"].isin(snapshot_dates)].reset_index(drop=True)
    return tables


def built_features(raw: dict[str, pd.DataFrame]) -> tuple[list[str], list[str]]:
    """The temporal and static features the raw tables have the inputs for, in the contract's order."""
    lacking = features.left_out(raw)
    return (
        [name for name in features.TEMPORAL_FEATURES if name not in lacking],
        [name for name in features.STATIC_FEATURES if name not in lacking],
    )


def _complete_periods(month_ends: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Drop a last month end that is not the month's last business day (data stops mid-month)."""
    if len(month_ends) and month_ends[-1] != month_ends[-1] + pd.offsets.BMonthEnd(0):
        return month_ends[:-1]
    return month_ends


def _companies(companies: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    tickers = pd.DataFrame({"ticker": np.sort(prices["ticker"].unique())})
    out = tickers.merge(companies, on="ticker", how="left")
    out["sector"] = out["sector"].fillna(UNKNOWN)
    out["industry"] = out["industry"].fillna(UNKNOWN)
    out["name"] = out["name"].fillna(out["ticker"])
    return out


def with_ticker_ids(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Replace ticker symbols by integer ids (ids follow sorted symbols, so they are stable)."""
    companies = tables["companies"]
    ids = pd.Series(np.arange(1, len(companies) + 1), index=companies["ticker"].to_numpy())
    out = {"tickers": companies.assign(ticker_id=ids.to_numpy())[["ticker_id", "ticker", "name", "sector", "industry"]]}
    for name, frame in tables.items():
        if name == "companies":
            continue
        frame = frame[frame["ticker"].isin(ids.index)]
        out[name] = frame.assign(ticker=frame["ticker"].map(ids).astype("int64")).rename(columns={"ticker": "ticker_id"})
    return out


def store_meta(raw: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame], params: CacheParams) -> dict[str, object]:
    """The store's ``meta`` table: the feature contract it was built with and its date range."""
    temporal, static = built_features(raw)
    meta: dict[str, object] = {
        "temporal_features": temporal,
        "static_features": static,
        "features_left_out": features.left_out(raw),
        "labels": list(features.LABELS),
        "snapshot_freq": params.snapshot_freq,
        "has_oracle": "oracle" in tables,
        "first_date": str(raw["prices"]["date"].min().date()),
        "last_date": str(raw["prices"]["date"].max().date()),
    }
    if MEMBERSHIP.name in raw:  # only then: a store of a fixed universe keeps its meta as it was
        meta["point_in_time_universe"] = True
    meta["universe_by_year"] = universe_by_year(tables["snapshots"])
    return meta


def universe_by_year(snapshots: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Per year: stocks with a snapshot on a date (mean over its dates), and turnover (the mean share of a date's
    stocks that had no snapshot on the date before)."""
    sets = {date: set(group) for date, group in snapshots.groupby("date")["ticker"]}
    dates = sorted(sets)
    out: dict[str, dict[str, float | None]] = {}
    for year in sorted({date.year for date in dates}):
        here = [i for i, date in enumerate(dates) if date.year == year]
        new = [len(sets[dates[i]] - sets[dates[i - 1]]) / len(sets[dates[i]]) for i in here if i > 0 and sets[dates[i]]]
        out[str(year)] = {
            "stocks": round(float(np.mean([len(sets[dates[i]]) for i in here])), 1),
            "turnover": round(float(np.mean(new)), 4) if new else None,
        }
    return out
