"""The point-in-time SQLite store (``data/stock_data.db``): schema, writer and readers.

Tables:
  meta(key, value)                    schema version and feature lists
  tickers(ticker_id, ticker, name, sector, industry)
  monthly(ticker_id, date, <temporal features>)            one row per ticker-month end
  snapshots(ticker_id, date, <static features>, <labels>)  one row per ticker-snapshot
  oracle(ticker_id, date, expected_return_1y)              simulated market only

Dates are ISO text. The database uses SQLite's default rollback journal (never WAL,
which leaves -wal/-shm files beside a DVC-tracked file); readers open it read-only.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from invest.errors import DataError, OutputError
from invest.io import atomic_path
from invest.pipeline import restore_hint

SCHEMA_VERSION = 2  # 2: no daily prices table (nothing read it; the raw tables keep them)


def write_store(path: str | os.PathLike[str], tables: dict[str, pd.DataFrame], meta: dict[str, object]) -> None:
    """Write all tables to a new database at a temporary path, then move it into place."""
    with atomic_path(path) as tmp:
        tmp.unlink()
        try:
            _write_all(tmp, tables, meta)
            _stamp_writer_version(tmp)
        except sqlite3.Error as exc:  # "database or disk is full", "unable to open database file", ...
            raise OutputError(
                f"cannot write {path} ({exc}); free disk space or make {Path(path).parent} writable, then rerun; "
                "existing files were left unchanged"
            ) from None
        finally:
            Path(f"{tmp}-journal").unlink(missing_ok=True)  # left behind when the journal itself hit the full disk


def _write_all(tmp: Path, tables: dict[str, pd.DataFrame], meta: dict[str, object]) -> None:
    """Create every table in a new database at ``tmp`` (rollback journal, no WAL side files)."""
    connection = sqlite3.connect(tmp)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
        with connection:
            connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            rows = [("schema_version", str(SCHEMA_VERSION))] + [
                (key, json.dumps(value, sort_keys=True)) for key, value in sorted(meta.items())
            ]
            connection.executemany("INSERT INTO meta VALUES (?, ?)", rows)
            _write_frame(connection, "tickers", tables["tickers"], ("ticker_id",), rowid=True)
            for name in ("monthly", "snapshots", "oracle"):
                if name in tables:
                    _write_frame(connection, name, tables[name], ("ticker_id", "date"))
        connection.execute("VACUUM")
    finally:
        connection.close()


# SQLite stamps the version of the library that last wrote a file into its header (bytes 96-99,
# informational only: SQLite never reads it back). Pythons link different SQLite releases, so the
# stamp alone would make the same data hash differently on another machine; write a fixed one.
WRITER_VERSION_OFFSET = 96
WRITER_VERSION_STAMP = (3_000_000).to_bytes(4, "big")  # "3.0.0"


def _stamp_writer_version(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.seek(WRITER_VERSION_OFFSET)
        handle.write(WRITER_VERSION_STAMP)


def _write_frame(connection: sqlite3.Connection, name: str, frame: pd.DataFrame, key: Sequence[str], rowid: bool = False) -> None:
    columns = []
    for column in frame.columns:
        if column in ("ticker_id",):
            kind = "INTEGER NOT NULL"
        elif frame[column].dtype.kind in "fiu":
            kind = "REAL"
        else:
            kind = "TEXT"
        columns.append(f'"{column}" {kind}')
    tail = "" if rowid else " WITHOUT ROWID"
    connection.execute(f"CREATE TABLE {name} ({', '.join(columns)}, PRIMARY KEY ({', '.join(key)})){tail}")
    placeholders = ", ".join("?" for _ in frame.columns)
    connection.executemany(f"INSERT INTO {name} VALUES ({placeholders})", _records(frame))


def _records(frame: pd.DataFrame) -> Iterable[tuple]:
    converted = []
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind == "M":
            converted.append(values.dt.strftime("%Y-%m-%d").to_numpy(dtype=object))
        elif values.dtype.kind == "f":
            array = values.to_numpy(dtype=float)
            converted.append(np.where(np.isfinite(array), array, None).astype(object))
        elif values.dtype.kind in "iu":
            converted.append(values.to_numpy().astype(object))
        else:
            converted.append(values.to_numpy(dtype=object))
    return zip(*converted, strict=False)


def connect_readonly(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open the store read-only and check it is one of ours, of the current schema version."""
    db = Path(path)
    if not db.exists():
        raise DataError(f"{db} not found; {restore_hint(db, 'build it with `dvc repro cache`')}")
    try:
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        version = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise DataError(f"{db} is not a readable invest database ({exc}); delete it and rerun `dvc repro`") from None
    if version is None or int(version[0]) != SCHEMA_VERSION:
        found = "none" if version is None else version[0]
        connection.close()
        raise DataError(
            f"{db} has schema version {found}, this code needs {SCHEMA_VERSION}; rebuild it with `dvc repro --force cache`"
        )
    return connection


def read_meta(connection: sqlite3.Connection) -> dict[str, object]:
    rows = connection.execute("SELECT key, value FROM meta").fetchall()
    return {key: (int(value) if key == "schema_version" else json.loads(value)) for key, value in rows}


def read_frame(connection: sqlite3.Connection, query: str, params: Sequence[object] = ()) -> pd.DataFrame:
    """Run ``query`` and return a frame with ``date`` parsed and tickers joined in."""
    try:
        frame = pd.read_sql_query(query, connection, params=params)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
        raise DataError(f"the database is damaged or incomplete ({exc}); rebuild it with `dvc repro --force cache`") from None
    if "date" in frame.columns:
        frame["date"] = pd.to_datetime(frame["date"])
    return frame


def read_table(connection: sqlite3.Connection, table: str) -> pd.DataFrame:
    """A whole table with the ticker symbol in place of its id, sorted by (ticker, date)."""
    frame = read_frame(
        connection, f"SELECT t.ticker, x.* FROM {table} x JOIN tickers t USING (ticker_id) ORDER BY t.ticker, x.date"
    )
    return frame.drop(columns=["ticker_id"])
