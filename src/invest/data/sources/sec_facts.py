"""SEC ``companyfacts`` JSON -> a long table of *vintages* (pure functions, no I/O).

A vintage is one value of one line item for one period as one filing reported it. The
same quarter shows up once in its own 10-Q and again in later filings as a comparative
(maybe restated); each of those is a separate row, with that filing's ``filed`` date,
so that ``sec_quarters`` can tell what was known when.

Columns (``VINTAGES``): ``ticker, field, period_start, period_end, duration_days, filed,
form, value, concept, unit, accn``. ``period_start`` is NaT and ``duration_days`` 0 for
instants (balance-sheet items, share counts); for flows ``duration_days`` is
``period_end - period_start + 1`` (a calendar quarter is 90-92). The key is
``(ticker, field, period_end, duration_days, filed, accn)``: a filing (``accn``, whose
``filed`` date is fixed) gives at most one value per field and period.

Rules:

* Forms: ``FORMS`` only (10-Q, 10-K, their /A amendments, 20-F and 40-F and their
  amendments). 8-K, S-1, 10-KT (transition periods) and the rest are ignored. An
  amendment is simply a later vintage; the first-filed rule never lets it overwrite.
* Line items: ``LINE_ITEMS`` lists the XBRL concepts of each field in order of
  preference. *Within one filing*, for each period, the first concept in the list that
  the filing reports wins; different filings may use different concepts for the same
  period (Tesla tagged revenue ``Revenues`` throughout, Snowflake
  ``RevenueFromContractWithCustomerExcludingAssessedTax``). The choice never looks at
  other filings, so it cannot leak later knowledge into an earlier vintage.
* Units: money in ``USD``, EPS in ``USD/shares``, share counts in ``shares``. A fact in
  another unit (EUR, a ``pure`` ratio...) is skipped and counted in
  ``ParsedFacts.skipped`` (``"unit <field> <unit>"``), never converted.
* Shapes: flows need a start date, instants must not have one; a fact of the wrong
  shape or with a non-numeric value is skipped and counted. The same concept reported
  twice for one period in one filing keeps the first value listed (counted when the
  values differ).
* ``dei:EntityCommonStockSharesOutstanding`` is dated at the cover page (weeks after the
  period end). It is re-dated to the period the filing covers (``filing_periods``: the
  latest end of the filing's own flow line items). A filing without a period (a
  cover-only 10-K/A) cannot be placed: its cover facts are skipped and counted.
* ``capex`` is an internal field (``PaymentsToAcquirePropertyPlantAndEquipment``...),
  used only for ``free_cash_flow = operating_cash_flow - capex``.

Values are as reported: not split-adjusted (Tesla's EPS and share counts change by 5x
and 3x at its 2020 and 2022 splits) and not scaled (a filer's tagging error stays; Tesla
tagged 2016 long-term debt as 5,892,016 USD instead of thousands in its first 10-K).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from invest.data.schema import FUNDAMENTAL_VINTAGES, conform
from invest.errors import DataError

FORMS = frozenset({"10-Q", "10-Q/A", "10-K", "10-K/A", "20-F", "20-F/A", "40-F", "40-F/A"})
AMENDMENTS = frozenset(form for form in FORMS if form.endswith("/A"))


@dataclass(frozen=True)
class LineItem:
    kind: str  # "flow" (a duration: income and cash-flow statements) or "instant" (balance sheet, share counts)
    unit: str
    concepts: tuple[str, ...]  # "taxonomy:Concept", most preferred first


LINE_ITEMS: dict[str, LineItem] = {
    "revenue": LineItem(
        "flow",
        "USD",
        (
            "us-gaap:Revenues",
            "us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax",
            "us-gaap:SalesRevenueNet",
            "us-gaap:RevenueFromContractWithCustomerIncludingAssessedTax",
            "us-gaap:RevenuesNetOfInterestExpense",  # banks and brokers
            "us-gaap:SalesRevenueGoodsNet",
        ),
    ),
    "net_income": LineItem(
        "flow",
        "USD",
        ("us-gaap:NetIncomeLoss", "us-gaap:ProfitLoss", "us-gaap:NetIncomeLossAvailableToCommonStockholdersBasic"),
    ),
    "eps": LineItem(
        "flow",
        "USD/shares",
        ("us-gaap:EarningsPerShareDiluted", "us-gaap:EarningsPerShareBasicAndDiluted", "us-gaap:EarningsPerShareBasic"),
    ),
    "equity": LineItem(
        "instant",
        "USD",
        ("us-gaap:StockholdersEquity", "us-gaap:StockholdersEquityIncludingPortionAttributableToNoncontrollingInterest"),
    ),
    "assets": LineItem("instant", "USD", ("us-gaap:Assets",)),
    # Long-term debt including its current portion; the last two exclude the current portion (understate).
    "debt": LineItem(
        "instant",
        "USD",
        (
            "us-gaap:LongTermDebt",
            "us-gaap:LongTermDebtAndCapitalLeaseObligationsIncludingCurrentMaturities",
            "us-gaap:LongTermDebtNoncurrent",
            "us-gaap:LongTermDebtAndCapitalLeaseObligations",
        ),
    ),
    "cash": LineItem(
        "instant",
        "USD",
        (
            "us-gaap:CashAndCashEquivalentsAtCarryingValue",
            "us-gaap:Cash",
            "us-gaap:CashCashEquivalentsRestrictedCashAndRestrictedCashEquivalents",
        ),
    ),
    "operating_cash_flow": LineItem(
        "flow",
        "USD",
        (
            "us-gaap:NetCashProvidedByUsedInOperatingActivities",
            "us-gaap:NetCashProvidedByUsedInOperatingActivitiesContinuingOperations",
        ),
    ),
    "capex": LineItem(
        "flow",
        "USD",
        ("us-gaap:PaymentsToAcquirePropertyPlantAndEquipment", "us-gaap:PaymentsToAcquireProductiveAssets"),
    ),
    "shares": LineItem("instant", "shares", ("dei:EntityCommonStockSharesOutstanding", "us-gaap:CommonStockSharesOutstanding")),
}
COVER_CONCEPTS = frozenset({"dei:EntityCommonStockSharesOutstanding"})  # dated at the cover page: re-dated to the filing's period

VINTAGES = FUNDAMENTAL_VINTAGES  # the raw table they are stored in


@dataclass
class ParsedFacts:
    """The vintages of one company and the count of facts skipped, by reason."""

    vintages: pd.DataFrame
    skipped: Counter[str] = field(default_factory=Counter)


def parse_companyfacts(data: Mapping[str, Any], ticker: str) -> ParsedFacts:
    """One company's ``companyfacts`` answer -> its vintages (see the module docstring for the rules)."""
    facts = data.get("facts") if isinstance(data, Mapping) else None
    if not isinstance(facts, Mapping):
        raise DataError(f"SEC companyfacts for {ticker}: no 'facts' object in the answer; is it a companyfacts file?")
    skipped: Counter[str] = Counter()
    records: list[tuple] = []
    for field_name, item in LINE_ITEMS.items():
        for rank, concept in enumerate(item.concepts):
            taxonomy, _, name = concept.partition(":")
            units = facts.get(taxonomy, {}).get(name, {}).get("units", {})
            for unit, entries in units.items():
                usable = [entry for entry in entries if entry.get("form") in FORMS]
                if unit != item.unit:
                    skipped[f"unit {field_name} {unit}"] += len(usable)
                    continue
                for entry in usable:
                    record = _record(entry, field_name, item, rank, concept, unit, skipped)
                    if record is not None:
                        records.append(record)
    records = _place_cover_facts(records, facts, skipped)
    return ParsedFacts(_vintages(records, ticker, skipped), skipped)


def filing_periods(records: list[tuple], facts: Mapping[str, Any]) -> dict[str, str]:
    """accn -> the end of the period the filing covers.

    That is the latest end of the filing's flow line items (its income or cash-flow
    statement); for a filing without any, the latest end of any duration fact outside
    ``dei`` that ended by the filing date. Durations ending after the filing date exist
    (Tesla's 10-K for 2021 tags a 2022 warrant subsequent event) and are never used.
    """
    periods: dict[str, str] = {}
    for record in records:
        if record[2] and record[3] > periods.get(record[9], ""):
            periods[record[9]] = record[3]
    fallback: dict[str, str] = {}
    for taxonomy, concepts in facts.items():
        if taxonomy == "dei":
            continue
        for concept in concepts.values():
            for entries in concept.get("units", {}).values():
                for entry in entries:
                    accn, end, filed = entry.get("accn"), entry.get("end"), entry.get("filed")
                    if entry.get("start") and accn and end and filed and end <= filed and end > fallback.get(accn, ""):
                        fallback[accn] = end
    return fallback | periods


def _place_cover_facts(records: list[tuple], facts: Mapping[str, Any], skipped: Counter[str]) -> list[tuple]:
    """Re-date cover-page facts (dated after the period end) to the period their filing covers."""
    periods = filing_periods([r for r in records if r[7] not in COVER_CONCEPTS], facts)
    placed = []
    for record in records:
        if record[7] in COVER_CONCEPTS:
            end = periods.get(record[9])
            if end is None or end > record[3]:  # no period known, or a cover date before the period end
                skipped[f"unplaced {record[0]}"] += 1
                continue
            record = (*record[:3], end, *record[4:])
        placed.append(record)
    return placed


def _record(entry, field_name, item, rank, concept, unit, skipped) -> tuple | None:
    value, start, end = entry.get("val"), entry.get("start"), entry.get("end")
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not end
        or not entry.get("filed")
        or not entry.get("accn")
    ):
        skipped[f"malformed {field_name}"] += 1
        return None
    if (item.kind == "flow") != bool(start):
        skipped[f"shape {field_name}"] += 1  # a flow without a start date or an instant with one
        return None
    return (field_name, rank, start, end, entry["filed"], entry["form"], float(value), concept, unit, entry["accn"])


def _vintages(records: list[tuple], ticker: str, skipped: Counter[str]) -> pd.DataFrame:
    if not records:
        return empty_vintages()
    columns = ["field", "rank", "period_start", "period_end", "filed", "form", "value", "concept", "unit", "accn"]
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    frame["period_end"] = pd.to_datetime(frame["period_end"])
    span = (frame["period_end"] - frame["period_start"]).dt.days + 1
    frame["duration_days"] = span.fillna(0).astype("float64")
    period = ["field", "accn", "period_end", "duration_days"]
    frame = frame.sort_values([*period, "rank"], kind="mergesort")
    same_concept = frame.duplicated([*period, "rank"], keep=False)
    conflicting = frame[same_concept].groupby([*period, "rank"])["value"].nunique() > 1
    if conflicting.any():
        skipped["conflicting duplicates"] += int(conflicting.sum())
    frame = frame.drop_duplicates(period, keep="first")  # the most preferred concept of each filing, first listed value
    frame.insert(0, "ticker", ticker)
    return conform(frame, VINTAGES, f"SEC companyfacts for {ticker}")


def empty_vintages() -> pd.DataFrame:
    """A zero-row vintages frame with the right columns and dtypes."""
    kinds = {"str": object, "date": "datetime64[ns]", "float": "float64"}
    return pd.DataFrame({column: pd.Series(dtype=kinds[kind]) for column, kind in VINTAGES.columns.items()})


def first_filed(vintages: pd.DataFrame) -> pd.DataFrame:
    """The first vintage of each (ticker, field, period): earliest ``filed``, an original before an amendment, then accn."""
    order = vintages.assign(_amended=vintages["form"].isin(AMENDMENTS))
    order = order.sort_values(["filed", "_amended", "accn"], kind="mergesort")
    first = order.drop_duplicates(["ticker", "field", "period_end", "duration_days"], keep="first")
    return first.drop(columns="_amended").sort_values(list(VINTAGES.key), kind="mergesort").reset_index(drop=True)
