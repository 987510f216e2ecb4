"""One fetch or refresh against Yahoo: which tickers to ask for what, and the merge with what is stored.

Prices are asked per ticker from (last stored date - ``OVERLAP_DAYS``) to ``as_of`` (from
``data.start`` for tickers with none; tickers stored up to ``as_of`` are skipped); the market
table likewise. Statements and company labels are asked only for tickers whose latest stored
quarter ends more than ``FUNDAMENTALS_STALE_DAYS`` before ``as_of`` (or that have none). Stored
rows are kept, new ones win; every table is cut to ``data.start``..``as_of``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pandas as pd
from tqdm import tqdm

from invest.data.schema import COMPANIES, FUNDAMENTALS, MACRO, MARKET, PRICES, conform
from invest.data.sources import fred as fred_source
from invest.data.sources.base import FetchResult, clip_to_window, empty_table, fundamentals_coverage, merge_keyed, row_counts
from invest.data.sources.retry import CallBudget
from invest.data.sources.yahoo import companies, prices, statements
from invest.data.sources.yahoo.market import MARKET_SYMBOLS, market_frame, merge_market
from invest.errors import FetchError
from invest.params import DataParams

FUNDAMENTALS_STALE_DAYS = 92
TickerFactory = Callable[[str], Any]


class Refresh:
    """The state of one fetch: what is stored, the network callables, failures and the report."""

    def __init__(self, params: DataParams, existing, tickers, download, ticker_factory: TickerFactory, budget: CallBudget, fred):
        self.params = params
        self.existing = existing
        self.tickers = tickers
        self.download = download
        self.ticker_factory = ticker_factory
        self.budget = budget
        self.fred = fred
        self.start = pd.Timestamp(params.start)
        self.as_of = pd.Timestamp(params.as_of)
        self.failures: dict[str, str] = {}
        self.download_symbols = 0
        self.report: dict[str, Any] = {}

    def run(self) -> FetchResult:
        price_table = self.fetch_prices()
        market = self.fetch_market()
        fundamentals, company_table = self.fetch_fundamentals(set(price_table["ticker"].unique()))
        macro = self.fetch_macro()
        tables = {
            PRICES.name: price_table,
            COMPANIES.name: company_table,
            FUNDAMENTALS.name: fundamentals,
            MARKET.name: market,
            MACRO.name: macro,
        }
        failed = sorted(t for t in self.tickers if t in self.failures)
        report = {
            "source": "yfinance",
            "start": self.params.start,
            "as_of": self.params.as_of,
            "tickers_requested": len(self.tickers),
            "tickers_ok": len(self.tickers) - len(failed),
            "tickers_failed": len(failed),
            "failed_tickers": failed,
            "tickers_with_prices": int(price_table.loc[price_table["ticker"].isin(self.tickers), "ticker"].nunique()),
            "http_calls": self.budget.http_calls,
            "http_calls_by_kind": dict(sorted(self.budget.calls.items())),
            "download_symbols": self.download_symbols,
            "retries": self.budget.retries,
            "backoff_s": round(self.budget.slept_s, 3),
            "rows": row_counts(tables),
            "fundamentals_coverage": fundamentals_coverage(fundamentals, self.tickers),
            **self.report,
        }
        return FetchResult(tables=tables, report=report, failures=dict(self.failures))

    # ------------------------------------------------------------------ prices and market

    def fetch_prices(self) -> pd.DataFrame:
        stored = self._existing(PRICES)
        mode = "incremental" if len(stored) else "full"
        if len(stored) and stored["date"].min() > self.start + pd.Timedelta(days=prices.OVERLAP_DAYS):
            stored, mode = stored.iloc[0:0], "full (data.start moved earlier than the stored prices)"
        last = stored.groupby("ticker")["date"].max() if len(stored) else pd.Series(dtype="datetime64[ns]")
        plan: dict[pd.Timestamp, list[str]] = {}
        up_to_date = []
        for ticker in self.tickers:
            if ticker in last.index and last[ticker] >= self.as_of:
                up_to_date.append(ticker)
                continue
            begin = max(self.start, last[ticker] - pd.Timedelta(days=prices.OVERLAP_DAYS)) if ticker in last.index else self.start
            plan.setdefault(begin, []).append(ticker)
        size = self.params.batch_size
        batches = [(begin, group[i : i + size]) for begin, group in sorted(plan.items()) for i in range(0, len(group), size)]
        received: dict[str, pd.DataFrame] = {}
        with tqdm(total=len(batches), desc="yfinance prices", unit="batch", file=sys.stderr, leave=False) as bar:
            for begin, batch in batches:
                for ticker, reason in self._download(batch, begin, received).items():
                    self._fail(ticker, "prices", reason)
                bar.update(1)
        attempted = sum(len(batch) for _, batch in batches)
        if attempted and not received:
            first = next(iter(self.failures.items()), ("?", "no reason given"))
            raise FetchError(
                f"yfinance returned no prices for any of {attempted} tickers ({first[0]}: {first[1]}); "
                "check the network connection and the ticker symbols, or retry later"
            )
        new = prices.long_prices(received)
        merged, rescaled = prices.merge_prices(stored, new)
        self.report.update(
            {
                "mode": mode,
                "price_requests": {str(begin.date()): len(group) for begin, group in sorted(plan.items())},
                "up_to_date_tickers": len(up_to_date),
                "new_price_rows": len(new),
                "rescaled_tickers": rescaled,
            }
        )
        return conform(clip_to_window(PRICES, merged, self.start, self.as_of), PRICES, "yfinance prices")

    def fetch_market(self) -> pd.DataFrame:
        stored = self._existing(MARKET)
        if len(stored) and stored["date"].min() > self.start + pd.Timedelta(days=prices.OVERLAP_DAYS):
            stored = stored.iloc[0:0]
        if len(stored) and stored["date"].max() >= self.as_of:
            new = None
        else:
            begin = max(self.start, stored["date"].max() - pd.Timedelta(days=prices.OVERLAP_DAYS)) if len(stored) else self.start
            parts: dict[str, pd.DataFrame] = {}
            for symbol, reason in self._download(list(MARKET_SYMBOLS), begin, parts).items():
                self._fail(symbol, "market", reason)
            new = market_frame(parts) if parts else None
        merged = clip_to_window(MARKET, merge_market(stored, new), self.start, self.as_of)
        return conform(merged, MARKET, "yfinance market")

    def _download(self, batch: list[str], begin: pd.Timestamp, into: dict[str, pd.DataFrame]) -> dict[str, str]:
        got, failed, symbols = prices.download_batch(self.download, self.budget, batch, begin, self.as_of, self.params.timeout_s)
        into.update(got)
        self.download_symbols += symbols
        return failed

    # ------------------------------------------------------------------ fundamentals, companies, macro

    def fetch_fundamentals(self, priced: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        stored = self._existing(FUNDAMENTALS)
        stored_companies = self._existing(COMPANIES)
        latest = stored.groupby("ticker")["period_end"].max() if len(stored) else pd.Series(dtype="datetime64[ns]")
        stale_before = self.as_of - pd.Timedelta(days=FUNDAMENTALS_STALE_DAYS)
        known = set(stored_companies["ticker"])
        refresh = [
            t for t in self.tickers if t in priced and (t not in latest.index or latest[t] < stale_before or t not in known)
        ]
        rows, labels = [], []
        with tqdm(total=len(refresh), desc="yfinance fundamentals", unit="ticker", file=sys.stderr, leave=False) as bar:
            for ticker in refresh:
                fundamentals, company = self._fetch_one(ticker)
                if fundamentals is not None:
                    rows.append(fundamentals)
                if company is not None:
                    labels.append(company)
                elif ticker not in known:
                    labels.append(companies.unknown_row(ticker))
                bar.update(1)
        new = pd.concat(rows, ignore_index=True) if rows else None
        merged = clip_to_window(FUNDAMENTALS, merge_keyed(stored, new, FUNDAMENTALS), self.start, self.as_of)
        company_frame = pd.DataFrame(labels, columns=list(COMPANIES.columns), dtype=object) if labels else None
        self.report["fundamentals_refreshed"] = len(refresh)
        return conform(merged, FUNDAMENTALS, "yfinance fundamentals"), merge_keyed(stored_companies, company_frame, COMPANIES)

    def _fetch_one(self, ticker: str) -> tuple[pd.DataFrame | None, dict[str, str] | None]:
        """Statements, earnings dates and labels for one ticker; failures are recorded, never raised."""

        # A fresh Ticker per try: yfinance caches a half-finished fetch on the object.
        def read(attribute: str) -> Callable[[], Any]:
            return lambda: getattr(self.ticker_factory(ticker), attribute)

        company = None
        info, error = self.budget.call("info", read("info"))
        if error:
            self._fail(ticker, "company info", error)
        elif isinstance(info, dict):
            company = companies.company_row(ticker, info)
        elif info is not None:  # an error page or a changed API: labels fall back to Unknown
            self._fail(ticker, "company info", f"malformed answer ({type(info).__name__}, not a mapping)")
        frames, statement_failed = [], False
        for attribute in statements.STATEMENTS:
            frame, error = self.budget.call("statement", read(attribute))
            error = error or statements.statement_problem(frame)
            if error:
                statement_failed = True
                self._fail(ticker, attribute.replace("_", " "), error)
                frame = None
            frames.append(frame if isinstance(frame, pd.DataFrame) else None)
        fundamentals = statements.statements_to_fundamentals(ticker, *frames)
        if fundamentals.empty:
            if not statement_failed:
                self._fail(ticker, "fundamentals", "Yahoo returned no quarterly statements")
            return None, company
        earnings, error = self.budget.call(
            "earnings_dates", lambda: self.ticker_factory(ticker).get_earnings_dates(limit=statements.EARNINGS_DATES_LIMIT)
        )
        error = error or statements.earnings_problem(earnings)
        if error:  # not fatal: report_date falls back to period_end + report_lag_days
            self.report.setdefault("earnings_dates_failed", {})[ticker] = error
        fundamentals["report_date"] = statements.report_dates(fundamentals["period_end"], earnings, self.params.report_lag_days)
        return fundamentals, company

    def fetch_macro(self) -> pd.DataFrame:
        if not self.params.fred_macro:
            self.report["macro"] = "disabled (data.fred_macro: false)"
            return empty_table(MACRO)
        macro, failures = fred_source.fetch(self.fred, self.budget, self.start, self.params.as_of)
        self.failures.update(failures)
        self.report["macro"] = "fred"
        return macro

    # ------------------------------------------------------------------ helpers

    def _existing(self, table) -> pd.DataFrame:
        frame = self.existing.get(table.name)
        if frame is None or frame.empty:
            return empty_table(table)
        return conform(frame, table, f"stored {table.name} table")

    def _fail(self, ticker: str, what: str, reason: str) -> None:
        text = f"{what}: {reason}"
        self.failures[ticker] = f"{self.failures[ticker]}; {text}" if ticker in self.failures else text
