"""Atomic file writes and the raw-table readers.

Every output goes to a temporary file in the destination's directory and is moved
into place with ``os.replace``, so a killed run never leaves a half-written file
under the final name.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from invest.errors import DataError, OutputError
from invest.schema import TABLES, TABLES_BY_NAME, Table, conform


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once: os.umask can only be read by setting it
_FILE_MODE = 0o666 & ~_UMASK  # what open(path, "w") gives; mkstemp's own 0600 would hide outputs from other users
_DIR_MODE = 0o777 & ~_UMASK


def write_error(target: str | os.PathLike[str], exc: OSError) -> OutputError:
    """One line for a failed write: what could not be written, why, and what to do."""
    where = Path(target)
    reason = exc.strerror or " ".join(str(exc).split())[:200] or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        fix = "free disk space (or raise the file size limit, ulimit -f) and rerun"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = f"make {where.parent} writable or write somewhere else"
    elif exc.errno in (errno.EEXIST, errno.ENOTDIR):
        reason = "a file is in the way of a directory"
        fix = f"move that file away so {where.parent} can be a directory, or write somewhere else"
    elif exc.errno == errno.EISDIR:
        reason = "a directory is in the way"
        fix = f"remove the directory {where} or write somewhere else"
    else:
        fix = f"check that {where.parent} is a writable directory and rerun"
    return OutputError(f"cannot write {where} ({reason}); {fix}; existing files were left unchanged")


@contextlib.contextmanager
def output_errors(target: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an ``OSError`` raised inside into the one-line ``OutputError`` for ``target``."""
    try:
        yield
    except OSError as exc:
        raise write_error(target, exc) from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it over ``path``.

    An ``OSError`` while writing (disk full, no permission) becomes an ``OutputError``;
    ``path`` is then untouched and the temporary file removed.
    """
    target = Path(path)
    with output_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with output_errors(target):
            yield tmp
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``path``; on success it replaces ``path`` whole.

    A killed run leaves ``path`` as it was (or, in the instant between two renames, absent),
    never half-written; the old directory is removed after the swap.
    """
    target = Path(path)
    with output_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        with output_errors(target):
            yield tmp
            os.chmod(tmp, _DIR_MODE)
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old.tmp", dir=target.parent))
                os.replace(target, old / target.name)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
