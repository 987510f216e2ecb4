"""The raw tables every data source writes to ``data/raw/`` (one Parquet file each).

This is the contract between sources (sim, yfinance, files) and the rest of the
pipeline. Dates are timezone-naive ``datetime64[ns]`` at midnight; keys are unique
and rows sorted by key.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from invest.errors import DataError


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: dict[str, str]  # column -> kind: "str", "date", "float"
    required: bool = True

    @property
    def filename(self) -> str:
        return f"{self.name}.parquet"


FUNDAMENTAL_FIELDS = (
    "revenue",
    "net_income",
    "eps",
    "equity",
    "assets",
    "debt",
    "cash",
    "operating_cash_flow",
    "free_cash_flow",
    "shares",
)

MACRO_SERIES = ("inflation", "unemployment", "gdp_growth")

# A daily series missing on a day carries its last value forward for at most this many rows
# (a holiday, a late print), never longer: a stock that stopped trading is not priced for ever.
MAX_FILL_DAYS = 5

PRICES = Table(
    "prices",
    ("ticker", "date"),
    {
        "ticker": "str",
        "date": "date",
        "open": "float",
        "high": "float",
        "low": "float",
        "close": "float",
        "adj_close": "float",
        "volume": "float",
    },
)
COMPANIES = Table(
    "companies",
    ("ticker",),
    {"ticker": "str", "name": "str", "sector": "str", "industry": "str"},
)
FUNDAMENTALS = Table(
    "fundamentals",
    ("ticker", "period_end"),
    {"ticker": "str", "period_end": "date", "report_date": "date"} | {field: "float" for field in FUNDAMENTAL_FIELDS},
)
# Daily market series: index level, volatility index, short rate and 10-year yield (percent).
MARKET = Table(
    "market",
    ("date",),
    {
        "date": "date",
        "index_close": "float",
        "vol_index": "float",
        "short_rate": "float",
        "long_rate": "float",
    },
)
# Lower-frequency macro series in long form; a value is usable only from its release_date.
MACRO = Table(
    "macro",
    ("series", "period_end"),
    {"series": "str", "period_end": "date", "release_date": "date", "value": "float"},
)
# Simulated market only: the planted expected return, kept apart from the features.
ORACLE = Table(
    "oracle",
    ("ticker", "date"),
    {"ticker": "str", "date": "date", "expected_return_1y": "float"},
    required=False,
)

# SEC fundamentals only (data.fundamentals: sec): every reported value as each filing reported it, so that
# the point-in-time rule can be checked: a fundamentals row's report_date is the filed date of the first
# filing that reported its values; later filings (restatements, comparatives) are kept here and never
# overwrite. Instants (balance sheet, shares) have no period_start and duration_days 0. Filed by data.as_of.
FUNDAMENTAL_VINTAGES = Table(
    "fundamental_vintages",
    ("ticker", "field", "period_end", "duration_days", "filed", "accn"),
    {
        "ticker": "str",
        "field": "str",  # a fundamentals column, or capex (for free_cash_flow)
        "period_start": "date",
        "period_end": "date",
        "duration_days": "float",
        "filed": "date",
        "form": "str",  # 10-Q, 10-K, 20-F, 40-F, or an amendment (/A)
        "value": "float",
        "concept": "str",  # the XBRL concept, e.g. us-gaap:Revenues
        "unit": "str",
        "accn": "str",  # the filing's accession number
    },
    required=False,
)
# A point-in-time universe only (data.universe: sp500, nasdaq100 or a membership file): a ticker is a member
# from start (inclusive) to end (exclusive); end is empty while it was still a member on data.as_of (a removal
# after as_of is not known yet). Absent: every ticker is in the universe on every date.
MEMBERSHIP = Table(
    "membership",
    ("ticker", "start"),
    {"ticker": "str", "start": "date", "end": "date"},
    required=False,
)

# Live sources only, bookkeeping rather than data: per ticker (or market symbol) and kind of request
# ("prices", "market", "statements", "info"; the SEC's "sec_facts", "sec_company"), the data.start and data.as_of of the last request that
# succeeded and the latest date (or period end) found by then, empty when none was. Dated by data.as_of,
# never the wall clock, so a rerun writes the same bytes. Absent: the next fetch asks as if it had none.
FETCH_LOG = Table(
    "fetch_log",
    ("ticker", "kind"),
    {"ticker": "str", "kind": "str", "start": "date", "as_of": "date", "latest": "date"},
    required=False,
)

DATA_TABLES: tuple[Table, ...] = (PRICES, COMPANIES, FUNDAMENTALS, MARKET, MACRO, ORACLE)  # what a user's files may hold
TABLES: tuple[Table, ...] = (*DATA_TABLES, FUNDAMENTAL_VINTAGES, MEMBERSHIP, FETCH_LOG)
TABLES_BY_NAME = {table.name: table for table in TABLES}

UNKNOWN = "Unknown"  # the sector or industry label of a company without one

GICS_SECTORS = (
    "Communication Services",
    "Consumer Discretionary",
    "Consumer Staples",
    "Energy",
    "Financials",
    "Health Care",
    "Industrials",
    "Information Technology",
    "Materials",
    "Real Estate",
    "Utilities",
)


def conform(frame: pd.DataFrame, table: Table, origin: str) -> pd.DataFrame:
    """Return ``frame`` with exactly the table's columns, dtypes and key order.

    Raises DataError naming ``origin`` for a missing column, a value of the wrong
    type, an empty key or a duplicate key. Unsorted input is sorted.
    """
    missing = [column for column in table.columns if column not in frame.columns]
    if missing:
        raise DataError(
            f"{origin}: missing column(s) {', '.join(missing)}; the {table.name} table needs {', '.join(table.columns)}"
        )
    out = pd.DataFrame(index=range(len(frame)))
    for column, kind in table.columns.items():
        values = frame[column].reset_index(drop=True)
        out[column] = _coerce(values, kind, f"{origin}: column {column!r}")
    for column in table.key:
        if out[column].isna().any():
            raise DataError(f"{origin}: key column {column!r} has empty values; fill or drop those rows")
    duplicated = out.duplicated(list(table.key), keep=False)
    if duplicated.any():
        first = out.loc[duplicated, list(table.key)].iloc[0].tolist()
        shown = ", ".join(str(v.date()) if isinstance(v, pd.Timestamp) else str(v) for v in first)
        raise DataError(
            f"{origin}: {int(duplicated.sum())} rows share a key ({', '.join(table.key)}), the first ({shown}); "
            "keep one row per key"
        )
    return out.sort_values(list(table.key), kind="mergesort").reset_index(drop=True)


def _coerce(values: pd.Series, kind: str, where: str) -> pd.Series:
    if kind == "str":
        # fast path (C speed): no missing values and every value a str; else the per-value check (~0.4 us a row)
        if not values.isna().any() and pd.api.types.infer_dtype(values, skipna=False) == "string":
            return values.astype(object)
        missing = values.isna()  # None, pd.NA, or NaN: how pandas' own text dtype marks a missing value
        if values.map(lambda v: isinstance(v, str)).where(~missing, True).all():
            return values.astype(object).where(~missing, None)
        raise DataError(f"{where} must hold text")
    if kind == "date":
        try:
            with warnings.catch_warnings():  # pandas warns before falling back to per-value parsing; the error says it all
                warnings.simplefilter("ignore", UserWarning)
                dates = pd.to_datetime(values)
            if getattr(dates.dt, "tz", None) is not None:
                dates = dates.dt.tz_convert(None)
            return dates.dt.normalize().astype("datetime64[ns]")  # OutOfBoundsDatetime (a ValueError) before 1677 or after 2262
        except (ValueError, TypeError, OverflowError) as exc:
            detail = " ".join(str(exc).split())[:160]
            raise DataError(f"{where} must hold dates (YYYY-MM-DD): {detail}") from None
    try:
        numbers = pd.to_numeric(values, errors="raise").astype("float64")
    except (ValueError, TypeError):
        raise DataError(f"{where} must hold numbers") from None
    if np.isinf(numbers.to_numpy()).any():
        raise DataError(f"{where} holds infinite values; replace them with empty values or real numbers")
    return numbers
