"""The validate stage's checks (invest.data.checks, checks_fundamentals) on the small simulated market, edited.

Each test plants one defect in ``small_tables`` (15 tickers, 2010-2018) or a hand-made frame and
checks that the right finding, with its exact message, comes out, and that clean data passes.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from invest import params as params_module
from invest import validate
from invest.data.checks import run_checks, tickers_per_month_end
from invest.data.checks_fundamentals import collapse, unit_jumps
from invest.data.schema import FUNDAMENTAL_FIELDS, MARKET, PRICES
from invest.errors import ConfigError
from invest.params import ValidateParams


def checked(tables: dict, **changes) -> tuple[list[str], list[str], dict]:
    """(critical, warnings, stats) of ``tables`` under the default thresholds with ``changes``."""
    findings = run_checks(tables, dataclasses.replace(ValidateParams(), **changes))
    return findings.critical, findings.warnings, findings.stats


def noted(tables: dict) -> tuple[list[str], list[str], list[str]]:
    """(critical, warnings, notes) of ``tables`` under the default thresholds."""
    findings = run_checks(tables, ValidateParams())
    return findings.critical, findings.warnings, findings.notes


def edited(tables: dict, **frames: pd.DataFrame) -> dict:
    return {**tables, **frames}


def test_the_simulated_market_passes_without_findings(small_tables):
    critical, warnings, stats = checked(small_tables)
    assert critical == [] and warnings == []
    assert stats["prices_missing_columns"] == stats["market_missing_columns"] == stats["fundamentals_missing_columns"] == []


# ---------------------------------------------------------------- missing values per table and column


def test_empty_fundamentals_pass_with_a_note_instead_of_crashing(small_tables):
    tables = edited(small_tables, fundamentals=small_tables["fundamentals"].iloc[:0])
    critical, warnings, stats = checked(tables)
    assert critical == [] and warnings == []
    assert noted(tables)[2] == ["fundamentals are not provided; the fundamental features are left out"]
    assert stats["fundamentals_provided_columns"] == [] and len(stats["fundamentals_missing_columns"]) == 10


def test_price_only_data_passes_and_lists_the_columns_it_lacks(small_tables):
    prices = small_tables["prices"].assign(open=np.nan, high=np.nan, low=np.nan, volume=np.nan)
    market = small_tables["market"].assign(vol_index=np.nan, short_rate=np.nan, long_rate=np.nan)
    tables = edited(small_tables, prices=prices, market=market, fundamentals=small_tables["fundamentals"].iloc[:0])
    critical, _, stats = checked(tables)
    assert critical == []
    assert noted(tables)[2][:2] == [
        "prices.open, prices.high, prices.low, prices.volume are not provided (empty in every row); "
        "the features that need them are left out",
        "market.vol_index, market.short_rate, market.long_rate are not provided (empty in every row); "
        "the features that need them are left out",
    ]
    assert stats["prices_provided_columns"] == ["close", "adj_close"]
    assert stats["market_provided_columns"] == ["index_close"]
    assert stats["missing_share_volume"] == 1.0


def test_one_column_not_provided_is_named_alone(small_tables):
    critical, warnings, notes = noted(edited(small_tables, prices=small_tables["prices"].assign(volume=np.nan)))
    assert critical == warnings == []
    assert notes == ["prices.volume is not provided (empty in every row); the features that need it are left out"]


@pytest.mark.parametrize(
    ("table", "column", "message"),
    [
        ("prices", "close", "prices.close is empty in every row but is required; fill it"),
        (
            "prices",
            "adj_close",
            "prices.adj_close is empty in every row but is required; fill it "
            "(copy close if your source has no dividend-adjusted prices)",
        ),
        ("market", "index_close", "market.index_close is empty in every row but is required; fill it"),
    ],
)
def test_a_required_column_empty_everywhere_is_critical(small_tables, table, column, message):
    critical, _, _ = checked(edited(small_tables, **{table: small_tables[table].assign(**{column: np.nan})}))
    assert message in critical


def _partly_missing_volume(prices: pd.DataFrame, share: float) -> pd.DataFrame:
    prices = prices.copy()
    prices.loc[prices.index[: int(len(prices) * share)], "volume"] = np.nan
    return prices


def test_a_partly_missing_column_beyond_its_threshold_is_critical_and_names_the_key(small_tables):
    critical, _, stats = checked(edited(small_tables, prices=_partly_missing_volume(small_tables["prices"], 0.35)))
    assert critical == [
        "prices.volume is missing in 35.0% of rows (max 2.0%; raise validate.max_missing_share.prices.volume "
        "or leave the column empty everywhere if you do not have it)"
    ]
    assert stats["prices_provided_columns"] == ["open", "high", "low", "close", "adj_close", "volume"]


def test_a_column_entry_overrides_its_table_threshold(small_tables):
    tables = edited(small_tables, prices=_partly_missing_volume(small_tables["prices"], 0.35))
    assert checked(tables, max_missing_share={"prices": 0.02, "market": 0.02, "prices.volume": 0.4})[0] == []
    strict = {"prices": 0.5, "market": 0.02, "prices.volume": 0.3}
    assert checked(tables, max_missing_share=strict)[0][0].startswith("prices.volume is missing in 35.0% of rows (max 30.0%;")


def test_a_partly_missing_required_column_has_no_leave_it_empty_advice(small_tables):
    prices = small_tables["prices"].copy()
    prices.loc[prices.index[::2], "close"] = np.nan
    critical, _, _ = checked(edited(small_tables, prices=prices))
    assert critical == ["prices.close is missing in 50.0% of rows (max 2.0%; raise validate.max_missing_share.prices.close)"]


def test_the_market_table_threshold_also_sets_how_many_trading_days_it_may_miss(small_tables):
    market = small_tables["market"].iloc[::2]
    critical, _, _ = checked(edited(small_tables, market=market))
    assert critical == [
        "the market table covers only 50.0% of trading days (max 2.0% missing; raise validate.max_missing_share.market)"
    ]
    assert checked(edited(small_tables, market=market), max_missing_share={"prices": 0.02, "market": 0.6})[0] == []


# ---------------------------------------------------------------- params


def test_missing_share_params_name_exactly_the_schema_columns():
    for table in (PRICES, MARKET):
        floats = tuple(name for name, kind in table.columns.items() if kind == "float")
        assert params_module.MISSING_SHARE_COLUMNS[table.name] == floats


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        (
            {"prices": 0.02, "market": 0.02, "prices.volme": 0.5},
            "params: validate.max_missing_share has an unknown entry 'prices.volme'; allowed: prices, market "
            "or one of their columns (prices.open,",
        ),
        (
            {"prices": 0.02},
            "params: validate.max_missing_share has no entry for market; give each table its share, "
            "e.g. {prices: 0.02, market: 0.02}",
        ),
        (
            {"prices": 0.02, "market": 0.02, "market.vol_index": 1.5},
            "params: validate.max_missing_share.market.vol_index = 1.5 is out of range; allowed: a share between 0 and 1",
        ),
        (0.02, "params: validate.max_missing_share = 0.02 has the wrong type; expected a mapping of name: value"),
    ],
)
def test_bad_missing_share_entries_stop_with_one_line(shares, message):
    with pytest.raises(ConfigError) as error:
        params_module.from_dict({"validate": {"max_missing_share": shares}})
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("fundamentals_collapse_share", 1.5),
        ("unit_jump_factor", 1.0),
        ("max_unit_jump_share", -0.1),
        ("max_fundamentals_age_years", 0.0),
    ],
)
def test_new_thresholds_are_range_checked(key, value):
    with pytest.raises(ConfigError, match=f"validate.{key} = {value} is out of range"):
        params_module.from_dict({"validate": {key: value}})


# ---------------------------------------------------------------- fundamentals coverage over time


@pytest.mark.parametrize(
    ("coverage", "expected"),
    [
        ([0.9, 0.95, 0.9, 0.0, 0.0], (2003, 0.9, 0.0)),  # reported, then nothing from 2003 on
        ([0.9, 0.95, 0.9, 0.9, 0.05], (2004, 0.9, 0.05)),  # the last year alone, below a tenth of the median
        ([0.0, 0.0, 0.0, 0.5, 1.0], None),  # data that starts late (Yahoo's last five quarters)
        ([0.9, 0.02, 0.9, 0.9, 0.9], None),  # a dip that recovers
        ([0.9, 0.9, 0.9, 0.5, 0.4], None),  # thinner, not collapsed
        ([0.0, 0.0, 0.0, 0.0, 0.0], None),  # never reported: "not provided", not collapsed
    ],
)
def test_a_collapse_is_coverage_below_a_share_of_its_median_until_the_end(coverage, expected):
    assert collapse(pd.Series(coverage, index=range(2000, 2005)), 0.1) == expected


def test_fundamentals_that_stop_in_one_year_are_critical(small_tables):
    fundamentals = small_tables["fundamentals"]
    critical, _, stats = checked(edited(small_tables, fundamentals=fundamentals[fundamentals["report_date"] < "2016-01-01"]))
    assert critical == [
        "fundamentals (every field): coverage collapses from 2016 on (at most 0.0% of trading tickers report per year, "
        "down from a median of 100.0%); fetch the missing reports, or lower validate.fundamentals_collapse_share (0 accepts it)"
    ]
    assert len(stats["fundamentals_collapsed_fields"]) == 10
    assert stats["fundamentals_coverage_by_year"]["2016"] == 0.0


def test_one_field_that_stops_is_named(small_tables):
    fundamentals = small_tables["fundamentals"].copy()
    fundamentals.loc[fundamentals["report_date"] >= "2017-01-01", "debt"] = np.nan
    critical, _, stats = checked(edited(small_tables, fundamentals=fundamentals))
    assert len(critical) == 1 and critical[0].startswith("fundamentals.debt: coverage collapses from 2017 on (at most 0.0%")
    assert stats["fundamentals_collapsed_fields"] == ["debt"]
    assert checked(edited(small_tables, fundamentals=fundamentals), fundamentals_collapse_share=0.0)[0] == []


def test_fundamentals_that_start_late_have_not_collapsed(small_tables):
    fundamentals = small_tables["fundamentals"]
    late = fundamentals[fundamentals["report_date"] >= "2017-10-01"]  # like Yahoo's last five quarters
    critical, _, _ = checked(edited(small_tables, fundamentals=late))
    assert critical == []


def test_a_year_that_has_just_begun_is_no_collapse(small_tables):
    """Data to 2018-01-05: the last year's window looks back a year, not at five January days."""
    cut = {name: small_tables[name] for name in ("prices", "market")}
    tables = edited(small_tables, **{name: frame[frame["date"] <= "2018-01-05"] for name, frame in cut.items()})
    fundamentals = small_tables["fundamentals"]
    tables["fundamentals"] = fundamentals[fundamentals["report_date"] <= "2018-01-05"]
    critical, _, stats = checked(tables)
    assert critical == []
    assert stats["fundamentals_coverage_by_year"]["2018"] > 0.9


def test_a_field_missing_everywhere_is_a_note_not_a_collapse(small_tables):
    tables = edited(small_tables, fundamentals=small_tables["fundamentals"].assign(debt=np.nan))
    critical, warnings, stats = checked(tables)
    assert critical == [] and warnings == []
    assert noted(tables)[2] == ["fundamentals.debt is not provided (empty in every row); the features that need it are left out"]
    assert stats["fundamentals_missing_columns"] == ["debt"]


# ---------------------------------------------------------------- unit errors in quarterly values


def _quarters(revenue: list[float]) -> pd.DataFrame:
    """One ticker's quarterly fundamentals: ``revenue`` as given, every other field empty."""
    periods = pd.date_range("2015-03-31", periods=len(revenue), freq="QE")
    frame = pd.DataFrame({"ticker": "AAA", "period_end": periods, "report_date": periods + pd.Timedelta(days=40)})
    return frame.assign(**dict.fromkeys(FUNDAMENTAL_FIELDS, np.nan)).assign(revenue=revenue)


@pytest.mark.parametrize(
    ("values", "flagged"),
    [
        ([97e9, 98e9, 97e6, 99e9, 100e9], ["2015-09-30"]),  # 97M for 97bn, and back
        ([1e9, 2e11, 1.1e9], ["2015-06-30"]),  # 100x larger
        ([-5e9, -5e6, -6e9], ["2015-06-30"]),  # a series that stays negative
        ([97e9, 97e6, 96e6, 99e9], []),  # two quarters off: neither differs from both neighbours
        ([5e8, 1e6, 4e8, -3e8], []),  # a flow that crosses zero passes near it
        ([5e8, 0.0, 4e8], []),  # a zero has no ratio
        ([5e8, np.nan, 4e6, 5e8], ["2015-09-30"]),  # neighbours are the nearest reported quarters
    ],
)
def test_a_value_far_from_both_neighbours_is_a_unit_jump(values, flagged):
    jumps, _ = unit_jumps(_quarters(values), 100.0)
    assert [f"{date:%Y-%m-%d}" for date in jumps["period_end"]] == flagged


def _unit_errors(fundamentals: pd.DataFrame, ticker: str, every: int) -> pd.DataFrame:
    fundamentals = fundamentals.copy()
    rows = fundamentals.index[fundamentals["ticker"] == ticker][4:-4:every]
    fundamentals.loc[rows, "revenue"] /= 1000
    return fundamentals


def test_unit_jumps_above_their_share_are_critical_and_name_tickers_and_periods(small_tables):
    critical, _, stats = checked(edited(small_tables, fundamentals=_unit_errors(small_tables["fundamentals"], "S001", 4)))
    assert critical == [
        "fundamentals: 7 quarterly values are 100x larger or smaller than both neighbouring quarters "
        "(a unit error, millions for billions?): S001 revenue 2011-03-31, S001 revenue 2012-03-31, "
        "S001 revenue 2013-03-31, S001 revenue 2014-03-31, S001 revenue 2015-03-31, … "
        "(0.49% of 1,437 values checked, max 0.10%; fix them at the source or raise validate.max_unit_jump_share)"
    ]
    assert stats["fundamentals_unit_jumps"] == 7


def test_a_rare_unit_jump_is_a_warning(small_tables):
    fundamentals = _unit_errors(small_tables["fundamentals"], "S001", 100)
    critical, warnings, _ = checked(edited(small_tables, fundamentals=fundamentals))
    assert critical == [] and warnings[0].startswith("fundamentals: 1 quarterly values are 100x larger or smaller")


# ---------------------------------------------------------------- stale fundamentals


def test_a_ticker_whose_reports_stop_long_before_its_prices_is_named(small_tables):
    fundamentals = small_tables["fundamentals"]
    stale = fundamentals[(fundamentals["ticker"] != "S003") | (fundamentals["report_date"] < "2016-06-01")]
    critical, warnings, stats = checked(edited(small_tables, fundamentals=stale))
    assert critical == []
    assert warnings == [
        "fundamentals: 1 tickers have no report in the last 1.5 years of their prices: S003 (last 2016-05-20); "
        "their fundamental features go stale: refresh the fundamentals, or raise validate.max_fundamentals_age_years"
    ]
    assert stats["stale_fundamentals_tickers"] == 1
    assert checked(edited(small_tables, fundamentals=stale), max_fundamentals_age_years=3.0)[1] == []


# ---------------------------------------------------------------- tickers per month end


def _few_tickers(prices: pd.DataFrame, start: str, end: str, keep: int) -> pd.DataFrame:
    dropped = prices["date"].between(start, end) & ~prices["ticker"].isin([f"S{i:03d}" for i in range(keep)])
    return prices[~dropped]


def test_month_ends_with_too_few_tickers_are_critical_and_named(small_tables):
    prices = _few_tickers(small_tables["prices"], "2014-03-01", "2014-05-31", keep=3)
    critical, _, stats = checked(edited(small_tables, prices=prices))
    assert critical == [
        "prices: fewer than 5 tickers have a close at 3 month ends: 2014-03 (3), 2014-04 (3), 2014-05 (3); "
        "rank IC needs a cross-section: add tickers for those months or lower validate.min_tickers"
    ]
    assert stats["min_tickers_per_month_end"] == 3 and stats["month_ends_below_min_tickers"] == 3


def test_the_first_year_and_a_month_the_data_stops_in_are_not_counted(small_tables):
    prices = _few_tickers(small_tables["prices"], "2010-03-01", "2010-05-31", keep=3)
    prices = prices[prices["date"] <= "2018-12-14"]
    counts = tickers_per_month_end(prices, small_tables["market"][small_tables["market"]["date"] <= "2018-12-14"])
    assert counts.index[0] == pd.Timestamp("2011-01-31") and counts.index[-1] == pd.Timestamp("2018-11-30")
    assert checked(edited(small_tables, prices=prices))[0] == []


# ---------------------------------------------------------------- the report


def test_the_report_is_flat_rounded_and_sorted(small_tables, tmp_path):
    from tests.conftest import SMALL_PARAMS, write_raw

    raw = write_raw(tmp_path / "raw", small_tables)
    report = tmp_path / "data_quality.json"
    validate.main(params_module.from_dict(SMALL_PARAMS), raw_dir=raw, report_path=report)
    text = report.read_text()
    data = json.loads(text)
    assert list(data) == sorted(data)
    for key, value in data.items():
        if isinstance(value, dict):  # coverage by year: year -> share
            assert key.startswith("fundamentals_coverage_by_year") and all(round(v, 4) == v for v in value.values())
        elif isinstance(value, list):
            assert all(isinstance(item, str) for item in value), key
        elif isinstance(value, float):
            assert round(value, 6) == value, key
