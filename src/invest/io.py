"""Atomic file writes: every output of every stage goes through here.

Every output goes to a temporary file in the destination's directory and is moved
into place with ``os.replace``, so a killed run never leaves a half-written file
under the final name.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from invest.errors import DataError, OutputError


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


SIGNIFICANT_DIGITS = 6  # written numbers: a rerun that moves the 10th digit changes no file and no metrics diff


def stable_numbers(data: Any) -> Any:
    """Floats rounded to 6 significant digits and -0.0 made 0.0, in nested dicts and lists."""
    if isinstance(data, float):
        return float(f"{data:.{SIGNIFICANT_DIGITS}g}") + 0.0 if math.isfinite(data) else data
    if isinstance(data, dict):
        return {key: stable_numbers(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [stable_numbers(value) for value in data]
    return data


def write_json(path: str | os.PathLike[str], data: Any, sort_keys: bool = True) -> None:
    """JSON with stable numbers (``stable_numbers``; keys sorted unless told), written atomically."""
    write_text(path, json.dumps(stable_numbers(data), indent=2, sort_keys=sort_keys, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path} not found; run the stage that writes it (dvc repro)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); delete it and rerun dvc repro") from None


def write_csv(path: str | os.PathLike[str], frame: Any) -> None:
    """A pandas frame as CSV (6 significant digits, no -0, Unix line ends), written atomically."""
    floats = frame.select_dtypes("float").columns
    frame = frame.assign(**{column: frame[column] + 0.0 for column in floats})  # -0.0 + 0.0 is 0.0
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")
