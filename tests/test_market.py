import numpy as np
import pandas as pd
import pytest

from invest.data.market import simulate
from invest.data.schema import GICS_SECTORS, TABLES_BY_NAME, conform


def test_same_seed_same_tables_other_seed_other_tables():
    a, b, c = (
        simulate(6, "2012-01-01", "2015-12-31", 1),
        simulate(6, "2012-01-01", "2015-12-31", 1),
        simulate(6, "2012-01-01", "2015-12-31", 2),
    )
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not a["prices"]["adj_close"].equals(c["prices"]["adj_close"])


def test_tables_conform_to_the_raw_schema(small_tables):
    for name, frame in small_tables.items():
        conform(frame, TABLES_BY_NAME[name], name)  # raises on any violation


def test_fundamentals_are_reported_30_to_60_days_after_period_end(small_tables):
    lag = (small_tables["fundamentals"]["report_date"] - small_tables["fundamentals"]["period_end"]).dt.days
    assert lag.between(30, 60).all()


def test_macro_is_published_after_the_period(small_tables):
    macro = small_tables["macro"]
    assert (macro["release_date"] > macro["period_end"]).all()
    assert set(macro["series"]) == {"inflation", "unemployment", "gdp_growth"}


def test_sectors_are_gics_and_prices_positive(small_tables):
    assert set(small_tables["companies"]["sector"]) <= set(GICS_SECTORS)
    assert (small_tables["prices"][["open", "high", "low", "close", "adj_close"]] > 0).all().all()
    assert (small_tables["prices"]["high"] >= small_tables["prices"]["low"]).all()


def test_crashes_are_in_the_market_index():
    market = simulate(3, "2007-01-01", "2010-12-31", 5)["market"].set_index("date")["index_close"]
    assert market.loc["2009-03-09"] / market.loc["2008-09-11"] < 0.6


@pytest.mark.slow
def test_oracle_rank_ic_is_weak_but_real():
    tables = simulate(100, "2006-01-01", "2016-12-31", 42)
    prices = tables["prices"].pivot(index="date", columns="ticker", values="adj_close")
    index = tables["market"].set_index("date")["index_close"]
    oracle = tables["oracle"]
    ics = []
    for date, block in oracle.groupby("date"):
        i = prices.index.get_loc(date)
        if i + 252 >= len(prices):
            break
        realised = prices.iloc[i + 252] / prices.iloc[i] - index.iloc[i + 252] / index.iloc[i]
        joined = block.set_index("ticker")["expected_return_1y"].to_frame().join(realised.rename("r")).dropna()
        ics.append(joined.corr(method="spearman").iloc[0, 1])
    assert 0.12 < np.mean(ics) < 0.35


def test_moving_as_of_cuts_the_simulated_market_and_never_changes_the_past():
    from invest.data.sources import sim
    from invest.params import DataParams

    early = sim.fetch(DataParams(n_tickers=5, start="2010-01-01", as_of="2014-06-30", seed=4), {}).tables
    late = sim.fetch(DataParams(n_tickers=5, start="2010-01-01", as_of="2016-12-31", seed=4), {}).tables
    for name, frame in early.items():
        column = {"fundamentals": "report_date", "macro": "release_date"}.get(name, "date")
        if column not in frame:
            pd.testing.assert_frame_equal(frame, late[name])
            continue
        assert frame[column].max() <= pd.Timestamp("2014-06-30")
        cut = late[name][late[name][column] <= pd.Timestamp("2014-06-30")].reset_index(drop=True)
        pd.testing.assert_frame_equal(frame, cut, check_exact=True)
    assert late["prices"]["date"].max() == pd.Timestamp("2016-12-30")
