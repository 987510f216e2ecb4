"""Bring your own data (``data.source: files``): the raw tables as CSV or Parquet files.

``data.files_layout`` says how ``data.files_dir`` is laid out: ``tables`` (this module)
or ``per_ticker``, one Yahoo-style CSV per ticker (``invest.data.sources.files_yahoo``).

In the ``tables`` layout ``data.files_dir`` holds one file per table, named after it: ``prices``,
``companies``, ``fundamentals`` and ``market`` are required; ``macro`` (an empty
table when absent) and ``oracle`` (left out when absent) are optional. Each may be
``<table>.csv`` or ``<table>.parquet``, not both. Columns and units are those of
``invest.data.schema`` (see docs/data_sources.md); extra columns are ignored.

Unlike the other sources this one does not repair anything: a file must already be
sorted by its key, and every problem is a DataError naming the file, the line (CSV,
counting the header as line 1) or row (Parquet, from 1) and the fix. Checked: missing
columns, values of the wrong type, empty keys, duplicate keys, unsorted keys, a
report or release date before its period end, and non-positive prices. The tables
are then cut to ``data.start``..``data.as_of`` like every source's
(``invest.data.sources.base.clip_to_window``). ``existing`` is ignored: the files are the
whole truth each time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from invest.data.schema import DATA_TABLES, FUNDAMENTALS, MACRO, MARKET, PRICES, Table, conform
from invest.data.sources.base import FetchResult, clip_to_window, empty_table, fundamentals_coverage, row_counts
from invest.errors import ConfigError, DataError
from invest.params import DataParams

SUFFIXES = (".csv", ".parquet")
OPTIONAL_EMPTY = {MACRO.name}  # absent -> an empty table
POSITIVE = {PRICES.name: ("open", "high", "low", "close", "adj_close"), MARKET.name: ("index_close",)}
NON_NEGATIVE = {PRICES.name: ("volume",)}
PUBLISHED_AFTER = {FUNDAMENTALS.name: "report_date", MACRO.name: "release_date"}  # must be >= period_end


def fetch(params: DataParams, existing: dict[str, pd.DataFrame] | None = None) -> FetchResult:
    """Read, check and clip every table in ``params.files_dir``."""
    if params.files_layout == "per_ticker":
        from invest.data.sources import files_yahoo  # it reads fundamentals with this module's checks

        return files_yahoo.fetch(params)
    root = Path(params.files_dir)
    if not root.is_dir():
        raise ConfigError(
            f"data.files_dir: {root} is not a directory; create it with prices, companies, fundamentals "
            "and market as .csv or .parquet files (see docs/data_sources.md)"
        )
    start, as_of = pd.Timestamp(params.start), pd.Timestamp(params.as_of)
    tables: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    for table in DATA_TABLES:  # never the live sources' bookkeeping (fetch_log)
        path = find_file(root, table)
        if path is None:
            if table.name in OPTIONAL_EMPTY:
                tables[table.name] = empty_table(table)
            elif table.required:
                needed = ", ".join(t.name for t in DATA_TABLES if t.required)
                hint = " (or set data.files_layout: per_ticker for prices/<TICKER>.csv files)" if table is PRICES else ""
                raise DataError(
                    f"{root / table.name}.csv (or .parquet) not found; the files source needs {needed} in {root}{hint}"
                )
            continue
        files[table.name] = str(path)
        frame = read_checked(path, table)
        tables[table.name] = clip_to_window(table, frame, start, as_of)
    if tables[PRICES.name].empty:
        raise DataError(
            f"{files[PRICES.name]}: no price rows between data.start {params.start} and data.as_of {params.as_of}; "
            "widen the dates or add data"
        )
    tickers = sorted(tables[PRICES.name]["ticker"].unique())
    report = {
        "source": "files",
        "files_dir": str(root),
        "files": files,
        "start": params.start,
        "as_of": params.as_of,
        "tickers_requested": len(tickers),
        "tickers_ok": len(tickers),
        "tickers_failed": 0,
        "http_calls": 0,
        "rows": row_counts(tables),
        "fundamentals_coverage": fundamentals_coverage(tables[FUNDAMENTALS.name], tickers),
    }
    return FetchResult(tables=tables, report=report, failures={})


def find_file(root: Path, table: Table) -> Path | None:
    found = [root / f"{table.name}{suffix}" for suffix in SUFFIXES if (root / f"{table.name}{suffix}").is_file()]
    if len(found) > 1:
        raise DataError(f"{root}: both {found[0].name} and {found[1].name} exist; keep only one of them")
    return found[0] if found else None


def read_checked(path: Path, table: Table) -> pd.DataFrame:
    """One table file, checked strictly and returned in schema form (see the module docstring)."""
    csv = path.suffix == ".csv"
    try:
        if csv:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True)
        else:
            raw = pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # pandas/pyarrow raise many unrelated types for an unreadable file
        kind = "CSV" if csv else "Parquet"
        detail = " ".join(str(exc).split())  # pandas' parser messages span lines
        raise DataError(f"{path}: not a readable {kind} file ({type(exc).__name__}: {detail}); re-export it") from None
    raw = raw.reset_index(drop=True)

    def where(i: int) -> str:
        return f"line {i + 2}" if csv else f"row {i + 1}"

    missing = [column for column in table.columns if column not in raw.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; the {table.name} table needs {', '.join(table.columns)}"
        )
    frame = pd.DataFrame(index=raw.index)
    for column, kind in table.columns.items():
        frame[column] = _typed(raw[column], kind, column, column in table.key or kind == "date", path, where)
    _check_keys(frame, table, path, where)
    for column in POSITIVE.get(table.name, ()):
        _check_bound(frame, column, path, where, strict=True)
    for column in NON_NEGATIVE.get(table.name, ()):
        _check_bound(frame, column, path, where, strict=False)
    published = PUBLISHED_AFTER.get(table.name)
    if published:
        early = np.flatnonzero((frame[published] < frame["period_end"]).to_numpy())
        if len(early):
            i = int(early[0])
            raise DataError(
                f"{path}: {where(i)}: {published} {frame[published].iloc[i].date()} is before period_end "
                f"{frame['period_end'].iloc[i].date()} ({_rows(len(early))} like this); "
                "a value cannot be public before its period ends"
            )
    return conform(frame, table, str(path))


def _typed(values: pd.Series, kind: str, column: str, required: bool, path: Path, where: Any) -> pd.Series:
    missing = values.isna().to_numpy()
    if kind == "str":
        bad = np.flatnonzero([not (isinstance(v, str) or m) for v, m in zip(values, missing, strict=True)])
        if len(bad):
            i = int(bad[0])
            raise DataError(f"{path}: {where(i)}: column {column!r} holds {values.iloc[i]!r}; it must hold text")
        blank = np.flatnonzero(missing | values.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(bool))
        if len(blank):
            i = int(blank[0])
            hint = "every row needs one" if required else "write a label such as Unknown"
            raise DataError(f"{path}: {where(i)}: column {column!r} is empty ({_rows(len(blank))}); {hint}")
        return values.astype(object)
    if kind == "date":
        if pd.api.types.is_datetime64_any_dtype(values):
            parsed = pd.to_datetime(values)
            if getattr(parsed.dt, "tz", None) is not None:
                parsed = parsed.dt.tz_localize(None)
        elif pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            parsed = pd.to_datetime(values.map(_date_text), format="ISO8601", errors="coerce")
        else:
            raise DataError(f"{path}: column {column!r} has type {values.dtype}; it must hold dates (YYYY-MM-DD)")
        bad = np.flatnonzero(parsed.isna().to_numpy() & ~missing)
        if len(bad):
            i = int(bad[0])
            raise DataError(f"{path}: {where(i)}: column {column!r} holds {values.iloc[i]!r}, not a date; write YYYY-MM-DD")
        empty = np.flatnonzero(missing)
        if len(empty):
            i = int(empty[0])
            raise DataError(f"{path}: {where(i)}: column {column!r} is empty ({_rows(len(empty))}); every row needs a date")
        return parsed.dt.normalize().astype("datetime64[ns]")
    if pd.api.types.is_bool_dtype(values):
        raise DataError(f"{path}: column {column!r} holds true/false values; it must hold numbers")
    numbers = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero(pd.isna(numbers).to_numpy() & ~missing)
    if len(bad):
        i = int(bad[0])
        raise DataError(f"{path}: {where(i)}: column {column!r} holds {values.iloc[i]!r}, not a number")
    numbers = numbers.astype("float64")
    infinite = np.flatnonzero(np.isinf(numbers.to_numpy()))
    if len(infinite):
        i = int(infinite[0])
        raise DataError(f"{path}: {where(i)}: column {column!r} is infinite; use an empty value or a real number")
    return numbers


def _date_text(value: Any) -> Any:
    """Strings must look like a date (not just any text pandas could guess); others pass through."""
    if isinstance(value, str):
        text = value.strip()
        return text if len(text) >= 8 and text[:4].isdigit() and text[4] == "-" else "not a date"
    return value


def _check_keys(frame: pd.DataFrame, table: Table, path: Path, where: Any) -> None:
    key = list(table.key)
    keys = frame[key]
    duplicated = np.flatnonzero(keys.duplicated(keep=False).to_numpy())
    if len(duplicated):
        first = int(duplicated[0])
        same = keys.eq(keys.iloc[first]).all(axis=1).to_numpy()
        second = int(np.flatnonzero(same)[1])
        raise DataError(
            f"{path}: {where(first)} and {where(second)} share the key {_show(keys.iloc[first])} "
            f"({_rows(len(duplicated))} in duplicate keys); keep one row per {', '.join(key)}"
        )
    if len(frame) < 2:
        return
    later = np.zeros(len(frame) - 1, dtype=bool)  # row i+1 sorts before row i
    equal = np.ones(len(frame) - 1, dtype=bool)
    for column in key:
        previous, current = frame[column].to_numpy()[:-1], frame[column].to_numpy()[1:]
        later |= equal & (previous > current)
        equal &= previous == current
    if later.any():
        i = int(np.flatnonzero(later)[0]) + 1
        raise DataError(
            f"{path}: rows are not sorted by {', '.join(key)}: {where(i)} {_show(keys.iloc[i])} comes after "
            f"{where(i - 1)} {_show(keys.iloc[i - 1])}; sort the file by {', '.join(key)}"
        )


def _check_bound(frame: pd.DataFrame, column: str, path: Path, where: Any, strict: bool) -> None:
    values = frame[column].to_numpy()
    bad = np.flatnonzero(values <= 0 if strict else values < 0)  # NaN compares False: empty values pass
    if len(bad):
        i = int(bad[0])
        sign = "positive" if strict else "zero or more"
        raise DataError(
            f"{path}: {where(i)}: {column} is {values[i]:g} ({_rows(len(bad))} like this); {column} must be {sign} "
            "(leave the value empty if it is unknown)"
        )


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _show(row: pd.Series) -> str:
    parts = [str(v.date()) if isinstance(v, pd.Timestamp) else str(v) for v in row.tolist()]
    return "(" + ", ".join(parts) + ")"
