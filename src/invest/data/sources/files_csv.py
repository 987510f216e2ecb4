"""CSV files as people download them (Yahoo prices, FRED series, index files): read, find columns, parse.

Shared by the ``per_ticker`` layout of the files source (``files_yahoo``, ``files_series``).
Every cell is read as text and parsed here, so that a bad value is reported with its line
(the header is line 1; blank lines count, as in an editor). ``.csv.gz`` files are read
decompressed. A file written by ``yfinance.download(...).to_csv()`` (yfinance 0.2.51 and
later: a ``Price`` header, then a ``Ticker`` row and an empty ``Date`` row) is read as if it
had the plain one-line header.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from invest.errors import DataError

# how downloads write an unknown value: empty, Yahoo's null, FRED's "." (legacy CSV), pandas' NaN
MISSING = frozenset({"", "null", "NULL", "nan", "NaN", "NA", "N/A", "n/a", "."})
DATE_NAMES = ("date", "observationdate")  # Yahoo, most exports; FRED's current CSV download
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[ T].*)?$")  # a time or offset after the day is ignored (local date kept)


def read(path: Path) -> pd.DataFrame:
    """Every cell as stripped text; row ``i`` of the index is line ``i + 2`` of the file; blank lines dropped."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # more fields than the header: data would be lost
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False, index_col=False)
    except pd.errors.ParserWarning:
        raise DataError(
            f"{path}: a line has more fields than the header; quote values that hold commas, or fix the header"
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty (not even a header line); download it again or delete it") from None
    except Exception as exc:  # pandas raises many unrelated types for an unreadable file
        detail = " ".join(str(exc).split())[:200]  # pandas' parser messages span lines
        raise DataError(f"{path}: not a readable CSV file ({type(exc).__name__}: {detail}); export it again as CSV") from None
    raw.columns = [str(column).strip() for column in raw.columns]
    raw = raw.apply(lambda column: column.str.strip())
    raw = _without_yfinance_header_rows(raw)
    return raw[~(raw == "").all(axis=1)]


def _without_yfinance_header_rows(raw: pd.DataFrame) -> pd.DataFrame:
    if len(raw.columns) < 2 or raw.columns[0] != "Price" or raw.empty or raw.iloc[0, 0] != "Ticker":
        return raw
    extra = 2 if len(raw) > 1 and raw.iloc[1, 0] == "Date" and (raw.iloc[1, 1:] == "").all() else 1
    return raw.iloc[extra:].rename(columns={"Price": "Date"})


def line(row: int) -> str:
    return f"line {row + 2}"


def normalised(name: str) -> str:
    """``Adj Close``, ``adj_close`` and ``ADJCLOSE`` are one name: ``adjclose``."""
    return re.sub(r"[\s_]", "", name).lower()


def find_column(raw: pd.DataFrame, *names: str) -> str | None:
    """The first column whose normalised name is one of ``names`` (tried in that order), or None."""
    by_name = {normalised(column): column for column in reversed(raw.columns)}
    return next((by_name[name] for name in names if name in by_name), None)


def date_column(raw: pd.DataFrame, path: Path) -> str:
    column = find_column(raw, *DATE_NAMES)
    if column is None:
        raise DataError(
            f"{path}: line 1: no Date column (columns: {', '.join(raw.columns)}); "
            "name the column of trading days Date, with days written YYYY-MM-DD"
        )
    return column


def dates(raw: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """The column as dates; DataError at the first empty or malformed one."""
    text = raw[column]
    empty = np.flatnonzero((text == "").to_numpy())
    if len(empty):
        raise DataError(f"{path}: {line(raw.index[empty[0]])}: the date is empty; every row needs a day written YYYY-MM-DD")
    parsed = pd.to_datetime(text.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    bad = np.flatnonzero((parsed.isna() | ~text.str.match(_DATE)).to_numpy())
    if len(bad):
        i = bad[0]
        raise DataError(f"{path}: {line(raw.index[i])}: {column} holds {text.iloc[i]!r}, not a date; write days as YYYY-MM-DD")
    return parsed.astype("datetime64[ns]")


def numbers(raw: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """The column as floats (NaN where ``MISSING``); DataError at the first value that is not a finite number."""
    text = raw[column]
    missing = text.isin(MISSING)
    values = pd.to_numeric(text.where(~missing), errors="coerce").astype("float64")
    bad = np.flatnonzero((values.isna() & ~missing).to_numpy() | np.isinf(values.to_numpy()))
    if len(bad):
        i = bad[0]
        raise DataError(
            f"{path}: {line(raw.index[i])}: {column} holds {text.iloc[i]!r}, not a number; "
            "write a number, or leave the cell empty if the value is unknown"
        )
    return values


def is_numeric(raw: pd.DataFrame, column: str) -> bool:
    """Whether the column holds at least one number and nothing but numbers and missing values."""
    text = raw[column]
    present = text[~text.isin(MISSING)]
    return len(present) > 0 and bool(pd.to_numeric(present, errors="coerce").notna().all())


def check_unique(days: pd.Series, path: Path, what: str = "day", fix: str = "") -> None:
    """DataError naming the first two lines that share a date (or a period, for ``what``)."""
    repeated = days.duplicated(keep=False).to_numpy()
    if repeated.any():
        first = np.flatnonzero(repeated)[0]
        second = np.flatnonzero((days == days.iloc[first]).to_numpy())[1]
        shown = days.iloc[first]
        shown = shown.date() if isinstance(shown, pd.Timestamp) else shown
        raise DataError(
            f"{path}: {line(days.index[first])} and {line(days.index[second])} are the same {what} ({shown}); "
            f"{fix or f'keep one row per {what}'}"
        )
