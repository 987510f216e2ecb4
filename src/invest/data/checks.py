"""Checks of the raw tables: what is wrong with the data, how badly, and what to change.

``run_checks`` returns ``Findings``: critical problems (the ``validate`` stage stops on them),
warnings, and statistics for ``metrics/data_quality.json``. Thresholds come from the
``validate`` section of params.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from invest.data.schema import FUNDAMENTAL_FIELDS
from invest.params import ValidateParams


@dataclass
class Findings:
    critical: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def check(self, bad: bool, message: str, critical: bool = True) -> None:
        if bad:
            (self.critical if critical else self.warnings).append(message)


def check_prices(prices: pd.DataFrame, params: ValidateParams, findings: Findings) -> None:
    stats = findings.stats
    tickers = prices["ticker"].nunique()
    stats["tickers"] = int(tickers)
    stats["price_rows"] = len(prices)
    findings.check(
        tickers < params.min_tickers, f"only {tickers} tickers with prices (need {params.min_tickers}; validate.min_tickers)"
    )
    for column in ("open", "high", "low", "close", "adj_close", "volume"):
        share = float(prices[column].isna().mean()) if len(prices) else 0.0
        stats[f"missing_share_{column}"] = round(share, 6)
        findings.check(
            share > params.max_missing_share,
            f"prices.{column} is missing in {share:.1%} of rows (max {params.max_missing_share:.1%})",
        )
    non_positive = int((prices[["open", "high", "low", "close", "adj_close"]] <= 0).any(axis=1).sum())
    stats["non_positive_price_rows"] = non_positive
    findings.check(non_positive > 0, f"{non_positive} price rows have a zero or negative price")
    inverted = int((prices["high"] < prices["low"]).sum())
    stats["high_below_low_rows"] = inverted
    findings.check(inverted > 0, f"{inverted} price rows have high < low", critical=False)

    by_ticker = prices.groupby("ticker", sort=False)
    log_return = np.log(prices["adj_close"].where(prices["adj_close"] > 0)).groupby(prices["ticker"]).diff()
    jumps = log_return.abs() > params.max_jump
    jump_share = float(jumps.mean()) if len(prices) else 0.0
    stats["jump_share"] = round(jump_share, 6)
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

    gaps = by_ticker["date"].diff().dt.days
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


def check_fundamentals(fundamentals: pd.DataFrame, prices: pd.DataFrame, params: ValidateParams, findings: Findings) -> None:
    stats = findings.stats
    early = int((fundamentals["report_date"] < fundamentals["period_end"]).sum())
    stats["report_before_period_end"] = early
    findings.check(early > 0, f"{early} fundamentals rows have a report_date before their period_end (look-ahead)")

    # coverage per year: share of tickers trading that year with at least one report that year
    trading = prices.groupby(prices["date"].dt.year)["ticker"].nunique()
    reported = fundamentals.groupby(fundamentals["report_date"].dt.year)["ticker"].nunique()
    coverage = (reported.reindex(trading.index).fillna(0) / trading).round(4)
    stats["fundamentals_coverage_by_year"] = {str(year): float(share) for year, share in coverage.items()}
    for name in FUNDAMENTAL_FIELDS:
        stats[f"fundamentals_missing_share_{name}"] = (
            round(float(fundamentals[name].isna().mean()), 6) if len(fundamentals) else 1.0
        )
    findings.check(fundamentals.empty, "no fundamentals at all: static features will be missing", critical=False)

    frozen, pairs = _frozen_fields(fundamentals, params.frozen_fundamental_years)
    share = frozen / pairs if pairs else 0.0
    stats["frozen_fundamentals_share"] = round(share, 6)
    findings.check(
        share > params.max_frozen_share,
        f"{frozen} of {pairs} (ticker, field) series never change over {params.frozen_fundamental_years:g}+ years: "
        "today's values copied into the past?",
    )


def _frozen_fields(fundamentals: pd.DataFrame, years: float) -> tuple[int, int]:
    """How many (ticker, field) series span ``years`` or more yet hold a single distinct value."""
    frozen = pairs = 0
    span = fundamentals.groupby("ticker")["period_end"].agg(lambda d: (d.max() - d.min()).days / 365.25)
    long_enough = span[span >= years].index
    subset = fundamentals[fundamentals["ticker"].isin(long_enough)]
    if subset.empty:
        return 0, 0
    distinct = subset.groupby("ticker")[list(FUNDAMENTAL_FIELDS)].nunique()
    observed = subset.groupby("ticker")[list(FUNDAMENTAL_FIELDS)].count()
    usable = observed >= 4
    frozen = int(((distinct <= 1) & usable).to_numpy().sum())
    pairs = int(usable.to_numpy().sum())
    return frozen, pairs


def check_market(market: pd.DataFrame, prices: pd.DataFrame, params: ValidateParams, findings: Findings) -> None:
    days = pd.Index(prices["date"].unique())
    covered = float(days.isin(market["date"]).mean()) if len(days) else 0.0
    findings.stats["market_coverage"] = round(covered, 6)
    findings.check(covered < 1 - params.max_missing_share, f"the market table covers only {covered:.1%} of trading days")
    for column in ("index_close", "vol_index", "short_rate", "long_rate"):
        share = float(market[column].isna().mean()) if len(market) else 1.0
        findings.stats[f"market_missing_share_{column}"] = round(share, 6)
        findings.check(share > params.max_missing_share, f"market.{column} is missing in {share:.1%} of days")
    findings.check(bool((market["index_close"] <= 0).any()), "market.index_close has zero or negative values")


def run_checks(raw: dict[str, pd.DataFrame], params: ValidateParams) -> Findings:
    findings = Findings()
    check_prices(raw["prices"], params, findings)
    check_fundamentals(raw["fundamentals"], raw["prices"], params, findings)
    check_market(raw["market"], raw["prices"], params, findings)
    unknown = sorted(set(raw["prices"]["ticker"]) - set(raw["companies"]["ticker"]))
    findings.check(bool(unknown), f"{len(unknown)} tickers have prices but no companies row (sector unknown)", critical=False)
    return findings
