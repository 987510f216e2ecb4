"""The feature contract and the point-in-time features and labels built from the raw tables.

The contract (names every other module uses): the temporal features of each monthly step, the
static features of each snapshot, the labels, and the few features other code reads by name.
The functions are pure: frames in, frames out; no I/O and no fitting. A feature at month end
``t`` uses only prices up to ``t``, fundamentals whose report date is on or before ``t`` and
macro values released on or before ``t``; a feature relative to other stocks (``sector_rel_mom``)
uses only the other stocks' values at ``t``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from invest.data.schema import GICS_SECTORS, MACRO_SERIES, MAX_FILL_DAYS, UNKNOWN
from invest.params import months

TRADING_DAYS = 252
TEMPORAL_FEATURES = (
    "ret_1m",
    "ret_3m",
    "ret_6m",
    "ret_12_1m",
    "mom_vol_scaled",
    "excess_ret_1m",
    "vol_1m",
    "vol_3m",
    "log_dollar_volume",
    "amihud_1m",
    "volume_trend",
    "dist_52w_high",
    "hl_range_1m",
)
FUNDAMENTAL_FEATURES = (
    "log_market_cap",
    "book_to_market",
    "earnings_yield",
    "sales_to_price",
    "fcf_yield",
    "roe",
    "roa",
    "net_margin",
    "debt_to_equity",
    "debt_to_assets",
    "cash_to_assets",
    "accruals",
    "revenue_growth",
    "eps_growth",
    "asset_growth",
    "share_change",
    "fundamentals_age",
    "fundamentals_missing",
)
MACRO_FEATURES = (
    "vol_index",
    "short_rate",
    "term_spread",
    "market_ret_12m",
    "market_vol_3m",
    "inflation",
    "unemployment",
    "gdp_growth",
)
# A stock's value relative to the other stocks of its sector on the snapshot date.
RELATIVE_FEATURES = ("sector_rel_mom",)
SECTOR_FEATURES = tuple(f"sector_{s.lower().replace(' ', '_')}" for s in GICS_SECTORS)
STATIC_FEATURES = FUNDAMENTAL_FEATURES + RELATIVE_FEATURES + MACRO_FEATURES + SECTOR_FEATURES
# The label horizons the store holds (train.horizon chooses one of them; params.py's choices must match).
HORIZONS: dict[str, int] = {name: months(name) for name in ("1m", "3m", "6m", "1y", "2y", "3y")}  # name -> months
LABELS = tuple(f"fwd_ret_{h}" for h in HORIZONS) + tuple(f"fwd_exc_{h}" for h in HORIZONS)  # label_column()

# Same value for every stock on a date (a cross-sectional normalisation would erase them), and 0/1 flags;
# every other feature (RELATIVE_FEATURES included) differs between the stocks of a date.
MARKET_WIDE = MACRO_FEATURES
FLAGS = (*SECTOR_FEATURES, "fundamentals_missing")

STEP_MASK = "step_observed"  # the channel the scaler appends to each step: 1 if the month was observed
MOMENTUM = "ret_12_1m"  # the 12-1 month return: the momentum baseline's signal
MIN_SECTOR_STOCKS = 3  # sector_rel_mom needs this many stocks of the sector with a known ret_12_1m on the date
VOLATILITY = "vol_3m"  # trailing volatility: interval coverage by volatility tercile, confidence
SIZE = "log_market_cap"  # confidence: small companies get less
FUNDAMENTALS_MISSING = "fundamentals_missing"  # 1 where no quarter was reported yet


# The raw inputs each feature is computed from, as (table, column); macro inputs name a series of the
# macro table, ("companies", "sector") a known sector label. A feature is built only when every input
# has data somewhere: price-only data gets price features, never constants standing in for the rest.
ADJ, INDEX = ("prices", "adj_close"), ("market", "index_close")
NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    **{name: (ADJ,) for name in ("ret_1m", "ret_3m", "ret_6m", "ret_12_1m", "mom_vol_scaled", "vol_1m", "vol_3m")},
    "dist_52w_high": (ADJ,),
    "excess_ret_1m": (ADJ, INDEX),
    "log_dollar_volume": (("prices", "close"), ("prices", "volume")),
    "amihud_1m": (ADJ, ("prices", "close"), ("prices", "volume")),
    "volume_trend": (("prices", "volume"),),
    "hl_range_1m": (("prices", "high"), ("prices", "low")),
    "log_market_cap": (("fundamentals", "shares"),),
    "book_to_market": (("fundamentals", "equity"), ("fundamentals", "shares")),
    "earnings_yield": (("fundamentals", "net_income"), ("fundamentals", "shares")),
    "sales_to_price": (("fundamentals", "revenue"), ("fundamentals", "shares")),
    "fcf_yield": (("fundamentals", "free_cash_flow"), ("fundamentals", "shares")),
    "roe": (("fundamentals", "net_income"), ("fundamentals", "equity")),
    "roa": (("fundamentals", "net_income"), ("fundamentals", "assets")),
    "net_margin": (("fundamentals", "net_income"), ("fundamentals", "revenue")),
    "debt_to_equity": (("fundamentals", "debt"), ("fundamentals", "equity")),
    "debt_to_assets": (("fundamentals", "debt"), ("fundamentals", "assets")),
    "cash_to_assets": (("fundamentals", "cash"), ("fundamentals", "assets")),
    "accruals": (("fundamentals", "net_income"), ("fundamentals", "operating_cash_flow"), ("fundamentals", "assets")),
    "revenue_growth": (("fundamentals", "revenue"),),
    "eps_growth": (("fundamentals", "eps"),),
    "asset_growth": (("fundamentals", "assets"),),
    "share_change": (("fundamentals", "shares"),),
    "fundamentals_age": (("fundamentals", "report_date"),),
    "fundamentals_missing": (("fundamentals", "report_date"),),
    "sector_rel_mom": (ADJ, ("companies", "sector")),
    "vol_index": (("market", "vol_index"),),
    "short_rate": (("market", "short_rate"),),
    "term_spread": (("market", "short_rate"), ("market", "long_rate")),
    "market_ret_12m": (INDEX,),
    "market_vol_3m": (INDEX,),
    **{series: (("macro", series),) for series in MACRO_SERIES},
    **{name: (("companies", "sector"),) for name in SECTOR_FEATURES},
}


def left_out(raw: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Features that cannot be built from ``raw``, each with the inputs it lacks (``"prices.volume"``)."""
    missing = {}
    for feature in (*TEMPORAL_FEATURES, *STATIC_FEATURES):
        lacking = [f"{table}.{column}" for table, column in NEEDS[feature] if not _has_data(raw, table, column)]
        if lacking:
            missing[feature] = ", ".join(lacking)
    return missing


def _has_data(raw: dict[str, pd.DataFrame], table: str, column: str) -> bool:
    frame = raw.get(table)
    if frame is None or frame.empty:
        return False
    if table == "macro":
        return bool(frame.loc[frame["series"] == column, "value"].notna().any())
    values = frame[column]
    if table == "companies":
        return bool((values.notna() & (values != UNKNOWN)).any())
    return bool(values.notna().any())


def label_column(horizon: str, target: str) -> str:
    """The store column holding the label: ``fwd_exc_1y`` for 1y excess returns, ``fwd_ret_1y`` for raw."""
    return f"fwd_{'exc' if target == 'excess' else 'ret'}_{horizon}"


def horizon_months(horizon: str) -> int:
    return HORIZONS[horizon]


def month_ends(calendar: pd.Series | pd.DatetimeIndex, freq: str = "monthly") -> pd.DatetimeIndex:
    """The last trading day of each month (or quarter) in ``calendar``."""
    days = pd.DatetimeIndex(pd.Series(calendar).drop_duplicates().sort_values())
    if len(days) == 0:
        return days
    period = days.year * 12 + days.month if freq == "monthly" else days.year * 4 + (days.month - 1) // 3
    last = np.r_[period[1:] != period[:-1], True]
    return days[last]


def price_panels(prices: pd.DataFrame, calendar: pd.DatetimeIndex) -> dict[str, pd.DataFrame]:
    """Daily [day x ticker] panels of adj_close, close, volume, high/low range on ``calendar``."""
    panels = {}
    for column in ("adj_close", "close", "volume"):
        panels[column] = prices.pivot(index="date", columns="ticker", values=column).reindex(calendar)
    spread = np.log(prices["high"] / prices["low"]).where(prices["high"] >= prices["low"])
    panels["hl_range"] = prices.assign(hl_range=spread).pivot(index="date", columns="ticker", values="hl_range").reindex(calendar)
    return panels


def temporal_features(panels: dict[str, pd.DataFrame], market: pd.DataFrame, at: pd.DatetimeIndex) -> pd.DataFrame:
    """Monthly price/volume features per (ticker, date) for dates ``at`` (trailing windows only)."""
    observed = panels["adj_close"].notna()
    log_price = np.log(panels["adj_close"].ffill(limit=MAX_FILL_DAYS))
    log_return = log_price.diff()
    index = np.log(market.set_index("date")["index_close"].reindex(log_price.index).ffill(limit=MAX_FILL_DAYS))
    market_ret_1m = index - index.shift(21)
    dollar_volume_1d = panels["close"] * panels["volume"]
    dollar_volume = dollar_volume_1d.rolling(21, min_periods=15).mean()
    # Amihud: |return| per dollar traded, on the days with trading only
    illiquidity = (log_return.abs() / dollar_volume_1d.where(dollar_volume_1d > 0)).rolling(21, min_periods=15).mean()
    vol_12m = log_return.rolling(TRADING_DAYS, min_periods=200).std() * np.sqrt(TRADING_DAYS)
    volume_1m = panels["volume"].rolling(21, min_periods=15).mean()
    volume_12m = panels["volume"].rolling(TRADING_DAYS, min_periods=200).mean()
    high_52w = log_price.rolling(TRADING_DAYS, min_periods=200).max()
    ret_1m = log_price - log_price.shift(21)
    ret_12_1m = log_price.shift(21) - log_price.shift(TRADING_DAYS)
    features = {
        "ret_1m": ret_1m,
        "ret_3m": log_price - log_price.shift(63),
        "ret_6m": log_price - log_price.shift(126),
        "ret_12_1m": ret_12_1m,
        "mom_vol_scaled": (ret_12_1m / vol_12m.where(vol_12m > 0)).replace([np.inf, -np.inf], np.nan),
        "excess_ret_1m": ret_1m.sub(market_ret_1m, axis=0),
        "vol_1m": log_return.rolling(21, min_periods=15).std() * np.sqrt(TRADING_DAYS),
        "vol_3m": log_return.rolling(63, min_periods=45).std() * np.sqrt(TRADING_DAYS),
        "log_dollar_volume": np.log(dollar_volume.where(dollar_volume > 0)),
        "amihud_1m": np.log(illiquidity.where(illiquidity > 0)).replace([np.inf, -np.inf], np.nan),
        "volume_trend": np.log((volume_1m / volume_12m).where(volume_12m > 0)),
        "dist_52w_high": log_price - high_52w,
        "hl_range_1m": panels["hl_range"].rolling(21, min_periods=15).mean(),
    }
    keep = observed.loc[at]
    frames = {name: panel.loc[at].where(keep) for name, panel in features.items()}
    out = pd.concat({name: frame.stack(future_stack=True) for name, frame in frames.items()}, axis=1)
    out.index.names = ["date", "ticker"]
    out = out[keep.stack(future_stack=True).reindex(out.index).to_numpy()]
    return out.reset_index().sort_values(["ticker", "date"], kind="mergesort").reset_index(drop=True)


def fundamental_features(snapshots: pd.DataFrame, fundamentals: pd.DataFrame, close: pd.DataFrame) -> pd.DataFrame:
    """As-of fundamental ratios for (ticker, date) rows: only quarters reported by ``date``."""
    reported = fundamentals.sort_values(["ticker", "period_end"], kind="mergesort").copy()
    year_ago = reported.groupby("ticker", sort=False).shift(4)
    for field in ("revenue", "eps", "assets", "shares", "period_end"):
        reported[f"{field}_4q"] = year_ago[field]
    # a year-ago quarter is usable only if it really is four quarters back
    stale = (reported["period_end"] - reported["period_end_4q"]).dt.days.gt(380)
    reported.loc[stale, ["revenue_4q", "eps_4q", "assets_4q", "shares_4q"]] = np.nan
    reported = reported.sort_values("report_date", kind="mergesort")
    rows = snapshots[["ticker", "date"]].sort_values("date", kind="mergesort")
    merged = pd.merge_asof(rows, reported, left_on="date", right_on="report_date", by="ticker", direction="backward")
    # several quarters can be reported on the same day; merge_asof keeps the last of equal report dates
    price = close.stack(future_stack=True).rename("close_price")
    price.index.names = ["date", "ticker"]
    merged = merged.join(price, on=["date", "ticker"])
    cap = merged["close_price"] * merged["shares"]
    equity = merged["equity"].where(merged["equity"] > 0)
    out = pd.DataFrame({"ticker": merged["ticker"], "date": merged["date"]})
    out["log_market_cap"] = np.log(cap.where(cap > 0))
    out["book_to_market"] = merged["equity"] / cap
    out["earnings_yield"] = 4 * merged["net_income"] / cap
    out["sales_to_price"] = 4 * merged["revenue"] / cap
    out["fcf_yield"] = 4 * merged["free_cash_flow"] / cap
    out["roe"] = 4 * merged["net_income"] / equity
    out["roa"] = 4 * merged["net_income"] / merged["assets"]
    out["net_margin"] = merged["net_income"] / merged["revenue"].where(merged["revenue"] > 0)
    out["debt_to_equity"] = merged["debt"] / equity
    out["debt_to_assets"] = merged["debt"] / merged["assets"]
    out["cash_to_assets"] = merged["cash"] / merged["assets"]
    out["accruals"] = 4 * (merged["net_income"] - merged["operating_cash_flow"]) / merged["assets"]
    out["revenue_growth"] = merged["revenue"] / merged["revenue_4q"] - 1
    out["eps_growth"] = (merged["eps"] - merged["eps_4q"]) / merged["eps_4q"].abs()
    out["asset_growth"] = merged["assets"] / merged["assets_4q"] - 1
    out["share_change"] = merged["shares"] / merged["shares_4q"] - 1
    out["fundamentals_age"] = (merged["date"] - merged["report_date"]).dt.days / 365.25
    out["fundamentals_missing"] = merged["report_date"].isna().astype(float)
    numeric = out.columns[2:]
    out[numeric] = out[numeric].replace([np.inf, -np.inf], np.nan)
    return out


def macro_features(market: pd.DataFrame, macro: pd.DataFrame, at: pd.DatetimeIndex) -> pd.DataFrame:
    """Market-wide features per date in ``at``: daily series up to the date, macro as published."""
    daily = market.set_index("date").sort_index()
    log_index = np.log(daily["index_close"])
    out = pd.DataFrame(index=at)
    out["vol_index"] = daily["vol_index"].reindex(at, method="ffill")
    out["short_rate"] = daily["short_rate"].reindex(at, method="ffill")
    out["term_spread"] = (daily["long_rate"] - daily["short_rate"]).reindex(at, method="ffill")
    out["market_ret_12m"] = (log_index - log_index.shift(TRADING_DAYS)).reindex(at, method="ffill")
    vol = log_index.diff().rolling(63, min_periods=45).std() * np.sqrt(TRADING_DAYS)
    out["market_vol_3m"] = vol.reindex(at, method="ffill")
    for series in MACRO_SERIES:
        released = macro[macro["series"] == series].sort_values(["release_date", "period_end"], kind="mergesort")
        released = released.drop_duplicates("release_date", keep="last").set_index("release_date")["value"]
        out[series] = released.reindex(at, method="ffill") if len(released) else np.nan
    out.index.name = "date"
    return out.reset_index()


def sector_features(companies: pd.DataFrame) -> pd.DataFrame:
    """One-hot sector columns per ticker (all zero for an unknown sector)."""
    out = pd.DataFrame({"ticker": companies["ticker"]})
    for name, column in zip(GICS_SECTORS, SECTOR_FEATURES, strict=False):
        out[column] = (companies["sector"] == name).astype(float).to_numpy()
    return out


def sector_relative_features(snapshots: pd.DataFrame, monthly: pd.DataFrame, companies: pd.DataFrame) -> pd.DataFrame:
    """``sector_rel_mom`` per (ticker, date) of ``snapshots``: its ret_12_1m less the mean ret_12_1m of the
    snapshot rows of its sector on the same date (no other date enters). NaN for an unknown sector and
    for a sector with fewer than ``MIN_SECTOR_STOCKS`` known ret_12_1m that date."""
    rows = snapshots[["ticker", "date"]].merge(monthly[["ticker", "date", MOMENTUM]], on=["ticker", "date"], how="left")
    sector = rows["ticker"].map(companies.drop_duplicates("ticker").set_index("ticker")["sector"])
    known = sector.notna() & (sector != UNKNOWN)
    grouped = rows[MOMENTUM].groupby([rows["date"], sector.where(known, UNKNOWN)], sort=False)
    relative = rows[MOMENTUM] - grouped.transform("mean")
    out = rows[["ticker", "date"]].copy()
    out["sector_rel_mom"] = relative.where(known & (grouped.transform("count") >= MIN_SECTOR_STOCKS)).to_numpy()
    return out


def forward_returns(
    adj_close: pd.DataFrame, index_close: pd.Series, snapshot_dates: pd.DatetimeIndex, all_month_ends: pd.DatetimeIndex
) -> pd.DataFrame:
    """Raw and market-excess returns from each snapshot to the month end h months later (NaN if unknown)."""
    position = {date: i for i, date in enumerate(all_month_ends)}
    prices = adj_close.loc[all_month_ends]
    index = index_close.reindex(all_month_ends)
    frames = []
    for label, ahead in HORIZONS.items():
        later = prices.shift(-ahead)
        stock = later / prices - 1
        market = index.shift(-ahead) / index - 1
        frames.append(stock.stack(future_stack=True).rename(label_column(label, "raw")))
        frames.append(stock.sub(market, axis=0).stack(future_stack=True).rename(label_column(label, "excess")))
    out = pd.concat(frames, axis=1)
    out.index.names = ["date", "ticker"]
    out = out.reset_index()
    out = out[out["date"].isin(snapshot_dates) & out["date"].map(position).notna()]
    return out[["ticker", "date", *LABELS]]
