"""When to ask SEC EDGAR again: the SEC's rows of the ``fetch_log`` table and the rules that read them.

The state of the SEC fundamentals is kept in the raw data like the yfinance source's, in
``fetch_log`` (``invest.data.schema.FETCH_LOG``), dated by ``data.as_of`` and never by the wall
clock, so that the same inputs write the same bytes. Two kinds of rows per ticker:

* ``sec_facts``: the ``data.as_of`` of the last ``companyfacts`` request that had an answer
  (the facts, a 404 or "unknown ticker"; not an error) and ``latest``, the last quarter end of the
  ticker's fundamentals then (empty when SEC had none);
* ``sec_company``: the ``data.as_of`` of the last request for its name and SIC code.

A ticker's facts are asked for at ``as_of`` when it has no row (never asked, or the last request
failed), when its stored vintages are gone, or when ``as_of`` is later than the logged one and

* it had fundamentals: a new period can have ended, ``as_of >= latest + NEXT_PERIOD_DAYS``
  (80 days: the shortest quarter; a restatement of an old period cannot change a first-filed
  value). It is then asked on every new ``as_of`` until the new period appears; once that
  report is overdue (``latest + OVERDUE_DAYS``: a long quarter plus the latest a 10-K may be
  filed), only once a quarter (a company that stopped filing is not asked daily for ever);
* it had none (no XBRL facts, a ticker SEC does not know): ``as_of >= logged + RECHECK_DAYS``.

Company profiles are asked once a quarter. A filing dated ``as_of`` that SEC publishes later on
that day is missed by a run on that day; it is picked up when the ticker is next asked (a new
period keeps it due until its report is in).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from invest.data.schema import FETCH_LOG, conform
from invest.data.sources.base import empty_table

FACTS, COMPANY = "sec_facts", "sec_company"
KINDS = (FACTS, COMPANY)
NEXT_PERIOD_DAYS = 80  # no new period can end sooner than this after the latest one (13-week quarters are 91 days)
OVERDUE_DAYS = 98 + 105  # a 14-week quarter, then a 10-K's 90 days plus the 15 days of a late-filing notice
RECHECK_DAYS = 92  # the longest calendar quarter: companies without facts, and profiles, are asked again after it

ASKED_AT_THIS_AS_OF = "already asked at this data.as_of or a later one"
NO_NEW_PERIOD = "no period after the latest one found can have ended yet"
NONE_FOUND_RECENTLY = "no fundamentals at the last request, less than a quarter ago"
OVERDUE_ASKED_RECENTLY = "the next report is overdue: asked again once a quarter"


@dataclass(frozen=True)
class Entry:
    start: pd.Timestamp
    as_of: pd.Timestamp
    latest: pd.Timestamp | None


class SecLog:
    """The stored SEC rows of ``fetch_log``, the requests of this run, and the rows to write back."""

    def __init__(self, stored: pd.DataFrame | None, start: pd.Timestamp, as_of: pd.Timestamp):
        self.start, self.as_of = start, as_of
        self.entries: dict[tuple[str, str], Entry] = {}
        if stored is None or stored.empty:
            return
        stored = conform(stored, FETCH_LOG, "stored fetch_log table")
        for ticker, kind, start_, as_of_, latest in stored.itertuples(index=False, name=None):
            if kind in KINDS:
                self.entries[(ticker, kind)] = Entry(start_, as_of_, None if pd.isna(latest) else latest)

    def get(self, ticker: str, kind: str) -> Entry | None:
        return self.entries.get((ticker, kind))

    def record(self, ticker: str, kind: str) -> None:
        """A request of this run that had an answer; ``latest`` is read from the fundamentals in ``table``."""
        self.entries[(ticker, kind)] = Entry(self.start, self.as_of, None)

    def forget(self, kind: str) -> None:
        """Drop every row of ``kind`` (its table no longer holds what the SEC said)."""
        self.entries = {key: entry for key, entry in self.entries.items() if key[1] != kind}

    def facts_skip(self, ticker: str, have_vintages: bool) -> str | None:
        """Why a ticker's facts need not be asked for at this as_of; None when they must be."""
        entry = self.get(ticker, FACTS)
        if entry is None or (entry.latest is not None and not have_vintages):
            return None
        if self.as_of <= entry.as_of:
            return ASKED_AT_THIS_AS_OF
        a_quarter_later = self.as_of >= entry.as_of + pd.Timedelta(days=RECHECK_DAYS)
        if entry.latest is None:
            return None if a_quarter_later else NONE_FOUND_RECENTLY
        if self.as_of < entry.latest + pd.Timedelta(days=NEXT_PERIOD_DAYS):
            return NO_NEW_PERIOD
        if entry.as_of < entry.latest + pd.Timedelta(days=OVERDUE_DAYS) or a_quarter_later:
            return None
        return OVERDUE_ASKED_RECENTLY

    def company_due(self, ticker: str) -> bool:
        """Whether to ask for a ticker's name and SIC code: never asked, or a quarter ago."""
        entry = self.get(ticker, COMPANY)
        return entry is None or self.as_of >= entry.as_of + pd.Timedelta(days=RECHECK_DAYS)

    def table(self, tickers: list[str], fundamentals: pd.DataFrame) -> pd.DataFrame:
        """The SEC's log rows of ``tickers`` as written: windows narrowed to this run's, latest read from ``fundamentals``."""
        latest = fundamentals.groupby("ticker")["period_end"].max()
        wanted = set(tickers)
        rows = [
            {
                "ticker": ticker,
                "kind": kind,
                "start": max(entry.start, self.start),
                "as_of": min(entry.as_of, self.as_of),  # rows filed after data.as_of were cut
                "latest": latest.get(ticker, pd.NaT) if kind == FACTS else pd.NaT,
            }
            for (ticker, kind), entry in self.entries.items()
            if ticker in wanted
        ]
        return conform(pd.DataFrame(rows), FETCH_LOG, "fetch_log table") if rows else empty_table(FETCH_LOG)
