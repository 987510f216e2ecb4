"""When to ask Yahoo again: the ``fetch_log`` bookkeeping table and the rules that read it.

The bookkeeping (reading, recording and writing rows; the rule for quarterly reports) is
``invest.data.sources.refresh_log``'s, shared with the SEC; the kinds, periods and words here are
Yahoo's. The log holds, per (ticker, kind), the ``data.start`` and ``data.as_of`` of the last request that
succeeded and the latest date found (``invest.data.schema.FETCH_LOG``). Everything is dated by
``as_of``, never by the wall clock, so the same inputs write the same bytes.

* **prices**: fetched again from (last stored date - overlap) unless the last request already had
  this ``as_of``; in full when ``data.start`` moved before the logged start.
* **market**: downloaded whole unless the last download had exactly this ``start`` and ``as_of``.
* **statements**: asked only when a quarter newer than the latest one found can be public by
  ``as_of``: its period ends at least ``MIN_QUARTER_DAYS`` after the latest one (12-week fiscal
  quarters exist), and it is then asked on every refresh until it appears, for as long as a report
  can be on time (``OVERDUE_DAYS``); later, and for a ticker Yahoo has no statements for, once a
  quarter (``refresh_log.QUARTER_DAYS`` after the last request).
* **info** (company labels): once a quarter.

Rows of a kind whose table is not stored are ignored (the log describes stored rows), and without
any log (raw data written before it existed) statements are due when none are stored or the latest
stored quarter is old enough for a newer one to exist, and labels when a ticker has none.
"""

from __future__ import annotations

import pandas as pd

from invest.data.schema import COMPANIES, FETCH_LOG, FUNDAMENTALS, MARKET, PRICES
from invest.data.sources.refresh_log import LONGEST_QUARTER_DAYS, Reasons, RefreshLog
from invest.data.sources.yahoo.statements import EARNINGS_WINDOW_DAYS

MIN_QUARTER_DAYS = 84  # the shortest fiscal quarter (12 weeks, as in 4-4-5 and 12-12-12-16 calendars)
OVERDUE_DAYS = LONGEST_QUARTER_DAYS + EARNINGS_WINDOW_DAYS  # after this the next report is late, not pending

TABLE_OF_KIND = {"prices": PRICES.name, "market": MARKET.name, "statements": FUNDAMENTALS.name, "info": COMPANIES.name}

NO_NEW_QUARTER = "no quarter after the latest one found can have ended yet"
NONE_FOUND_RECENTLY = "none found at the last request, less than a quarter ago"
OVERDUE_ASKED_RECENTLY = "the next quarter is overdue: asked again once a quarter"
REASONS = Reasons(NO_NEW_QUARTER, NONE_FOUND_RECENTLY, OVERDUE_ASKED_RECENTLY)


class FetchLog(RefreshLog):
    """The stored log, the requests of this run (at ``start``..``as_of``), and the table to write back."""

    def __init__(self, existing: dict[str, pd.DataFrame], start: pd.Timestamp, as_of: pd.Timestamp):
        stored = existing.get(FETCH_LOG.name)
        present = {kind for kind, table in TABLE_OF_KIND.items() if table in existing and len(existing[table])}
        super().__init__(stored, present, start, as_of)
        self.legacy = stored is None or stored.empty  # raw data from before the log: judged by the stored rows

    def statements_skip(self, ticker: str, stored_latest: pd.Timestamp | None) -> str | None:
        """Why a ticker's statements need not be asked for at this as_of; None when they must be."""
        entry = self.get(ticker, "statements")
        if entry is None:
            if self.legacy and stored_latest is not None and self.as_of < stored_latest + pd.Timedelta(days=MIN_QUARTER_DAYS):
                return NO_NEW_QUARTER
            return None  # never asked, or the last request failed
        if self.start < entry.start:
            return None  # older quarters may now be in the window
        return self.period_skip(entry, MIN_QUARTER_DAYS, OVERDUE_DAYS, REASONS)

    def info_due(self, ticker: str, has_label: bool, statements_due: bool) -> bool:
        """Whether to ask for a ticker's labels: once a quarter (without a log: when it has none, or with its statements)."""
        entry = self.get(ticker, "info")
        if entry is None:
            return not self.legacy or not has_label or statements_due
        return self.quarter_passed(entry)

    def table(self, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """The log as written: windows narrowed to what the tables keep, latest dates read from them."""
        return self.as_table(_latest_dates(tables))


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
