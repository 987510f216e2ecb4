"""One fetch or refresh against Yahoo: what to ask for, and the merge with what is stored.

**A refresh equals a one-shot fetch.** Fetching to ``T0`` and refreshing to ``T`` gives, table for
table, the same bytes as one fetch to ``T`` (same ``data.start``, same universe), provided Yahoo serves
the same history on both occasions: the same daily bars for every past day, the same statements and
earnings dates. ``tests/test_sources_yahoo.py`` checks this byte for byte on fakes that serve such a
fixed history, with holidays, gaps and a late print next to ``T0`` and ``T``. How each table gets there:

* **prices** are asked per ticker from (last stored date - ``OVERLAP_DAYS``): no value is filled, so
  stored rows plus new rows (new ones win) are the rows a one-shot fetch gets. If the overlap shows
  that Yahoo re-based a ticker's history (a split or dividend since), its whole range is downloaded
  again, never rescaled from stored rows (a rescale is only close to Yahoo's numbers).
* **market** is downloaded whole (``data.start``..``as_of``) on every refresh with a new window and
  built by the same ``market_frame`` as a one-shot fetch: its bounded forward fill depends on the
  neighbours of every gap, and a merge with stored rows would count carried values as observations.
  It costs nothing in calls: one ``yf.download`` of 4 symbols either way, one chart request per symbol
  whatever its range (about 5,000 daily rows each for 20 years).
* **fundamentals** of a ticker are asked only when a newer quarter can be public (``schedule``); until
  then no newer row exists, so the stored rows are a one-shot fetch's rows. **companies** are asked
  once a quarter. **macro** (FRED) is downloaded whole every time.

What a refresh keeps that a one-shot fetch cannot see, where Yahoo's answers change over time: quarters
Yahoo no longer serves (it serves only the last ~5), report dates from earnings announcements that
dropped off Yahoo's list, statement figures as first fetched until the ticker is asked again (a
one-shot fetch gets the latest restatement), labels until the next quarterly request, corrections of
bars older than the overlap, and the tickers of an earlier universe. The ``fetch_log`` bookkeeping
table differs by design (it records when each request was made).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import pandas as pd
from tqdm import tqdm

from invest.data.schema import COMPANIES, FETCH_LOG, FUNDAMENTALS, MACRO, MARKET, PRICES, conform
from invest.data.sources import fred as fred_source
from invest.data.sources import registry
from invest.data.sources.base import FetchResult, clip_to_window, empty_table, fundamentals_coverage, merge_keyed, row_counts
from invest.data.sources.retry import CallBudget
from invest.data.sources.yahoo import companies, prices, schedule, statements
from invest.data.sources.yahoo.market import MARKET_SYMBOLS, market_frame
from invest.errors import FetchError
from invest.params import DataParams

TickerFactory = Callable[[str], Any]
NOT_FROM_YAHOO = "fundamentals from elsewhere (data.fundamentals)"


class Refresh:
    """The state of one fetch: what is stored, the network callables, the log, failures and the report."""

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
        self.log = schedule.FetchLog(existing, self.start, self.as_of)
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
        tables[FETCH_LOG.name] = self.log.table(tables)
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
        plan, up_to_date = self._price_plan(stored)
        received = self._download_all(plan, "prices")
        attempted = sum(len(group) for group in plan.values())
        if attempted and not received:
            first = next(iter(self.failures.items()), ("?", "no reason given"))
            raise FetchError(
                f"yfinance returned no prices for any of {attempted} tickers ({first[0]}: {first[1]}); "
                "check the network connection and the ticker symbols, or retry later"
            )
        new = prices.long_prices(received)
        readjusted = prices.readjusted(stored, new)
        if readjusted:  # stored rows are on Yahoo's old basis: take the whole history again
            again = self._download_all({self.start: readjusted}, "prices (re-adjusted history)")
            for ticker in readjusted:
                if ticker not in again:  # keep the old basis whole rather than mix; asked again next run
                    received.pop(ticker)
            received.update(again)
            new = prices.long_prices(received)
            stored = stored[~stored["ticker"].isin(list(again))]
        for ticker in received:
            self.log.record(ticker, "prices")
        self.report.update(
            {
                "mode": mode,
                "price_requests": {str(begin.date()): len(group) for begin, group in sorted(plan.items())},
                "up_to_date_tickers": len(up_to_date),
                "new_price_rows": len(new),
                "readjusted_tickers": readjusted,
            }
        )
        merged = merge_keyed(stored, new, PRICES)
        return conform(clip_to_window(PRICES, merged, self.start, self.as_of), PRICES, "yfinance prices")

    def _price_plan(self, stored: pd.DataFrame) -> tuple[dict[pd.Timestamp, list[str]], list[str]]:
        """Tickers by the first day to ask for, and the tickers already asked at this as_of."""
        span = stored.groupby("ticker")["date"].agg(["min", "max"])
        overlap = pd.Timedelta(days=prices.OVERLAP_DAYS)
        plan: dict[pd.Timestamp, list[str]] = {}
        up_to_date = []
        for ticker in self.tickers:
            entry = self.log.get(ticker, "prices")
            if ticker not in span.index:
                begin = self.start
            elif entry is not None and self.start < entry.start:
                begin = self.start  # data.start moved earlier
            elif entry is None and span.loc[ticker, "min"] > self.start + overlap:
                begin = self.start  # no log: stored rows starting this late mean data.start moved earlier
            elif (entry.as_of if entry is not None else span.loc[ticker, "max"]) >= self.as_of:
                up_to_date.append(ticker)
                continue
            else:
                begin = max(self.start, span.loc[ticker, "max"] - overlap)
            plan.setdefault(begin, []).append(ticker)
        return plan, up_to_date

    def _download_all(self, plan: dict[pd.Timestamp, list[str]], what: str) -> dict[str, pd.DataFrame]:
        size = self.params.batch_size
        batches = [(begin, group[i : i + size]) for begin, group in sorted(plan.items()) for i in range(0, len(group), size)]
        received: dict[str, pd.DataFrame] = {}
        with tqdm(total=len(batches), desc=f"yfinance {what}", unit="batch", file=sys.stderr, leave=False) as bar:
            for begin, batch in batches:
                for ticker, reason in self._download(batch, begin, received).items():
                    self._fail(ticker, what, reason)
                bar.update(1)
        return received

    def fetch_market(self) -> pd.DataFrame:
        stored = self._existing(MARKET)
        entries = [self.log.get(symbol, "market") for symbol in MARKET_SYMBOLS]
        if len(stored) and all(e is not None and (e.start, e.as_of) == (self.start, self.as_of) for e in entries):
            self.report["market"] = "up to date (downloaded at this data.start and data.as_of)"
            return conform(clip_to_window(MARKET, stored, self.start, self.as_of), MARKET, "stored market")
        parts: dict[str, pd.DataFrame] = {}
        for symbol, reason in self._download(list(MARKET_SYMBOLS), self.start, parts).items():
            self._fail(symbol, "market", reason)
        for symbol in MARKET_SYMBOLS:  # a symbol that failed is downloaded again next run
            self.log.forget(symbol, "market")
        frame = market_frame(parts) if parts else None
        if frame is None:
            self.report["market"] = "download failed: kept the stored table"
            return conform(clip_to_window(MARKET, stored, self.start, self.as_of), MARKET, "stored market")
        for symbol in parts:
            self.log.record(symbol, "market")
        self.report["market"] = f"downloaded {self.params.start}..{self.params.as_of}"
        return conform(clip_to_window(MARKET, frame, self.start, self.as_of), MARKET, "yfinance market")

    def _download(self, batch: list[str], begin: pd.Timestamp, into: dict[str, pd.DataFrame]) -> dict[str, str]:
        got, failed, symbols = prices.download_batch(self.download, self.budget, batch, begin, self.as_of, self.params.timeout_s)
        into.update(got)
        self.download_symbols += symbols
        return failed

    # ------------------------------------------------------------------ fundamentals, companies, macro

    def fetch_fundamentals(self, priced: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Statements (data.fundamentals: yahoo) and labels (data.sectors: yahoo); empty tables for what comes from elsewhere."""
        statements_here = registry.fundamentals_from(self.params) == "yahoo"
        labels_here = registry.sectors_from(self.params) == "yahoo"
        for kind, here in (("statements", statements_here), ("info", labels_here)):
            if not here:  # the stored table is not Yahoo's: ask again when it is wanted from Yahoo
                self.log.forget_kind(kind)
        stored = self._existing(FUNDAMENTALS) if statements_here else empty_table(FUNDAMENTALS)
        stored_companies = self._existing(COMPANIES) if labels_here else empty_table(COMPANIES)
        latest = stored.groupby("ticker")["period_end"].max()
        known = set(stored_companies["ticker"])
        due, labels_due, skipped = [], [], Counter()
        for ticker in (t for t in self.tickers if t in priced):
            why = self.log.statements_skip(ticker, latest.get(ticker)) if statements_here else NOT_FROM_YAHOO
            if why:
                skipped[why] += 1
            else:
                due.append(ticker)
            if labels_here and self.log.info_due(ticker, ticker in known, why is None):
                labels_due.append(ticker)
        rows, labels = [], []
        asked = [t for t in self.tickers if t in due or t in labels_due]
        with tqdm(total=len(asked), desc="yfinance fundamentals", unit="ticker", file=sys.stderr, leave=False) as bar:
            for ticker in asked:
                if ticker in labels_due:
                    company = self._fetch_info(ticker)
                    if company is not None or ticker not in known:
                        labels.append(company or companies.unknown_row(ticker))
                if ticker in due and (fundamentals := self._fetch_statements(ticker)) is not None:
                    rows.append(fundamentals)
                bar.update(1)
        new = pd.concat(rows, ignore_index=True) if rows else None
        merged = clip_to_window(FUNDAMENTALS, merge_keyed(stored, new, FUNDAMENTALS), self.start, self.as_of)
        company_frame = pd.DataFrame(labels, columns=list(COMPANIES.columns), dtype=object) if labels else None
        self.report["statements"] = {
            "asked": len(due),
            "skipped": sum(skipped.values()),
            "skipped_because": dict(sorted(skipped.items())),
        }
        self.report["company_info"] = {"asked": len(labels_due), "skipped": len(priced & set(self.tickers)) - len(labels_due)}
        return conform(merged, FUNDAMENTALS, "yfinance fundamentals"), merge_keyed(stored_companies, company_frame, COMPANIES)

    def _read(self, ticker: str, attribute: str) -> Callable[[], Any]:
        # A fresh Ticker per try: yfinance caches a half-finished fetch on the object.
        return lambda: getattr(self.ticker_factory(ticker), attribute)

    def _fetch_info(self, ticker: str) -> dict[str, str] | None:
        """A ticker's labels, or None (the failure recorded); logged only when they arrived."""
        info, error = self.budget.call("info", self._read(ticker, "info"))
        if error:
            self._fail(ticker, "company info", error)
            return None
        if not isinstance(info, dict):  # an error page or a changed API: labels fall back to Unknown
            if info is not None:
                self._fail(ticker, "company info", f"malformed answer ({type(info).__name__}, not a mapping)")
            return None
        self.log.record(ticker, "info")
        return companies.company_row(ticker, info)

    def _fetch_statements(self, ticker: str) -> pd.DataFrame | None:
        """A ticker's quarters dated by its earnings announcements; logged only when every answer was usable."""
        frames, failed = [], False
        for attribute in statements.STATEMENTS:
            frame, error = self.budget.call("statement", self._read(ticker, attribute))
            error = error or statements.statement_problem(frame)
            if error:
                failed = True
                self._fail(ticker, attribute.replace("_", " "), error)
            frames.append(frame if isinstance(frame, pd.DataFrame) and not error else None)
        fundamentals = statements.statements_to_fundamentals(ticker, *frames)
        if fundamentals.empty:
            if not failed:  # a fund or a young company: asked again in a quarter
                self._fail(ticker, "fundamentals", "Yahoo returned no quarterly statements")
                self.log.record(ticker, "statements")
            return None
        earnings, error = self.budget.call(
            "earnings_dates", lambda: self.ticker_factory(ticker).get_earnings_dates(limit=statements.EARNINGS_DATES_LIMIT)
        )
        error = error or statements.earnings_problem(earnings)
        if error:  # not fatal: report_date falls back to period_end + report_lag_days, asked again next run
            self.report.setdefault("earnings_dates_failed", {})[ticker] = error
        elif not failed:
            self.log.record(ticker, "statements")
        fundamentals["report_date"] = statements.report_dates(fundamentals["period_end"], earnings, self.params.report_lag_days)
        return fundamentals

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
