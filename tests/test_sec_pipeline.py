"""Prices from Yahoo and fundamentals from SEC EDGAR through fetch -> validate -> cache -> train, offline.

yfinance is replaced by the fakes of tests/fixtures/yahoo.py and SEC's HTTP layer by the recorded real
answers of tests/fixtures/sec.py (Tesla's and Snowflake's facts; the other symbols get a 404 = no XBRL
facts). The stages' ``main`` functions run in a temporary directory, as ``dvc repro`` would run them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yfinance
from tests.conftest import TINY_NETWORK, run_train
from tests.fixtures.sec import USER_AGENT, FakeSEC
from tests.fixtures.yahoo import FakeYahoo, history_frame, trading_days

from invest import cache, fetch, validate
from invest import params as params_module
from invest.data.raw import read_raw
from invest.data.sources import sec_client
from invest.data.sources.sec_facts import first_filed

UNIVERSE = ["TSLA", "SNOW", "AAPL", "MSFT", "KO", "XOM"]
PARAMS = {
    # the fake Yahoo serves 2022-01-03 .. 2025-06-30; fundamentals: auto is sec with yfinance prices
    "data": {"source": "yfinance", "start": "2022-01-03", "as_of": "2025-06-30", "universe": UNIVERSE},
    # the recorded Tesla facts end with its 10-Q of 2022-10: fields only Tesla reports (debt) stop there, a
    # collapse validate rightly stops on with real data; accepted here
    "validate": {"fundamentals_collapse_share": 0.0},
    "cache": {"min_history_days": 126},
    "train": {
        "horizon": "1m",
        "train_end": "2023-12-31",
        "val_end": "2024-09-30",
        "epochs": 1,
        "patience": 1,
        **TINY_NETWORK,
        "mc_samples": 4,
        "device": "cpu",
    },
    "evaluate": {"test_years": [2025], "val_months": 6},  # train checks them against the data
}


def fetch_on_fakes(raw_dir: Path, report: Path, data: dict) -> tuple[FakeYahoo, FakeSEC]:
    """fetch with ``data`` against fresh fakes of Yahoo and the SEC; the fakes, to read what they were asked."""
    yahoo, sec = FakeYahoo(), FakeSEC()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yfinance, "download", yahoo.download)
        patch.setattr(yfinance, "Ticker", yahoo.ticker_factory)
        patch.setattr(sec_client, "urllib_transport", sec)
        patch.setenv("SEC_USER_AGENT", USER_AGENT)
        fetch.main(params_module.from_dict({**PARAMS, "data": data}), raw_dir=raw_dir, report_path=report)
    return yahoo, sec


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> dict:
    """fetch, validate, cache and train once on the fakes; the paths and what the fakes were asked."""
    base = tmp_path_factory.mktemp("sec_pipeline")
    params = params_module.from_dict(PARAMS)
    yahoo, sec = fetch_on_fakes(base / "raw", base / "fetch.json", PARAMS["data"])
    validate.main(params, raw_dir=base / "raw", report_path=base / "data_quality.json")
    cache.main(params, raw_dir=base / "raw", db_path=base / "stock_data.db")
    model = run_train(params, base / "stock_data.db", base / "models" / "model.pt")
    return {"base": base, "model": model, "yahoo": yahoo, "sec": sec}


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_tesla_rows_are_dated_by_the_filing_that_first_reported_them(pipeline):
    raw = read_raw(pipeline["base"] / "raw")
    tesla = raw["fundamentals"][raw["fundamentals"]["ticker"] == "TSLA"].set_index("period_end")
    assert len(tesla) == 7  # 2021-03-31 .. 2022-09-30: from a year before data.start to the last recorded 10-Q
    # report_date is the filed date of the first filing with anything for the quarter: the raw vintages show it
    vintages = first_filed(raw["fundamental_vintages"][raw["fundamental_vintages"]["ticker"] == "TSLA"])
    first = vintages.groupby("period_end")["filed"].min()
    assert (tesla["report_date"] == first.reindex(tesla.index)).all()
    # Q4 2021 = FY 2021 (10-K filed 2022-02-07) minus 9M 2021; Q3 2022 as its 10-Q of 2022-10-24 reported it
    assert tesla.loc["2021-12-31", ["revenue", "report_date"]].tolist() == [17_719_000_000, pd.Timestamp("2022-02-07")]
    assert tesla.loc["2022-09-30", ["revenue", "report_date"]].tolist() == [21_454_000_000, pd.Timestamp("2022-10-24")]
    # restatements stay in the vintages and never overwrite: Q3 2019 diluted EPS as filed (0.78) and restated (0.16)
    all_vintages = raw["fundamental_vintages"]
    eps = all_vintages[(all_vintages["field"] == "eps") & (all_vintages["duration_days"] == 92)]
    q3_2019 = eps[eps["period_end"] == pd.Timestamp("2019-09-30")]
    assert q3_2019[["ticker", "value", "filed"]].values.tolist() == [
        ["TSLA", 0.78, pd.Timestamp("2019-10-29")],
        ["TSLA", 0.16, pd.Timestamp("2020-10-26")],
    ]


def test_sectors_come_from_sic_codes_and_tickers_without_xbrl_are_failures(pipeline):
    raw = read_raw(pipeline["base"] / "raw")
    companies = raw["companies"].set_index("ticker")
    assert companies.loc["TSLA"].tolist() == ["Tesla, Inc.", "Consumer Discretionary", "Motor Vehicles & Passenger Car Bodies"]
    assert set(companies.index) == set(UNIVERSE)
    report = read_json(pipeline["base"] / "fetch.json")
    assert report["fundamentals"] == "sec" and report["sectors"] == "sec"
    assert report["failures"]["AAPL"] == (
        "sec fundamentals: no XBRL financial data at SEC (HTTP 404 for https://data.sec.gov/api/xbrl/companyfacts/CIK0000320193.json)"
    )
    assert set(report["failures"]) == {"AAPL", "MSFT", "KO", "XOM"}
    assert ("TSLA", "info") not in pipeline["yahoo"].attribute_calls  # no Yahoo labels nor statements were asked for
    assert not [key for key in pipeline["yahoo"].attribute_calls if key[1].startswith("quarterly")]
    assert report["sec"]["http_calls"] == 1 + 6 + 6  # the tickers file, then facts and a profile per ticker


def test_fundamentals_coverage_by_year_is_in_both_reports(pipeline):
    fetched = read_json(pipeline["base"] / "fetch.json")["fundamentals_coverage"]
    assert fetched["2022"] == {"tickers": 2, "share": round(2 / 6, 4), "quarters": 7}  # Tesla's Q1-Q3, Snowflake's four
    assert fetched["2024"]["tickers"] == 1  # Snowflake only: the recorded Tesla facts end in 2022
    quality = read_json(pipeline["base"] / "data_quality.json")
    assert quality["ok"] and quality["fundamentals_coverage_by_year"]["2024"] == pytest.approx(1 / 6, abs=1e-3)


def test_the_state_to_refresh_is_dated_by_as_of_and_training_finishes(pipeline):
    log = read_raw(pipeline["base"] / "raw")["fetch_log"].set_index(["ticker", "kind"])
    assert log.loc[("TSLA", "sec_facts"), ["as_of", "latest"]].tolist() == [
        pd.Timestamp("2025-06-30"),
        pd.Timestamp("2022-09-30"),
    ]
    assert pd.isna(log.loc[("AAPL", "sec_facts"), "latest"])  # no facts: asked again a quarter later
    assert pipeline["model"].is_file()
    assert read_json(pipeline["model"].with_suffix(".json"))


def test_a_rerun_at_the_same_as_of_asks_nothing_and_writes_the_same_bytes(pipeline, tmp_path):
    shutil.copytree(pipeline["base"] / "raw", tmp_path / "raw")
    yahoo, sec = fetch_on_fakes(tmp_path / "raw", tmp_path / "fetch.json", PARAMS["data"])
    assert sec.calls == [] and yahoo.http_calls == 0
    for path in sorted((pipeline["base"] / "raw").glob("*.parquet")):
        assert (tmp_path / "raw" / path.name).read_bytes() == path.read_bytes(), path.name
    assert read_json(tmp_path / "fetch.json")["sec"]["up_to_date_because"] == {
        "already asked at this data.as_of or a later one": len(UNIVERSE)
    }


def test_your_own_price_files_can_take_the_secs_fundamentals(tmp_path):
    prices = tmp_path / "ext" / "prices"
    prices.mkdir(parents=True)
    for ticker in ("TSLA", "AAPL"):
        history_frame(ticker, trading_days("2022-01-03", "2022-12-30")).to_csv(prices / f"{ticker}.csv")
    data = {"source": "files", "files_layout": "per_ticker", "files_dir": str(tmp_path / "ext"), "fundamentals": "sec"}
    data |= {"start": "2022-01-03", "as_of": "2022-12-30"}
    _, sec = fetch_on_fakes(tmp_path / "raw", tmp_path / "fetch.json", data)
    raw = read_raw(tmp_path / "raw")
    assert set(raw["fundamentals"]["ticker"]) == {"TSLA"} and "fundamental_vintages" in raw
    assert raw["companies"]["sector"].tolist() == ["Unknown", "Unknown"]  # the files' own labels (none): data.sectors auto
    assert not any("submissions" in url for url in sec.calls)
