"""The yfinance source against offline fakes shaped like yfinance 1.7 (no network)."""

from __future__ import annotations

import dataclasses
import json
import random
import socket
import subprocess
import sys
import tempfile
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from invest.data.raw import write_tables
from invest.data.schema import COMPANIES, FUNDAMENTALS, GICS_SECTORS, MACRO, MARKET, PRICES, TABLES_BY_NAME, conform
from invest.data.sources import yahoo
from invest.data.sources.retry import CallBudget, retry_after_seconds, unreachable
from invest.data.sources.universe import DEFAULT_UNIVERSE, resolve_universe
from invest.errors import ConfigError, FetchError
from invest.params import DataParams

try:  # tests/ is on sys.path (pytest's default rootdir insertion) ...
    from fixtures.yahoo import (
        INFO_EXTRA,
        FakeFred,
        FakeYahoo,
        announcement_stamps,
        download_frame,
        earnings_dates_frame,
        history_frame,
        http_error,
        offline_error,
        quarterly_statements,
        statement_frame,
        trading_days,
    )
except ModuleNotFoundError:  # ... or the repository root is, with tests as a package
    from tests.fixtures.yahoo import (
        INFO_EXTRA,
        FakeFred,
        FakeYahoo,
        announcement_stamps,
        download_frame,
        earnings_dates_frame,
        history_frame,
        http_error,
        offline_error,
        quarterly_statements,
        statement_frame,
        trading_days,
    )

UNIVERSE = ["AAPL", "MSFT", "BRK-B", "JPM"]


def make_params(**changes) -> DataParams:
    base = DataParams(
        source="yfinance",
        start="2023-01-01",
        as_of="2024-12-31",
        universe=list(UNIVERSE),
        max_retries=3,
        fundamentals="yahoo",  # Yahoo's statements and labels (by default the SEC's: tests/test_sec_pipeline.py)
    )
    return dataclasses.replace(base, **changes)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def run(fake: FakeYahoo, params: DataParams | None = None, existing=None, sleep=None, **kwargs):
    return yahoo.fetch(
        params or make_params(),
        existing or {},
        download=fake.download,
        ticker_factory=fake.ticker_factory,
        sleep=sleep if sleep is not None else Sleeps(),
        rng=random.Random(0),
        **kwargs,
    )


def assert_tables_equal(left: dict, right: dict) -> None:
    assert set(left) == set(right)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=False, rtol=1e-9, obj=name)


def assert_identical(left: dict, right: dict) -> None:
    """Equal to the last bit: the same frames, and the same bytes once written as raw Parquet files."""
    assert set(left) == set(right)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=True, obj=name)
    assert parquet_bytes(left) == parquet_bytes(right)


def parquet_bytes(tables: dict) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as directory:
        write_tables(directory, tables)
        return {path.name: path.read_bytes() for path in sorted(Path(directory).iterdir())}


def without_log(tables: dict) -> dict:
    """The data tables: the fetch_log differs between a refresh and a one-shot fetch by design (when each ask was made)."""
    return {name: frame for name, frame in tables.items() if name != "fetch_log"}


# ------------------------------------------------------------------------ full fetch


@pytest.fixture(scope="module")
def full():
    """One full fetch with default test params, shared by the read-only tests: (fake, result)."""
    fake = FakeYahoo()
    return fake, run(fake)


def test_full_fetch_tables_conform_to_schema(full):
    fake, result = full
    assert set(result.tables) == {"prices", "companies", "fundamentals", "market", "macro", "fetch_log"}
    for name, frame in result.tables.items():
        table = TABLES_BY_NAME[name]
        pd.testing.assert_frame_equal(frame, conform(frame, table, name))
    assert result.failures == {}
    prices = result.tables["prices"]
    assert sorted(prices["ticker"].unique()) == sorted(UNIVERSE)
    assert prices["date"].min() >= pd.Timestamp("2023-01-01") and prices["date"].max() == pd.Timestamp("2024-12-31")
    assert (prices["adj_close"] < prices["close"]).all()  # Adj Close, not Close
    json.dumps(result.report, allow_nan=False)  # JSON-serialisable
    assert result.report["tickers_requested"] == 4 and result.report["tickers_ok"] == 4
    assert result.report["rows"]["prices"] == len(prices)
    # 1 price batch + 1 market batch + 4 tickers x (info, 3 statements, earnings dates)
    assert result.report["http_calls"] == 2 + 4 * 5 == fake.http_calls


def test_download_is_called_with_batches_and_adjusted_prices():
    fake = FakeYahoo()
    run(fake, make_params(batch_size=3))
    price_calls = [c for c in fake.download_calls if "^GSPC" not in c["tickers"]]
    assert [c["tickers"] for c in price_calls] == [["AAPL", "MSFT", "BRK-B"], ["JPM"]]
    for call in fake.download_calls:
        assert call["start"] == "2023-01-01" and call["end"] == "2025-01-01"  # end is exclusive
        assert call["threads"] is True and call["auto_adjust"] is False


def test_companies_hold_only_static_labels_mapped_to_gics(full):
    companies = full[1].tables["companies"]
    assert list(companies.columns) == list(COMPANIES.columns)
    assert set(companies["sector"]) <= set(GICS_SECTORS)
    assert companies.loc[companies["ticker"] == "AAPL", "name"].item() == "AAPL Corporation"
    values = set(companies.to_numpy().ravel().tolist())
    assert not values & {str(v) for v in INFO_EXTRA.values()} and not values & set(INFO_EXTRA.values())


def test_market_table_maps_proxies_and_fills_bond_holidays(full):
    market = full[1].tables["market"]
    assert list(market.columns) == list(MARKET.columns)
    assert market[["index_close", "vol_index", "short_rate", "long_rate"]].notna().all().all()
    columbus = market.set_index("date").loc[pd.Timestamp("2024-10-14")]
    before = market.set_index("date").loc[pd.Timestamp("2024-10-11")]
    assert columbus["long_rate"] == before["long_rate"]  # forward-filled over the bond-market holiday
    assert columbus["index_close"] != before["index_close"]


def test_fundamentals_map_line_items_and_use_earnings_dates(full):
    result = full[1]
    fundamentals = result.tables["fundamentals"]
    aapl = fundamentals[fundamentals["ticker"] == "AAPL"].set_index("period_end")
    raw = quarterly_statements("AAPL")
    q = pd.Timestamp("2024-06-30")
    assert aapl.loc[q, "revenue"] == raw["quarterly_income_stmt"].loc["Total Revenue", q]
    assert aapl.loc[q, "eps"] == raw["quarterly_income_stmt"].loc["Diluted EPS", q]
    assert aapl.loc[q, "shares"] == raw["quarterly_balance_sheet"].loc["Share Issued", q]  # Ordinary Shares is NaN
    oldest = pd.Timestamp("2023-09-30")
    assert aapl.loc[oldest, "eps"] == raw["quarterly_income_stmt"].loc["Basic EPS", oldest]
    cash = raw["quarterly_cashflow"]
    assert aapl.loc[oldest, "free_cash_flow"] == pytest.approx(
        cash.loc["Operating Cash Flow", oldest] + cash.loc["Capital Expenditure", oldest]
    )
    assert (fundamentals["report_date"] > fundamentals["period_end"]).all()
    assert (fundamentals["report_date"] <= pd.Timestamp("2024-12-31")).all()  # public by as_of
    assert pd.Timestamp("2024-12-31") not in set(fundamentals["period_end"])  # reported in 2025
    assert result.report["fundamentals_coverage"]["2024"] == {"tickers": 4, "share": 1.0, "quarters": 12}


def test_report_dates_after_close_window_and_fallback():
    ends = pd.Series(pd.to_datetime(["2024-03-31", "2024-06-30", "2023-03-31"]))
    earnings = earnings_dates_frame(["2024-04-25 16:30", "2024-07-20 08:00", "2022-05-01 08:00"])
    out = pd.DatetimeIndex(yahoo.report_dates(ends, earnings, 45))
    assert list(out) == [pd.Timestamp("2024-04-26"), pd.Timestamp("2024-07-20"), pd.Timestamp("2023-05-15")]
    fallback = pd.DatetimeIndex(yahoo.report_dates(ends, None, 30))
    assert list(fallback) == list(pd.DatetimeIndex(ends) + pd.Timedelta(days=30))


def test_statements_tolerate_empty_and_partial_frames():
    assert yahoo.statements_to_fundamentals("X", pd.DataFrame(), pd.DataFrame(), None).empty
    income = statement_frame({"Total Revenue": [1.0, np.nan], "Net Income": [np.nan, np.nan]}, ["2024-06-30", "2024-03-31"])
    out = yahoo.statements_to_fundamentals("X", income, pd.DataFrame(), None)
    assert list(out["period_end"]) == [pd.Timestamp("2024-06-30")]  # the all-empty quarter is dropped
    assert out["revenue"].tolist() == [1.0]


# ------------------------------------------------------------------------ download shapes


@pytest.mark.parametrize("group_by", ["column", "ticker"])
@pytest.mark.parametrize("tz", [None, "America/New_York"])
def test_split_download_handles_real_shapes(group_by, tz):
    days = trading_days("2024-01-02", "2024-01-31")
    histories = {
        "AAPL": history_frame("AAPL", days, tz=tz),
        "BRK-B": history_frame("BRK-B", days[5:], tz=tz),
        "DEAD": None,
    }
    frame = download_frame(histories, group_by=group_by, ignore_tz=tz is None)
    frame = pd.concat([frame, frame.iloc[[3]] * 1.5])  # a duplicated index row
    assert isinstance(frame.columns, pd.MultiIndex)
    assert frame.columns.names == (["Price", "Ticker"] if group_by == "column" else ["Ticker", "Price"])
    parts = yahoo.split_download(frame, ["AAPL", "BRK-B", "DEAD", "GONE"])
    assert set(parts) == {"AAPL", "BRK-B"}  # DEAD is all-NaN, GONE absent from the batch
    aapl = parts["AAPL"]
    assert list(aapl["date"]) == list(days) and aapl["date"].dt.tz is None
    assert aapl["close"].iloc[3] == pytest.approx(histories["AAPL"]["Close"].iloc[3] * 1.5)  # the last copy wins
    assert len(parts["BRK-B"]) == len(days) - 5  # union-index NaN rows dropped


def test_split_download_empty_and_single_ticker_flat():
    assert yahoo.split_download(pd.DataFrame(), ["AAPL"]) == {}
    assert yahoo.split_download(download_frame({"AAPL": None, "MSFT": None}), ["AAPL", "MSFT"]) == {}
    flat = history_frame("AAPL", trading_days("2024-01-02", "2024-01-10"))
    assert len(yahoo.split_download(flat, ["AAPL"])["AAPL"]) == len(flat)


@pytest.mark.parametrize("shape", ["column", "ticker"])
def test_fetch_with_tz_aware_index_and_duplicates_matches_plain(full, shape):
    plain = full[1].tables
    odd = run(FakeYahoo(tz="America/New_York", group_by_shape=shape, duplicate_last_row=True)).tables
    assert_tables_equal(plain, odd)


# ------------------------------------------------------------------------ incremental refresh


def test_incremental_refresh_matches_full_fetch_and_requests_only_new_range(full):
    first = run(FakeYahoo(), make_params(as_of="2024-06-28"))
    fake = FakeYahoo()
    second = run(fake, make_params(as_of="2024-12-31"), existing=first.tables)
    whole = full[1]  # one full fetch with as_of 2024-12-31
    assert_tables_equal(without_log(second.tables), without_log(whole.tables))
    assert second.report["mode"] == "incremental"
    starts = {"prices" if "^GSPC" not in c["tickers"] else "market": c["start"] for c in fake.download_calls}
    assert starts == {"prices": "2024-06-21", "market": "2023-01-01"}  # last stored - 7 days; the market whole
    # newer quarters than the latest public one (2024-03-31) could be out, so statements were asked for
    assert second.report["statements"]["asked"] == 4

    again = FakeYahoo()
    third = run(again, make_params(as_of="2024-12-31"), existing=second.tables)
    assert again.http_calls == 0 and third.report["http_calls"] == 0  # everything up to date
    assert_tables_equal(third.tables, second.tables)  # the fetch_log too: dated by as_of, not the clock


def test_incremental_refresh_keeps_stored_tickers_and_adds_new_ones():
    first = run(FakeYahoo(), make_params(universe=["AAPL", "MSFT"], as_of="2024-12-31"))
    fake = FakeYahoo()
    second = run(fake, make_params(universe=["MSFT", "JPM"], as_of="2024-12-31"), existing=first.tables)
    assert set(second.tables["prices"]["ticker"]) == {"AAPL", "MSFT", "JPM"}
    assert [c["tickers"] for c in fake.download_calls] == [["JPM"]]  # the market table is already up to date
    assert fake.download_calls[0]["start"] == "2023-01-01"
    assert {symbol for symbol, _ in fake.attribute_calls} == {"JPM"}


def test_incremental_refetches_the_whole_history_after_dividend_and_split():
    def after_dividend(dates):  # Yahoo re-bases Adj Close of all earlier days after a dividend
        return np.where(dates < pd.Timestamp("2024-09-16"), 0.98 * 0.99, 0.98)

    trio = ["AAPL", "MSFT", "JPM"]
    first = run(FakeYahoo(), make_params(as_of="2024-06-28", universe=trio))
    changed = dict(adj_factor={"AAPL": after_dividend}, split={"MSFT": ("2024-10-01", 2.0)})
    fake = FakeYahoo(**changed)
    second = run(fake, make_params(as_of="2024-12-31", universe=trio), existing=first.tables)
    full = run(FakeYahoo(**changed), make_params(as_of="2024-12-31", universe=trio))
    assert second.report["readjusted_tickers"] == ["AAPL", "MSFT"]
    prices = [(c["tickers"], c["start"]) for c in fake.download_calls if "^GSPC" not in c["tickers"]]
    assert prices == [(trio, "2024-06-21"), (["AAPL", "MSFT"], "2023-01-01")]  # Yahoo's numbers, never a rescale
    assert_identical(without_log(second.tables), without_log(full.tables))


# ------------------------------------------------------------------------ a refresh equals a one-shot fetch


# Gaps next to the refresh dates below: ^IRX misses 7 trading days (10-03..10-11, then the 10-14 bond
# holiday) and the last 4 days of the year, ^VIX 6 days (10-17..10-24: filled 5, not 6), MSFT one day;
# ^TNX and AAPL print late (the last day before each request's end is not there yet).
def weekdays(first: str, last: str) -> list[str]:
    return list(pd.bdate_range(first, last).strftime("%Y-%m-%d"))


GAPS = {
    "^IRX": weekdays("2024-10-03", "2024-10-11") + weekdays("2024-12-26", "2024-12-31"),
    "^VIX": weekdays("2024-10-17", "2024-10-24"),
    "MSFT": ["2024-10-15"],
}
LATE = {"^TNX": 1, "AAPL": 1}


def gappy_yahoo() -> FakeYahoo:
    return FakeYahoo(gaps=GAPS, late=LATE, no_statements=["JPM"])


@pytest.fixture(scope="module")
def one_shot():
    """One fetch to 2024-12-31 of every table (FRED macro included) from a Yahoo with gaps and late prints."""
    return run(gappy_yahoo(), make_params(fred_macro=True), fred=FakeFred())


@pytest.mark.parametrize(
    "refreshes",
    [
        ["2024-10-11"],  # ^IRX inside its gap, the overlap reaches back before it
        ["2024-10-14"],  # on the bond holiday
        ["2024-10-16"],  # ^TNX late for this day; ^VIX's gap starts the next day
        ["2024-10-18"],  # inside ^VIX's gap: at T0 its values are not filled past its last print
        ["2024-06-28", "2024-10-16", "2024-11-29", "2024-12-24"],  # a chain of refreshes
    ],
    ids=["in-a-gap", "bond-holiday", "before-a-gap", "in-a-long-gap", "chain"],
)
def test_a_refresh_writes_the_same_bytes_as_a_one_shot_fetch(one_shot, refreshes):
    """Fetch to T0, refresh (maybe several times) to T: every data table equals one fetch to T, to the bit.

    "The same" assumes Yahoo serves the same history both times, as the fakes do (see
    fixtures/yahoo.py); what a refresh keeps that a one-shot fetch cannot see when Yahoo's answers
    change is listed in invest/data/sources/yahoo/refresh.py.
    """
    tables: dict = {}
    for as_of in [*refreshes, "2024-12-31"]:
        tables = run(gappy_yahoo(), make_params(as_of=as_of, fred_macro=True), existing=tables, fred=FakeFred()).tables
    assert_identical(without_log(tables), without_log(one_shot.tables))
    market = tables["market"].set_index("date")
    assert market.loc["2024-10-17":"2024-10-24", "vol_index"].notna().sum() == 5  # a 6-day gap: 5 filled
    assert market.loc["2024-10-25", "vol_index"] > 0  # printed again
    assert market.loc["2024-12-26":"2024-12-31", "short_rate"].isna().all()  # never extrapolated past the last print


def test_a_value_is_carried_five_days_across_a_refresh_not_ten():
    """The bug: the stored rows' carried values counted as prints when merged, so a gap got filled again."""
    first = run(gappy_yahoo(), make_params(as_of="2024-10-21"))
    assert first.tables["market"].set_index("date").loc["2024-10-17":"2024-10-21", "vol_index"].isna().all()
    second = run(gappy_yahoo(), make_params(as_of="2024-10-31"), existing=first.tables)
    vix = second.tables["market"].set_index("date")["vol_index"]
    last_print = vix.loc["2024-10-16"]
    assert (vix.loc["2024-10-17":"2024-10-23"] == last_print).all()  # 5 trading days carried
    assert np.isnan(vix.loc["2024-10-24"])  # not a 6th


# ------------------------------------------------------------------------ when statements are asked again


def test_statements_are_asked_again_only_when_a_new_quarter_can_be_out():
    first = run(gappy_yahoo(), make_params(as_of="2024-05-15"))  # latest public quarter: 2024-03-31
    week = gappy_yahoo()
    second = run(week, make_params(as_of="2024-05-22"), existing=first.tables)
    assert not week.attribute_calls and len(week.download_calls) == 3  # prices from two dates, the market
    assert second.report["statements"] == {
        "asked": 0,
        "skipped": 4,
        "skipped_because": {
            "no quarter after the latest one found can have ended yet": 3,
            "none found at the last request, less than a quarter ago": 1,  # JPM: Yahoo has no statements
        },
    }
    assert second.report["company_info"] == {"asked": 0, "skipped": 4}

    quarter = gappy_yahoo()
    third = run(quarter, make_params(as_of="2024-08-15"), existing=second.tables)
    assert {t for (t, a), n in quarter.attribute_calls.items() if a == "quarterly_income_stmt"} == set(UNIVERSE)
    assert third.report["statements"]["asked"] == 4 and third.report["company_info"]["asked"] == 4
    assert_identical(without_log(third.tables), without_log(run(gappy_yahoo(), make_params(as_of="2024-08-15")).tables))


def test_statements_are_asked_on_every_refresh_while_the_next_quarter_is_pending():
    first = run(gappy_yahoo(), make_params(as_of="2024-07-01"))  # 2024-06-30 ended, reported in late July
    log = first.tables["fetch_log"].set_index(["ticker", "kind"])
    assert log.loc[("AAPL", "statements"), "latest"] == pd.Timestamp("2024-03-31")
    assert log.loc[("AAPL", "statements"), "as_of"] == pd.Timestamp("2024-07-01")  # data.as_of, not the clock
    pending = gappy_yahoo()
    second = run(pending, make_params(as_of="2024-07-08"), existing=first.tables)
    assert second.report["statements"]["asked"] == 3  # not JPM, which has none
    log = second.tables["fetch_log"]
    overdue_log = log.assign(latest=log["latest"].where(log["latest"].isna(), pd.Timestamp("2023-09-30")))
    overdue = gappy_yahoo()
    third = run(overdue, make_params(as_of="2024-07-15"), existing={**second.tables, "fetch_log": overdue_log})
    assert third.report["statements"]["skipped_because"] == {
        "the next quarter is overdue: asked again once a quarter": 3,
        "none found at the last request, less than a quarter ago": 1,
    }


def test_a_failed_statement_request_is_asked_again_on_the_next_refresh():
    errors = {("MSFT", "quarterly_cashflow"): [TimeoutError("read timed out")] * 2}
    first = run(FakeYahoo(attribute_errors=errors), make_params(as_of="2024-05-15", max_retries=1))
    assert "MSFT" in first.failures
    fake = FakeYahoo()
    second = run(fake, make_params(as_of="2024-05-22"), existing=first.tables)
    assert {t for (t, _), n in fake.attribute_calls.items()} == {"MSFT"}
    assert second.report["statements"]["asked"] == 1 and second.failures == {}


def test_without_a_fetch_log_a_refresh_still_works_and_starts_one(full):
    old_raw = without_log(run(FakeYahoo(), make_params(as_of="2024-06-28")).tables)  # raw data from before the log
    second = run(FakeYahoo(), make_params(as_of="2024-12-31"), existing=old_raw)
    assert_identical(without_log(second.tables), without_log(full[1].tables))
    assert set(second.tables["fetch_log"]["kind"]) == {"prices", "market", "statements", "info"}


def test_the_sim_source_leaves_no_fetch_log_behind(tmp_path):
    from invest import fetch
    from invest.params import from_dict

    write_tables(tmp_path / "raw", {"fetch_log": run(FakeYahoo(), make_params()).tables["fetch_log"]})
    params = from_dict({"data": {"source": "sim", "n_tickers": 3, "start": "2015-01-01", "as_of": "2016-12-31"}})
    fetch.main(params, raw_dir=tmp_path / "raw", report_path=tmp_path / "fetch.json")
    assert not (tmp_path / "raw" / "fetch_log.parquet").exists()
    assert (tmp_path / "raw" / "prices.parquet").exists()


# ------------------------------------------------------------------------ faults


def test_download_fails_twice_then_succeeds():
    sleeps = Sleeps()
    fake = FakeYahoo(download_errors=[TimeoutError("read timed out"), requests.ConnectionError("reset")])
    result = run(fake, sleep=sleeps)
    assert result.failures == {}
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] < 1.5 and 1.0 <= sleeps[1] < 3.0  # exponential with jitter
    assert result.report["http_calls_by_kind"]["download"] == 4  # 3 tries for prices + 1 for market
    assert result.report["retries"] == 2


def test_ticker_attribute_fails_twice_then_succeeds():
    errors = {("MSFT", "info"): [TimeoutError(), TimeoutError()]}
    fake = FakeYahoo(attribute_errors=errors)
    result = run(fake)
    assert result.failures == {}
    assert fake.attribute_calls[("MSFT", "info")] == 3
    assert result.tables["companies"].set_index("ticker").loc["MSFT", "name"] == "MSFT Corporation"


@pytest.mark.parametrize("mode", ["missing", "nan"])
def test_one_ticker_always_fails_others_fine(mode):
    fake = FakeYahoo(failing=["ZZZZ"], failing_mode=mode)
    result = run(fake, make_params(universe=[*UNIVERSE, "ZZZZ"], max_retries=2))
    assert set(result.failures) == {"ZZZZ"}
    reason = result.failures["ZZZZ"]
    assert reason.startswith("prices: no price rows") and "after 3 tries" in reason
    if mode == "nan":
        assert "possibly delisted" in reason  # yfinance's own logged reason is kept
    assert set(result.tables["prices"]["ticker"]) == set(UNIVERSE)
    assert result.report["tickers_failed"] == 1 and result.report["failed_tickers"] == ["ZZZZ"]
    assert [c["tickers"] for c in fake.download_calls[1:3]] == [["ZZZZ"], ["ZZZZ"]]  # only the missing one retried
    assert not any(symbol == "ZZZZ" for symbol, _ in fake.attribute_calls)  # no statements for a dead symbol
    assert "ZZZZ" not in set(result.tables["companies"]["ticker"])


def test_statement_failure_is_reported_but_prices_kept():
    errors = {("JPM", "quarterly_balance_sheet"): [requests.HTTPError(response=_response(503))] * 10}
    result = run(FakeYahoo(attribute_errors=errors), make_params(max_retries=1))
    assert set(result.failures) == {"JPM"}
    assert "quarterly balance sheet" in result.failures["JPM"] and "HTTP 503" in result.failures["JPM"]
    jpm = result.tables["fundamentals"][result.tables["fundamentals"]["ticker"] == "JPM"]
    assert len(jpm) and jpm["revenue"].notna().all() and jpm["assets"].isna().all()


def test_ticker_without_statements_is_reported_and_keeps_prices():
    fake = FakeYahoo(no_statements=["JPM"])
    result = run(fake)
    assert result.failures == {"JPM": "fundamentals: Yahoo returned no quarterly statements"}
    assert "JPM" in set(result.tables["prices"]["ticker"]) and "JPM" in set(result.tables["companies"]["ticker"])
    assert "JPM" not in set(result.tables["fundamentals"]["ticker"])
    assert fake.attribute_calls[("JPM", "earnings_dates")] == 0  # no statements, no need for their dates


def _response(status: int, headers: dict | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    return response


def test_rate_limit_retry_after_is_honoured():
    sleeps = Sleeps()
    too_many = requests.HTTPError("429 Too Many Requests", response=_response(429, {"Retry-After": "7"}))
    fake = FakeYahoo(download_errors=[too_many], attribute_errors={("AAPL", "info"): [too_many]})
    result = run(fake, sleep=sleeps)
    assert result.failures == {}
    assert sleeps == [7.0, 7.0]


def test_rate_limit_without_retry_after_backs_off_longer_and_404_is_not_retried():
    budget = CallBudget(3, sleep=Sleeps(), rng=random.Random(1))
    assert budget.delay(0, requests.HTTPError(response=_response(429))) >= 2.5
    assert budget.delay(0, TimeoutError()) < 1.5
    calls = []

    def missing():
        calls.append(1)
        raise requests.HTTPError("404 Not Found", response=_response(404))

    value, reason = budget.call("info", missing)
    assert value is None and "HTTP 404" in reason and len(calls) == 1


def test_retry_after_http_date():
    import datetime as dt

    now = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    exc = requests.HTTPError(response=_response(429, {"Retry-After": "Mon, 01 Jan 2024 12:00:30 GMT"}))
    assert retry_after_seconds(exc, now=now) == 30.0


def test_empty_download_raises_fetch_error():
    sleeps = Sleeps()
    with pytest.raises(FetchError) as info:
        run(FakeYahoo(empty=True), make_params(max_retries=2), sleep=sleeps)
    message = str(info.value)
    assert "\n" not in message and "no prices for any of 4 tickers" in message
    assert len(sleeps) == 2


def test_exceptions_on_every_try_raise_fetch_error():
    errors = [TimeoutError("timed out")] * 10
    with pytest.raises(FetchError, match="TimeoutError"):
        run(FakeYahoo(download_errors=errors), make_params(max_retries=3))


# ------------------------------------------------------------------------ offline: stop at once


OFFLINE_LINES = {
    "dns": "cannot reach Yahoo Finance (could not resolve host query2.finance.yahoo.com): "
    "check the network connection; offline, use data.source: sim or files",
    "refused": "cannot reach Yahoo Finance (could not connect to query2.finance.yahoo.com:443): "
    "check the network connection; offline, use data.source: sim or files",
}


@pytest.mark.parametrize("mode", ["dns", "refused"])
def test_offline_the_first_download_stops_the_fetch_with_one_line(mode):
    sleeps = Sleeps()
    fake = FakeYahoo(offline=mode)
    with pytest.raises(FetchError) as info:
        run(fake, make_params(max_retries=4), sleep=sleeps)
    assert str(info.value) == OFFLINE_LINES[mode]
    assert sleeps == [] and len(fake.download_calls) == 1 and not fake.attribute_calls  # no backoff, no other call


@pytest.mark.parametrize("mode", ["dns", "refused"])
def test_offline_a_ticker_read_stops_the_fetch_when_no_download_is_needed(full, mode):
    stored = {name: frame for name, frame in full[1].tables.items() if name != "fundamentals"}  # statements due
    sleeps = Sleeps()
    fake = FakeYahoo(offline=mode)
    with pytest.raises(FetchError) as info:
        run(fake, existing=stored, sleep=sleeps)
    assert str(info.value) == OFFLINE_LINES[mode]
    assert sleeps == [] and fake.download_calls == [] and sum(fake.attribute_calls.values()) == 1


def test_an_unreachable_host_after_a_first_answer_is_a_blip_and_retried():
    errors = {("MSFT", "info"): [offline_error("dns"), offline_error("refused")]}
    sleeps = Sleeps()
    result = run(FakeYahoo(attribute_errors=errors), sleep=sleeps)
    assert result.failures == {} and len(sleeps) == 2
    assert result.tables["companies"].set_index("ticker").loc["MSFT", "name"] == "MSFT Corporation"


def test_rate_limits_and_server_errors_keep_their_retries():
    sleeps = Sleeps()
    errors = {("AAPL", "info"): [http_error(503), http_error(429)]}
    fake = FakeYahoo(rate_limited=2, attribute_errors=errors)
    result = run(fake, sleep=sleeps)
    assert result.failures == {}
    assert result.report["http_calls_by_kind"]["download"] == 3 + 1  # prices after two 429s, then the market
    assert fake.attribute_calls[("AAPL", "info")] == 3
    assert len(sleeps) == 4 and sleeps[0] >= 2.5 and sleeps[1] >= 5.0  # a 429 backs off from ~5 s


@pytest.mark.parametrize(
    ("problem", "reason"),
    [
        (offline_error("dns"), "could not resolve host query2.finance.yahoo.com"),
        (offline_error("refused"), "could not connect to query2.finance.yahoo.com:443"),
        (f"{offline_error('dns')!r}"[:160], "could not resolve host query2.finance.yahoo.com"),  # download's log line
        (urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution")), "could not resolve host"),
        (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
        (OSError(101, "Network is unreachable"), "no route to the host"),
        (TimeoutError("timed out"), None),
        (http_error(503), None),
        (http_error(429), None),
        (requests.HTTPError("502 Bad Gateway: connection refused upstream", response=_response(502)), None),
        ("YFPricesMissingError('possibly delisted; no price data found')", None),
    ],
    ids=[
        "curl-dns",
        "curl-refused",
        "download-log",
        "urllib-dns",
        "urllib-refused",
        "no-route",
        "timeout",
        "503",
        "429",
        "502",
        "delisted",
    ],
)
def test_unreachable_names_only_errors_that_mean_the_host_cannot_be_reached(problem, reason):
    assert unreachable(problem) == reason


def test_the_real_curl_cffi_refusal_on_loopback_is_unreachable():
    """The installed curl_cffi, not a copy of its message: a closed port on 127.0.0.1 (no network touched)."""
    from curl_cffi import requests as curl_requests

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(Exception) as info:
        curl_requests.get(f"http://127.0.0.1:{port}/", timeout=5)
    assert unreachable(info.value) == f"could not connect to 127.0.0.1:{port}"


# ------------------------------------------------------------------------ macro


def test_macro_empty_unless_fred_enabled(full):
    macro = full[1].tables["macro"]
    assert macro.empty and list(macro.columns) == list(MACRO.columns)
    pd.testing.assert_frame_equal(macro, conform(macro, MACRO, "macro"))


def test_fred_requires_api_key(monkeypatch):
    monkeypatch.delenv("FRED_API_KEY", raising=False)
    fake = FakeYahoo()
    with pytest.raises(ConfigError, match="FRED_API_KEY"):
        yahoo.fetch(make_params(fred_macro=True), {}, download=fake.download, ticker_factory=fake.ticker_factory)
    assert fake.http_calls == 0  # refused before any network call


def test_fred_macro_series_with_release_lags(monkeypatch):
    monkeypatch.setenv("FRED_API_KEY", "test-key")
    fred = FakeFred()
    result = run(FakeYahoo(), make_params(fred_macro=True), fred=fred)
    macro = result.tables["macro"]
    pd.testing.assert_frame_equal(macro, conform(macro, MACRO, "macro"))
    assert set(macro["series"]) == {"inflation", "unemployment", "gdp_growth"}
    assert sorted(fred.calls) == ["A191RL1Q225SBEA", "CPIAUCSL", "UNRATE"]
    by = macro.set_index(["series", "period_end"])
    assert by.loc[("inflation", pd.Timestamp("2024-01-31")), "value"] == pytest.approx(3.0)
    assert by.loc[("inflation", pd.Timestamp("2024-01-31")), "release_date"] == pd.Timestamp("2024-02-15")
    assert by.loc[("unemployment", pd.Timestamp("2024-01-31")), "release_date"] == pd.Timestamp("2024-02-07")
    assert by.loc[("gdp_growth", pd.Timestamp("2024-03-31")), "release_date"] == pd.Timestamp("2024-04-30")
    assert (macro["release_date"] <= pd.Timestamp("2024-12-31")).all()
    assert result.report["http_calls_by_kind"]["fred"] == 3


# ------------------------------------------------------------------------ universe and imports


def test_default_universe():
    assert len(DEFAULT_UNIVERSE) == 104 and len(set(DEFAULT_UNIVERSE)) == 104
    assert resolve_universe(DataParams(universe=[])) == list(DEFAULT_UNIVERSE)
    assert resolve_universe(DataParams(universe=["aapl", "MSFT", "AAPL"])) == ["AAPL", "MSFT"]


def test_universe_file(tmp_path):
    path = tmp_path / "universe.txt"
    path.write_text("# point-in-time members, 2010\nAAPL\n\n  msft  # inline comment\nBRK-B\nAAPL\n^GSPC\n")
    assert resolve_universe(DataParams(universe=str(path))) == ["AAPL", "MSFT", "BRK-B", "^GSPC"]


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "not found"), ("# nothing\n\n", "lists no tickers"), ("AAPL MSFT\n", "line 1")],
)
def test_universe_file_errors(tmp_path, content, match):
    path = tmp_path / "universe.txt"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=match) as info:
        resolve_universe(DataParams(universe=str(path)))
    assert "\n" not in str(info.value)


def test_importing_invest_sources_does_not_import_yfinance():
    code = (
        "import sys, invest.data.sources, invest.data.sources.yahoo, invest.data.sources.files; print('yfinance' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_schema_tables_used():
    # guards against the schema drifting away from what this source writes
    assert {PRICES.name, COMPANIES.name, FUNDAMENTALS.name, MARKET.name, MACRO.name} <= set(TABLES_BY_NAME)
    assert announcement_stamps()[0].endswith("16:30")


# ------------------------------------------------------------------------ malformed payloads


class MalformedYahoo(FakeYahoo):
    """Answers that arrive but are not what yfinance normally returns: per (symbol, attribute), a
    replacement value; ``garbled_prices``: symbols whose downloaded prices come back as text."""

    def __init__(self, replies: dict[tuple[str, str], object] | None = None, garbled_prices=(), **kwargs) -> None:
        super().__init__(**kwargs)
        self.replies = replies or {}
        self.garbled_prices = set(garbled_prices)

    def download(self, tickers, start=None, end=None, **kwargs):
        data = super().download(tickers, start=start, end=end, **kwargs)
        for symbol in self.garbled_prices & set(tickers):
            columns = [c for c in data.columns if symbol in c]
            data[columns] = data[columns].astype(object)
            data.loc[:, columns] = "N/A"
        return data

    def ticker_factory(self, symbol: str):
        ticker = super().ticker_factory(symbol)
        replies = {attribute: value for (who, attribute), value in self.replies.items() if who == symbol}
        if not replies:
            return ticker

        class Replaced:
            def __getattr__(self, name):
                if name in replies:
                    self_hit = ticker._yahoo.hit  # still counted as an HTTP call
                    self_hit(symbol, name)
                    return replies[name]
                return getattr(ticker, name)

            def get_earnings_dates(self, *args, **kwargs):
                if "earnings_dates" in replies:
                    ticker._yahoo.hit(symbol, "earnings_dates")
                    return replies["earnings_dates"]
                return ticker.get_earnings_dates(*args, **kwargs)

        return Replaced()


@pytest.mark.parametrize(
    "replies, reported",
    [
        ({("MSFT", "info"): "<html>Will be right back</html>"}, "company info: malformed answer (str, not a mapping)"),
        ({("MSFT", "info"): {"sector": 42, "industry": None}}, None),  # a mapping without labels: Unknown, as for ETFs
        (
            {("MSFT", "quarterly_income_stmt"): pd.DataFrame({"when": ["x"]}, index=["Total Revenue"])},
            "quarterly income stmt: malformed answer (no numeric values under period-end dates)",
        ),
        ({("MSFT", "quarterly_balance_sheet"): "garbage"}, "quarterly balance sheet: malformed answer (str, not a table)"),
        ({("MSFT", "earnings_dates"): pd.DataFrame({"EPS Estimate": [1.0]}, index=["not a date"])}, None),
    ],
    ids=["info-html", "info-wrong-types", "statement-text-columns", "statement-not-a-frame", "earnings-bad-index"],
)
def test_a_malformed_answer_for_one_ticker_is_reported_and_never_crashes_the_fetch(replies, reported):
    result = run(MalformedYahoo(replies))
    for name in ("prices", "companies", "fundamentals", "market"):
        conform(result.tables[name], TABLES_BY_NAME[name], name)  # still the raw schema
    assert set(result.tables["prices"]["ticker"]) == set(UNIVERSE)  # MSFT's prices are kept
    others = result.tables["fundamentals"][result.tables["fundamentals"]["ticker"] != "MSFT"]
    assert set(others["ticker"]) == set(UNIVERSE) - {"MSFT"}
    if reported is None:
        assert result.failures == {}
    else:
        assert set(result.failures) == {"MSFT"} and reported in result.failures["MSFT"]
    companies = result.tables["companies"].set_index("ticker")
    if ("MSFT", "info") in replies:
        assert companies.loc["MSFT", "sector"] == "Unknown"  # never a guessed label
    if ("MSFT", "earnings_dates") in replies:  # not fatal: report dates fall back to period end + 45 days
        assert result.report["earnings_dates_failed"] == {"MSFT": "malformed answer (no dates in its index)"}
        msft = result.tables["fundamentals"][result.tables["fundamentals"]["ticker"] == "MSFT"]
        assert ((msft["report_date"] - msft["period_end"]).dt.days == 45).all()


def test_prices_that_come_back_as_text_are_a_reported_failure():
    result = run(MalformedYahoo(garbled_prices=["JPM"]))
    assert set(result.tables["prices"]["ticker"]) == set(UNIVERSE) - {"JPM"}
    assert "JPM" in result.failures and result.failures["JPM"].startswith("prices")
