"""Point-in-time universe: which tickers were in the S&P 500, the Nasdaq-100 or your own list on each date.

A membership history is a table of intervals ``ticker, start, end``. A ticker is a member
from ``start`` (inclusive: the effective date of its addition, its first day in the index)
until ``end`` (exclusive: the effective date of its removal, its first day out); ``end`` is
NaT while it is still a member. A ticker may have several intervals (removed, re-added);
they never overlap. Tickers are Yahoo symbols (``BRK-B``, not ``BRK.B``).

``load_membership("sp500" | "nasdaq100")`` reads the history shipped by the
``index-constitution`` package; ``load_membership("path.csv")`` reads your own file. See
docs/universe.md for the data's coverage and what a point-in-time universe cannot fix.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from invest.errors import ConfigError, DataError

INDICES = ("sp500", "nasdaq100")
PACKAGE = "index-constitution"
REQUIREMENT = "index-constitution==1.0.1"  # the data is the version: pin it exactly
# First date each packaged history answers for (measured member counts: docs/universe.md).
# sp500: before 2010 members that later left the index are missing (416 of ~500 in mid-2000).
# nasdaq100: the data opens on 2006-01-01 with the additions of 2006-12-18 already in it.
COVERAGE_START = {"sp500": pd.Timestamp("2010-01-01"), "nasdaq100": pd.Timestamp("2007-01-01")}
# A packaged history is trusted this long after its last recorded change: the S&P 500
# changes several times a quarter and the Nasdaq-100 is re-ranked every December.
STALE_AFTER = pd.Timedelta(days=92)
COLUMNS = ("ticker", "start", "end")

_TICKER = re.compile(r"^[A-Z0-9][A-Z0-9\-]*$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OPEN = pd.Timestamp.max  # stands for a missing end while intervals are merged


@dataclass(frozen=True)
class Membership:
    """Membership intervals of one index or file, and the dates they answer for."""

    intervals: pd.DataFrame  # ticker, start, end; member on start <= date < end (NaT end: still a member)
    source: str  # "sp500 (index-constitution 1.0.1)" or "membership file universe.csv"; names it in errors
    start: pd.Timestamp  # first date it answers for
    end: pd.Timestamp | None  # last date it answers for; None: open-ended (a user file)
    repairs: tuple[str, ...] = ()  # what loading changed in the packaged data: report these


def load_membership(universe: str) -> Membership:
    """The history of ``sp500``, ``nasdaq100``, or a ``.csv`` file with columns ``ticker,start,end``."""
    name = universe.strip()
    if name.lower() in INDICES:
        return _from_package(name.lower())
    if name.lower().endswith(".csv"):
        return read_membership_file(name)
    raise ConfigError(
        f"data.universe: {universe!r} is not a known index; use {' or '.join(INDICES)}, "
        "or the path of a .csv file with columns ticker,start,end"
    )


def from_table(table: pd.DataFrame, source: str) -> Membership:
    """The raw ``membership`` table (``invest.data.schema.MEMBERSHIP``) as a history that answers for every date.

    The fetch stage checked data.start and data.as_of against the history's coverage before writing it.
    """
    intervals = table[list(COLUMNS)].astype({"start": "datetime64[ns]", "end": "datetime64[ns]"}).reset_index(drop=True)
    return Membership(intervals, source, pd.Timestamp("1900-01-01"), None)


def window(history: Membership, start: dt.date | str | pd.Timestamp, as_of: dt.date | str | pd.Timestamp) -> pd.DataFrame:
    """The intervals of ``start``..``as_of`` as known on ``as_of``: those that overlap it, a removal after ``as_of`` not yet known."""
    first, last = pd.Timestamp(start), pd.Timestamp(as_of)
    table = history.intervals
    kept = table[(table["start"] <= last) & (table["end"].isna() | (table["end"] > first))].copy()
    kept.loc[kept["end"] > last, "end"] = pd.NaT
    return kept.reset_index(drop=True)


def to_yahoo(symbol: str) -> str:
    """A ticker in Yahoo's form: upper case, share class after a dash (``brk.b`` -> ``BRK-B``)."""
    return symbol.strip().upper().replace(".", "-").replace("/", "-")


def members_on(history: Membership, date: dt.date | str | pd.Timestamp) -> set[str]:
    """The tickers that were members on ``date``; DataError outside the history's coverage."""
    day = pd.Timestamp(date)
    _check_covered(history, pd.Series([day]))
    table = history.intervals
    inside = (table["start"] <= day) & (table["end"].isna() | (day < table["end"]))
    return set(table.loc[inside, "ticker"])


def member_mask(history: Membership, rows: pd.DataFrame) -> np.ndarray:
    """Whether each (ticker, date) row of ``rows`` was a member on its date (a bool per row)."""
    dates = pd.to_datetime(rows["date"]).reset_index(drop=True)
    _check_covered(history, dates)
    left = pd.DataFrame({"row": np.arange(len(rows)), "ticker": rows["ticker"].to_numpy(), "date": dates})
    pairs = left.merge(history.intervals, on="ticker", how="inner")  # one pair per interval of the row's ticker
    inside = (pairs["start"] <= pairs["date"]) & (pairs["end"].isna() | (pairs["date"] < pairs["end"]))
    mask = np.zeros(len(rows), dtype=bool)
    mask[pairs.loc[inside, "row"].to_numpy()] = True
    return mask


def all_tickers(history: Membership, start: dt.date | str | pd.Timestamp, end: dt.date | str | pd.Timestamp) -> list[str]:
    """Every ticker that was a member on some day from ``start`` to ``end`` (both included), sorted."""
    first, last = pd.Timestamp(start), pd.Timestamp(end)
    if last < first:
        raise ConfigError(f"membership window: end {last.date()} is before start {first.date()}")
    _check_covered(history, pd.Series([first, last]))
    table = history.intervals
    overlaps = (table["start"] <= last) & (table["end"].isna() | (table["end"] > first))
    return sorted(set(table.loc[overlaps, "ticker"]))


def member_counts(history: Membership, dates: pd.DatetimeIndex | pd.Series) -> pd.Series:
    """The number of members on each date (a sanity check: ~500 for the S&P 500)."""
    days = pd.DatetimeIndex(dates)
    _check_covered(history, pd.Series(days))
    at = days.to_numpy().astype("datetime64[ns]")
    starts = np.sort(history.intervals["start"].to_numpy().astype("datetime64[ns]"))
    ends = np.sort(history.intervals["end"].dropna().to_numpy().astype("datetime64[ns]"))
    counts = np.searchsorted(starts, at, side="right") - np.searchsorted(ends, at, side="right")
    return pd.Series(counts, index=days, name="members")


def read_membership_file(path: str | Path) -> Membership:
    """Intervals from a CSV file ``ticker,start,end`` (YYYY-MM-DD; empty end: still a member), checked strictly."""
    where = f"membership file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"data.universe: {where} not found; create it (columns ticker,start,end) or fix the path") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"data.universe: cannot read {where} ({type(exc).__name__}); give a UTF-8 CSV file") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    names = [name.strip().lower() for name in header or []]
    if not any(names):
        raise ConfigError(f"{where} is empty; write the header ticker,start,end and one row per membership interval")
    missing = [column for column in COLUMNS if column not in names]
    if missing or len(set(names)) != len(names):
        raise ConfigError(f"{where} line 1: the header must name each of ticker,start,end once (got {','.join(header or [])})")
    position = [names.index(column) for column in COLUMNS]
    rows = []
    for fields in reader:
        line = reader.line_num
        if not any(field.strip() for field in fields):
            continue
        if len(fields) != len(names):
            raise ConfigError(f"{where} line {line}: {len(fields)} fields, but the header has {len(names)}")
        raw_ticker, raw_start, raw_end = (fields[i].strip() for i in position)
        ticker = to_yahoo(raw_ticker)
        if not _TICKER.match(ticker):
            raise ConfigError(f"{where} line {line}: {raw_ticker!r} is not a ticker symbol; write one such as AAPL or BRK-B")
        start = _day(raw_start, f"{where} line {line}: start")
        end = _day(raw_end, f"{where} line {line}: end") if raw_end else pd.NaT
        if end is not pd.NaT and end <= start:
            raise ConfigError(
                f"{where} line {line}: end {raw_end} is not after start {raw_start}; "
                "end is the first day out of the index (leave it empty while still a member)"
            )
        rows.append((line, ticker, start, end))
    if not rows:
        raise ConfigError(f"{where} has a header but no rows; add one row per membership interval")
    _check_disjoint(rows, where)
    table = pd.DataFrame([row[1:] for row in rows], columns=list(COLUMNS))
    intervals, _ = _merge(table)  # touching intervals (end of one = start of the next) join into one
    return Membership(intervals, where, table["start"].min(), None)


def _from_package(index: str) -> Membership:
    try:
        import index_constitution
    except ImportError:
        raise ConfigError(f"data.universe: {index} needs the package {PACKAGE}; run pip install '{REQUIREMENT}'") from None
    source = f"{index} ({PACKAGE} {metadata.version(PACKAGE)})"
    try:
        raw = index_constitution.history(index)
    except Exception as exc:  # its data are pickled DataFrames; pandas < 3 cannot read them (TypeError, NotImplementedError)
        raise DataError(
            f"{source}: cannot read its membership data with pandas {pd.__version__} ({type(exc).__name__}); "
            f"it needs pandas>=3: run pip install 'pandas>=3' '{REQUIREMENT}'"
        ) from None
    if not {"symbol", "opt-in", "opt-out"} <= set(raw.columns):
        raise DataError(
            f"{source}: history has columns {list(raw.columns)}, not symbol/opt-in/opt-out; run pip install '{REQUIREMENT}'"
        )
    table = pd.DataFrame(
        {
            "ticker": [to_yahoo(str(symbol)) for symbol in raw["symbol"]],
            "start": pd.to_datetime(raw["opt-in"]).astype("datetime64[ns]").to_numpy(),
            "end": pd.to_datetime(raw["opt-out"]).astype("datetime64[ns]").to_numpy(),
        }
    )
    bad = table[~table["ticker"].str.match(_TICKER.pattern) | table["start"].isna()]
    if len(bad):
        raise DataError(
            f"{source}: {len(bad)} rows lack a ticker or a start date (first: {bad.iloc[0].tolist()}); run pip install '{REQUIREMENT}'"
        )
    intervals, repairs = _merge(table)
    last_change = max(table["start"].max(), table["end"].max())
    return Membership(intervals, source, COVERAGE_START[index], last_change + STALE_AFTER, repairs)


def _merge(table: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Disjoint intervals sorted by ticker and start: overlapping or touching ones joined, empty ones dropped."""
    table = table.astype({"start": "datetime64[ns]", "end": "datetime64[ns]"})
    empty = table["end"].notna() & (table["end"] <= table["start"])
    kept = table[~empty].assign(end=lambda t: t["end"].fillna(_OPEN)).sort_values(["ticker", "start"], kind="mergesort")
    reach = kept.groupby("ticker", sort=False)["end"].cummax()  # furthest end so far within the ticker
    previous = reach.groupby(kept["ticker"], sort=False).shift()
    overlap = previous.notna() & (kept["start"] < previous)
    block = (previous.isna() | (kept["start"] > previous)).cumsum()
    merged = kept.groupby(block, sort=False).agg(ticker=("ticker", "first"), start=("start", "min"), end=("end", "max"))
    merged["end"] = merged["end"].where(merged["end"] != _OPEN)
    repairs = []
    if empty.any():
        repairs.append(
            f"dropped {int(empty.sum())} empty intervals (end = start): {', '.join(sorted(table.loc[empty, 'ticker']))}"
        )
    if overlap.any():
        tickers = sorted(set(kept.loc[overlap, "ticker"]))
        repairs.append(
            f"joined overlapping intervals of {len(tickers)} tickers (two companies under one symbol, or a re-listing): {', '.join(tickers)}"
        )
    return merged.reset_index(drop=True), tuple(repairs)


def _check_disjoint(rows: list[tuple[int, str, pd.Timestamp, pd.Timestamp]], where: str) -> None:
    """ConfigError naming both lines if two intervals of one ticker share a day."""
    ordered = sorted(rows, key=lambda row: (row[1], row[2], row[0]))
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before[1] == after[1] and (before[3] is pd.NaT or after[2] < before[3]):
            same_end = before[3] == after[3] or (before[3] is pd.NaT and after[3] is pd.NaT)
            what = "repeats" if before[2] == after[2] and same_end else "overlaps"
            raise ConfigError(
                f"{where} line {max(before[0], after[0])}: {after[1]} {what} line {min(before[0], after[0])}; "
                "give each ticker one row per stay in the index, with no shared days"
            )


def _day(text: str, what: str) -> pd.Timestamp:
    try:
        if not _ISO_DAY.match(text):
            raise ValueError
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a date; write it as YYYY-MM-DD") from None
    if not 1900 <= day.year <= 2200:
        raise ConfigError(f"{what} {text!r} is not a date between 1900 and 2200")
    return pd.Timestamp(day)


def _check_covered(history: Membership, dates: pd.Series) -> None:
    """DataError naming the coverage if a date is missing or outside it."""
    if dates.isna().any():
        raise DataError(f"{history.source}: {int(dates.isna().sum())} dates are missing; every row needs a date")
    if dates.empty:
        return
    until = f"to {history.end.date()}" if history.end is not None else "on"
    span = f"{history.source} covers {history.start.date()} {until}"
    first, last = dates.min(), dates.max()
    if first < history.start:
        raise DataError(
            f"{span}; {first.date()} is before it: use dates from {history.start.date()} on (move data.start later) "
            "or a membership file (ticker,start,end) that covers it"
        )
    if history.end is not None and last > history.end:
        raise DataError(
            f"{span}; {last.date()} is after it (last recorded change + {STALE_AFTER.days} days): "
            f"install a newer {PACKAGE} or use a membership file (ticker,start,end) that covers it"
        )
