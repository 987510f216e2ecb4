"""When to ask SEC EDGAR again: the SEC's rows of the ``fetch_log`` table and the rules that read them.

The bookkeeping (reading, recording and writing rows; the rule for quarterly reports) is
``refresh_log``'s, shared with the Yahoo source; the kinds, periods and words here are the SEC's.

The state of the SEC fundamentals is kept in the raw data like Yahoo's, in
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
* it had none (no XBRL facts, a ticker SEC does not know): ``as_of >= logged + QUARTER_DAYS``
  (``refresh_log``: 92 days, the longest calendar quarter).

Company profiles are asked once a quarter. A filing dated ``as_of`` that SEC publishes later on
that day is missed by a run on that day; it is picked up when the ticker is next asked (a new
period keeps it due until its report is in).
"""

from __future__ import annotations

import pandas as pd

from invest.data.sources.refresh_log import LONGEST_QUARTER_DAYS, Reasons, RefreshLog

FACTS, COMPANY = "sec_facts", "sec_company"
KINDS = (FACTS, COMPANY)
NEXT_PERIOD_DAYS = 80  # no new period can end sooner than this after the latest one (13-week quarters are 91 days)
OVERDUE_DAYS = LONGEST_QUARTER_DAYS + 105  # a 14-week quarter, then a 10-K's 90 days plus the 15 days of a late-filing notice

NO_NEW_PERIOD = "no period after the latest one found can have ended yet"
NONE_FOUND_RECENTLY = "no fundamentals at the last request, less than a quarter ago"
OVERDUE_ASKED_RECENTLY = "the next report is overdue: asked again once a quarter"
REASONS = Reasons(NO_NEW_PERIOD, NONE_FOUND_RECENTLY, OVERDUE_ASKED_RECENTLY)


class SecLog(RefreshLog):
    """The stored SEC rows of ``fetch_log``, the requests of this run, and the rows to write back."""

    def __init__(self, stored: pd.DataFrame | None, start: pd.Timestamp, as_of: pd.Timestamp):
        super().__init__(stored, KINDS, start, as_of)

    def facts_skip(self, ticker: str, have_vintages: bool) -> str | None:
        """Why a ticker's facts need not be asked for at this as_of; None when they must be."""
        entry = self.get(ticker, FACTS)
        if entry is None or (entry.latest is not None and not have_vintages):
            return None
        return self.period_skip(entry, NEXT_PERIOD_DAYS, OVERDUE_DAYS, REASONS)

    def company_due(self, ticker: str) -> bool:
        """Whether to ask for a ticker's name and SIC code: never asked, or a quarter ago."""
        entry = self.get(ticker, COMPANY)
        return entry is None or self.quarter_passed(entry)

    def table(self, tickers: list[str], fundamentals: pd.DataFrame) -> pd.DataFrame:
        """The SEC's log rows of ``tickers`` as written: windows narrowed to this run's, latest read from ``fundamentals``."""
        latest = fundamentals.groupby("ticker")["period_end"].max()
        return self.as_table({(ticker, FACTS): day for ticker, day in latest.items()}, set(tickers))
