"""The SEC EDGAR source against recorded real answers in ../shared/fixtures/sec (no network)."""

from __future__ import annotations

import functools
import gzip
import json
import socket
import urllib.error
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fixtures.sec import SNOW_CIK, SNOW_FILE, TSLA_CIK, TSLA_FILE, USER_AGENT, FakeSEC, raw

from invest.data.schema import COMPANIES, FUNDAMENTALS, GICS_SECTORS, conform
from invest.data.sources import sec
from invest.data.sources.sec_client import COMPANYFACTS_URL, SUBMISSIONS_URL, TICKERS_URL, RateLimiter, SecClient
from invest.data.sources.sec_facts import VINTAGES, first_filed, parse_companyfacts
from invest.data.sources.sec_quarters import quarterly_fundamentals
from invest.errors import ConfigError, DataError, FetchError

UA = USER_AGENT


@functools.cache
def vintages(name: str = TSLA_FILE, ticker: str = "TSLA") -> pd.DataFrame:
    return parse_companyfacts(json.loads(raw(name)), ticker).vintages


@functools.cache
def quarters(name: str = TSLA_FILE, ticker: str = "TSLA") -> pd.DataFrame:
    return quarterly_fundamentals(vintages(name, ticker)).set_index("period_end")


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


# ---------------------------------------------------------------------------- parsing and point-in-time rules


def test_vintages_keep_every_filing_and_fit_their_schema():
    v = vintages()
    assert conform(v, VINTAGES, "test").equals(v)
    # Tesla's Q3 2019 diluted EPS as first filed, then as restated after the 2020 5:1 split
    eps = v[(v["field"] == "eps") & (v["period_end"] == day("2019-09-30")) & (v["duration_days"] == 92)]
    assert eps[["value", "accn", "filed"]].values.tolist() == [
        [0.78, "0001564590-19-038256", day("2019-10-29")],
        [0.16, "0001564590-20-047486", day("2020-10-26")],
    ]
    assert set(v["form"]) <= {"10-Q", "10-K", "10-K/A"}


def test_first_filed_value_wins_over_restatements():
    q = quarters()
    # EarningsPerShareDiluted 2019-07-01..2019-09-30: 0.78 (10-Q 0001564590-19-038256, filed 2019-10-29),
    # restated 0.16 (10-Q 0001564590-20-047486, filed 2020-10-26, split-adjusted)
    assert q.loc["2019-09-30", "eps"] == 0.78
    assert q.loc["2019-09-30", "report_date"] == day("2019-10-29")
    # NetCashProvidedByUsedInOperatingActivities 2012-01-01..2012-03-31: -50,087,000 (10-Q 0001193125-12-225825,
    # filed 2012-05-10), restated to -63,300,000 (10-Q 0001193125-13-212354, filed 2013-05-10)
    assert q.loc["2012-03-31", "operating_cash_flow"] == -50_087_000
    # StockholdersEquity at 2015-12-31: 1,088,944,000 (10-K 0001564590-16-013195, filed 2016-02-24), later 1,083,704,000
    assert q.loc["2015-12-31", "equity"] == 1_088_944_000
    # the restated values are still in the vintages, for whoever wants the latest view
    v = vintages()
    restated = v[(v["field"] == "operating_cash_flow") & (v["period_end"] == day("2012-03-31"))]
    assert sorted(restated["value"]) == [-63_300_000, -50_087_000]


def test_a_value_is_invisible_before_its_filed_date():
    v = vintages()
    # Q3 2022 is first reported by the 10-Q 0000950170-22-019867 filed 2022-10-24
    before = quarterly_fundamentals(v, as_of="2022-10-23")
    on_the_day = quarterly_fundamentals(v, as_of="2022-10-24")
    assert day("2022-09-30") not in set(before["period_end"])
    assert on_the_day.iloc[-1]["period_end"] == day("2022-09-30")
    assert on_the_day.iloc[-1]["report_date"] == day("2022-10-24")
    # Q4 2021 is derived from the 10-K filed 2022-02-07: nothing of it exists the day before
    assert day("2021-12-31") not in set(quarterly_fundamentals(v, as_of="2022-02-06")["period_end"])
    # no row is ever dated before its quarter ended or later than a value it holds
    q = quarterly_fundamentals(v)
    assert (q["report_date"] > q["period_end"]).all()


def test_a_field_first_reported_later_is_left_empty_not_back_dated():
    q = quarters()
    # Q1 2011 first appears in XBRL in the 10-K/A filed 2012-03-28 (quarterly revenue and net income); its cash and
    # operating cash flow only as comparatives in the 10-Q filed 2012-05-10: left empty rather than back-dated
    row = q.loc["2011-03-31"]
    assert row["report_date"] == day("2012-03-28") and row["revenue"] == 49_030_000
    assert np.isnan(row["operating_cash_flow"]) and np.isnan(row["cash"])
    stats = Counter()
    quarterly_fundamentals(vintages(), stats=stats)
    assert stats["late_values"] == 8


def test_a_row_is_never_dated_before_the_first_filing_of_its_quarter():
    q = quarters()
    # The 10-Q 0001193125-11-221497 (filed 2011-08-12) had the 2010-12-31 balance sheet as a comparative, but no
    # flow ending 2010-12-31 was filed before the 10-K 0001193125-12-081990 (2012-02-27), which also made Q4 2010
    # revenue derivable (FY 2010 minus 9M 2010 = 36,286,000). Dating the row by the balance sheet would let that
    # later 10-K create a row visible from 2011-08-12: the row appears on 2012-02-27, with everything known by then.
    row = q.loc["2010-12-31"]
    assert row["report_date"] == day("2012-02-27")
    assert row["assets"] == 386_082_000 and row["revenue"] == 36_286_000


def test_quarters_derived_from_year_to_date_and_annual_figures():
    q = quarters()
    # Q2 2022 operating cash flow: 6M 6,346,000,000 (10-Q 0000950170-22-012936, filed 2022-07-25)
    # minus Q1 3,995,000,000 (10-Q 0000950170-22-006034, filed 2022-04-25); dated by the later input
    assert q.loc["2022-06-30", "operating_cash_flow"] == 6_346_000_000 - 3_995_000_000
    assert q.loc["2022-06-30", "report_date"] == day("2022-07-25")
    # Q3 2022: 9M 11,446,000,000 (10-Q 0000950170-22-019867, filed 2022-10-24) minus 6M 6,346,000,000
    assert q.loc["2022-09-30", "operating_cash_flow"] == 5_100_000_000
    # free cash flow Q3 2022: capex 9M 5,300,000,000 minus 6M 3,497,000,000 (same two 10-Qs)
    assert q.loc["2022-09-30", "free_cash_flow"] == 5_100_000_000 - (5_300_000_000 - 3_497_000_000)
    # Q4 2021 = FY 2021 (10-K 0000950170-22-000796, filed 2022-02-07) minus 9M 2021 (10-Q 0000950170-21-002253):
    row = q.loc["2021-12-31"]
    assert row["revenue"] == 53_823_000_000 - 36_104_000_000  # Revenues
    assert row["net_income"] == 5_519_000_000 - 3_198_000_000  # NetIncomeLoss
    assert row["operating_cash_flow"] == 11_497_000_000 - 6_912_000_000
    assert row["free_cash_flow"] == (11_497_000_000 - 6_912_000_000) - (6_482_000_000 - 4_672_000_000)
    assert row["report_date"] == day("2022-02-07")
    assert np.isnan(row["eps"])  # never derived: EPS is not additive
    # reported quarters are taken as they are: Revenues 2022-07-01..2022-09-30 in 0000950170-22-019867
    assert q.loc["2022-09-30", "revenue"] == 21_454_000_000
    assert q.loc["2022-09-30", "eps"] == 0.95
    # the 10-K's cover share count (dated 2022-01-31) belongs to the year it reports
    assert row["shares"] == 1_033_507_611


def test_snowflake_fiscal_year_ending_january_parses():
    q = quarters(SNOW_FILE, "SNOW")
    assert conform(q.reset_index(), FUNDAMENTALS, "test").shape[0] == len(q)
    assert set(q.index.month) == {1, 4, 7, 10}
    # Q4 of fiscal 2023: RevenueFromContractWithCustomerExcludingAssessedTax FY 2022-02-01..2023-01-31
    # 2,065,659,000 (10-K 0001640147-23-000030, filed 2023-03-29) minus 9M 1,476,647,000 (10-Q 0001640147-22-000100)
    assert q.loc["2023-01-31", "revenue"] == 2_065_659_000 - 1_476_647_000
    assert q.loc["2023-01-31", "report_date"] == day("2023-03-29")
    # Q1 of fiscal 2026, reported directly (10-Q 0001640147-25-000110, filed 2025-05-30)
    assert q.loc["2025-04-30", "revenue"] == 1_042_074_000
    assert q.loc["2025-04-30", "report_date"] == day("2025-05-30")


def fact(val, end, accn, filed, form="10-Q", start=None):
    return {"val": val, "end": end, "accn": accn, "filed": filed, "form": form} | ({"start": start} if start else {})


def test_units_are_checked_and_other_units_skipped_and_counted():
    q1 = ("2022-01-01", "2022-03-31")
    data = {
        "facts": {
            "us-gaap": {
                "Revenues": {
                    "units": {
                        "USD": [fact(100.0, q1[1], "a-1", "2022-04-25", start=q1[0])],
                        "EUR": [
                            fact(90.0, q1[1], "a-1", "2022-04-25", start=q1[0]),
                            fact(1.0, q1[1], "a-1", "2022-04-25", "8-K", q1[0]),
                        ],
                    }
                },
                "EarningsPerShareDiluted": {"units": {"USD": [fact(2.0, q1[1], "a-1", "2022-04-25", start=q1[0])]}},
                "EarningsPerShareBasic": {"units": {"USD/shares": [fact(2.5, q1[1], "a-1", "2022-04-25", start=q1[0])]}},
                "Assets": {"units": {"USD": [fact(500.0, q1[1], "a-1", "2022-04-25", start=q1[0])]}},  # an instant with a start
            }
        }
    }
    parsed = parse_companyfacts(data, "XYZ")
    assert parsed.skipped == {"unit revenue EUR": 1, "unit eps USD": 1, "shape assets": 1}  # the 8-K is not counted
    values = parsed.vintages.set_index("field")["value"].to_dict()
    assert values == {"revenue": 100.0, "eps": 2.5}  # EPS falls back to basic in the right unit
    with pytest.raises(DataError, match="XYZ: no 'facts'"):
        parse_companyfacts({"cik": 1}, "XYZ")


def test_concept_fallback_is_decided_per_filing():
    q1 = ("2022-01-01", "2022-03-31")
    data = {
        "facts": {
            "us-gaap": {
                # the first filing tags only the contract-revenue concept; a later one adds "Revenues"
                "Revenues": {"units": {"USD": [fact(120.0, q1[1], "b-2", "2023-04-25", start=q1[0])]}},
                "RevenueFromContractWithCustomerExcludingAssessedTax": {
                    "units": {
                        "USD": [
                            fact(100.0, q1[1], "a-1", "2022-04-25", start=q1[0]),
                            fact(101.0, q1[1], "b-2", "2023-04-25", start=q1[0]),
                        ]
                    }
                },
            }
        }
    }
    v = parse_companyfacts(data, "XYZ").vintages
    assert v[["accn", "concept", "value"]].values.tolist() == [
        ["a-1", "us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax", 100.0],
        ["b-2", "us-gaap:Revenues", 120.0],
    ]
    assert quarterly_fundamentals(v)["revenue"].tolist() == [100.0]


# Hypothesis: a later filing never changes what was visible before it was filed.
FILED_DAYS = pd.date_range("2016-01-01", "2023-06-30", freq="D")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    filed=st.sampled_from(list(FILED_DAYS)),
    picks=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12),
    factor=st.sampled_from([0.0, -1.0, 0.5, 1.001, 1000.0]),
    form=st.sampled_from(["10-Q", "10-K", "10-K/A", "10-Q/A"]),
    new_quarter=st.booleans(),
    new_field=st.sampled_from([None, "revenue", "eps", "equity", "cash", "shares"]),
)
def test_a_later_filing_never_changes_what_was_visible_before_it(filed, picks, factor, form, new_quarter, new_field):
    base = vintages()
    old_periods = base[base["period_end"] < filed]
    restated = old_periods.iloc[[p % len(old_periods) for p in picks]].drop_duplicates(list(VINTAGES.key[:4]))
    restated = restated.assign(value=restated["value"] * factor + 1.0, filed=filed, form=form, accn="9999999999-99-999999")
    if new_quarter:  # a quarter nobody reported before, ending just before the filing
        start, end = filed - pd.Timedelta(days=100), filed - pd.Timedelta(days=10)
        extra = restated.iloc[:1].assign(field="revenue", period_start=start, period_end=end, duration_days=91.0, value=7.0)
        restated = pd.concat([restated, extra], ignore_index=True)
    if new_field:  # a value for an existing period that maybe no earlier filing had (a late field)
        end = old_periods["period_end"].iloc[picks[0] % len(old_periods)]
        flow = new_field in ("revenue", "eps")
        extra = restated.iloc[:1].assign(
            field=new_field,
            period_start=end - pd.Timedelta(days=90) if flow else pd.NaT,
            period_end=end,
            duration_days=91.0 if flow else 0.0,
            value=3.0,
        )
        restated = pd.concat([restated, extra], ignore_index=True).drop_duplicates(list(VINTAGES.key), keep="last")
    amended = conform(pd.concat([base, restated], ignore_index=True), VINTAGES, "test")
    before, after = quarterly_fundamentals(base), quarterly_fundamentals(amended)
    visible_before = before[before["report_date"] < filed].reset_index(drop=True)
    visible_after = after[after["report_date"] < filed].reset_index(drop=True)
    pd.testing.assert_frame_equal(visible_before, visible_after)
    eve = filed - pd.Timedelta(days=1)
    pd.testing.assert_frame_equal(quarterly_fundamentals(base, as_of=eve), quarterly_fundamentals(amended, as_of=eve))


def test_first_filed_prefers_the_original_over_a_same_day_amendment():
    v = vintages().iloc[:1]
    same_day = v.assign(value=-1.0, form="10-K/A", accn="0000000000-00-000000")  # a lower accn, filed the same day
    chosen = first_filed(pd.concat([same_day, v], ignore_index=True))
    assert chosen["value"].tolist() == v["value"].tolist()


# ---------------------------------------------------------------------------- sectors and companies


@pytest.mark.parametrize(
    ("sic", "sector"),
    [
        (1311, "Energy"),
        ("2834", "Health Care"),
        (3711, "Consumer Discretionary"),
        (3674, "Information Technology"),
        (6021, "Financials"),
        (7372, "Information Technology"),
        (4911, "Utilities"),
        (6798, "Real Estate"),
        (6531, "Real Estate"),
        (2011, "Consumer Staples"),
        (4813, "Communication Services"),
        (2821, "Materials"),
        (3721, "Industrials"),
        (None, None),
        ("", None),
        (9995, None),
    ],
)
def test_sector_for_sic(sic, sector):
    assert sec.sector_for_sic(sic) == sector


def test_every_sic_sector_is_a_gics_sector_and_bad_codes_fail():
    from invest.data.sources.sec_sectors import SIC_SECTORS

    assert {sector for _, _, sector in SIC_SECTORS} == set(GICS_SECTORS)
    with pytest.raises(DataError, match="'abc' is not a number"):
        sec.sector_for_sic("abc")


def test_company_row_from_submissions():
    row = sec.company_row(json.loads(raw("submissions_sample.json")), "TSLA")
    assert row == {
        "ticker": "TSLA",
        "name": "Tesla, Inc.",
        "sector": "Consumer Discretionary",
        "industry": "Motor Vehicles & Passenger Car Bodies",
    }


# ---------------------------------------------------------------------------- HTTP client


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def client(transport, **kwargs) -> SecClient:
    kwargs.setdefault("sleep", Sleeps())
    return SecClient(UA, transport=transport, **kwargs)


def test_missing_or_bad_user_agent_is_a_config_error():
    with pytest.raises(
        ConfigError,
        match=r"^SEC EDGAR needs a User-Agent .*export SEC_USER_AGENT='Your Name you@example.com' or set data.sec_user_agent \(or",
    ):
        SecClient(environ={})
    with pytest.raises(ConfigError, match="got 'just a name'"):
        SecClient(environ={"SEC_USER_AGENT": "just a name"})
    assert SecClient(environ={"SEC_USER_AGENT": "Jane Doe jane@example.org"}).user_agent == "Jane Doe jane@example.org"


def test_rate_limiter_allows_at_most_ten_requests_in_any_second():
    now = [0.0]
    sent = []

    def sleep(seconds):
        now[0] += seconds

    def transport(url, headers, timeout_s):
        sent.append(now[0])
        now[0] += 0.013  # each request takes 13 ms
        return 200, {}, b"{}"

    c = client(transport, clock=lambda: now[0], sleep=sleep)
    for _ in range(35):
        c.get_json(TICKERS_URL, "tickers")
    assert len(sent) == 35
    assert all(sent[i + 10] - sent[i] >= 1.0 - 1e-9 for i in range(len(sent) - 10))  # any 11 requests span a second or more
    assert sent[10] == pytest.approx(1.0) and sent[-1] < 3.2  # and it does not wait longer than needed
    assert c.limiter.waited_s == pytest.approx(3 * (1.0 - 10 * 0.013))  # waits only at the 11th, 21st and 31st


def _replay(n: int, work_s: float) -> list[float]:
    """Send ``n`` requests through a RateLimiter on a fake clock; the times they went out."""
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    limiter = RateLimiter(10, 1.0, clock=lambda: now[0], sleep=sleep)
    sent = []
    for _ in range(n):
        limiter.wait()
        sent.append(now[0])
        now[0] += work_s
    return sent


def test_rate_limiter_windows():
    sent = _replay(50, 0.0)
    assert all(sent[i + 10] - sent[i] >= 1.0 for i in range(len(sent) - 10))
    assert sent[:10] == [0.0] * 10 and sent[10] == 1.0 and sent[-1] == 4.0  # bursts of ten, a second apart
    assert _replay(5, 0.5) == [0.0, 0.5, 1.0, 1.5, 2.0]  # slow callers never wait


def test_retries_on_429_and_503_then_success():
    fake = FakeSEC(
        {TICKERS_URL: [(429, {"Retry-After": "7"}, b""), (503, {}, b"busy"), (200, {}, b'{"ok": 1}')]},
        default_routes=False,
    )
    sleeps = Sleeps()
    c = client(fake, sleep=sleeps)
    assert c.get_json(TICKERS_URL, "tickers") == {"ok": 1}
    assert len(fake.calls) == 3 and c.budget.retries == 2
    assert sleeps[0] == 7.0  # Retry-After honoured
    assert 2.0 * 0.5 <= sleeps[1] < 2.0 * 1.5  # then exponential backoff with jitter (second attempt: 2 s)


def test_retries_are_bounded_and_a_403_is_not_retried():
    fake = FakeSEC({TICKERS_URL: [(503, {}, b"")], SUBMISSIONS_URL.format(cik=1): (403, {}, b"")}, default_routes=False)
    c = client(fake, max_retries=2)
    with pytest.raises(sec.SecHTTPError, match="HTTP 503"):
        c.get_json(TICKERS_URL, "tickers")
    assert len(fake.calls) == 3
    with pytest.raises(sec.SecHTTPError, match="HTTP 403 .*User-Agent"):
        c.submissions(1)
    assert len(fake.calls) == 4


def test_gzip_answers_are_decoded():
    body = gzip.compress(b'{"x": [1, 2]}')
    fake = FakeSEC({TICKERS_URL: (200, {"Content-Encoding": "gzip"}, body)}, default_routes=False)
    assert client(fake).get_json(TICKERS_URL, "tickers") == {"x": [1, 2]}


@pytest.mark.parametrize(
    "error",
    [urllib.error.URLError(socket.gaierror(-2, "Name or service not known")), ConnectionRefusedError(111, "Connection refused")],
)
def test_unreachable_sec_fails_fast_in_one_line(error):
    fake = FakeSEC({TICKERS_URL: error, COMPANYFACTS_URL.format(cik=TSLA_CIK): error}, default_routes=False)
    sleeps = Sleeps()
    c = client(fake, sleep=sleeps)
    with pytest.raises(FetchError) as caught:
        sec.fetch_fundamentals(["TSLA"], START, "2022-11-01", c, progress=False)
    message = str(caught.value)
    assert message.startswith("cannot reach www.sec.gov (") and "check the network" in message and "\n" not in message
    assert message.endswith("offline, set data.fundamentals: none (prices only) or use data.source: sim")
    assert len(fake.calls) == 1 and sleeps == []
    with pytest.raises(FetchError, match=r"^cannot reach data\.sec\.gov \("):
        client(fake).companyfacts(TSLA_CIK)


def test_network_errors_after_a_first_answer_are_retried_not_fatal():
    dns = urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))
    fake = FakeSEC({COMPANYFACTS_URL.format(cik=TSLA_CIK): [dns, dns, dns]})
    result = sec.fetch_fundamentals(["TSLA"], START, "2022-11-01", client(fake, max_retries=2), progress=False)
    assert result.failures["TSLA"].startswith("URLError")
    assert result.fundamentals.empty
    assert log_rows(result) == {("TSLA", "sec_company"): ("2022-11-01", None)}  # no facts row: asked again next run


START = "2010-01-01"


def log_rows(result) -> dict:
    """The SEC's fetch_log rows: (ticker, kind) -> (as_of, latest)."""
    return {
        (row.ticker, row.kind): (str(row.as_of.date()), None if pd.isna(row.latest) else str(row.latest.date()))
        for row in result.log.itertuples()
    }


def test_fetch_fundamentals_end_to_end_with_failures():
    fake = FakeSEC({COMPANYFACTS_URL.format(cik=1067983): (404, {}, b"")})  # Berkshire: pretend it has no XBRL facts
    c = client(fake)
    result = sec.fetch_fundamentals(["TSLA", "SNOW", "BRK.B", "NOPE"], START, "2022-11-01", c, progress=False)
    assert result.failures == {
        "BRK.B": f"no XBRL financial data at SEC (HTTP 404 for {COMPANYFACTS_URL.format(cik=1067983)})",
        "NOPE": "unknown ticker: NOPE is not in SEC's company_tickers.json",
    }
    f = result.fundamentals
    assert conform(f, FUNDAMENTALS, "test").equals(f)
    assert (f["report_date"] <= day("2022-11-01")).all() and (result.vintages["filed"] <= day("2022-11-01")).all()
    assert set(f["ticker"]) == {"TSLA", "SNOW"}
    assert f[f["ticker"] == "SNOW"]["period_end"].max() == day("2022-07-31")  # its Q3 10-Q came on 2022-12-02
    companies = result.companies.set_index("ticker")
    assert conform(result.companies, COMPANIES, "test").equals(result.companies)
    assert companies.loc["TSLA"].tolist() == ["Tesla, Inc.", "Consumer Discretionary", "Motor Vehicles & Passenger Car Bodies"]
    assert companies.loc["SNOW"].tolist() == ["Snowflake Inc.", "Unknown", "Unknown"]  # no submissions served: 404
    assert companies.loc["BRK.B"].tolist() == ["BERKSHIRE HATHAWAY INC", "Unknown", "Unknown"]
    assert companies.loc["NOPE"].tolist() == ["NOPE", "Unknown", "Unknown"]  # every ticker gets a row
    # one tickers file, one companyfacts and one submissions per company SEC knows; no retries on the 404s
    ciks = (TSLA_CIK, SNOW_CIK, 1067983)
    assert sorted(fake.calls) == sorted(
        [TICKERS_URL, *(COMPANYFACTS_URL.format(cik=cik) for cik in ciks), *(SUBMISSIONS_URL.format(cik=cik) for cik in ciks)]
    )
    report = json.loads(json.dumps(result.report))  # JSON-able
    assert report["http_calls"] == 7 and report["retries"] == 0 and report["failures"] == 2
    assert report["coverage"]["2021"] == {"tickers": 2, "share": 0.5, "quarters": 8}
    facts = {key: value for key, value in log_rows(result).items() if key[1] == "sec_facts"}
    assert facts == {
        ("TSLA", "sec_facts"): ("2022-11-01", "2022-09-30"),
        ("SNOW", "sec_facts"): ("2022-11-01", "2022-07-31"),
        ("BRK.B", "sec_facts"): ("2022-11-01", None),  # answered without facts: asked again a quarter later
        ("NOPE", "sec_facts"): ("2022-11-01", None),
    }


def test_refresh_asks_only_when_a_new_filing_can_exist_and_equals_a_one_shot_fetch():
    tickers = ["TSLA", "SNOW", "BRK-B", "NOPE"]
    fake = FakeSEC({COMPANYFACTS_URL.format(cik=1067983): (404, {}, b"")})
    latest = sec.fetch_fundamentals(tickers, START, "2022-11-01", client(fake), progress=False)
    facts = {name: COMPANYFACTS_URL.format(cik=cik) for name, cik in (("TSLA", TSLA_CIK), ("SNOW", SNOW_CIK), ("BRK-B", 1067983))}

    def again(as_of):
        nonlocal latest
        fake.calls.clear()
        stored = {"fundamental_vintages": latest.vintages, "companies": latest.companies, "fetch_log": latest.log}
        latest = sec.fetch_fundamentals(tickers, START, as_of, client(fake), stored, progress=False)
        return sorted(fake.calls)

    assert again("2022-11-01") == []  # the same as_of again: nothing
    # Tesla's last quarter ended 2022-09-30: the next one cannot end before 2022-12-19 (80 days on).
    # Snowflake's last ended 2022-07-31, so its next (ending 2022-10-31) may be out: asked on every new as_of.
    # Berkshire (no facts) and NOPE (unknown) wait a quarter (92 days); so do the company profiles.
    assert again("2022-11-02") == sorted([TICKERS_URL, facts["SNOW"]])
    assert latest.report["up_to_date_because"] == {
        "no period after the latest one found can have ended yet": 1,
        "no fundamentals at the last request, less than a quarter ago": 2,
    }
    assert latest.failures["NOPE"] == "no SEC fundamentals when last asked (data.as_of 2022-11-01); asked again a quarter later"
    assert again("2022-12-18") == sorted([TICKERS_URL, facts["SNOW"]])
    assert latest.fundamentals.query("ticker == 'SNOW'")["period_end"].max() == day("2022-10-31")  # its 10-Q of 2022-12-02
    assert again("2022-12-19") == sorted([TICKERS_URL, facts["TSLA"]])  # Tesla's turn; Snowflake's next is not due
    assert again("2023-01-31") == sorted([TICKERS_URL, facts["TSLA"], facts["SNOW"]])  # both due, on every new as_of
    profiles = [SUBMISSIONS_URL.format(cik=cik) for cik in (TSLA_CIK, SNOW_CIK, 1067983)]
    assert again("2023-02-01") == sorted([TICKERS_URL, *facts.values(), *profiles])  # a quarter on: everyone
    # Tesla's report for 2022-12-31 never comes (the recorded facts end in 2022-10): overdue from 2023-04-21, then
    # asked once a quarter
    assert facts["TSLA"] in again("2023-05-01")
    assert facts["TSLA"] not in again("2023-05-02")
    assert latest.report["up_to_date_because"]["the next report is overdue: asked again once a quarter"] == 1
    # an older as_of is answered from the store, and narrows the log to it
    assert again("2021-12-31") == []
    assert latest.fundamentals["report_date"].max() <= day("2021-12-31")
    assert log_rows(latest)[("TSLA", "sec_facts")] == ("2021-12-31", "2021-09-30")
    # the refreshed tables are those of one fetch to the same as_of
    again("2023-02-01")
    one_shot = sec.fetch_fundamentals(tickers, START, "2023-02-01", client(FakeSEC(fake.routes)), progress=False)
    for name in ("fundamentals", "vintages", "companies"):
        pd.testing.assert_frame_equal(getattr(latest, name), getattr(one_shot, name))


def schedule(as_of: str, entry: tuple[str, str | None] | None, have_vintages: bool = True) -> str | None:
    from invest.data.schema import FETCH_LOG
    from invest.data.sources.sec_schedule import SecLog

    rows = [] if entry is None else [{"ticker": "X", "kind": "sec_facts", "start": START, "as_of": entry[0], "latest": entry[1]}]
    stored = conform(pd.DataFrame(rows, columns=list(FETCH_LOG.columns)), FETCH_LOG, "test")
    return SecLog(stored, day(START), day(as_of)).facts_skip("X", have_vintages)


def test_when_facts_are_asked_again():
    assert schedule("2022-11-01", None) is None  # never asked (or the last request failed)
    assert schedule("2022-11-01", ("2022-11-01", "2022-09-30"), have_vintages=False) is None  # the vintages were lost
    assert schedule("2022-11-01", ("2022-11-01", "2022-09-30")) == "already asked at this data.as_of or a later one"
    assert schedule("2022-12-18", ("2022-11-01", "2022-09-30")) == "no period after the latest one found can have ended yet"
    assert schedule("2022-12-19", ("2022-11-01", "2022-09-30")) is None  # 80 days after the last quarter end
    assert schedule("2023-01-31", ("2022-11-01", None)) == "no fundamentals at the last request, less than a quarter ago"
    assert schedule("2023-02-01", ("2022-11-01", None)) is None
    assert schedule("2023-05-02", ("2023-05-01", "2022-09-30")) == "the next report is overdue: asked again once a quarter"
    assert schedule("2023-08-01", ("2023-05-01", "2022-09-30")) is None


def test_share_classes_of_one_company_share_one_companyfacts_request():
    tickers_file = {
        "0": {"cik_str": TSLA_CIK, "ticker": "TSLA", "title": "Tesla, Inc."},
        "1": {"cik_str": TSLA_CIK, "ticker": "TSLA-B", "title": "Tesla, Inc."},
    }
    fake = FakeSEC({TICKERS_URL: json.dumps(tickers_file).encode()})
    result = sec.fetch_fundamentals(["TSLA", "tsla.b"], START, "2022-11-01", client(fake), progress=False)
    assert fake.calls.count(COMPANYFACTS_URL.format(cik=TSLA_CIK)) == 1
    assert fake.calls.count(SUBMISSIONS_URL.format(cik=TSLA_CIK)) == 1
    by_ticker = result.fundamentals.groupby("ticker").size()
    assert by_ticker["TSLA"] == by_ticker["tsla.b"] > 40


def test_a_failing_tickers_file_is_asked_once_and_reported_per_ticker():
    fake = FakeSEC({TICKERS_URL: (503, {}, b"")})
    result = sec.fetch_fundamentals(["TSLA", "SNOW"], START, "2022-11-01", client(fake, max_retries=1), progress=False)
    assert fake.calls == [TICKERS_URL, TICKERS_URL]  # one try and one retry, shared by both tickers
    assert result.failures == {t: f"SecHTTPError (HTTP 503): HTTP 503 from {TICKERS_URL}" for t in ("TSLA", "SNOW")}
    assert result.log.empty  # nothing answered: both are asked again next run


def test_a_company_without_usable_facts_is_a_failure_and_waits_a_quarter():
    ifrs_only = {
        "cik": 1,
        "entityName": "X",
        "facts": {
            "ifrs-full": {"Revenue": {"units": {"EUR": [fact(1.0, "2022-06-30", "x", "2022-08-01", "20-F", "2022-01-01")]}}}
        },
    }
    fake = FakeSEC({COMPANYFACTS_URL.format(cik=TSLA_CIK): json.dumps(ifrs_only).encode()})
    result = sec.fetch_fundamentals(["TSLA"], START, "2022-11-01", client(fake), progress=False)
    assert result.failures["TSLA"].startswith("no usable XBRL facts: none of the line items in USD")
    assert result.fundamentals.empty and result.vintages.empty and len(result.companies) == 1
    assert log_rows(result)[("TSLA", "sec_facts")] == ("2022-11-01", None)  # asked again from 2023-02-01
