"""Live market data from Yahoo Finance through ``yfinance`` (``data.source: yfinance``).

What is fetched (see docs/data_sources.md for the full story):

* **prices**: daily OHLCV plus ``Adj Close`` for the universe, ``data.batch_size``
  tickers per threaded ``yf.download`` call, ``auto_adjust=False``.
* **market**: ``^GSPC`` -> index_close, ``^VIX`` -> vol_index, ``^IRX`` (13-week
  T-bill) -> short_rate, ``^TNX`` (10-year Treasury) -> long_rate, both in percent,
  on the ``^GSPC`` trading calendar. A series missing on a day the index traded
  (bond-market holidays, a late print) is forward-filled for at most
  ``MARKET_FFILL_LIMIT`` rows, and never before its first or after its last
  observation in the downloaded range.
* **fundamentals**: ``Ticker.quarterly_income_stmt`` / ``quarterly_balance_sheet`` /
  ``quarterly_cashflow`` (Yahoo serves only the last ~5 quarters), mapped through
  ``LINE_ITEMS``. ``report_date`` is the first earnings date within
  ``EARNINGS_WINDOW_DAYS`` after the period end (``Ticker.get_earnings_dates``; an
  announcement at or after 16:00 New York time counts from the next day), else
  ``period_end + data.report_lag_days``. Only rows with ``report_date <= as_of`` are
  kept: nothing is in the table before it was public.
* **companies**: name, sector and industry from ``Ticker.info``; only these static
  labels are read, never a numeric field (market cap, ratios...), which would be a
  value as of today. Yahoo's sector names are mapped to GICS names.
* **macro**: empty unless ``data.fred_macro``; then CPI inflation (year on year, %),
  unemployment (%) and real GDP growth (% annualised) from FRED via ``fredapi``,
  with publication lags as ``release_date``.

Incremental refresh: with tables already on disk, prices are fetched per ticker from
(last stored date - ``OVERLAP_DAYS``) to ``as_of`` (tickers with no data from
``data.start``; tickers already stored up to ``as_of`` are skipped), merged with new
rows winning. If the overlap shows that Yahoo re-adjusted history (a split or a
dividend since the last run), the stored rows of that ticker are rescaled by the
observed factor so old and new rows stay on one basis. Statements and company labels
are fetched only for tickers whose latest stored quarter ends more than
``FUNDAMENTALS_STALE_DAYS`` before ``as_of`` (or that have none). Stored rows are
kept; every table is cut to ``data.start``..``as_of``.

Faults: each network call gets ``1 + data.max_retries`` tries with exponential
backoff and jitter (``Retry-After`` honoured). A ticker that still fails is reported
in ``FetchResult.failures`` and the rest carry on; only if no price at all could be
fetched is FetchError raised.

``report['http_calls']`` counts one per ``yf.download`` call (one batch; yfinance
itself sends one request per symbol inside it, see ``download_symbols``), one per
``Ticker`` attribute read that goes to the network (``info``, each of the three
statements, ``get_earnings_dates``) and one per FRED series, retries included.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import os
import random
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from invest.errors import ConfigError, FetchError
from invest.params import DataParams
from invest.schema import COMPANIES, FUNDAMENTAL_FIELDS, FUNDAMENTALS, MACRO, MARKET, PRICES, conform
from invest.sources.base import (
    CallBudget,
    FetchResult,
    clip_to_window,
    describe,
    empty_table,
    fundamentals_coverage,
    is_permanent,
    merge_keyed,
    row_counts,
)
from invest.sources.universe import DEFAULT_UNIVERSE, resolve_universe

__all__ = ["DEFAULT_UNIVERSE", "fetch", "split_download", "statements_to_fundamentals", "report_dates"]

OVERLAP_DAYS = 7
FUNDAMENTALS_STALE_DAYS = 92
EARNINGS_WINDOW_DAYS = 100
EARNINGS_DATES_LIMIT = 12  # yfinance's default: ~4 upcoming + ~8 past announcements
AFTER_CLOSE_HOUR = 16
MARKET_FFILL_LIMIT = 5  # trading days
RESCALE_TOLERANCE = 1e-5  # relative change in the overlap that counts as a re-adjustment
EXCHANGE_TZ = "America/New_York"

PRICE_COLUMNS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}
_PRICE_LEVEL_NAMES = set(PRICE_COLUMNS) | {"Dividends", "Stock Splits", "Capital Gains", "Repaired?"}
MARKET_SYMBOLS = {"^GSPC": "index_close", "^VIX": "vol_index", "^IRX": "short_rate", "^TNX": "long_rate"}

# Schema field -> Yahoo line items, in order of preference; the first non-empty value wins per quarter.
LINE_ITEMS: dict[str, tuple[str, ...]] = {
    "revenue": ("Total Revenue", "Operating Revenue"),
    "net_income": (
        "Net Income",
        "Net Income Common Stockholders",
        "Net Income From Continuing Operation Net Minority Interest",
    ),
    "eps": ("Diluted EPS", "Basic EPS"),
    "equity": ("Stockholders Equity", "Common Stock Equity", "Total Equity Gross Minority Interest"),
    "assets": ("Total Assets",),
    "debt": ("Total Debt",),
    "cash": ("Cash And Cash Equivalents", "Cash Cash Equivalents And Short Term Investments", "Cash Financial"),
    "operating_cash_flow": ("Operating Cash Flow", "Cash Flow From Continuing Operating Activities"),
    "free_cash_flow": ("Free Cash Flow",),  # else operating cash flow + capital expenditure (negative)
    "shares": ("Ordinary Shares Number", "Share Issued", "Diluted Average Shares", "Basic Average Shares"),
}
STATEMENTS = ("quarterly_income_stmt", "quarterly_balance_sheet", "quarterly_cashflow")

# Yahoo (Morningstar) sector names -> GICS names used by invest.schema.GICS_SECTORS.
SECTOR_TO_GICS = {
    "Basic Materials": "Materials",
    "Communication Services": "Communication Services",
    "Consumer Cyclical": "Consumer Discretionary",
    "Consumer Defensive": "Consumer Staples",
    "Energy": "Energy",
    "Financial Services": "Financials",
    "Healthcare": "Health Care",
    "Industrials": "Industrials",
    "Real Estate": "Real Estate",
    "Technology": "Information Technology",
    "Utilities": "Utilities",
}
UNKNOWN = "Unknown"

# FRED: series -> (FRED id, transform, publication lag in days, period frequency).
FRED_SERIES: dict[str, tuple[str, str, int, str]] = {
    "inflation": ("CPIAUCSL", "yoy", 15, "M"),  # CPI-U index -> % change on a year earlier
    "unemployment": ("UNRATE", "level", 7, "M"),  # %, published on the first Friday after the month
    "gdp_growth": ("A191RL1Q225SBEA", "level", 30, "Q"),  # real GDP, % q/q annualised, advance estimate
}

Download = Callable[..., pd.DataFrame | None]
TickerFactory = Callable[[str], Any]


def fetch(
    params: DataParams,
    existing: dict[str, pd.DataFrame],
    *,
    download: Download | None = None,
    ticker_factory: TickerFactory | None = None,
    sleep: Callable[[float], Any] = time.sleep,
    rng: random.Random | None = None,
    fred: Any = None,
) -> FetchResult:
    """Fetch (or refresh) every raw table from Yahoo Finance; see the module docstring.

    ``download`` and ``ticker_factory`` default to ``yfinance.download`` and
    ``yfinance.Ticker``; ``fred`` defaults to ``fredapi.Fred(api_key=$FRED_API_KEY)``
    and is only used when ``params.fred_macro`` is true.
    """
    tickers = resolve_universe(params)
    fred_key = os.environ.get("FRED_API_KEY", "").strip() if params.fred_macro else ""
    if params.fred_macro and fred is None and not fred_key:
        raise ConfigError(
            "data.fred_macro is true but FRED_API_KEY is not set; export FRED_API_KEY=<your key> "
            "(free at https://fred.stlouisfed.org/docs/api/api_key.html) or set data.fred_macro: false"
        )
    hide = contextlib.nullcontext()
    if download is None or ticker_factory is None:
        import yfinance as yf  # lazily: importing invest must not import yfinance

        download = download or yf.download
        if ticker_factory is None:
            ticker_factory = yf.Ticker
            hide = _yfinance_raises(yf)
    if params.fred_macro and fred is None:
        fred = _fred_client(fred_key)
    job = _Job(params, existing, tickers, download, ticker_factory, CallBudget(params.max_retries, sleep, rng), fred)
    with hide:
        return job.run()


class _Job:
    def __init__(self, params, existing, tickers, download, ticker_factory, budget, fred):
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

    # ------------------------------------------------------------------ orchestration

    def run(self) -> FetchResult:
        prices = self.fetch_prices()
        market = self.fetch_market()
        fundamentals, companies = self.fetch_fundamentals(set(prices["ticker"].unique()))
        macro = self.fetch_macro()
        tables = {
            PRICES.name: prices,
            COMPANIES.name: companies,
            FUNDAMENTALS.name: fundamentals,
            MARKET.name: market,
            MACRO.name: macro,
        }
        failed = sorted(t for t in self.tickers if t in self.failures)
        details, self.report = self.report, {}
        self.report.update(
            {
                "source": "yfinance",
                "start": self.params.start,
                "as_of": self.params.as_of,
                "tickers_requested": len(self.tickers),
                "tickers_ok": len(self.tickers) - len(failed),
                "tickers_failed": len(failed),
                "failed_tickers": failed,
                "tickers_with_prices": int(prices.loc[prices["ticker"].isin(self.tickers), "ticker"].nunique()),
                "http_calls": self.budget.http_calls,
                "http_calls_by_kind": dict(sorted(self.budget.calls.items())),
                "download_symbols": self.download_symbols,
                "retries": self.budget.retries,
                "backoff_s": round(self.budget.slept_s, 3),
                "rows": row_counts(tables),
                "fundamentals_coverage": fundamentals_coverage(fundamentals, self.tickers),
                **details,
            }
        )
        return FetchResult(tables=tables, report=self.report, failures=dict(self.failures))

    # ------------------------------------------------------------------ prices

    def fetch_prices(self) -> pd.DataFrame:
        stored = self._existing(PRICES)
        mode = "incremental" if len(stored) else "full"
        if len(stored) and stored["date"].min() > self.start + pd.Timedelta(days=OVERLAP_DAYS):
            stored, mode = stored.iloc[0:0], "full (data.start moved earlier than the stored prices)"
        last = stored.groupby("ticker")["date"].max() if len(stored) else pd.Series(dtype="datetime64[ns]")
        plan: dict[pd.Timestamp, list[str]] = {}
        up_to_date = []
        for ticker in self.tickers:
            if ticker in last.index and last[ticker] >= self.as_of:
                up_to_date.append(ticker)
                continue
            begin = max(self.start, last[ticker] - pd.Timedelta(days=OVERLAP_DAYS)) if ticker in last.index else self.start
            plan.setdefault(begin, []).append(ticker)
        batches = [
            (begin, group[i : i + self.params.batch_size])
            for begin, group in sorted(plan.items())
            for i in range(0, len(group), self.params.batch_size)
        ]
        received: dict[str, pd.DataFrame] = {}
        with tqdm(total=len(batches), desc="yfinance prices", unit="batch", file=sys.stderr, leave=False) as bar:
            for begin, batch in batches:
                parts, failed = self._download_batch(batch, begin, "download")
                received.update(parts)
                for ticker, reason in failed.items():
                    self._fail(ticker, "prices", reason)
                bar.update(1)
        attempted = sum(len(batch) for _, batch in batches)
        if attempted and not received:
            first = next(iter(self.failures.items()), ("?", "no reason given"))
            raise FetchError(
                f"yfinance returned no prices for any of {attempted} tickers ({first[0]}: {first[1]}); "
                "check the network connection and the ticker symbols, or retry later"
            )
        new = _long_prices(received)
        merged, rescaled = _merge_prices(stored, new)
        merged = clip_to_window(PRICES, merged, self.start, self.as_of)
        self.report.update(
            {
                "mode": mode,
                "price_requests": {str(begin.date()): len(group) for begin, group in sorted(plan.items())},
                "up_to_date_tickers": len(up_to_date),
                "new_price_rows": len(new),
                "rescaled_tickers": rescaled,
            }
        )
        return conform(merged, PRICES, "yfinance prices")

    def _download_batch(self, batch: list[str], begin: pd.Timestamp, kind: str) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
        """Download ``batch`` from ``begin`` to ``as_of``; retry only the symbols still missing."""
        pending = list(batch)
        got: dict[str, pd.DataFrame] = {}
        reasons: dict[str, str] = {}
        end = self.as_of + pd.Timedelta(days=1)  # yfinance's end is exclusive
        for attempt in range(self.params.max_retries + 1):
            self.budget.count(kind)
            self.download_symbols += len(pending)
            error: BaseException | None = None
            with _capture_yfinance_errors() as logged, warnings.catch_warnings():
                warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")  # its pandas deprecation noise
                try:
                    frame = self.download(
                        tickers=list(pending),
                        start=begin.strftime("%Y-%m-%d"),
                        end=end.strftime("%Y-%m-%d"),
                        auto_adjust=False,
                        actions=False,
                        group_by="ticker",
                        threads=True,
                        progress=False,
                        timeout=self.params.timeout_s,
                    )
                    parts = split_download(frame, pending)
                except Exception as exc:  # noqa: BLE001 - reported per ticker, retried below
                    error, parts = exc, {}
            rate_limited = False
            for ticker in pending:
                part = parts.get(ticker)
                if part is not None and len(part):
                    got[ticker] = part
                elif error is not None:
                    reasons[ticker] = describe(error)
                else:
                    note = logged.get(ticker)
                    rate_limited |= bool(note and re.search(r"rate.?limit|too many requests", note, re.I))
                    reasons[ticker] = f"no price rows for {begin.date()}..{self.as_of.date()}" + (
                        f" ({note})" if note else " (delisted, renamed or not a Yahoo symbol?)"
                    )
            pending = [t for t in pending if t not in got]
            if not pending or attempt >= self.params.max_retries:
                break
            if error is not None and is_permanent(error):
                break
            self.budget.wait(attempt, error, rate_limited)
        tries = attempt + 1
        return got, {t: f"{reasons[t]} (after {tries} tr{'y' if tries == 1 else 'ies'})" for t in pending}

    # ------------------------------------------------------------------ market

    def fetch_market(self) -> pd.DataFrame:
        stored = self._existing(MARKET)
        if len(stored) and stored["date"].min() > self.start + pd.Timedelta(days=OVERLAP_DAYS):
            stored = stored.iloc[0:0]
        if len(stored) and stored["date"].max() >= self.as_of:
            new = None
        else:
            begin = max(self.start, stored["date"].max() - pd.Timedelta(days=OVERLAP_DAYS)) if len(stored) else self.start
            parts, failed = self._download_batch(list(MARKET_SYMBOLS), begin, "download")
            for symbol, reason in failed.items():
                self._fail(symbol, "market", reason)
            new = _market_frame(parts) if parts else None
        merged = _merge_market(stored, new)
        merged = clip_to_window(MARKET, merged, self.start, self.as_of)
        return conform(merged, MARKET, "yfinance market")

    # ------------------------------------------------------------------ fundamentals and companies

    def fetch_fundamentals(self, priced: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        stored = self._existing(FUNDAMENTALS)
        stored_companies = self._existing(COMPANIES)
        latest = stored.groupby("ticker")["period_end"].max() if len(stored) else pd.Series(dtype="datetime64[ns]")
        stale_before = self.as_of - pd.Timedelta(days=FUNDAMENTALS_STALE_DAYS)
        known = set(stored_companies["ticker"])
        refresh = [
            t for t in self.tickers if t in priced and (t not in latest.index or latest[t] < stale_before or t not in known)
        ]
        rows, companies = [], []
        with tqdm(total=len(refresh), desc="yfinance fundamentals", unit="ticker", file=sys.stderr, leave=False) as bar:
            for ticker in refresh:
                fundamentals, company = self._fetch_one(ticker)
                if fundamentals is not None:
                    rows.append(fundamentals)
                if company is not None:
                    companies.append(company)
                elif ticker not in known:
                    companies.append({"ticker": ticker, "name": ticker, "sector": UNKNOWN, "industry": UNKNOWN})
                bar.update(1)
        new = pd.concat(rows, ignore_index=True) if rows else None
        merged = clip_to_window(FUNDAMENTALS, merge_keyed(stored, new, FUNDAMENTALS), self.start, self.as_of)
        company_frame = pd.DataFrame(companies, columns=list(COMPANIES.columns), dtype=object) if companies else None
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
            company = _company_row(ticker, info)
        elif info is not None:  # an error page or a changed API: labels fall back to Unknown
            self._fail(ticker, "company info", f"malformed answer ({type(info).__name__}, not a mapping)")
        statements, statement_failed = [], False
        for attribute in STATEMENTS:
            frame, error = self.budget.call("statement", read(attribute))
            error = error or statement_problem(frame)
            if error:
                statement_failed = True
                self._fail(ticker, attribute.replace("_", " "), error)
                frame = None
            statements.append(frame if isinstance(frame, pd.DataFrame) else None)
        fundamentals = statements_to_fundamentals(ticker, *statements)
        if fundamentals.empty:
            if not statement_failed:
                self._fail(ticker, "fundamentals", "Yahoo returned no quarterly statements")
            return None, company
        earnings, error = self.budget.call(
            "earnings_dates", lambda: self.ticker_factory(ticker).get_earnings_dates(limit=EARNINGS_DATES_LIMIT)
        )
        error = error or earnings_problem(earnings)
        if error:  # not fatal: report_date falls back to period_end + report_lag_days
            self.report.setdefault("earnings_dates_failed", {})[ticker] = error
        fundamentals["report_date"] = report_dates(fundamentals["period_end"], earnings, self.params.report_lag_days)
        return fundamentals, company

    # ------------------------------------------------------------------ macro

    def fetch_macro(self) -> pd.DataFrame:
        if not self.params.fred_macro:
            self.report["macro"] = "disabled (data.fred_macro: false)"
            return empty_table(MACRO)
        frames = []
        begin = self.start - pd.DateOffset(months=13)  # a year of history for year-on-year inflation
        for series, (fred_id, transform, lag, freq) in FRED_SERIES.items():
            values, error = self.budget.call(
                "fred",
                lambda fred_id=fred_id: self.fred.get_series(
                    fred_id, observation_start=begin.strftime("%Y-%m-%d"), observation_end=self.params.as_of
                ),
            )
            if error:
                self._fail(f"FRED:{fred_id}", series, error)
                continue
            frames.append(_fred_frame(series, values, transform, lag, freq))
        self.report["macro"] = "fred"
        macro = merge_keyed(None, pd.concat(frames, ignore_index=True) if frames else None, MACRO)
        return conform(clip_to_window(MACRO, macro, self.start, self.as_of), MACRO, "FRED macro")

    # ------------------------------------------------------------------ helpers

    def _existing(self, table) -> pd.DataFrame:
        frame = self.existing.get(table.name)
        if frame is None or frame.empty:
            return empty_table(table)
        return conform(frame, table, f"stored {table.name} table")

    def _fail(self, ticker: str, what: str, reason: str) -> None:
        text = f"{what}: {reason}"
        self.failures[ticker] = f"{self.failures[ticker]}; {text}" if ticker in self.failures else text


# ---------------------------------------------------------------------------- download frames


def split_download(frame: pd.DataFrame | None, requested: list[str]) -> dict[str, pd.DataFrame]:
    """Per-ticker price frames (date + schema price columns) from a ``yf.download`` result.

    Handles the MultiIndex column orders (Price, Ticker) of ``group_by='column'`` and
    (Ticker, Price) of ``group_by='ticker'``, flat columns for a single ticker,
    tz-aware indexes (the exchange's local date is kept), duplicated index rows (the
    last wins) and the all-NaN columns yfinance leaves for a ticker that failed. A
    ticker absent from the result is absent from the output.
    """
    if frame is None or not isinstance(frame, pd.DataFrame) or frame.empty:
        return {}
    by_upper = {t.upper(): t for t in requested}
    columns = frame.columns
    parts: dict[str, pd.DataFrame] = {}
    if isinstance(columns, pd.MultiIndex):
        if columns.nlevels != 2:
            raise ValueError(f"unexpected {columns.nlevels}-level columns from yfinance.download")
        hits = []
        for level in (0, 1):
            values = columns.get_level_values(level).unique()
            hits.append(sum(str(v) in _PRICE_LEVEL_NAMES for v in values) / max(len(values), 1))
        price_level = 0 if hits[0] >= hits[1] else 1
        ticker_level = 1 - price_level
        for symbol in dict.fromkeys(columns.get_level_values(ticker_level)):
            ticker = by_upper.get(str(symbol).upper())
            if ticker is not None:
                parts[ticker] = frame.xs(symbol, axis=1, level=ticker_level)
    elif len(requested) == 1 and "Close" in columns:
        parts[requested[0]] = frame
    else:
        raise ValueError("yfinance.download returned flat columns for several tickers; expected a MultiIndex")
    out = {}
    for ticker, part in parts.items():
        clean = _clean_prices(part)
        if len(clean):
            out[ticker] = clean
    return out


def _clean_prices(part: pd.DataFrame) -> pd.DataFrame:
    part = part.loc[:, ~part.columns.duplicated()]
    if "Close" not in part.columns:
        return pd.DataFrame(columns=["date", *PRICE_COLUMNS.values()])
    out = pd.DataFrame(index=range(len(part)))
    out["date"] = _local_dates(part.index)
    for yahoo, column in PRICE_COLUMNS.items():
        source = yahoo if yahoo in part.columns else ("Close" if yahoo == "Adj Close" else None)
        out[column] = pd.to_numeric(part[source], errors="coerce").to_numpy(dtype="float64") if source else np.nan
    prices = out[["open", "high", "low", "close", "adj_close"]]
    out = out[out["date"].notna() & prices.notna().any(axis=1) & out[["close", "adj_close"]].notna().any(axis=1)]
    out = out.drop_duplicates("date", keep="last").sort_values("date", kind="mergesort")
    return out.reset_index(drop=True)


def _local_dates(index: pd.Index) -> np.ndarray:
    dates = pd.DatetimeIndex(pd.to_datetime(index))
    if dates.tz is not None:
        dates = dates.tz_localize(None)  # a daily bar's wall-clock date in the exchange's time zone
    return dates.normalize().to_numpy(dtype="datetime64[ns]")


def _long_prices(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return empty_table(PRICES)
    frames = [part.assign(ticker=ticker) for ticker, part in parts.items()]
    return conform(pd.concat(frames, ignore_index=True), PRICES, "yfinance prices")


def _merge_prices(stored: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Stored rows plus new ones (new win); stored history rescaled where Yahoo re-adjusted it."""
    if stored.empty or new.empty:
        return merge_keyed(stored, new, PRICES), []
    old_by_ticker = dict(tuple(stored.groupby("ticker", sort=False)))
    rescaled = []
    adjusted = []
    for ticker, fresh in new.groupby("ticker", sort=False):
        old = old_by_ticker.pop(ticker, None)
        if old is None:
            continue
        overlap = old.merge(fresh, on="date", suffixes=("_old", "_new"))
        close = _ratio(overlap["close_new"], overlap["close_old"])
        adj = _ratio(overlap["adj_close_new"], overlap["adj_close_old"])
        changed = False
        old = old.copy()
        if close is not None and abs(close - 1) > RESCALE_TOLERANCE:  # a split: Yahoo's Close is split-adjusted
            old[["open", "high", "low", "close"]] *= close
            old["volume"] /= close
            changed = True
        if adj is not None and abs(adj - 1) > RESCALE_TOLERANCE:  # a dividend (or split) changes Adj Close
            old["adj_close"] *= adj
            changed = True
        if changed:
            rescaled.append(str(ticker))
        adjusted.append(old)
    rest = list(old_by_ticker.values())
    base = pd.concat(adjusted + rest, ignore_index=True) if adjusted or rest else None
    return merge_keyed(base, new, PRICES), sorted(rescaled)


def _ratio(new: pd.Series, old: pd.Series) -> float | None:
    ratio = (new / old).replace([np.inf, -np.inf], np.nan).dropna()
    ratio = ratio[ratio > 0]
    return float(ratio.median()) if len(ratio) else None


def _market_frame(parts: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    series = {
        MARKET_SYMBOLS[symbol]: part.set_index("date")["close"].dropna()
        for symbol, part in parts.items()
        if symbol in MARKET_SYMBOLS
    }
    series = {k: v for k, v in series.items() if len(v)}
    if not series:
        return None
    if "index_close" in series:
        calendar = series["index_close"].index
    else:
        calendar = pd.DatetimeIndex(sorted(set().union(*(s.index for s in series.values()))))
    out = pd.DataFrame({"date": calendar})
    for column in MARKET_SYMBOLS.values():
        s = series.get(column)
        if s is None:
            out[column] = np.nan
            continue
        union = s.reindex(calendar.union(s.index))
        out[column] = _bounded_ffill(union).reindex(calendar).to_numpy()
    return out


def _bounded_ffill(s: pd.Series) -> pd.Series:
    """Forward-fill at most MARKET_FFILL_LIMIT rows, only between the first and last observation."""
    valid = s.dropna()
    if valid.empty:
        return s
    filled = s.ffill(limit=MARKET_FFILL_LIMIT)
    filled[filled.index > valid.index[-1]] = np.nan
    return filled


def _merge_market(stored: pd.DataFrame, new: pd.DataFrame | None) -> pd.DataFrame:
    if new is None or new.empty:
        return merge_keyed(stored, None, MARKET)
    if stored.empty:
        return merge_keyed(None, new, MARKET)
    merged = merge_keyed(stored, new, MARKET).set_index("date")
    fresh = merged.index.isin(pd.DatetimeIndex(new["date"]))
    for column in MARKET_SYMBOLS.values():  # fill a gap at the start of the new range from the stored rows
        filled = _bounded_ffill(merged[column])
        merged.loc[fresh, column] = filled[fresh]
    return merged.reset_index()


# ---------------------------------------------------------------------------- statements


def statements_to_fundamentals(
    ticker: str,
    income: pd.DataFrame | None,
    balance: pd.DataFrame | None,
    cashflow: pd.DataFrame | None,
) -> pd.DataFrame:
    """One row per quarter (ticker, period_end, schema fields) from Yahoo's statement frames.

    Each frame has line items as rows and period-end Timestamps as columns (newest
    first). Quarters with no mapped value at all are dropped; report_date is left out.
    """
    frames = [_clean_statement(frame) for frame in (income, balance, cashflow)]
    frames = [frame for frame in frames if frame is not None]
    periods = pd.DatetimeIndex(sorted(set().union(*(frame.columns for frame in frames)))) if frames else pd.DatetimeIndex([])
    out = pd.DataFrame({"period_end": periods})
    for column, items in LINE_ITEMS.items():
        value = pd.Series(np.nan, index=periods)
        for item in items:
            for frame in frames:
                if item in frame.index:
                    value = value.fillna(frame.loc[item].reindex(periods))
        out[column] = value.to_numpy()
    capex = pd.Series(np.nan, index=periods)
    for frame in frames:
        if "Capital Expenditure" in frame.index:
            capex = capex.fillna(frame.loc["Capital Expenditure"].reindex(periods))
    out["free_cash_flow"] = out["free_cash_flow"].fillna(out["operating_cash_flow"] + capex.to_numpy())
    out = out[out[list(FUNDAMENTAL_FIELDS)].notna().any(axis=1)].reset_index(drop=True)
    out.insert(0, "ticker", ticker)
    out["ticker"] = out["ticker"].astype(object)
    return out


def _table_problem(answer: Any, usable: Callable[[pd.DataFrame], bool], lacking: str) -> str | None:
    """Why a table answer is unusable; None when usable or simply empty (as for a young company)."""
    if answer is None or (isinstance(answer, pd.DataFrame) and answer.empty):
        return None
    if not isinstance(answer, pd.DataFrame):
        return f"malformed answer ({type(answer).__name__}, not a table)"
    return None if usable(answer) else f"malformed answer ({lacking})"


def statement_problem(frame: Any) -> str | None:
    def has_numbers(table: pd.DataFrame) -> bool:
        cleaned = _clean_statement(table)
        return cleaned is not None and bool(cleaned.notna().to_numpy().any())

    return _table_problem(frame, has_numbers, "no numeric values under period-end dates")


def earnings_problem(earnings: Any) -> str | None:
    return _table_problem(earnings, lambda table: not _announcement_dates(table).empty, "no dates in its index")


def _clean_statement(frame: Any) -> pd.DataFrame | None:
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        return None
    frame = frame[~frame.index.duplicated(keep="first")]
    columns = pd.to_datetime(pd.Index(frame.columns), errors="coerce")
    if getattr(columns, "tz", None) is not None:
        columns = columns.tz_localize(None)
    frame = frame.loc[:, ~pd.isna(columns)]
    columns = columns[~pd.isna(columns)].normalize()
    frame = frame.set_axis(columns, axis=1)
    frame = frame.loc[:, ~frame.columns.duplicated(keep="first")]
    frame = frame.apply(pd.to_numeric, errors="coerce").astype("float64")
    frame.index = frame.index.map(str)
    return frame


def report_dates(period_ends: pd.Series, earnings: Any, lag_days: int) -> np.ndarray:
    """First earnings announcement within EARNINGS_WINDOW_DAYS after each period end, else period_end + lag."""
    ends = pd.DatetimeIndex(pd.to_datetime(period_ends))
    fallback = ends + pd.Timedelta(days=lag_days)
    dates = _announcement_dates(earnings)
    if dates.empty:
        return fallback.to_numpy(dtype="datetime64[ns]")
    positions = dates.searchsorted(ends, side="right")
    out = []
    for end, position, default in zip(ends, positions, fallback, strict=True):
        if position < len(dates) and dates[position] <= end + pd.Timedelta(days=EARNINGS_WINDOW_DAYS):
            out.append(dates[position])
        else:
            out.append(default)
    return pd.DatetimeIndex(out).to_numpy(dtype="datetime64[ns]")


def _announcement_dates(earnings: Any) -> pd.DatetimeIndex:
    """Dates from which each announcement is public; after-close ones count from the next day."""
    if not isinstance(earnings, pd.DataFrame) or earnings.empty:
        return pd.DatetimeIndex([])
    try:
        stamps = pd.DatetimeIndex(pd.to_datetime(earnings.index))
    except (TypeError, ValueError):
        return pd.DatetimeIndex([])
    stamps = stamps[~stamps.isna()]
    if stamps.tz is not None:
        stamps = stamps.tz_convert(EXCHANGE_TZ).tz_localize(None)
    after_close = stamps.hour >= AFTER_CLOSE_HOUR
    days = stamps.normalize() + pd.to_timedelta(after_close.astype(int), unit="D")
    return pd.DatetimeIndex(sorted(set(days)))


def _company_row(ticker: str, info: dict[str, Any]) -> dict[str, str]:
    """Static labels only: name, sector, industry. Numeric info fields are never read."""

    def label(*keys: str) -> str | None:
        for key in keys:
            value = info.get(key)
            if isinstance(value, str) and value.strip():
                return " ".join(value.split())
        return None

    sector = label("sector")
    return {
        "ticker": ticker,
        "name": label("longName", "shortName") or ticker,
        "sector": SECTOR_TO_GICS.get(sector, sector) if sector else UNKNOWN,
        "industry": label("industry") or UNKNOWN,
    }


# ---------------------------------------------------------------------------- FRED


def _fred_client(api_key: str) -> Any:
    try:
        from fredapi import Fred
    except ImportError:
        raise ConfigError(
            "data.fred_macro is true but the fredapi package is not installed; run `pip install fredapi` "
            "or set data.fred_macro: false"
        ) from None
    return Fred(api_key=api_key)


def _fred_frame(series: str, values: Any, transform: str, lag: int, freq: str) -> pd.DataFrame:
    s = pd.Series(values, dtype="float64") if not isinstance(values, pd.Series) else values.astype("float64")
    s.index = pd.DatetimeIndex(pd.to_datetime(s.index)).normalize()
    s = s[~s.index.duplicated(keep="last")].sort_index().dropna()
    if transform == "yoy":
        year_ago = s.copy()
        year_ago.index = year_ago.index + pd.DateOffset(years=1)
        s = (100.0 * (s / year_ago.reindex(s.index) - 1.0)).dropna()
    period_end = s.index.to_period(freq).to_timestamp(how="end").normalize()
    return pd.DataFrame(
        {
            "series": pd.Series([series] * len(s), dtype=object),
            "period_end": period_end,
            "release_date": period_end + pd.Timedelta(days=lag),
            "value": s.to_numpy(),
        }
    )


# ---------------------------------------------------------------------------- yfinance plumbing


@contextlib.contextmanager
def _yfinance_raises(yf: Any) -> Iterator[None]:
    """Make yfinance raise errors instead of logging them and returning empty frames, so they can be retried."""
    config = getattr(yf, "config", None)
    debug = getattr(config, "debug", None)
    if debug is None:
        yield
        return
    previous = debug.hide_exceptions
    debug.hide_exceptions = False
    try:
        yield
    finally:
        debug.hide_exceptions = previous


class _ErrorLog(logging.Handler):
    """Collects yfinance's per-symbol download errors ("['AAPL', 'X']: YFRateLimitError(...)")."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.by_symbol: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed log record must not break the fetch
            return
        match = re.match(r"\s*(\[[^\]]*\]):\s*(.+)", message, re.S)
        if not match:
            return
        try:
            symbols = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            return
        text = " ".join(match.group(2).split())[:160]
        for symbol in symbols:
            self.by_symbol.setdefault(str(symbol).upper(), text)

    def get(self, ticker: str) -> str | None:
        return self.by_symbol.get(ticker.upper())


@contextlib.contextmanager
def _capture_yfinance_errors() -> Iterator[_ErrorLog]:
    handler = _ErrorLog()
    logger = logging.getLogger("yfinance")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
