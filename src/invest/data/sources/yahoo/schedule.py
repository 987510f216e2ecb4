"""When to ask Yahoo again: the ``fetch_log`` bookkeeping table and the rules that read it.

The log holds, per (ticker, kind), the ``data.start`` and ``data.as_of`` of the last request that
succeeded and the latest date found (``invest.data.schema.FETCH_LOG``). Everything is dated by
``as_of``, never by the wall clock, so the same inputs write the same bytes.

* **prices**: fetched again from (last stored date - overlap) unless the last request already had
  this ``as_of``; in full when ``data.start`` moved before the logged start.
* **market**: downloaded whole unless the last download had exactly this ``start`` and ``as_of``.
* **statements**: asked only when a quarter newer than the latest one found can be public by
  ``as_of``: its period ends at least ``MIN_QUARTER_DAYS`` after the latest one (12-week fiscal
  quarters exist), and it is then asked on every refresh until it appears, for as long as a report
  can be on time (``OVERDUE_DAYS``); later, and for a ticker Yahoo has no statements for, once a
  quarter (``QUARTER_DAYS`` after the last request).
* **info** (company labels): once a quarter.

Rows of a kind whose table is not stored are ignored (the log describes stored rows), and without
any log (raw data written before it existed) statements are due when none are stored or the latest
stored quarter is old enough for a newer one to exist, and labels when a ticker has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from invest.data.schema import COMPANIES, FETCH_LOG, FUNDAMENTALS, MARKET, PRICES, conform
from invest.data.sources.base import empty_table
from invest.data.sources.yahoo.statements import EARNINGS_WINDOW_DAYS

QUARTER_DAYS = 92  # the longest calendar quarter: by then anything due once a quarter is due
MIN_QUARTER_DAYS = 84  # the shortest fiscal quarter (12 weeks, as in 4-4-5 and 12-12-12-16 calendars)
LONGEST_QUARTER_DAYS = 98  # a 14-week quarter of a 53-week fiscal year
OVERDUE_DAYS = LONGEST_QUARTER_DAYS + EARNINGS_WINDOW_DAYS  # after this the next report is late, not pending

TABLE_OF_KIND = {"prices": PRICES.name, "market": MARKET.name, "statements": FUNDAMENTALS.name, "info": COMPANIES.name}

ASKED_AT_THIS_AS_OF = "already asked at this data.as_of or a later one"
NO_NEW_QUARTER = "no quarter after the latest one found can have ended yet"
NONE_FOUND_RECENTLY = "none found at the last request, less than a quarter ago"
OVERDUE_ASKED_RECENTLY = "the next quarter is overdue: asked again once a quarter"


@dataclass(frozen=True)
class Entry:
    start: pd.Timestamp
    as_of: pd.Timestamp
    latest: pd.Timestamp | None


class FetchLog:
    """The stored log, the requests of this run (at ``start``..``as_of``), and the table to write back."""

    def __init__(self, existing: dict[str, pd.DataFrame], start: pd.Timestamp, as_of: pd.Timestamp):
        self.start, self.as_of = start, as_of
        self.entries: dict[tuple[str, str], Entry] = {}
        stored = existing.get(FETCH_LOG.name)
        self.legacy = stored is None or stored.empty  # raw data from before the log: judged by the stored rows
        if self.legacy:
            return
        stored = conform(stored, FETCH_LOG, "stored fetch_log table")
        present = {kind for kind, table in TABLE_OF_KIND.items() if table in existing and len(existing[table])}
        for ticker, kind, start_, as_of_, latest in stored.itertuples(index=False, name=None):
            if kind in present:
                self.entries[(ticker, kind)] = Entry(start_, as_of_, None if pd.isna(latest) else latest)

    def get(self, ticker: str, kind: str) -> Entry | None:
        return self.entries.get((ticker, kind))

    def record(self, ticker: str, kind: str) -> None:
        """A request of this run that succeeded; its ``latest`` is read from the tables in ``table``."""
        self.entries[(ticker, kind)] = Entry(self.start, self.as_of, None)

    def forget(self, ticker: str, kind: str) -> None:
        self.entries.pop((ticker, kind), None)

    def forget_kind(self, kind: str) -> None:
        self.entries = {key: entry for key, entry in self.entries.items() if key[1] != kind}

    def statements_skip(self, ticker: str, stored_latest: pd.Timestamp | None) -> str | None:
        """Why a ticker's statements need not be asked for at this as_of; None when they must be."""
        entry = self.get(ticker, "statements")
        if entry is None:
            if self.legacy and stored_latest is not None and self.as_of < stored_latest + pd.Timedelta(days=MIN_QUARTER_DAYS):
                return NO_NEW_QUARTER
            return None  # never asked, or the last request failed
        if self.start < entry.start:
            return None  # older quarters may now be in the window
        if self.as_of <= entry.as_of:
            return ASKED_AT_THIS_AS_OF
        a_quarter_later = self.as_of >= entry.as_of + pd.Timedelta(days=QUARTER_DAYS)
        if entry.latest is None:
            return None if a_quarter_later else NONE_FOUND_RECENTLY
        if self.as_of < entry.latest + pd.Timedelta(days=MIN_QUARTER_DAYS):
            return NO_NEW_QUARTER
        if entry.as_of < entry.latest + pd.Timedelta(days=OVERDUE_DAYS) or a_quarter_later:
            return None
        return OVERDUE_ASKED_RECENTLY

    def info_due(self, ticker: str, has_label: bool, statements_due: bool) -> bool:
        """Whether to ask for a ticker's labels: once a quarter (without a log: when it has none, or with its statements)."""
        entry = self.get(ticker, "info")
        if entry is None:
            return not self.legacy or not has_label or statements_due
        return self.as_of >= entry.as_of + pd.Timedelta(days=QUARTER_DAYS)

    def table(self, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """The log as written: windows narrowed to what the tables keep, latest dates read from them."""
        latest = _latest_dates(tables)
        rows = [
            {
                "ticker": ticker,
                "kind": kind,
                "start": max(entry.start, self.start),  # rows before data.start were cut
                "as_of": min(entry.as_of, self.as_of),  # rows after data.as_of were cut
                "latest": latest.get((ticker, kind), pd.NaT),
            }
            for (ticker, kind), entry in self.entries.items()
        ]
        return conform(pd.DataFrame(rows), FETCH_LOG, "fetch_log table") if rows else empty_table(FETCH_LOG)


def _latest_dates(tables: dict[str, pd.DataFrame]) -> dict[tuple[str, str], pd.Timestamp]:
    from invest.data.sources.yahoo.market import MARKET_SYMBOLS  # market imports nothing of this module

    latest: dict[tuple[str, str], pd.Timestamp] = {}
    for ticker, day in tables[PRICES.name].groupby("ticker")["date"].max().items():
        latest[(ticker, "prices")] = day
    for ticker, end in tables[FUNDAMENTALS.name].groupby("ticker")["period_end"].max().items():
        latest[(ticker, "statements")] = end
    market = tables[MARKET.name]
    for symbol, column in MARKET_SYMBOLS.items():
        observed = market.loc[market[column].notna(), "date"]
        if len(observed):
            latest[(symbol, "market")] = observed.max()
    return latest
