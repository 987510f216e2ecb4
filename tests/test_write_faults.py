"""Faults while writing outputs: a full disk, no permission, a file in the way.

Every write goes through ``invest.io`` (temporary file + rename) or ``store.write_store``. A
failed write must end with one line (``OutputError``: what, why, what to do), leave the
previous outputs byte for byte as they were, and leave no temporary files behind. The faults
are injected by monkeypatching the lowest layer the code calls, and end to end by running the
real command under a file size limit (``ulimit -f``: writes fail with EFBIG like on a full disk).
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests.conftest import SMALL_PARAMS, invest_args, write_raw

from invest import io as invest_io
from invest.data import store
from invest.data.raw import write_tables
from invest.errors import OutputError
from invest.io import atomic_dir, write_json


def files_in(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def no_permission(*args, **kwargs):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


def test_disk_full_on_rename_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics" / "eval.json"
    write_json(target, {"version": 1})
    before = files_in(tmp_path)
    monkeypatch.setattr(invest_io.os, "replace", disk_full)
    with pytest.raises(OutputError) as caught:
        write_json(target, {"version": 2})
    message = str(caught.value)
    assert message == (
        f"cannot write {target} (No space left on device); free disk space (or raise the file size limit, ulimit -f) "
        "and rerun; existing files were left unchanged"
    )
    assert "\n" not in message
    assert files_in(tmp_path) == before  # the old file, and no temporary file


def test_no_permission_to_create_the_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "models" / "model_card.json"
    write_json(target, {"version": 1})
    before = files_in(tmp_path)
    monkeypatch.setattr(invest_io.tempfile, "mkstemp", no_permission)
    with pytest.raises(OutputError, match=r"\(Permission denied\); make .*models writable or write somewhere else"):
        write_json(target, {"version": 2})
    assert files_in(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory(tmp_path):
    target = tmp_path / "out" / "report.json"
    write_json(target, {"version": 1})
    os.chmod(target.parent, 0o555)
    try:
        with pytest.raises(OutputError, match="Permission denied"):
            write_json(target, {"version": 2})
        assert yaml.safe_load(target.read_text()) == {"version": 1}
    finally:
        os.chmod(target.parent, 0o755)


def test_disk_full_while_writing_raw_tables_replaces_none_of_them(tmp_path, monkeypatch, small_tables):
    raw = write_raw(tmp_path / "raw", small_tables)
    before = files_in(tmp_path)
    calls = []

    def fail_on_the_third(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            Path(path).write_bytes(b"PAR1 half a file")
            disk_full()
        return original(self, path, *args, **kwargs)

    original = pd.DataFrame.to_parquet
    monkeypatch.setattr(pd.DataFrame, "to_parquet", fail_on_the_third)
    changed = {
        name: frame.assign(**{c: frame[c] * 2 for c in frame.columns if frame[c].dtype == float})
        for name, frame in small_tables.items()
    }
    with pytest.raises(OutputError, match="No space left on device"):
        write_tables(raw, changed)
    assert files_in(tmp_path) == before


def test_disk_full_while_writing_the_store_keeps_the_old_one(tmp_path, monkeypatch, small_store):
    db = tmp_path / "stock_data.db"
    db.write_bytes(small_store.read_bytes())

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "_write_all", full)
    with pytest.raises(OutputError, match=r"cannot write .*stock_data.db \(database or disk is full\); free disk space"):
        store.write_store(db, {}, {})
    assert db.read_bytes() == small_store.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stock_data.db"]


def test_a_failed_directory_swap_keeps_the_old_directory(tmp_path):
    live = tmp_path / "metrics" / "train"
    (live / "plots").mkdir(parents=True)
    (live / "metrics.json").write_text('{"step": 29}\n')
    before = files_in(tmp_path)
    with pytest.raises(OutputError, match="No space left on device"):
        with atomic_dir(live) as staging:
            (staging / "metrics.json").write_text('{"step": 0}\n')
            disk_full()
    assert files_in(tmp_path) == before
    assert sorted(p.name for p in live.parent.iterdir()) == ["train"]


def test_a_directory_swap_replaces_the_whole_directory(tmp_path):
    live = tmp_path / "train"
    (live / "old").mkdir(parents=True)
    (live / "old" / "curve.tsv").write_text("stale\n")
    with atomic_dir(live) as staging:
        (staging / "metrics.json").write_text("{}\n")
    assert files_in(live) == {"metrics.json": b"{}\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train"]


def test_outputs_are_readable_like_files_written_with_open(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    write_json(tmp_path / "a.json", {})
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~mask


def _file_size_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize("stage", ["fetch", "cache"])
def test_the_command_line_on_a_full_disk(stage, tmp_path, small_store):
    """End to end: the real command under `ulimit -f`, after a complete run; one line, old outputs intact."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(SMALL_PARAMS))
    write_raw(
        tmp_path / "data" / "raw",
        {path.stem: pd.read_parquet(path) for path in (small_store.parent / "raw").glob("*.parquet")},  # what sim wrote
    )
    (tmp_path / "data" / "stock_data.db").write_bytes(small_store.read_bytes())
    before = files_in(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "invest", *invest_args(stage)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_file_size_limit(50_000),
        env={k: v for k, v in os.environ.items() if k != "INVEST_DEBUG"},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    target = "data/raw/prices.parquet" if stage == "fetch" else "data/stock_data.db"
    assert last.startswith(f"Error: cannot write {target} (")
    assert last.endswith("existing files were left unchanged")
    assert files_in(tmp_path) == before
