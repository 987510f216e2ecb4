"""What a source's tables get afterwards: the SEC's fundamentals and labels, no fundamentals, the membership table.

Each function edits a ``FetchResult`` in place: its tables (in the raw schema), its report and its
per-ticker failures, so that ``metrics/fetch.json`` tells one story whatever was combined.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from invest.data import liquidity
from invest.data.liquidity import LiquidityRule
from invest.data.membership import Membership
from invest.data.schema import COMPANIES, FETCH_LOG, FUNDAMENTAL_VINTAGES, FUNDAMENTALS, MARKET, MEMBERSHIP, PRICES, conform
from invest.data.sources import registry, sec, universe
from invest.data.sources.base import FetchResult, clip_to_window, empty_table, fundamentals_coverage, row_counts
from invest.data.sources.sec_client import SecClient
from invest.data.sources.sec_schedule import KINDS as SEC_KINDS
from invest.errors import DataError
from invest.params import DataParams


def with_sec(result: FetchResult, params: DataParams, existing: dict[str, pd.DataFrame], client: SecClient) -> None:
    """Fundamentals (and, with ``data.sectors: sec``, companies) of every priced ticker from SEC EDGAR; vintages kept."""
    tables = result.tables
    tickers = sorted(tables[PRICES.name]["ticker"].unique())
    labels = registry.sectors_from(params) == "sec"
    found = sec.fetch_fundamentals(tickers, params.start, params.as_of, client, existing, companies=labels)
    start, as_of = pd.Timestamp(params.start), pd.Timestamp(params.as_of)
    tables[FUNDAMENTALS.name] = conform(clip_to_window(FUNDAMENTALS, found.fundamentals, start, as_of), FUNDAMENTALS, "SEC")
    tables[FUNDAMENTAL_VINTAGES.name] = found.vintages
    if found.companies is not None:
        tables[COMPANIES.name] = found.companies
    tables[FETCH_LOG.name] = _log(tables.get(FETCH_LOG.name), found.log)
    for ticker, reason in found.failures.items():
        _fail(result, ticker, f"sec fundamentals: {reason}")
    report = {key: value for key, value in found.report.items() if key != "coverage"}  # coverage: of the window, below
    result.report["http_calls"] = result.report.get("http_calls", 0) + report["http_calls"]
    _summarise(result, params, tickers, sec=report)


def without_fundamentals(result: FetchResult, params: DataParams) -> None:
    """``data.fundamentals: none``: price-only data, whatever the source has."""
    result.tables[FUNDAMENTALS.name] = empty_table(FUNDAMENTALS)
    _summarise(result, params, sorted(result.tables[PRICES.name]["ticker"].unique()))


def with_membership(result: FetchResult, history: Membership, params: DataParams) -> None:
    """The membership intervals for the cache stage, and the members without prices for the report."""
    tables = result.tables
    tables[MEMBERSHIP.name] = universe.membership_table(history, params.start, params.as_of)
    report = universe.membership_report(history, tables[PRICES.name], tables[MARKET.name], params.start, params.as_of)
    result.report["membership"] = report
    result.report["rows"] = row_counts(tables)


def with_liquidity(result: FetchResult, rule: LiquidityRule, params: DataParams) -> None:
    """The liquid universe's membership intervals (chosen on each month end from the prices fetched), and its
    size and turnover per year for the report."""
    tables = result.tables
    prices = tables[PRICES.name]
    chosen = liquidity.members(prices[["ticker", "date", "close", "volume"]], rule)
    if chosen.empty:
        raise DataError(
            f"data.universe: no stock qualifies for {rule.describe()} (the prices hold {prices['ticker'].nunique()} tickers); "
            "fetch a longer history (data.start), lower lookback_days or min_price"
        )
    tables[MEMBERSHIP.name] = conform(liquidity.intervals(chosen, prices["date"].max()), MEMBERSHIP, "membership table")
    result.report["universe"] = {
        "rule": rule.describe(),
        "candidates": int(prices["ticker"].nunique()),
        "by_year": liquidity.by_year(chosen),
    }
    result.report["rows"] = row_counts(tables)


def _summarise(result: FetchResult, params: DataParams, tickers: list[str], **sections: Any) -> None:
    tables = result.tables
    result.report.update(
        fundamentals=registry.fundamentals_from(params),
        sectors=registry.sectors_from(params),
        fundamentals_coverage=fundamentals_coverage(tables[FUNDAMENTALS.name], tickers),
        rows=row_counts(tables),
        **sections,
    )


def _log(source_log: pd.DataFrame | None, sec_log: pd.DataFrame) -> pd.DataFrame:
    """The source's own fetch_log rows (Yahoo's) and the SEC's."""
    parts = [frame for frame in (source_log, sec_log) if frame is not None and len(frame)]
    if source_log is not None and len(source_log):
        parts[0] = source_log[~source_log["kind"].isin(SEC_KINDS)]
    return conform(pd.concat(parts, ignore_index=True), FETCH_LOG, "fetch_log table") if parts else empty_table(FETCH_LOG)


def _fail(result: FetchResult, ticker: str, text: str) -> None:
    result.failures[ticker] = f"{result.failures[ticker]}; {text}" if ticker in result.failures else text
