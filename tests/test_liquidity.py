"""The point-in-time liquid universe: chosen each month end from what was known that day."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from invest.data import liquidity
from invest.data.liquidity import LiquidityRule

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata-dev"


def market(days: int = 400, tickers: int = 6, seed: int = 0) -> pd.DataFrame:
    """Daily close and volume of a few stocks; stock k trades about k times as much as stock 1."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-01", periods=days)
    frames = []
    for k in range(1, tickers + 1):
        close = 20 * np.exp(np.cumsum(rng.normal(0, 0.01, days)))
        volume = rng.lognormal(np.log(1000 * k), 0.3, days)
        frames.append(pd.DataFrame({"ticker": f"T{k}", "date": dates, "close": close, "volume": volume}))
    return pd.concat(frames, ignore_index=True)


def test_the_most_traded_stocks_are_chosen_and_the_choice_follows_liquidity():
    prices = market()
    rule = LiquidityRule(top=2, lookback_days=60)
    chosen = liquidity.members(prices, rule)
    first = chosen[chosen["date"] == chosen["date"].min()]
    assert list(first["ticker"]) == ["T6", "T5"] and list(first["rank"]) == [1, 2]
    # T1 becomes the most traded stock from day 250 on: within a window of 60 days it joins, T5 leaves
    boosted = prices.copy()
    late = (boosted["ticker"] == "T1") & (boosted["date"] >= boosted["date"].unique()[250])
    boosted.loc[late, "volume"] *= 100
    after = liquidity.members(boosted, rule)
    last = after[after["date"] == after["date"].max()]
    assert set(last["ticker"]) == {"T1", "T6"}
    early = after[after["date"] < boosted["date"].unique()[250]]
    assert early.equals(chosen[chosen["date"] < boosted["date"].unique()[250]])


def test_eligibility_needs_history_and_a_price_above_the_floor():
    prices = market()
    prices.loc[prices["ticker"] == "T6", "close"] = 0.5  # a penny stock: heavily traded, never eligible
    young = (prices["ticker"] == "T5") & (prices["date"] < prices["date"].unique()[200])
    prices = prices[~young]  # listed on day 200: eligible once 80% of its window has prices
    chosen = liquidity.members(prices, LiquidityRule(top=2, lookback_days=60, min_price=1.0))
    assert "T6" not in set(chosen["ticker"])
    t5 = chosen.loc[chosen["ticker"] == "T5", "date"]
    assert t5.min() >= prices["date"].unique()[200 - 60 + 48 - 60]  # not before 48 of its 60 days have prices


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=80, max_value=380), seed=st.integers(0, 2**16), scale=st.floats(0.01, 100.0))
def test_prices_after_a_date_never_change_that_dates_members(cut, seed, scale):
    prices = market(seed=seed)
    rule = LiquidityRule(top=3, lookback_days=60)
    before = liquidity.members(prices, rule)
    day = prices["date"].unique()[cut]
    changed = prices.copy()
    later = changed["date"] > day
    changed.loc[later, "volume"] *= np.random.default_rng(seed).uniform(0, scale, later.sum())
    changed.loc[later, "close"] *= scale
    after = liquidity.members(changed, rule)
    pd.testing.assert_frame_equal(
        before[before["date"] <= day].reset_index(drop=True), after[after["date"] <= day].reset_index(drop=True)
    )


def test_membership_intervals_run_from_month_end_to_month_end_and_merge():
    chosen = pd.DataFrame(
        {
            "date": pd.to_datetime(["2020-01-31", "2020-01-31", "2020-02-28", "2020-03-31", "2020-03-31"]),
            "ticker": ["A", "B", "A", "A", "B"],
        }
    )
    table = liquidity.intervals(chosen, pd.Timestamp("2020-04-15"))
    assert table.to_dict("records") == [
        {"ticker": "A", "start": pd.Timestamp("2020-01-31"), "end": pd.Timestamp("2020-04-16")},
        {"ticker": "B", "start": pd.Timestamp("2020-01-31"), "end": pd.Timestamp("2020-02-28")},
        {"ticker": "B", "start": pd.Timestamp("2020-03-31"), "end": pd.Timestamp("2020-04-16")},
    ]
    years = liquidity.by_year(chosen)
    assert years["2020"]["members"] == pytest.approx(5 / 3) and years["2020"]["turnover"] == pytest.approx(0.25)


@pytest.mark.slow
@pytest.mark.skipif(not REALDATA.is_dir(), reason="the shared real data folder is absent")
def test_a_folder_of_real_tickers_runs_end_to_end_with_the_rule(tmp_path):
    """Eight real stocks, the four most traded each month end: fetch, validate and cache keep only those."""
    import shutil

    from invest import cache, fetch, validate
    from invest import params as params_module
    from invest.data import store
    from invest.evaluation.verdict import data_caveat

    folder = tmp_path / "files"
    (folder / "prices").mkdir(parents=True)
    for ticker in ("ACN", "ADI", "BSX", "CL", "CSX", "DE", "DUK", "GIS"):
        shutil.copy(REALDATA / "prices" / f"{ticker}.csv.gz", folder / "prices")
    raw = {
        "data": {"source": "files", "files_dir": str(folder), "files_layout": "per_ticker", "start": "2010-01-01",
                 "as_of": "2015-12-31", "universe": {"top_dollar_volume": 4}},
        "validate": {"min_tickers": 4},
    }  # fmt: skip
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    params = params_module.from_dict(raw)
    fetch.main(params, raw_dir=tmp_path / "raw", report_path=tmp_path / "fetch.json")
    validate.main(params, raw_dir=tmp_path / "raw", report_path=tmp_path / "quality.json")
    cache.main(params, raw_dir=tmp_path / "raw", db_path=tmp_path / "db")
    connection = store.connect_readonly(tmp_path / "db")
    try:
        snapshots = store.read_frame(connection, "SELECT date, ticker_id FROM snapshots")
        meta = store.read_meta(connection)
    finally:
        connection.close()
    assert snapshots.groupby("date").size().max() == 4  # never more than the rule's four
    assert meta["point_in_time_universe"] and "liquid stocks" in meta["data"]["universe"]
    assert "Survivorship bias, in part" in data_caveat(meta["data"])  # chosen among the files given: still survivors
    report = __import__("json").loads((tmp_path / "fetch.json").read_text())
    assert set(report["universe"]["by_year"]) >= {"2012", "2015"} and report["universe"]["candidates"] == 8


def test_the_survivorship_warning_says_what_each_way_of_choosing_the_universe_fixes():
    from invest.evaluation.verdict import data_caveat

    assert data_caveat({"simulated": True}) is None
    assert data_caveat({"point_in_time_universe": True, "universe": "sp500 members on each date"}) is None
    assert "not chosen point in time" in data_caveat({"universe": "a fixed list of 3 tickers"})
    partial = data_caveat({"point_in_time_universe": True, "chosen_among_given": True})
    assert "in part" in partial and "only among the price files given" in partial
