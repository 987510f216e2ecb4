"""The three sources feed the same pipeline: yfinance (through offline fakes), files, sim."""

import dataclasses
import random

import pandas as pd
from tests.conftest import write_raw
from tests.fixtures.yahoo import FakeYahoo

from invest import validate
from invest.cache import build_tables
from invest.data.raw import read_raw
from invest.data.sources import files, sim, yahoo
from invest.params import CacheParams, DataParams, ValidateParams

UNIVERSE = ["AAPL", "MSFT", "BRK-B", "JPM", "XOM", "KO"]


def _yahoo_tables():
    params = DataParams(source="yfinance", start="2023-01-01", as_of="2024-12-31", universe=list(UNIVERSE), fundamentals="yahoo")
    fake = FakeYahoo()
    result = yahoo.fetch(
        params, {}, download=fake.download, ticker_factory=fake.ticker_factory, sleep=lambda s: None, rng=random.Random(0)
    )
    return result


def _schema(tables: dict) -> dict:
    return {name: list(zip(frame.columns, map(str, frame.dtypes), strict=True)) for name, frame in tables.items()}


def test_the_three_sources_write_identical_schemas(tmp_path, small_tables):
    simulated = sim.fetch(DataParams(n_tickers=5, start="2015-01-01", as_of="2018-12-31"), {}).tables
    live = _yahoo_tables().tables
    write_raw(tmp_path / "files", {k: v for k, v in small_tables.items()})
    from_files = files.fetch(
        DataParams(source="files", files_dir=str(tmp_path / "files"), start="2010-01-01", as_of="2018-12-31")
    ).tables
    raw = {}
    for label, tables in (("sim", simulated), ("yfinance", live), ("files", from_files)):
        write_raw(tmp_path / label, {k: v for k, v in tables.items()})
        raw[label] = read_raw(tmp_path / label)
    shared = {name for name in raw["yfinance"]} & {name for name in raw["sim"]}
    assert {"prices", "companies", "fundamentals", "market", "macro"} <= shared
    for name in shared:  # read back through the raw reader: the schema's exact columns and dtypes
        assert _schema({name: raw["sim"][name]}) == _schema({name: raw["yfinance"][name]}) == _schema({name: raw["files"][name]})


def test_yfinance_output_passes_validate_and_builds_the_cache(tmp_path):
    result = _yahoo_tables()
    assert not result.failures
    write_raw(tmp_path / "raw", result.tables)
    raw = read_raw(tmp_path / "raw")
    findings = validate.run_checks(raw, dataclasses.replace(ValidateParams(), min_tickers=len(UNIVERSE)))
    assert findings.critical == []
    assert findings.stats["fundamentals_coverage_by_year"]  # reported per year
    tables = build_tables(raw, CacheParams())
    snapshots = tables["snapshots"]
    assert set(snapshots["ticker"]) == set(UNIVERSE)
    # Yahoo serves only recent quarters: older snapshots must get missing fundamentals, never today's values
    recent = snapshots[snapshots["date"] >= "2024-06-01"]
    assert (recent["fundamentals_missing"] == 0).any()
    assert "oracle" not in tables


def test_files_source_round_trips_the_simulated_market(tmp_path, small_tables):
    write_raw(tmp_path / "mine", small_tables)
    result = files.fetch(DataParams(source="files", files_dir=str(tmp_path / "mine"), start="2010-01-01", as_of="2018-12-31"))
    for name, frame in small_tables.items():
        pd.testing.assert_frame_equal(result.tables[name].reset_index(drop=True), frame.reset_index(drop=True), check_dtype=False)
