import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invest.cache import build_tables
from invest.data import features
from invest.params import CacheParams

FEATURE_COLUMNS = list(features.TEMPORAL_FEATURES)
STATIC_COLUMNS = list(features.STATIC_FEATURES)


def _perturb_after(tables: dict, cutoff: pd.Timestamp, rng: np.random.Generator) -> dict:
    """Change every raw value dated after ``cutoff`` (by its knowledge date)."""
    out = {name: frame.copy() for name, frame in tables.items()}
    prices = out["prices"]
    later = prices["date"] > cutoff
    factor = np.exp(rng.normal(0, 0.2, later.sum()))
    for column in ("open", "high", "low", "close", "adj_close"):
        prices.loc[later, column] = prices.loc[later, column] * factor
    prices.loc[later, "volume"] = prices.loc[later, "volume"] * rng.uniform(0.1, 10, later.sum())
    fundamentals = out["fundamentals"]
    unknown = fundamentals["report_date"] > cutoff
    for column in ("revenue", "net_income", "equity", "assets", "debt", "shares"):
        fundamentals.loc[unknown, column] = fundamentals.loc[unknown, column] * rng.uniform(0.2, 5, unknown.sum())
    market = out["market"]
    later_market = market["date"] > cutoff
    for column in ("index_close", "vol_index", "short_rate", "long_rate"):
        market.loc[later_market, column] = market.loc[later_market, column] * rng.uniform(0.5, 2, later_market.sum())
    macro = out["macro"]
    unpublished = macro["release_date"] > cutoff
    macro.loc[unpublished, "value"] = rng.normal(0, 10, unpublished.sum())
    return out


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(months_in=st.integers(min_value=14, max_value=90), seed=st.integers(0, 1000))
def test_changing_data_after_t_never_changes_features_at_t(small_tables, months_in, seed):
    """The point-in-time invariant: features at t depend only on what was known at t."""
    cutoff = pd.Timestamp("2010-01-01") + pd.DateOffset(months=months_in)
    base = build_tables(small_tables, CacheParams())
    changed = build_tables(_perturb_after(small_tables, cutoff, np.random.default_rng(seed)), CacheParams())
    for table, columns in (("monthly", FEATURE_COLUMNS), ("snapshots", STATIC_COLUMNS)):
        before = base[table][base[table]["date"] <= cutoff].set_index(["ticker", "date"])[columns]
        after = changed[table][changed[table]["date"] <= cutoff].set_index(["ticker", "date"])[columns]
        pd.testing.assert_frame_equal(before, after, check_exact=False, rtol=1e-10)
    # which (ticker, date) pairs are snapshots up to t is itself point-in-time
    assert (base["snapshots"]["date"] <= cutoff).sum() == (changed["snapshots"]["date"] <= cutoff).sum()


def test_fundamentals_enter_on_their_report_date_not_period_end(small_tables):
    snapshots = build_tables(small_tables, CacheParams())["snapshots"]
    fundamentals = small_tables["fundamentals"]
    checked = 0
    for _, row in fundamentals.iloc[::7].iterrows():
        mine = snapshots[snapshots["ticker"] == row["ticker"]].set_index("date")
        between = mine[(mine.index > row["period_end"]) & (mine.index < row["report_date"])]
        for date, snapshot in between.iterrows():
            # the newest quarter visible at `date` was reported on or before it, never this one
            known = fundamentals[(fundamentals["ticker"] == row["ticker"]) & (fundamentals["report_date"] <= date)]
            expected_age = (date - known["report_date"].max()).days / 365.25
            assert snapshot["fundamentals_age"] == pytest.approx(expected_age)
            assert known["report_date"].max() < row["report_date"]
            checked += 1
    assert checked > 5


def test_forward_returns_are_missing_where_the_future_is_unknown(small_tables):
    snapshots = build_tables(small_tables, CacheParams())["snapshots"]
    last = snapshots["date"].max()
    assert snapshots.loc[snapshots["date"] == last, "fwd_ret_1m"].isna().all()
    one_year_before_end = snapshots[snapshots["date"] > last - pd.DateOffset(months=12)]
    assert one_year_before_end["fwd_ret_1y"].isna().all()
    early = snapshots[snapshots["date"] < last - pd.DateOffset(months=40)]
    assert early["fwd_ret_3y"].notna().mean() > 0.9


def test_forward_return_matches_prices(small_tables):
    snapshots = build_tables(small_tables, CacheParams())["snapshots"].dropna(subset=["fwd_ret_3m"])
    prices = small_tables["prices"].set_index(["ticker", "date"])["adj_close"]
    row = snapshots.iloc[len(snapshots) // 2]
    month_ends = features.month_ends(small_tables["market"]["date"])
    later = month_ends[month_ends.get_loc(row["date"]) + 3]
    expected = prices[(row["ticker"], later)] / prices[(row["ticker"], row["date"])] - 1
    assert row["fwd_ret_3m"] == pytest.approx(expected)


def test_excess_return_subtracts_the_index(small_tables):
    snapshots = build_tables(small_tables, CacheParams())["snapshots"].dropna(subset=["fwd_ret_1y"])
    market_return = snapshots["fwd_ret_1y"] - snapshots["fwd_exc_1y"]
    # the market's return is the same for every ticker on a date
    assert market_return.groupby(snapshots["date"]).std().max() < 1e-9


def test_month_ends_picks_the_last_trading_day():
    days = pd.bdate_range("2020-01-01", "2020-03-31")
    assert list(features.month_ends(days).strftime("%m-%d")) == ["01-31", "02-28", "03-31"]
    assert list(features.month_ends(days, "quarterly").strftime("%m-%d")) == ["03-31"]


def test_temporal_features_use_trailing_windows_only():
    days = pd.bdate_range("2019-01-01", "2020-12-31")
    price = np.exp(np.linspace(0, 1, len(days)))
    prices = pd.DataFrame(
        {
            "ticker": "A",
            "date": days,
            "open": price,
            "high": price * 1.01,
            "low": price * 0.99,
            "close": price,
            "adj_close": price,
            "volume": 1000.0,
        }
    )
    market = pd.DataFrame({"date": days, "index_close": 100.0, "vol_index": 15.0, "short_rate": 1.0, "long_rate": 2.0})
    at = features.month_ends(days)
    monthly = features.temporal_features(features.price_panels(prices, pd.DatetimeIndex(days)), market, at)
    daily_log_return = 1 / (len(days) - 1)
    last = monthly.iloc[-1]
    assert last["ret_1m"] == pytest.approx(21 * daily_log_return)
    assert last["excess_ret_1m"] == pytest.approx(21 * daily_log_return)
    assert last["dist_52w_high"] == pytest.approx(0.0)
    assert last["vol_1m"] == pytest.approx(0.0, abs=1e-9)
