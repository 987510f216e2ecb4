"""Stage ``fetch``: pull the raw tables from the configured source into ``data/raw/``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invest.data import sources
from invest.data.raw import read_existing, write_source, write_tables
from invest.data.schema import MEMBERSHIP, TABLES
from invest.data.sources import registry
from invest.data.sources.universe import liquidity_rule
from invest.errors import DataError
from invest.io import write_json
from invest.params import Params

SECTIONS = ("data",)


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
    write_source(raw_dir, about(params, point_in_time=MEMBERSHIP.name in result.tables))
    report = {**result.report, "failures": dict(sorted(result.failures.items()))}
    write_json(report_path, report)
    rows = ", ".join(f"{name} {len(frame):,}" for name, frame in result.tables.items())
    print(f"fetch: {params.data.source} -> {raw_dir}: {rows}", file=sys.stderr)
    if result.failures:
        shown = "; ".join(f"{ticker}: {reason}" for ticker, reason in list(sorted(result.failures.items()))[:10])
        print(f"fetch: {len(result.failures)} ticker(s) failed ({shown}); validate decides if coverage suffices", file=sys.stderr)


def about(params: Params, point_in_time: bool) -> dict:
    """What the raw tables are, for the store and the reports: the source, and how the universe was chosen."""
    data, spec = params.data, registry.get(params.data.source)
    universe = data.universe
    if not spec.real_tickers:
        chosen = f"every ticker of the {spec.words}"
    elif (rule := liquidity_rule(data)) is not None:
        chosen = "liquid stocks: " + rule.describe()
    elif isinstance(universe, str):
        chosen = f"{universe} members on each date" if point_in_time else f"the tickers listed in {universe}"
    elif universe:
        chosen = f"a fixed list of {len(universe)} tickers"
    else:
        chosen = "a built-in list of today's large caps" if spec.tickers_from_universe else f"every ticker in {spec.words}"
    about = {
        "source": spec.name,
        "words": spec.words,
        "simulated": not spec.real_tickers,
        "universe": chosen,
        "point_in_time_universe": bool(point_in_time),
    }
    if liquidity_rule(data) is not None:  # chosen point in time, but only among the files or candidates given
        about["chosen_among_given"] = True
    return about
