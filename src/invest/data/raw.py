"""The raw tables on disk (``data/raw/<table>.parquet``): checked writes and reads."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pandas as pd

from invest.data.schema import TABLES, TABLES_BY_NAME, Table, conform
from invest.errors import DataError, InvestError
from invest.io import atomic_path, read_json, write_json
from invest.pipeline import restore_hint


def write_parquet(path: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")


def write_table(raw_dir: str | os.PathLike[str], table: Table, frame: pd.DataFrame) -> None:
    """Validate ``frame`` against ``table`` and write it atomically to ``raw_dir``."""
    write_parquet(Path(raw_dir) / table.filename, conform(frame, table, f"{table.name} table"))


def write_tables(raw_dir: str | os.PathLike[str], frames: dict[str, pd.DataFrame]) -> None:
    """Validate and write several raw tables, moving them into place only once every one is written.

    A run killed while writing leaves all the old files in place; only the final renames,
    microseconds apart, can separate old tables from new ones.
    """
    checked = [(TABLES_BY_NAME[name], conform(frame, TABLES_BY_NAME[name], f"{name} table")) for name, frame in frames.items()]
    with contextlib.ExitStack() as stack:  # each atomic_path renames its file when the stack unwinds
        for table, frame in checked:
            tmp = stack.enter_context(atomic_path(Path(raw_dir) / table.filename))
            frame.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")


def read_table(raw_dir: str | os.PathLike[str], table: Table) -> pd.DataFrame | None:
    """Read one raw table; None if an optional table is absent."""
    path = Path(raw_dir) / table.filename
    if not path.exists():
        if table.required:
            raise DataError(f"{path} not found; {restore_hint(path, 'fetch it with `dvc repro fetch`')}")
        return None
    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"{path} is not a readable Parquet file ({type(exc).__name__}); delete it and rerun fetch") from None
    return conform(frame, table, str(path))


def read_raw(raw_dir: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """Read every raw table present in ``raw_dir``, keyed by table name."""
    tables = {}
    for table in TABLES:
        frame = read_table(raw_dir, table)
        if frame is not None:
            tables[table.name] = frame
    return tables


def read_existing(raw_dir: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """Tables already on disk, for an incremental refresh; an unreadable one is refetched whole."""
    existing = {}
    for table in TABLES:
        if not (Path(raw_dir) / table.filename).exists():
            continue
        try:
            frame = read_table(raw_dir, table)
        except InvestError as exc:
            print(f"fetch: ignoring {table.filename} and fetching it again: {exc}", file=sys.stderr)
            continue
        if frame is not None:
            existing[table.name] = frame
    return existing


SOURCE_FILE = "source.json"  # what the raw tables are: their source and how the universe was chosen


def write_source(raw_dir: str | os.PathLike[str], about: dict) -> None:
    """Record where the raw tables came from (``fetch``), for the store and the reports."""
    write_json(Path(raw_dir) / SOURCE_FILE, about, sort_keys=True)


def read_source(raw_dir: str | os.PathLike[str]) -> dict:
    """What ``write_source`` recorded; {} for raw tables written without it (by hand, or by older code)."""
    path = Path(raw_dir) / SOURCE_FILE
    return dict(read_json(path)) if path.exists() else {}
