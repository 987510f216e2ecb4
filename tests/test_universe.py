"""A point-in-time universe (data.universe: sp500): fetch resolves it and writes the intervals, cache keeps members only.

The membership history is the real one shipped by index-constitution; prices are simulated (cache) or
come from the offline Yahoo of tests/fixtures/yahoo.py (fetch).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pandas as pd
import pytest
import yfinance
from tests.conftest import write_raw
from tests.fixtures.yahoo import FakeYahoo

from invest import cache, fetch
from invest import params as params_module
from invest.data.market import simulate
from invest.data.membership import all_tickers, load_membership
from invest.data.raw import read_raw
from invest.data.sources.universe import membership_table

pytest.importorskip("index_constitution")

# On 2020-12-21 Tesla joined the S&P 500 and Apartment Investment and Management (AIV) left it;
# the others were members throughout 2019-2021.
STAYING = ["AAPL", "MSFT", "JPM", "KO", "XOM", "PG", "JNJ", "WMT", "PFE", "MRK", "CVX", "HD", "CSCO"]
NAMES = ["TSLA", "AIV", *STAYING]
START, AS_OF = "2019-01-01", "2021-06-30"


def _market_with_real_names() -> dict[str, pd.DataFrame]:
    """The simulated market of 15 tickers, renamed S000 -> TSLA, S001 -> AIV, ... (sorted, as the raw schema wants)."""
    tables = simulate(15, START, AS_OF, seed=5)
    rename = {f"S{i:03d}": name for i, name in enumerate(NAMES)}
    return {
        name: frame.assign(ticker=frame["ticker"].map(rename)) if "ticker" in frame else frame for name, frame in tables.items()
    }


def _snapshot_tickers(db, date: str) -> set[str]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        rows = connection.execute(
            "SELECT t.ticker FROM snapshots s JOIN tickers t USING (ticker_id) WHERE s.date LIKE ?", (f"{date}%",)
        ).fetchall()
    return {ticker for (ticker,) in rows}


def test_cache_keeps_on_each_date_only_the_stocks_in_the_index_that_day(tmp_path):
    params = params_module.from_dict({"cache": {"min_history_days": 126}})
    tables = _market_with_real_names()
    write_raw(tmp_path / "fixed", tables)
    members = membership_table(load_membership("sp500"), START, AS_OF)
    write_raw(tmp_path / "pit", {**tables, "membership": members})
    for name in ("fixed", "pit"):
        cache.main(params, raw_dir=tmp_path / name, db_path=tmp_path / f"{name}.db")
    # a fixed list keeps every ticker on every date
    assert (
        _snapshot_tickers(tmp_path / "fixed.db", "2020-11-30")
        == _snapshot_tickers(tmp_path / "fixed.db", "2020-12-31")
        == set(NAMES)
    )
    # the point-in-time universe follows the change of 2020-12-21: AIV before it, TSLA after it
    assert _snapshot_tickers(tmp_path / "pit.db", "2020-11-30") == set(NAMES) - {"TSLA"}
    assert _snapshot_tickers(tmp_path / "pit.db", "2020-12-31") == set(NAMES) - {"AIV"}


def test_the_membership_table_holds_what_was_known_on_as_of():
    members = membership_table(load_membership("sp500"), START, "2020-12-31")
    tesla, aiv = (members[members["ticker"] == name].iloc[0] for name in ("TSLA", "AIV"))
    assert tesla["start"] == pd.Timestamp("2020-12-21") and pd.isna(tesla["end"])
    assert aiv["end"] == pd.Timestamp("2020-12-21")
    known = membership_table(load_membership("sp500"), START, "2020-12-18")
    assert "TSLA" not in set(known["ticker"])  # not a member yet: unknown on 2020-12-18
    assert pd.isna(known.loc[known["ticker"] == "AIV", "end"]).all()  # its removal was still to come


def test_fetch_resolves_sp500_writes_the_intervals_and_counts_members_without_prices(tmp_path, monkeypatch):
    priced = ["AAPL", "MSFT", "JPM", "KO", "XOM", "PG"]
    members = all_tickers(load_membership("sp500"), "2023-01-03", "2024-12-31")
    fake = FakeYahoo(failing=[ticker for ticker in members if ticker not in priced])  # Yahoo has no prices for the rest
    monkeypatch.setattr(yfinance, "download", fake.download)
    monkeypatch.setattr(yfinance, "Ticker", fake.ticker_factory)
    data = {"source": "yfinance", "universe": "sp500", "start": "2023-01-03", "as_of": "2024-12-31", "fundamentals": "none"}
    data["max_retries"] = 0  # the missing ones would be asked again with backoff
    fetch.main(params_module.from_dict({"data": data}), raw_dir=tmp_path / "raw", report_path=tmp_path / "fetch.json")
    asked = {ticker for call in fake.download_calls for ticker in call["tickers"]}
    assert set(members) <= asked  # every ticker that was a member at some point of the window
    raw = read_raw(tmp_path / "raw")
    assert set(raw["membership"]["ticker"]) == set(members)
    assert not (raw["membership"]["end"] > pd.Timestamp("2024-12-31")).any()  # no removal after as_of is known
    report = json.loads((tmp_path / "fetch.json").read_text())["membership"]
    assert report["membership"] == "sp500 (index-constitution 1.0.1)"
    assert report["tickers"] == len(members) and report["tickers_with_prices"] == len(priced)
    year_end = report["members_without_prices"]["2023-12-29"]
    assert 495 <= year_end["members"] <= 510 and year_end["without_prices"] == year_end["members"] - len(priced)
