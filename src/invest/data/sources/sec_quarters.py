"""SEC vintages -> a point-in-time quarterly ``fundamentals`` table (pure functions, no I/O).

The rules, in the order they apply (``quarterly_fundamentals``):

1. **Cut-off.** With ``as_of``, only vintages filed on or before ``as_of`` are used.
2. **First filed wins.** Of all vintages of one (ticker, field, period) only the first
   filed is kept (earliest ``filed``; on the same day an original before an amendment,
   then the lower accession number). A later restatement or comparative never replaces
   it; its ``filed`` date is the value's *known date*.
3. **Flows -> quarters** (revenue, net income, operating cash flow, capex). A period of
   ``QUARTER_DAYS`` (80-100 days, both ends counted) is a quarter as reported. A quarter
   is also *derived* as ``A - B`` for two periods with the same start where ``B`` ends
   80-100 days before ``A``: six months minus the first quarter, nine months minus six
   (cash-flow statements in 10-Qs are year-to-date only) and the year minus nine
   months (the fourth quarter, which usually appears only in the 10-K as the annual
   total). Each input is its first-filed value, and the derived value's known date is
   the later of the two inputs' (for the fourth quarter: the 10-K's filed date). When a
   quarter has several candidates, the earliest known wins; on a tie a reported quarter
   beats a derived one. EPS is never derived (EPS is not additive and the quarter's
   diluted share count is not reported): a derived quarter has no EPS.
4. **Instants** (equity, assets, debt, cash, shares) are the first-filed value at the
   quarter's end date.
5. **free_cash_flow** = operating cash flow - capex of the same quarter, known when
   the later of the two is; empty when either is missing.
6. **Rows.** One row per (ticker, period_end), for every end date of a flow period in
   the vintages (quarter, year-to-date or annual). A row's ``report_date`` is the
   earliest known date among its values, but never before the first filing with a flow
   ending on its ``period_end`` (the filing that makes the row exist; otherwise a later
   filing with a first flow for an old date would create a row dated by an older
   balance-sheet comparative, retroactively): in practice the filed date of the 10-Q
   (10-K for the fourth quarter) that first reported the quarter. A value whose known date is
   later than the row's ``report_date`` (a field first reported only as a comparative in
   a later filing) is left empty rather than back-dated: nothing in a row was unknown on
   its ``report_date``. Rows without any value are dropped.

Hence adding a filing with ``filed = F`` can change no row whose ``report_date`` is
before ``F`` (tests/test_sources_sec.py checks this with Hypothesis). Dates are filing
dates: a filing accepted after the 16:00 close is still dated that day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from invest.data.schema import FUNDAMENTAL_FIELDS, FUNDAMENTALS, conform
from invest.data.sources.sec_facts import LINE_ITEMS, first_filed

QUARTER_DAYS = (80, 100)  # a quarter, both ends counted: 13-week (91) and 14-week (98) quarters fit, 4-month stubs do not
TYPICAL_QUARTER_DAYS = 91
DERIVED_FLOWS = ("revenue", "net_income", "operating_cash_flow", "capex")
REPORTED_ONLY_FLOWS = ("eps",)
INSTANTS = tuple(name for name, item in LINE_ITEMS.items() if item.kind == "instant")

# A candidate value of one field for one quarter: (known date, derived?, distance from 91 days, value).
# Dates are integer days since 1970-01-01 here: plain-Python arithmetic is ~20x faster than pandas per row.
Candidate = tuple[int, bool, int, float]
Fact = tuple[int, int, int, int, float]  # (period_start or -1, period_end, duration_days, filed, value), first filed


def quarterly_fundamentals(vintages: pd.DataFrame, as_of: Any = None, stats: Counter[str] | None = None) -> pd.DataFrame:
    """The point-in-time ``fundamentals`` table (``invest.data.schema.FUNDAMENTALS``) from vintages.

    ``stats``, when given, counts ``derived_values`` (kept values derived from year-to-date
    or annual figures) and ``late_values`` (values left empty because they became known
    after their row's report_date).
    """
    stats = stats if stats is not None else Counter()
    if as_of is not None:
        vintages = vintages[vintages["filed"] <= pd.Timestamp(as_of)]
    first = first_filed(vintages)
    facts: dict[str, dict[str, list[Fact]]] = {}
    columns = zip(
        first["ticker"],
        first["field"],
        _days(first["period_start"]),
        _days(first["period_end"]),
        first["duration_days"].astype(int),
        _days(first["filed"]),
        first["value"],
        strict=True,
    )
    for ticker, name, start, end, days, filed, value in columns:
        facts.setdefault(ticker, {}).setdefault(name, []).append((start, end, days, filed, value))
    rows = [row for ticker in sorted(facts) for row in _ticker_rows(ticker, facts[ticker], stats)]
    frame = pd.DataFrame(rows, columns=list(FUNDAMENTALS.columns))
    for column in ("period_end", "report_date"):
        frame[column] = pd.to_datetime(frame[column].astype("int64"), unit="D")
    return conform(frame, FUNDAMENTALS, "SEC fundamentals")


def _days(dates: pd.Series) -> Any:
    """Dates as integer days since 1970-01-01; NaT as -1 (only ever a missing period_start)."""
    values = dates.to_numpy(dtype="datetime64[D]")
    return np.where(np.isnat(values), -1, values.astype("int64")).tolist()


def _ticker_rows(ticker: str, by_field: dict[str, list[Fact]], stats: Counter[str]) -> Iterable[dict[str, Any]]:
    chosen: dict[str, dict[int, Candidate]] = {}
    for name in DERIVED_FLOWS + REPORTED_ONLY_FLOWS:
        chosen[name] = _flow_quarters(by_field.get(name, []), derive=name in DERIVED_FLOWS)
    for name in INSTANTS:
        chosen[name] = {end: (filed, False, 0, value) for _, end, days, filed, value in by_field.get(name, []) if days == 0}
    first_flow: dict[int, int] = {}  # period end -> the first filing with a flow ending then: the row exists from it
    for name in DERIVED_FLOWS + REPORTED_ONLY_FLOWS:
        for _, end, days, filed, _ in by_field.get(name, []):
            if days > 0:
                first_flow[end] = min(filed, first_flow.get(end, filed))
    for end in sorted(first_flow):
        candidates: dict[str, Candidate] = {}
        for name in FUNDAMENTAL_FIELDS:
            candidate = _free_cash_flow(chosen, end) if name == "free_cash_flow" else chosen[name].get(end)
            if candidate is not None:
                candidates[name] = candidate
        if not candidates:
            continue
        report_date = max(min(candidate[0] for candidate in candidates.values()), first_flow[end])
        row: dict[str, Any] = {"ticker": ticker, "period_end": end, "report_date": report_date}
        for name in FUNDAMENTAL_FIELDS:
            candidate = candidates.get(name)
            if candidate is None:
                row[name] = np.nan
            elif candidate[0] > report_date:  # known only after the row's report_date: left empty, never back-dated
                row[name] = np.nan
                stats["late_values"] += 1
            else:
                row[name] = candidate[3]
                stats["derived_values"] += int(candidate[1])
        yield row


def _flow_quarters(facts: list[Fact], derive: bool) -> dict[int, Candidate]:
    """Quarter end -> the chosen candidate, from the first-filed flow facts of one field."""
    low, high = QUARTER_DAYS
    candidates: dict[int, list[Candidate]] = {}
    by_start: dict[int, list[Fact]] = {}
    for fact in facts:
        start, end, days, filed, value = fact
        if days <= 0:
            continue
        by_start.setdefault(start, []).append(fact)
        if low <= days <= high:
            candidates.setdefault(end, []).append((filed, False, abs(days - TYPICAL_QUARTER_DAYS), value))
    if derive:
        for periods in by_start.values():
            for _, long_end, _, long_filed, long_value in periods:
                for _, short_end, _, short_filed, short_value in periods:
                    gap = long_end - short_end  # the residual quarter: short_end + 1 .. long_end
                    if low <= gap <= high:
                        candidate = (
                            max(long_filed, short_filed),
                            True,
                            abs(gap - TYPICAL_QUARTER_DAYS),
                            long_value - short_value,
                        )
                        candidates.setdefault(long_end, []).append(candidate)
    return {end: min(options) for end, options in candidates.items()}


def _free_cash_flow(chosen: dict[str, dict[int, Candidate]], end: int) -> Candidate | None:
    ocf, capex = chosen["operating_cash_flow"].get(end), chosen["capex"].get(end)
    if ocf is None or capex is None:
        return None
    return (max(ocf[0], capex[0]), ocf[1] or capex[1], 0, ocf[3] - capex[3])
