"""Point-in-time quarterly fundamentals, company names and sectors from SEC EDGAR.

The pieces (each its own module, re-exported here):

* ``sec_client``: ``SecClient``, the rate-limited, retrying HTTP client for the
  ``companyfacts``, ``submissions`` and ``company_tickers`` JSON endpoints;
* ``sec_facts``: ``parse_companyfacts``, companyfacts JSON -> vintages (one row per
  value per filing that reported it) with the line-item fallbacks and unit checks;
* ``sec_quarters``: ``quarterly_fundamentals``, vintages -> the ``fundamentals`` table
  under the point-in-time rules (first-filed value wins; quarters derived from
  year-to-date and annual figures are dated by their latest input);
* ``sec_sectors``: ``sector_for_sic`` and ``company_row`` for the ``companies`` table.

``fetch_fundamentals`` ties them together for the fetch stage.

Incremental refresh (``needs_refresh``): ``SecResult.state`` holds per ticker its CIK,
name and SIC code, a ``status`` (``ok``, ``no_facts``, ``unknown_ticker``, ``error``),
``last_attempt``, ``complete_through`` (every filing dated up to this day is in the
returned vintages: ``min(as_of, last_attempt - 1 day)``, since a filing can still
arrive later on the day it is dated), ``last_filed`` and ``last_period_end``. With
``target = min(as_of, today - 1 day)``, a ticker is asked again only if

* it has no state, its last attempt failed (``error``), or its vintages are missing
  from ``stored_vintages``; or
* ``complete_through < target`` (something dated in between could exist) and
  - for ``ok``: ``target >= last_period_end + NEXT_PERIOD_DAYS`` (80 days, the shortest
    quarter): a filing for a new period can only come after that period ends, and a
    restatement of an old period cannot change a first-filed value;
  - for ``no_facts`` (404, or no usable facts), ``unknown_ticker`` and ``ok`` without
    any period on or before ``as_of``: ``today >= last_attempt + RECHECK_MISSING_DAYS``
    (91 days).

So a daily refresh costs nothing for most of a quarter and one request per ticker per
day while its next report is due. Requests per asked ticker: ``companyfacts`` once
per CIK (share classes share it), ``submissions`` once per company (while its SIC
code is not in the state) and ``company_tickers.json`` once per call (when a ticker's
CIK is not in the state).
"""

from __future__ import annotations

import http.client
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from tqdm import tqdm

from invest.data.schema import COMPANIES, UNKNOWN, conform
from invest.data.sources.base import fundamentals_coverage
from invest.data.sources.retry import describe
from invest.data.sources.sec_client import (
    COMPANYFACTS_URL,
    MalformedAnswer,
    NotFound,
    RateLimiter,
    SecClient,
    SecHTTPError,
    normalize_ticker,
    urllib_transport,
)
from invest.data.sources.sec_facts import FORMS, LINE_ITEMS, VINTAGES, empty_vintages, parse_companyfacts
from invest.data.sources.sec_quarters import quarterly_fundamentals
from invest.data.sources.sec_sectors import company_row, sector_for_sic
from invest.errors import DataError

__all__ = [
    "LINE_ITEMS",
    "NEXT_PERIOD_DAYS",
    "RECHECK_MISSING_DAYS",
    "RateLimiter",
    "SecClient",
    "SecResult",
    "company_row",
    "fetch_fundamentals",
    "needs_refresh",
    "normalize_ticker",
    "parse_companyfacts",
    "quarterly_fundamentals",
    "sector_for_sic",
    "urllib_transport",
]

NEXT_PERIOD_DAYS = 80  # no new period can end sooner than this after the latest one (13-week quarters are 91 days)
RECHECK_MISSING_DAYS = 91  # unknown tickers and companies without XBRL facts are asked again after a quarter
DAY = pd.Timedelta(days=1)
TICKER_ERRORS = (SecHTTPError, MalformedAnswer, DataError, OSError, http.client.HTTPException)


@dataclass
class SecResult:
    """What ``fetch_fundamentals`` returns; ``state`` goes back in as ``stored_state`` next time."""

    fundamentals: pd.DataFrame  # invest.data.schema.FUNDAMENTALS, report_date <= as_of
    vintages: pd.DataFrame  # sec_facts.VINTAGES, filed <= as_of
    companies: pd.DataFrame  # invest.data.schema.COMPANIES
    failures: dict[str, str]  # ticker -> one line
    report: dict[str, Any]  # JSON-able
    state: dict[str, dict[str, Any]] = field(default_factory=dict)  # JSON-able, per ticker


def needs_refresh(entry: Mapping[str, Any] | None, as_of: Any, today: Any, have_vintages: bool = True) -> bool:
    """Whether a ticker must be asked again (the rule in the module docstring)."""
    if not entry or entry.get("status") == "error" or (entry.get("status") == "ok" and not have_vintages):
        return True
    today = pd.Timestamp(today).normalize()
    target = min(pd.Timestamp(as_of).normalize(), today - DAY)
    through = pd.Timestamp(entry["complete_through"]) if entry.get("complete_through") else None
    if through is not None and through >= target:
        return False
    if entry.get("status") == "ok" and entry.get("last_period_end"):
        return target >= pd.Timestamp(entry["last_period_end"]) + pd.Timedelta(days=NEXT_PERIOD_DAYS)
    return today >= pd.Timestamp(entry["last_attempt"]) + pd.Timedelta(days=RECHECK_MISSING_DAYS)


def fetch_fundamentals(
    tickers: Iterable[str],
    as_of: Any,
    client: SecClient,
    stored_vintages: pd.DataFrame | None = None,
    stored_state: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = True,
    today: Any = None,
) -> SecResult:
    """Fundamentals, vintages and companies of ``tickers`` as known on ``as_of``, asking SEC only where needed.

    Raises FetchError when SEC cannot be reached at all; any other per-ticker problem
    (unknown ticker, no XBRL facts, HTTP errors after retries) is reported in
    ``failures`` and the other tickers carry on.
    """
    tickers = list(dict.fromkeys(tickers))
    as_of = pd.Timestamp(as_of).normalize()
    today = pd.Timestamp.today().normalize() if today is None else pd.Timestamp(today).normalize()
    stored = stored_vintages if stored_vintages is not None else empty_vintages()
    stored = stored[stored["ticker"].isin(tickers)]
    state = {ticker: dict(entry) for ticker, entry in (stored_state or {}).items()}
    have = set(stored["ticker"])
    due = [t for t in tickers if needs_refresh(state.get(t), as_of, today, t in have)]
    job = _Refresh(client, as_of, today)
    parts = [stored[~stored["ticker"].isin(due)]]
    with tqdm(due, desc="sec fundamentals", unit="ticker", file=sys.stderr, leave=False, disable=not progress) as bar:
        for ticker in bar:
            entry, vintages = job.refresh(ticker, state.get(ticker, {}))
            state[ticker] = entry
            if vintages is not None:
                old = stored[stored["ticker"] == ticker]
                merged = pd.concat([old, vintages], ignore_index=True) if len(old) else vintages
                parts.append(merged.drop_duplicates(list(VINTAGES.key), keep="last"))  # SEC's current record wins
            else:
                parts.append(stored[stored["ticker"] == ticker])
    vintages = pd.concat([p for p in parts if len(p)] or [empty_vintages()], ignore_index=True)
    vintages = conform(vintages[vintages["filed"] <= as_of], VINTAGES, "SEC vintages")
    stats: Counter[str] = Counter()
    fundamentals = quarterly_fundamentals(vintages, stats=stats)
    companies = _companies(tickers, state)
    failures = {t: _failure(state[t], t in due) for t in tickers if state.get(t, {}).get("status") != "ok"}
    report = {
        "source": "sec",
        "as_of": str(as_of.date()),
        "tickers": len(tickers),
        "refreshed": len(due),
        "up_to_date": len(tickers) - len(due),
        "http_calls": client.budget.http_calls,
        "http_calls_by_kind": dict(sorted(client.budget.calls.items())),
        "retries": client.budget.retries,
        "backoff_s": round(client.budget.slept_s, 3),
        "rate_limit_wait_s": round(client.limiter.waited_s, 3),
        "failures": len(failures),
        "skipped_facts": dict(sorted(job.skipped.items())),
        "companies_without_profile": job.without_profile,
        "derived_values": stats["derived_values"],
        "late_values": stats["late_values"],
        "rows": {"fundamentals": len(fundamentals), "vintages": len(vintages), "companies": len(companies)},
        "coverage": fundamentals_coverage(fundamentals, tickers),
    }
    return SecResult(fundamentals, vintages, companies, failures, report, state)


class _Refresh:
    """Asks SEC about one ticker at a time; companyfacts answers are shared between tickers of one CIK."""

    def __init__(self, client: SecClient, as_of: pd.Timestamp, today: pd.Timestamp):
        self.client = client
        self.as_of = as_of
        self.today = today
        self.answers: dict[tuple[Any, ...], Any] = {}  # (kind, *args) -> the answer or the exception it raised
        self.skipped: Counter[str] = Counter()  # facts skipped while parsing, by reason
        self.without_profile = 0  # companies whose submissions (name, SIC code) could not be read

    def refresh(self, ticker: str, old: Mapping[str, Any]) -> tuple[dict[str, Any], pd.DataFrame | None]:
        entry = dict(old)
        try:
            cik = old.get("cik") or self._cik(ticker, entry)
            if cik is None:
                return self._done(
                    entry, "unknown_ticker", f"unknown ticker: {normalize_ticker(ticker)} is not in SEC's company_tickers.json"
                ), None
            entry["cik"] = cik
            parsed = parse_companyfacts(self._ask("companyfacts", cik), ticker)
        except NotFound:
            url = COMPANYFACTS_URL.format(cik=entry["cik"])
            return self._done(entry, "no_facts", f"no XBRL financial data at SEC (HTTP 404 for {url})"), None
        except TICKER_ERRORS as exc:
            entry.update(status="error", reason=describe(exc))  # the other fields stay: the next call asks again
            return entry, None
        self.skipped.update(parsed.skipped)
        if parsed.vintages.empty:
            reason = f"no usable XBRL facts: none of the line items in USD in {', '.join(sorted(FORMS))} filings"
            return self._done(entry, "no_facts", reason), None
        vintages = parsed.vintages[parsed.vintages["filed"] <= self.as_of]
        if "sic" not in entry:
            self._profile(cik, entry)
        entry["last_filed"] = str(vintages["filed"].max().date()) if len(vintages) else None
        ends = vintages.loc[vintages["duration_days"] > 0, "period_end"]
        entry["last_period_end"] = str(ends.max().date()) if len(ends) else None
        return self._done(entry, "ok", None), vintages

    def _done(self, entry: dict[str, Any], status: str, reason: str | None) -> dict[str, Any]:
        entry.update(
            status=status,
            reason=reason,
            last_attempt=str(self.today.date()),
            complete_through=str(min(self.as_of, self.today - DAY).date()),
        )
        return entry

    def _cik(self, ticker: str, entry: dict[str, Any]) -> int | None:
        company = self._ask("companies").get(normalize_ticker(ticker))
        if company is None:
            return None
        entry["name"] = company.title
        return company.cik

    def _ask(self, kind: str, *args: int) -> Any:
        """``client.<kind>(*args)`` once per call of fetch_fundamentals; a failure is remembered, not retried again."""
        key = (kind, *args)
        if key not in self.answers:
            try:
                self.answers[key] = getattr(self.client, kind)(*args)
            except TICKER_ERRORS as exc:
                self.answers[key] = exc
        answer = self.answers[key]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _profile(self, cik: int, entry: dict[str, Any]) -> None:
        """Name, SIC code and industry from ``submissions``; without them the name from company_tickers stays."""
        try:
            submissions = self._ask("submissions", cik)
            row = company_row(submissions, "")
        except TICKER_ERRORS as exc:
            self.without_profile += 1
            if isinstance(exc, NotFound):
                entry.update(sic="", industry=None)  # SEC has no profile: do not ask again
            return
        industry = row["industry"] if row["industry"] != UNKNOWN else None
        entry.update(name=submissions.get("name") or entry.get("name"), sic=str(submissions.get("sic") or ""), industry=industry)


def _companies(tickers: list[str], state: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """A row for every ticker SEC knows (its name from submissions or company_tickers); unknown labels are ``Unknown``."""
    rows = []
    for ticker in tickers:
        entry = state.get(ticker, {})
        if entry.get("name"):
            sector = sector_for_sic(entry.get("sic")) or UNKNOWN
            rows.append({"ticker": ticker, "name": entry["name"], "sector": sector, "industry": entry.get("industry") or UNKNOWN})
    return conform(pd.DataFrame(rows, columns=list(COMPANIES.columns)), COMPANIES, "SEC companies")


def _failure(entry: Mapping[str, Any], asked_now: bool) -> str:
    reason = entry.get("reason") or entry.get("status", "not fetched")
    return reason if asked_now else f"{reason} (as of {entry.get('last_attempt')})"
