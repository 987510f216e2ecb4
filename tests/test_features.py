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


def _daily_prices(days: pd.DatetimeIndex, seed: int = 0) -> pd.DataFrame:
    """Four tickers: A (random walk, volume 0 every 5th day, close twice adj_close), B (volume 0 every
    other day: never 15 trading days in 21), C (constant price: no volatility, no price impact), D (gaps)."""
    rng = np.random.default_rng(seed)
    n = len(days)
    frames = []
    for ticker in "ABCD":
        price = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, n))) if ticker != "C" else np.full(n, 50.0)
        volume = rng.uniform(1e4, 1e6, n)
        if ticker == "A":
            volume[::5] = 0.0
        if ticker == "B":
            volume[::2] = 0.0
        frame = pd.DataFrame({"ticker": ticker, "date": days, "open": price, "high": price * 1.01, "low": price * 0.99})
        frame = frame.assign(close=price * (2.0 if ticker == "A" else 1.0), adj_close=price, volume=volume)
        frames.append(frame.iloc[::3] if ticker == "D" else frame)  # D trades every third day (gaps of 2 filled)
    return pd.concat(frames, ignore_index=True)


def _by_hand(prices: pd.DataFrame, days: pd.DatetimeIndex, ticker: str, at: pd.Timestamp) -> tuple[float, float]:
    """mom_vol_scaled and amihud_1m of one ticker at one month end, with plain numpy on the daily rows."""
    rows = prices[prices["ticker"] == ticker].set_index("date").reindex(days)
    log_price = np.log(rows["adj_close"].ffill(limit=5).to_numpy())
    close, volume = rows["close"].to_numpy(), rows["volume"].to_numpy()
    i = days.get_loc(at)
    returns = np.r_[np.nan, np.diff(log_price)]
    year = returns[max(i - 251, 0) : i + 1]
    year = year[np.isfinite(year)]
    vol = np.std(year, ddof=1) * np.sqrt(252) if len(year) >= 200 else np.nan
    momentum = log_price[i - 21] - log_price[i - 252] if i >= 252 else np.nan
    mom_vol_scaled = momentum / vol if vol > 0 else np.nan
    window = slice(i - 20, i + 1)
    traded = volume[window] > 0  # days without trading say nothing about price impact
    terms = np.abs(returns[window][traded]) / (close[window][traded] * volume[window][traded])
    terms = terms[np.isfinite(terms)]
    amihud = np.log(terms.mean()) if len(terms) >= 15 and terms.mean() > 0 else np.nan
    return mom_vol_scaled, amihud


def test_mom_vol_scaled_and_amihud_match_a_hand_computation():
    days = pd.bdate_range("2019-01-01", "2021-06-30")
    prices = _daily_prices(days)
    market = pd.DataFrame({"date": days, "index_close": 100.0, "vol_index": 15.0, "short_rate": 1.0, "long_rate": 2.0})
    at = features.month_ends(days)
    monthly = features.temporal_features(features.price_panels(prices, days), market, at).set_index(["ticker", "date"])
    checked = {"mom_vol_scaled": 0, "amihud_1m": 0}
    for (ticker, date), row in monthly.iterrows():
        expected = dict(zip(checked, _by_hand(prices, days, ticker, date), strict=True))
        for name, value in expected.items():
            if np.isnan(value):
                assert np.isnan(row[name]), (name, ticker, date)
            else:
                assert row[name] == pytest.approx(value, rel=1e-9), (name, ticker, date)
                checked[name] += 1
    assert min(checked.values()) > 20  # not vacuous: A has both (mom_vol_scaled from year two), D mom_vol_scaled
    assert monthly.loc["B", "amihud_1m"].isna().all()  # never 15 days with trading in a month
    assert monthly.loc["C", ["mom_vol_scaled", "amihud_1m"]].isna().all().all()  # no volatility, no price impact
    assert monthly.loc["A", "mom_vol_scaled"].notna().sum() > 15


def _rel_mom_inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    dates = pd.to_datetime(["2020-01-31", "2020-02-28"])
    momentum = {  # ticker -> ret_12_1m on the two dates
        "X1": (0.10, 0.30), "X2": (0.20, np.nan), "X3": (0.60, 0.10), "X4": (np.nan, 0.20),
        "Y1": (0.50, 0.50), "Y2": (-0.10, 0.00),
        "U1": (0.40, 0.40), "N1": (0.30, 0.30), "Z1": (0.00, 0.00),
    }  # fmt: skip
    monthly = pd.DataFrame(
        [(t, d, v) for t, values in momentum.items() for d, v in zip(dates, values, strict=True)],
        columns=["ticker", "date", "ret_12_1m"],
    )
    companies = pd.DataFrame(
        {
            "ticker": ["X1", "X2", "X3", "X4", "Y1", "Y2", "U1", "N1"],  # Z1 has no companies row
            "sector": ["Energy"] * 4 + ["Utilities"] * 2 + ["Unknown", None],
        }
    )
    return monthly[["ticker", "date"]], monthly, companies


def test_sector_rel_mom_matches_a_hand_computation():
    snapshots, monthly, companies = _rel_mom_inputs()
    out = features.sector_relative_features(snapshots, monthly, companies).set_index(["ticker", "date"])["sector_rel_mom"]
    jan, feb = pd.Timestamp("2020-01-31"), pd.Timestamp("2020-02-28")
    # January: Energy has X1, X2, X3 known (mean 0.3); X4's ret_12_1m is unknown
    assert out[("X1", jan)] == pytest.approx(0.10 - 0.3)
    assert out[("X2", jan)] == pytest.approx(0.20 - 0.3)
    assert out[("X3", jan)] == pytest.approx(0.60 - 0.3)
    assert np.isnan(out[("X4", jan)])
    # February: X1, X3, X4 known (mean 0.2)
    assert [out[(t, feb)] for t in ("X1", "X3", "X4")] == pytest.approx([0.1, -0.1, 0.0])
    assert np.isnan(out[("X2", feb)])
    # Utilities has two stocks: too few; unknown, missing and absent sectors: NaN
    assert out.loc[["Y1", "Y2", "U1", "N1", "Z1"]].isna().all()
    # a date's sector with only two known returns gets NaN
    fewer = monthly.assign(ret_12_1m=monthly["ret_12_1m"].where(~((monthly["ticker"] == "X4") & (monthly["date"] == feb))))
    out = features.sector_relative_features(snapshots, fewer, companies).set_index(["ticker", "date"])["sector_rel_mom"]
    assert out.xs(feb, level="date").isna().all() and out.xs(jan, level="date").notna().sum() == 3


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_sector_rel_mom_at_t_never_depends_on_another_date(data):
    """Changing, adding or removing rows of other dates never changes sector_rel_mom at t."""
    snapshots, monthly, companies = _rel_mom_inputs()
    t = pd.Timestamp(data.draw(st.sampled_from(["2020-01-31", "2020-02-28"])))
    other = monthly["date"] != t
    n = int(other.sum())
    values = data.draw(st.lists(st.one_of(st.none(), st.floats(-5, 5)), min_size=n, max_size=n))
    changed = monthly.copy()
    changed.loc[other, "ret_12_1m"] = [np.nan if v is None else v for v in values]
    later = changed[other].assign(date=pd.Timestamp("2020-03-31"))  # and a whole new date after t
    changed = pd.concat([changed, later], ignore_index=True)
    dropped = data.draw(st.lists(st.sampled_from(sorted(monthly["ticker"])), unique=True))
    changed_snapshots = changed.loc[(changed["date"] == t) | ~changed["ticker"].isin(dropped), ["ticker", "date"]]
    before = features.sector_relative_features(snapshots, monthly, companies)
    after = features.sector_relative_features(changed_snapshots, changed, companies)
    pd.testing.assert_frame_equal(
        before[before["date"] == t].reset_index(drop=True), after[after["date"] == t].reset_index(drop=True)
    )


def _three_sectors(tables: dict) -> dict:
    """The simulated market with its 15 stocks in three sectors of 5, 5 and 4 and one of unknown sector."""
    out = dict(tables)
    sectors = ["Energy"] * 5 + ["Financials"] * 5 + ["Utilities"] * 4 + ["Unknown"]
    out["companies"] = tables["companies"].assign(sector=sectors)
    return out


def test_sector_rel_mom_in_the_store_is_each_stock_less_its_sector_mean(small_tables):
    raw = _three_sectors(small_tables)
    tables = build_tables(raw, CacheParams())
    snapshots = tables["snapshots"].merge(tables["monthly"][["ticker", "date", "ret_12_1m"]], on=["ticker", "date"])
    snapshots["sector"] = snapshots["ticker"].map(raw["companies"].set_index("ticker")["sector"])
    known = snapshots[snapshots["sector"] != "Unknown"]
    grouped = known.groupby(["date", "sector"])["ret_12_1m"]
    expected = (known["ret_12_1m"] - grouped.transform("mean")).where(grouped.transform("count") >= 3)
    np.testing.assert_allclose(known["sector_rel_mom"], expected, rtol=1e-12, atol=1e-12)
    assert known["sector_rel_mom"].notna().mean() > 0.8
    assert snapshots.loc[snapshots["sector"] == "Unknown", "sector_rel_mom"].isna().all()
    means = known.groupby(["date", "sector"])["sector_rel_mom"].mean().dropna()
    assert len(means) > 100 and np.abs(means).max() < 1e-12  # the mean within a sector on a date is 0


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(months_in=st.integers(min_value=14, max_value=90), seed=st.integers(0, 1000))
def test_changing_data_after_t_never_changes_sector_rel_mom_at_t(small_tables, months_in, seed):
    """The point-in-time invariant for the sector-relative feature, on a market whose sectors have 3+ stocks."""
    raw = _three_sectors(small_tables)
    cutoff = pd.Timestamp("2010-01-01") + pd.DateOffset(months=months_in)
    base = build_tables(raw, CacheParams())["snapshots"]
    changed = build_tables(_perturb_after(raw, cutoff, np.random.default_rng(seed)), CacheParams())["snapshots"]
    before = base[base["date"] <= cutoff].set_index(["ticker", "date"])["sector_rel_mom"]
    after = changed[changed["date"] <= cutoff].set_index(["ticker", "date"])["sector_rel_mom"]
    pd.testing.assert_series_equal(before, after, check_exact=False, rtol=1e-10)
    assert before.notna().any()
