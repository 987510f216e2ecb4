"""Atomic file writes and the raw-table readers.

Every output goes to a temporary file in the destination's directory and is moved
into place with ``os.replace``, so a killed run never leaves a half-written file
under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from invest.errors import DataError
from invest.schema import TABLES, Table, conform


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it over ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path} not found; run the stage that writes it (dvc repro)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); delete it and rerun dvc repro") from None


def write_parquet(path: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")


def write_table(raw_dir: str | os.PathLike[str], table: Table, frame: pd.DataFrame) -> None:
    """Validate ``frame`` against ``table`` and write it atomically to ``raw_dir``."""
    write_parquet(Path(raw_dir) / table.filename, conform(frame, table, f"{table.name} table"))


def read_table(raw_dir: str | os.PathLike[str], table: Table) -> pd.DataFrame | None:
    """Read one raw table; None if an optional table is absent."""
    path = Path(raw_dir) / table.filename
    if not path.exists():
        if table.required:
            raise DataError(f"{path} not found; run `invest fetch` (or dvc repro) first")
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
