"""The ``fetch_log`` bookkeeping shared by the services a refresh asks again (Yahoo, SEC EDGAR).

``fetch_log`` (``invest.data.schema.FETCH_LOG``) holds, per (ticker, kind), the ``data.start``
and ``data.as_of`` of the last request that had an answer and the latest date found then. It is
dated by ``as_of``, never by the wall clock, so the same inputs write the same bytes. A service
reads the rows of its own kinds (``RefreshLog``), records this run's requests, decides with its
own rules what is due, and writes its rows back (``as_table``). ``yahoo/schedule.py`` and
``sec_schedule.py`` hold those rules; the one they share, for quarterly reports, is
``RefreshLog.period_skip``:

* asked at this ``as_of`` (or a later one): not again;
* nothing found then: asked again a quarter later (``QUARTER_DAYS``);
* a new period cannot have ended yet (``as_of`` before ``latest`` + the shortest period): not yet;
* otherwise asked on every new ``as_of`` until the new period appears, for as long as its report
  can be on time (until ``latest`` + its overdue days); later, once a quarter.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import pandas as pd

from invest.data.schema import FETCH_LOG, conform
from invest.data.sources.base import empty_table

QUARTER_DAYS = 92  # the longest calendar quarter: by then anything due once a quarter is due
LONGEST_QUARTER_DAYS = 98  # a 14-week quarter of a 53-week fiscal year

ASKED_AT_THIS_AS_OF = "already asked at this data.as_of or a later one"


@dataclass(frozen=True)
class Entry:
    start: pd.Timestamp
    as_of: pd.Timestamp
    latest: pd.Timestamp | None


@dataclass(frozen=True)
class Reasons:
    """A service's words for why a ticker is not asked again (reported per reason)."""

    no_new_period: str
    none_found_recently: str
    overdue_asked_recently: str


class RefreshLog:
    """The stored rows of some kinds of ``fetch_log``, the requests of this run (at ``start``..``as_of``), the rows to write."""

    def __init__(self, stored: pd.DataFrame | None, kinds: Collection[str], start: pd.Timestamp, as_of: pd.Timestamp):
        self.start, self.as_of = start, as_of
        self.entries: dict[tuple[str, str], Entry] = {}
        if stored is None or stored.empty:
            return
        stored = conform(stored, FETCH_LOG, "stored fetch_log table")
        for ticker, kind, start_, as_of_, latest in stored.itertuples(index=False, name=None):
            if kind in kinds:
                self.entries[(ticker, kind)] = Entry(start_, as_of_, None if pd.isna(latest) else latest)

    def get(self, ticker: str, kind: str) -> Entry | None:
        return self.entries.get((ticker, kind))

    def record(self, ticker: str, kind: str) -> None:
        """A request of this run that had an answer; its ``latest`` is read when the table is written."""
        self.entries[(ticker, kind)] = Entry(self.start, self.as_of, None)

    def forget(self, ticker: str, kind: str) -> None:
        self.entries.pop((ticker, kind), None)

    def forget_kind(self, kind: str) -> None:
        """Drop every row of ``kind`` (its table no longer holds what the service said)."""
        self.entries = {key: entry for key, entry in self.entries.items() if key[1] != kind}

    def quarter_passed(self, entry: Entry) -> bool:
        """Whether ``as_of`` is a quarter or more after the logged request."""
        return self.as_of >= entry.as_of + pd.Timedelta(days=QUARTER_DAYS)

    def period_skip(self, entry: Entry, next_period_days: int, overdue_days: int, reasons: Reasons) -> str | None:
        """Why quarterly reports logged in ``entry`` need not be asked for at this as_of; None when they must be."""
        if self.as_of <= entry.as_of:
            return ASKED_AT_THIS_AS_OF
        a_quarter_later = self.quarter_passed(entry)
        if entry.latest is None:
            return None if a_quarter_later else reasons.none_found_recently
        if self.as_of < entry.latest + pd.Timedelta(days=next_period_days):
            return reasons.no_new_period
        if entry.as_of < entry.latest + pd.Timedelta(days=overdue_days) or a_quarter_later:
            return None
        return reasons.overdue_asked_recently

    def as_table(self, latest: Mapping[tuple[str, str], pd.Timestamp], tickers: Collection[str] | None = None) -> pd.DataFrame:
        """The rows as written (of ``tickers``, or all): windows narrowed to this run's, ``latest`` by (ticker, kind)."""
        rows = [
            {
                "ticker": ticker,
                "kind": kind,
                "start": max(entry.start, self.start),  # rows before data.start were cut
                "as_of": min(entry.as_of, self.as_of),  # rows after data.as_of were cut
                "latest": latest.get((ticker, kind), pd.NaT),
            }
            for (ticker, kind), entry in self.entries.items()
            if tickers is None or ticker in tickers
        ]
        return conform(pd.DataFrame(rows), FETCH_LOG, "fetch_log table") if rows else empty_table(FETCH_LOG)
