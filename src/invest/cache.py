"""Stage ``cache``: build the point-in-time SQLite store from the validated raw tables."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invest.data.raw import read_raw, read_source
from invest.data.schema import MEMBERSHIP
from invest.data.snapshots import build_tables, store_meta, with_ticker_ids
from invest.data.store import SCHEMA_VERSION, write_store
from invest.params import Params

SECTIONS = ("cache",)


def main(params: Params, *, raw_dir: str | os.PathLike[str], db_path: str | os.PathLike[str]) -> None:
    raw = read_raw(raw_dir)
    tables = build_tables(raw, params.cache)
    meta = store_meta(raw, tables, params.cache)
    source = read_source(raw_dir)
    if source:  # raw tables written by fetch say what they are; the reports repeat it
        meta["data"] = source
    write_store(db_path, with_ticker_ids(tables), meta)
    snapshots = tables["snapshots"]
    size_kb = Path(db_path).stat().st_size / 1024
    members = " (index members on each date: data/raw membership)" if MEMBERSHIP.name in raw else ""
    print(
        f"cache: {len(snapshots):,} snapshots of {snapshots['ticker'].nunique()} tickers{members}, "
        f"{len(tables['monthly']):,} monthly steps -> {db_path} ({size_kb:,.0f} KiB, "
        f"{size_kb * 1024 / max(len(snapshots), 1):,.0f} bytes/snapshot, schema v{SCHEMA_VERSION})",
        file=sys.stderr,
    )
