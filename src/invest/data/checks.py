"""Checks of the raw tables: what is wrong with the data, how badly, and what to change.

``run_checks`` returns ``Findings``: critical problems (the ``validate`` stage stops on them),
warnings, and statistics for ``metrics/data_quality.json`` (flat keys, rounded numbers).
Thresholds come from the ``validate`` section of params.yaml, and every message names the
table, the column and the key to change. The fundamentals checks live in ``checks_fundamentals``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from invest.data.checks_fundamentals import check_fundamentals
from invest.data.schema import FUNDAMENTALS, MARKET, PRICES, Table
from invest.params import ValidateParams

# Without these no label can be computed: empty in every row is critical, not "not provided".
REQUIRED = {"prices": ("close", "adj_close"), "market": ("index_close",)}
# Stat keys of the missing shares, as data_quality.json has always named them.
MISSING_SHARE_PREFIX = {
    "prices": "missing_share_",
    "market": "market_missing_share_",
    "fundamentals": "fundamentals_missing_share_",
}


@dataclass
class Findings:
    """Critical problems stop the pipeline; warnings are anomalies worth a look; notes say what the
    data does not provide (price-only data is normal, not a defect)."""

    critical: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def check(self, bad: bool, message: str, critical: bool = True) -> None:
        if bad:
            (self.critical if critical else self.warnings).append(message)

    def note(self, condition: bool, message: str) -> None:
        if condition:
            self.notes.append(message)


def value_columns(table: Table) -> list[str]:
    return [name for name, kind in table.columns.items() if kind == "float"]


def percent(share: float) -> str:
    """35.0% (one decimal), or two significant digits below 0.1%, so a small threshold never prints as 0.0%."""
    return f"{share:.1%}" if share == 0 or share >= 0.001 else f"{share * 100:.2g}%"


def check_columns(frame: pd.DataFrame, table: Table, params: ValidateParams, findings: Findings) -> None:
    """Per value column: provided, partly missing (critical beyond its threshold) or empty in every row.

    A column empty in every row is "not provided" (a note: the features that need it are left
    out downstream), except a required one. Fundamentals have no missing-share threshold: their
    gaps are judged by coverage over time (``checks_fundamentals``).
    """
    name, columns = table.name, value_columns(table)
    shares = {column: float(frame[column].isna().mean()) if len(frame) else 1.0 for column in columns}
    for column, share in shares.items():
        findings.stats[MISSING_SHARE_PREFIX[name] + column] = round(share, 6)
    absent = [column for column in columns if shares[column] == 1.0]
    findings.stats[f"{name}_provided_columns"] = [column for column in columns if column not in absent]
    findings.stats[f"{name}_missing_columns"] = absent
    if frame.empty:  # the table-level checks say it (too few tickers, market coverage, no fundamentals)
        return
    required = REQUIRED.get(name, ())
    for column in absent:
        hint = " (copy close if your source has no dividend-adjusted prices)" if column == "adj_close" else ""
        findings.check(column in required, f"{name}.{column} is empty in every row but is required; fill it{hint}")
    optional = [f"{name}.{column}" for column in absent if column not in required]
    verb, them = ("is", "it") if len(optional) == 1 else ("are", "them")
    findings.note(
        bool(optional),
        f"{', '.join(optional)} {verb} not provided (empty in every row); the features that need {them} are left out",
    )
    if name == FUNDAMENTALS.name:
        return
    for column, share in shares.items():
        limit = params.missing_limit(name, column)
        fix = "" if column in required else " or leave the column empty everywhere if you do not have it"
        findings.check(
            0 < share < 1 and share > limit,
            f"{name}.{column} is missing in {percent(share)} of rows "
            f"(max {percent(limit)}; raise validate.max_missing_share.{name}.{column}{fix})",
        )


def check_prices(prices: pd.DataFrame, params: ValidateParams, findings: Findings) -> None:
    stats = findings.stats
    tickers = prices["ticker"].nunique()
    stats["tickers"] = int(tickers)
    stats["price_rows"] = len(prices)
    findings.check(
        tickers < params.min_tickers, f"only {tickers} tickers with prices (need {params.min_tickers}; validate.min_tickers)"
    )
    non_positive = int((prices[["open", "high", "low", "close", "adj_close"]] <= 0).any(axis=1).sum())
    stats["non_positive_price_rows"] = non_positive
    findings.check(non_positive > 0, f"{non_positive} price rows have a zero or negative price")
    inverted = int((prices["high"] < prices["low"]).sum())
    stats["high_below_low_rows"] = inverted
    findings.check(inverted > 0, f"{inverted} price rows have high < low", critical=False)
    _check_jumps(prices, params, findings)

    gaps = prices.groupby("ticker", sort=False)["date"].diff().dt.days
    long_gaps = int((gaps > params.max_gap_days).sum())
    stats["date_gaps"] = long_gaps
    findings.check(
        long_gaps > 0, f"{long_gaps} gaps longer than {params.max_gap_days} days inside ticker histories", critical=False
    )

    unchanged = prices["adj_close"].groupby(prices["ticker"]).diff().eq(0)
    run_id = (~unchanged).cumsum()
    run_length = unchanged.groupby(run_id).transform("sum")
    stale = unchanged & (run_length >= params.stale_days - 1)
    stale_share = float(stale.mean()) if len(prices) else 0.0
    stats["stale_share"] = round(stale_share, 6)
    findings.check(
        stale_share > params.max_stale_share,
        f"{stale_share:.2%} of price rows sit in runs of {params.stale_days}+ unchanged closes (stale series)",
    )


def _check_jumps(prices: pd.DataFrame, params: ValidateParams, findings: Findings) -> None:
    log_return = np.log(prices["adj_close"].where(prices["adj_close"] > 0)).groupby(prices["ticker"]).diff()
    jumps = log_return.abs() > params.max_jump
    jump_share = float(jumps.mean()) if len(prices) else 0.0
    findings.stats["jump_share"] = round(jump_share, 6)
    examples = prices.loc[jumps, ["ticker", "date"]].head(3)
    shown = ", ".join(f"{t} {d.date()}" for t, d in examples.itertuples(index=False))
    findings.check(
        jump_share > params.max_jump_share,
        f"{int(jumps.sum())} one-day moves beyond {params.max_jump:.2f} log return (e.g. {shown}): unadjusted splits? "
        "use adjusted prices or raise validate.max_jump",
    )
    findings.check(
        0 < jump_share <= params.max_jump_share, f"{int(jumps.sum())} large one-day moves (e.g. {shown})", critical=False
    )


def check_market(market: pd.DataFrame, prices: pd.DataFrame, params: ValidateParams, findings: Findings) -> None:
    days = pd.Index(prices["date"].unique())
    covered = float(days.isin(market["date"]).mean()) if len(days) else 0.0
    findings.stats["market_coverage"] = round(covered, 6)
    limit = params.max_missing_share["market"]
    findings.check(
        covered < 1 - limit,
        f"the market table covers only {percent(covered)} of trading days "
        f"(max {percent(limit)} missing; raise validate.max_missing_share.market)",
    )
    findings.check(bool((market["index_close"] <= 0).any()), "market.index_close has zero or negative values")


def tickers_per_month_end(prices: pd.DataFrame, market: pd.DataFrame) -> pd.Series:
    """Tickers with a close at each month end after the data's first year: the cross-sections cache can snapshot.

    Month ends are the last day of each month in the union of price and market dates (as the
    cache builds them), inside the prices' date range; a last month the data stops in is left out.
    """
    if prices.empty:
        return pd.Series(dtype="int64")
    first, last = prices["date"].min(), prices["date"].max()
    days = pd.DatetimeIndex(prices["date"].unique()).union(pd.DatetimeIndex(market["date"]))
    days = days[(days >= first) & (days <= last)]
    month = days.year * 12 + days.month
    ends = days[np.r_[month[1:] != month[:-1], True]]
    if ends[-1] != ends[-1] + pd.offsets.BMonthEnd(0):
        ends = ends[:-1]
    ends = ends[ends >= first + pd.DateOffset(years=1)]
    priced = prices[prices["close"].notna() & prices["date"].isin(ends)]
    return priced.groupby("date")["ticker"].nunique().reindex(ends, fill_value=0)


def check_cross_section(prices: pd.DataFrame, market: pd.DataFrame, params: ValidateParams, findings: Findings) -> None:
    """Rank IC needs a cross-section: every month end after the first year needs ``min_tickers`` priced tickers."""
    counts = tickers_per_month_end(prices, market)
    thin = counts[counts < params.min_tickers]
    findings.stats["min_tickers_per_month_end"] = int(counts.min()) if len(counts) else 0
    findings.stats["month_ends_below_min_tickers"] = len(thin)
    if findings.stats["tickers"] < params.min_tickers:  # the total count already says so
        return
    shown = ", ".join(f"{date:%Y-%m} ({n})" for date, n in thin.head(6).items()) + (", …" if len(thin) > 6 else "")
    findings.check(
        not thin.empty,
        f"prices: fewer than {params.min_tickers} tickers have a close at {len(thin)} month ends: {shown}; "
        "rank IC needs a cross-section: add tickers for those months or lower validate.min_tickers",
    )


def run_checks(raw: dict[str, pd.DataFrame], params: ValidateParams) -> Findings:
    findings = Findings()
    prices, market = raw["prices"], raw["market"]
    for table in (PRICES, MARKET, FUNDAMENTALS):
        check_columns(raw[table.name], table, params, findings)
    check_prices(prices, params, findings)
    check_cross_section(prices, market, params, findings)
    check_fundamentals(raw["fundamentals"], prices, params, findings)
    check_market(market, prices, params, findings)
    unknown = sorted(set(prices["ticker"]) - set(raw["companies"]["ticker"]))
    findings.check(bool(unknown), f"{len(unknown)} tickers have prices but no companies row (sector unknown)", critical=False)
    return findings
