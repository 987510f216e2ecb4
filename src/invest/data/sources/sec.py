"""Point-in-time quarterly fundamentals, company names and sectors from SEC EDGAR (``data.fundamentals: sec``).

The pieces (each its own module, re-exported here):

* ``sec_client``: ``SecClient``, the rate-limited, retrying HTTP client for the
  ``companyfacts``, ``submissions`` and ``company_tickers`` JSON endpoints;
* ``sec_facts``: ``parse_companyfacts``, companyfacts JSON -> vintages (one row per
  value per filing that reported it) with the line-item fallbacks and unit checks;
* ``sec_quarters``: ``quarterly_fundamentals``, vintages -> the ``fundamentals`` table
  under the point-in-time rules (first-filed value wins; quarters derived from
  year-to-date and annual figures are dated by their latest input);
* ``sec_sectors``: ``sector_for_sic`` and ``company_row`` for the ``companies`` table;
* ``sec_schedule``: when to ask again (the SEC's rows of the ``fetch_log`` table, dated by ``as_of``).

``fetch_fundamentals`` ties them together for the fetch stage: given the raw tables already
stored (vintages, companies, fetch_log), it asks SEC only about the tickers that can have a new
filing (``sec_schedule``) and rebuilds the fundamentals of every ticker from all vintages, so a
refresh writes what a one-shot fetch to the same ``as_of`` writes, as long as SEC's record of the
past is unchanged. Requests per asked ticker: ``companyfacts`` once per CIK (share classes share
it), ``submissions`` once a quarter (names and SIC codes), and ``company_tickers.json`` once per
run in which any ticker is asked (ticker -> CIK).
"""

from __future__ import annotations

import http.client
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tqdm import tqdm

from invest.data.schema import COMPANIES, FETCH_LOG, UNKNOWN, conform
from invest.data.sources.base import fundamentals_coverage
from invest.data.sources.retry import describe
from invest.data.sources.sec_client import (
    COMPANYFACTS_URL,
    Company,
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
from invest.data.sources.sec_schedule import COMPANY, FACTS, SecLog
from invest.data.sources.sec_sectors import company_row, sector_for_sic
from invest.errors import DataError

__all__ = [
    "LINE_ITEMS",
    "RateLimiter",
    "SecClient",
    "SecResult",
    "company_row",
    "fetch_fundamentals",
    "normalize_ticker",
    "parse_companyfacts",
    "quarterly_fundamentals",
    "sector_for_sic",
    "urllib_transport",
]

TICKER_ERRORS = (SecHTTPError, MalformedAnswer, DataError, OSError, http.client.HTTPException)


@dataclass
class SecResult:
    """What ``fetch_fundamentals`` returns; ``log`` and ``vintages`` go back in (in ``stored``) next time."""

    fundamentals: pd.DataFrame  # invest.data.schema.FUNDAMENTALS, report_date <= as_of, every period
    vintages: pd.DataFrame  # invest.data.schema.FUNDAMENTAL_VINTAGES, filed <= as_of
    companies: pd.DataFrame | None  # invest.data.schema.COMPANIES, a row per ticker; None unless asked for
    failures: dict[str, str]  # ticker -> one line
    report: dict[str, Any]  # JSON-able
    log: pd.DataFrame  # the SEC's rows of invest.data.schema.FETCH_LOG


def fetch_fundamentals(
    tickers: Iterable[str],
    start: Any,
    as_of: Any,
    client: SecClient,
    stored: Mapping[str, pd.DataFrame] | None = None,
    *,
    companies: bool = True,
    progress: bool = True,
) -> SecResult:
    """Fundamentals, vintages and (``companies``) company labels of ``tickers`` as known on ``as_of``.

    ``stored`` holds the raw tables of an earlier run (``fundamental_vintages``, ``companies``,
    ``fetch_log``), if any; only tickers that can have a new filing are asked again. Raises
    FetchError when SEC cannot be reached at all; any other per-ticker problem (unknown ticker, no
    XBRL facts, HTTP errors after retries) is reported in ``failures`` and the others carry on.
    """
    tickers = list(dict.fromkeys(tickers))
    as_of = pd.Timestamp(as_of).normalize()
    stored = stored or {}
    log = SecLog(stored.get(FETCH_LOG.name), pd.Timestamp(start).normalize(), as_of)
    old = _stored_vintages(stored.get(VINTAGES.name), tickers, as_of)
    have = set(old["ticker"])
    why = {ticker: log.facts_skip(ticker, ticker in have) for ticker in tickers}
    due = [ticker for ticker in tickers if why[ticker] is None]
    profiles = [ticker for ticker in tickers if companies and log.company_due(ticker)]
    job = _Refresh(client, as_of, log)
    asked = [ticker for ticker in tickers if ticker in due or ticker in profiles]
    new = []
    with tqdm(asked, desc="sec fundamentals", unit="ticker", file=sys.stderr, leave=False, disable=not progress) as bar:
        for ticker in bar:
            if ticker in due and (vintages := job.facts(ticker)) is not None:
                new.append(vintages)
            if ticker in profiles:
                job.profile(ticker)
    vintages = _merged(old, new)
    stats: Counter[str] = Counter()
    fundamentals = quarterly_fundamentals(vintages, stats=stats)
    labels = _companies(tickers, stored.get(COMPANIES.name), log, job.rows) if companies else None
    if not companies:
        log.forget_kind(COMPANY)  # the labels come from elsewhere now: ask again when they are wanted
    failures = {**_not_found_before(tickers, due, have, log), **job.failures}
    report = _report(client, job, tickers, due, why, profiles, fundamentals, vintages, stats, failures)
    report["as_of"] = str(as_of.date())
    return SecResult(fundamentals, vintages, labels, dict(sorted(failures.items())), report, log.table(tickers, fundamentals))


def _report(
    client: SecClient,
    job: _Refresh,
    tickers: list[str],
    due: list[str],
    why: Mapping[str, str | None],
    profiles: list[str],
    fundamentals: pd.DataFrame,
    vintages: pd.DataFrame,
    stats: Counter[str],
    failures: Mapping[str, str],
) -> dict[str, Any]:
    """The JSON-able report of one fetch_fundamentals call."""
    return {
        "source": "sec",
        "tickers": len(tickers),
        "refreshed": len(due),
        "up_to_date": len(tickers) - len(due),
        "up_to_date_because": dict(sorted(Counter(reason for reason in why.values() if reason).items())),
        "company_profiles_asked": len(profiles),
        "http_calls": client.budget.http_calls,
        "http_calls_by_kind": dict(sorted(client.budget.calls.items())),
        "retries": client.budget.retries,
        "backoff_s": round(client.budget.slept_s, 3),
        "failures": len(failures),
        "skipped_facts": dict(sorted(job.skipped.items())),
        "companies_without_profile": job.without_profile,
        "derived_values": stats["derived_values"],
        "late_values": stats["late_values"],
        "rows": {"fundamentals": len(fundamentals), "vintages": len(vintages)},
        "coverage": fundamentals_coverage(fundamentals, tickers),
    }


def _stored_vintages(stored: pd.DataFrame | None, tickers: list[str], as_of: pd.Timestamp) -> pd.DataFrame:
    if stored is None or stored.empty:
        return empty_vintages()
    stored = conform(stored, VINTAGES, "stored fundamental_vintages table")
    return stored[stored["ticker"].isin(tickers) & (stored["filed"] <= as_of)].reset_index(drop=True)


def _merged(old: pd.DataFrame, new: list[pd.DataFrame]) -> pd.DataFrame:
    """Stored and new vintages, one per key: SEC's current record wins (a new vintage never changes a first-filed value)."""
    parts = [frame for frame in (old, *new) if len(frame)]
    if not parts:
        return empty_vintages()
    merged = pd.concat(parts, ignore_index=True).drop_duplicates(list(VINTAGES.key), keep="last")
    return conform(merged, VINTAGES, "SEC vintages")


def _not_found_before(tickers: list[str], due: list[str], have: set[str], log: SecLog) -> dict[str, str]:
    """Tickers not asked this time for which SEC had no fundamentals when last asked."""
    out = {}
    for ticker in tickers:
        entry = log.get(ticker, FACTS)
        if ticker not in due and ticker not in have and entry is not None:
            out[ticker] = f"no SEC fundamentals when last asked (data.as_of {entry.as_of.date()}); asked again a quarter later"
    return out


class _Refresh:
    """Asks SEC about one ticker at a time; each answer is fetched once per run (share classes share a CIK)."""

    def __init__(self, client: SecClient, as_of: pd.Timestamp, log: SecLog):
        self.client = client
        self.as_of = as_of
        self.log = log
        self.answers: dict[tuple[Any, ...], Any] = {}  # (kind, *args) -> the answer or the exception it raised
        self.skipped: Counter[str] = Counter()  # facts skipped while parsing, by reason
        self.failures: dict[str, str] = {}
        self.rows: dict[str, dict[str, Any]] = {}  # ticker -> its companies row, from this run's answers
        self.without_profile = 0  # companies whose submissions (name, SIC code) could not be read

    def facts(self, ticker: str) -> pd.DataFrame | None:
        """The ticker's vintages filed by as_of; None (the reason in ``failures``) when there are none."""
        company = None
        try:
            company = self._company(ticker)
            if company is None:
                return self._none(ticker, f"unknown ticker: {normalize_ticker(ticker)} is not in SEC's company_tickers.json")
            parsed = parse_companyfacts(self._ask("companyfacts", company.cik), ticker)
        except NotFound:
            url = COMPANYFACTS_URL.format(cik=company.cik) if company else "company_tickers.json"
            return self._none(ticker, f"no XBRL financial data at SEC (HTTP 404 for {url})")
        except TICKER_ERRORS as exc:  # not logged: asked again next run
            self.failures[ticker] = describe(exc)
            return None
        self.skipped.update(parsed.skipped)
        if parsed.vintages.empty:
            return self._none(
                ticker, f"no usable XBRL facts: none of the line items in USD in {', '.join(sorted(FORMS))} filings"
            )
        vintages = parsed.vintages[parsed.vintages["filed"] <= self.as_of]
        if vintages.empty:
            return self._none(ticker, f"no XBRL facts filed by data.as_of {self.as_of.date()}")
        self.log.record(ticker, FACTS)
        return vintages

    def profile(self, ticker: str) -> None:
        """The ticker's companies row from ``submissions`` (name, SIC code -> sector, industry)."""
        company = None
        try:
            company = self._company(ticker)
            row = company_row(self._ask("submissions", company.cik), ticker) if company else _unknown(ticker)
        except NotFound:  # SEC has no profile: the name from company_tickers.json
            self.without_profile += 1
            row = _unknown(ticker, company)
        except TICKER_ERRORS:  # a transient error: not logged, asked again next run
            self.without_profile += 1
            self.rows[ticker] = _unknown(ticker, company)
            return
        self.rows[ticker] = row
        self.log.record(ticker, COMPANY)

    def _none(self, ticker: str, reason: str) -> None:
        self.failures[ticker] = reason
        self.log.record(ticker, FACTS)  # an answer: asked again a quarter later

    def _company(self, ticker: str) -> Company | None:
        return self._ask("companies").get(normalize_ticker(ticker))

    def _ask(self, kind: str, *args: int) -> Any:
        """``client.<kind>(*args)`` once per run; a failure is remembered, not retried again."""
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


def _unknown(ticker: str, company: Company | None = None) -> dict[str, Any]:
    name = company.title if company is not None and company.title else ticker
    return {"ticker": ticker, "name": name, "sector": UNKNOWN, "industry": UNKNOWN}


def _companies(tickers: list[str], stored: pd.DataFrame | None, log: SecLog, rows: Mapping[str, dict[str, Any]]) -> pd.DataFrame:
    """A row per ticker: this run's answer, else the stored SEC row, else the symbol with ``Unknown`` labels."""
    kept = {}
    if stored is not None and len(stored):
        for row in conform(stored, COMPANIES, "stored companies table").to_dict("records"):
            if log.get(row["ticker"], COMPANY) is not None:  # a row the SEC gave (not Yahoo's or a file's)
                kept[row["ticker"]] = row
    out = [rows.get(ticker) or kept.get(ticker) or _unknown(ticker) for ticker in tickers]
    return conform(pd.DataFrame(out, columns=list(COMPANIES.columns)), COMPANIES, "SEC companies")
