"""Stage ``fetch``: pull the raw tables from the configured source into ``data/raw/``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invest.data import sources
from invest.data.raw import read_existing, write_tables
from invest.data.schema import TABLES
from invest.errors import DataError
from invest.io import write_json
from invest.params import Params


def main(params: Params, *, raw_dir: str | os.PathLike[str], report_path: str | os.PathLike[str]) -> None:
    existing = read_existing(raw_dir)
    result = sources.fetch(params.data, existing)
    missing = [t.name for t in TABLES if t.required and t.name not in result.tables]
    if missing:
        raise DataError(f"source {params.data.source!r} returned no {', '.join(missing)} table; check its report")
    write_tables(raw_dir, {table.name: result.tables[table.name] for table in TABLES if table.name in result.tables})
    for table in TABLES:
        if table.name not in result.tables:  # a table the source does not make must not linger from an earlier source
            (Path(raw_dir) / table.filename).unlink(missing_ok=True)
    report = {**result.report, "failures": dict(sorted(result.failures.items()))}
    write_json(report_path, report)
    rows = ", ".join(f"{name} {len(frame):,}" for name, frame in result.tables.items())
    print(f"fetch: {params.data.source} -> {raw_dir}: {rows}", file=sys.stderr)
    if result.failures:
        shown = "; ".join(f"{ticker}: {reason}" for ticker, reason in list(sorted(result.failures.items()))[:10])
        print(f"fetch: {len(result.failures)} ticker(s) failed ({shown}); validate decides if coverage suffices", file=sys.stderr)
