"""Point-in-time membership: the interval convention, real index changes, ticker forms, strict user files."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invest.data.membership import (
    Membership,
    all_tickers,
    load_membership,
    member_counts,
    member_mask,
    members_on,
    read_membership_file,
    to_yahoo,
)
from invest.errors import ConfigError, DataError

# AAA: 2010-01-04 up to (not on) 2015-06-22, again from 2018-01-02; BRK.B still a member; CCC one month
FAKE = """ticker,start,end
AAA,2010-01-04,2015-06-22
AAA,2018-01-02,
brk.b,2012-03-15,
CCC,2014-02-03,2014-03-03
"""


@pytest.fixture
def fake(tmp_path) -> Membership:
    path = tmp_path / "members.csv"
    path.write_text(FAKE)
    return load_membership(str(path))


@pytest.fixture(scope="module")
def sp500() -> Membership:
    pytest.importorskip("index_constitution")
    return load_membership("sp500")


def test_member_from_start_day_until_the_day_before_end(fake):
    assert "BRK-B" in members_on(fake, "2012-03-15")  # the start day is in
    assert "BRK-B" not in members_on(fake, "2012-03-14")
    assert "AAA" in members_on(fake, "2015-06-21")
    assert "AAA" not in members_on(fake, "2015-06-22")  # the end day is out: it is the first day out
    assert "AAA" not in members_on(fake, "2017-12-29")  # the gap between two stays
    assert "AAA" in members_on(fake, "2030-01-01")  # an empty end: still a member, a user file is open-ended
    assert members_on(fake, "2014-02-28") == {"AAA", "BRK-B", "CCC"}


def test_member_mask_selects_rows_per_date(fake):
    rows = pd.DataFrame(
        [(ticker, date) for date in ("2014-01-31", "2014-02-28", "2014-03-31") for ticker in ("AAA", "BRK-B", "CCC", "ZZZ")],
        columns=["ticker", "date"],
        index=np.arange(100, 112),  # any index: the mask follows row order
    ).astype({"date": "datetime64[ns]"})
    kept = rows[member_mask(fake, rows)]
    per_date = kept.groupby("date")["ticker"].apply(list).to_dict()
    assert per_date == {
        pd.Timestamp("2014-01-31"): ["AAA", "BRK-B"],
        pd.Timestamp("2014-02-28"): ["AAA", "BRK-B", "CCC"],
        pd.Timestamp("2014-03-31"): ["AAA", "BRK-B"],
    }
    assert member_mask(fake, rows.iloc[:0]).shape == (0,)


def test_all_tickers_is_every_member_of_the_window(fake):
    assert all_tickers(fake, "2010-01-04", "2012-03-14") == ["AAA"]
    assert all_tickers(fake, "2010-01-04", "2012-03-15") == ["AAA", "BRK-B"]  # joins on the window's last day
    assert all_tickers(fake, "2015-06-22", "2017-12-31") == ["BRK-B"]  # AAA left on the window's first day
    assert all_tickers(fake, "2014-03-01", "2014-03-02") == ["AAA", "BRK-B", "CCC"]


def test_dates_outside_the_coverage_fail_naming_it(fake):
    with pytest.raises(DataError, match=r"^membership file .*members\.csv covers 2010-01-04 on; 2010-01-03 is before it"):
        members_on(fake, "2010-01-03")  # before the file's first start: unknown, not empty
    rows = pd.DataFrame({"ticker": ["AAA", "AAA"], "date": pd.to_datetime(["2012-01-31", None])})
    with pytest.raises(DataError, match="1 dates are missing"):
        member_mask(fake, rows)
    with pytest.raises(ConfigError, match="end 2011-01-01 is before start 2012-01-01"):
        all_tickers(fake, "2012-01-01", "2011-01-01")


@given(
    stays=st.lists(st.tuples(st.sampled_from("ABC"), st.integers(0, 20), st.integers(1, 30)), min_size=1, max_size=8),
    open_ended=st.sets(st.sampled_from("ABC")),
    days=st.lists(st.integers(0, 150), min_size=1, max_size=10),
)
@settings(max_examples=30, deadline=None)
def test_member_mask_and_counts_agree_with_members_on(stays, open_ended, days):
    base, records, reach = pd.Timestamp("2020-01-01"), [], {}
    for ticker, gap, length in stays:  # each ticker's stays follow one another: disjoint, as loading makes them
        start = reach.get(ticker, base) + pd.Timedelta(days=gap)
        reach[ticker] = start + pd.Timedelta(days=length)
        records.append([ticker, start, reach[ticker]])
    for record in records:
        if record[0] in open_ended and record[2] == reach[record[0]]:
            record[2] = pd.NaT  # the ticker's last stay goes on
    history = Membership(pd.DataFrame(records, columns=["ticker", "start", "end"]), "test", base, None)
    rows = pd.DataFrame([(t, base + pd.Timedelta(days=d)) for d in days for t in "ABCD"], columns=["ticker", "date"])
    on = {d: members_on(history, d) for d in rows["date"]}
    assert member_mask(history, rows).tolist() == [t in on[d] for t, d in zip(rows["ticker"], rows["date"], strict=True)]
    assert member_counts(history, rows["date"]).tolist() == [len(on[d]) for d in rows["date"]]


@pytest.mark.parametrize(
    ("raw", "yahoo"), [("BRK.B", "BRK-B"), ("bf.b", "BF-B"), (" BRK/B ", "BRK-B"), ("BRK-B", "BRK-B"), ("aapl", "AAPL")]
)
def test_tickers_take_yahoo_form(raw, yahoo):
    assert to_yahoo(raw) == yahoo


def test_sp500_rows_follow_a_real_change(sp500):
    """Tesla joined the S&P 500 on 2020-12-21, replacing Apartment Investment & Management (AIV)."""
    dates = pd.to_datetime(["2020-11-30", "2020-12-31"])
    rows = pd.DataFrame([(t, d) for d in dates for t in ("AAPL", "TSLA", "AIV", "BRK-B")], columns=["ticker", "date"])
    kept = rows[member_mask(sp500, rows)]
    assert kept.groupby("date")["ticker"].apply(set).to_dict() == {
        dates[0]: {"AAPL", "AIV", "BRK-B"},
        dates[1]: {"AAPL", "TSLA", "BRK-B"},
    }
    before, after = members_on(sp500, dates[0]), members_on(sp500, dates[1])
    assert after - before >= {"TSLA"} and before - after >= {"AIV"}
    assert "BRK.B" not in after and {"BRK-B", "BF-B"} <= after  # share classes in Yahoo form
    assert 495 <= len(before) <= 510 and 495 <= len(after) <= 510


def test_sp500_coverage_and_repairs_are_stated(sp500):
    assert sp500.source.startswith("sp500 (index-constitution ")
    with pytest.raises(DataError, match=r"covers 2010-01-01 to \d{4}-\d\d-\d\d; 2009-12-31 is before it"):
        members_on(sp500, "2009-12-31")
    with pytest.raises(DataError, match="is after it .last recorded change"):
        members_on(sp500, sp500.end + pd.Timedelta(days=1))
    intervals = sp500.intervals.sort_values(["ticker", "start"])
    later = intervals.groupby("ticker")["start"].shift(-1)
    assert (intervals["end"].isna() & later.notna()).sum() == 0 and not (later < intervals["end"]).any()  # disjoint
    assert any("AYE, GAS, HNG" in repair for repair in sp500.repairs)
    assert "TSLA" in all_tickers(sp500, "2020-01-01", "2020-12-31") and "AIV" in all_tickers(sp500, "2020-01-01", "2020-12-31")


def test_nasdaq100_follows_the_2008_reranking():
    """Re-ranking effective 2008-12-22: ADP, O'Reilly and others in; SanDisk, Lamar and others out."""
    pytest.importorskip("index_constitution")
    ndx = load_membership("nasdaq100")
    before, after = members_on(ndx, "2008-11-28"), members_on(ndx, "2008-12-31")
    assert {"ADP", "ORLY"} <= after - before and {"SNDK", "LAMR"} <= before - after


def test_missing_package_and_unknown_index(monkeypatch):
    monkeypatch.setitem(sys.modules, "index_constitution", None)  # import fails as if not installed
    with pytest.raises(
        ConfigError,
        match=r"^data.universe: sp500 needs the package index-constitution; run pip install 'index-constitution==1.0.1'$",
    ):
        load_membership("sp500")
    with pytest.raises(ConfigError, match=r"^data.universe: 'sp400' is not a known index; use sp500 or nasdaq100, or the path"):
        load_membership("sp400")
    with pytest.raises(
        ConfigError, match=r"'members.txt' is not a known index; use sp500 or nasdaq100, or the path of a .csv file"
    ):
        load_membership("members.txt")  # a membership file must end in .csv


GOOD_ROW = "AAA,2010-01-04,\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty; write the header ticker,start,end"),
        ("ticker,start\nAAA,2010-01-04\n", "line 1: the header must name each of ticker,start,end once (got ticker,start)"),
        ("ticker,start,end,start\n", "line 1: the header must name each of ticker,start,end once"),
        ("ticker,start,end\n\n", "has a header but no rows"),
        ("ticker,start,end\n" + GOOD_ROW + "BBB,2010-01-04\n", "line 3: 2 fields, but the header has 3"),
        (
            "ticker,start,end\n" + GOOD_ROW + "BBB,2010-13-01,\n",
            "line 3: start '2010-13-01' is not a date; write it as YYYY-MM-DD",
        ),
        (
            "ticker,start,end\n" + GOOD_ROW + "BBB,2010/01/04,\n",
            "line 3: start '2010/01/04' is not a date; write it as YYYY-MM-DD",
        ),
        ("ticker,start,end\n" + GOOD_ROW + "BBB,20100104,\n", "line 3: start '20100104' is not a date"),
        ("ticker,start,end\n" + GOOD_ROW + "BBB,,\n", "line 3: start '' is not a date"),
        ("ticker,start,end\n" + GOOD_ROW + "BBB,2010-01-04,soon\n", "line 3: end 'soon' is not a date"),
        ("ticker,start,end\n" + GOOD_ROW + "BBB,2012-01-04,2011-01-04\n", "line 3: end 2011-01-04 is not after start 2012-01-04"),
        ("ticker,start,end\n" + GOOD_ROW + "BBB,2012-01-04,2012-01-04\n", "line 3: end 2012-01-04 is not after start 2012-01-04"),
        ("ticker,start,end\n" + GOOD_ROW + ",2012-01-04,\n", "line 3: '' is not a ticker symbol"),
        ("ticker,start,end\n" + GOOD_ROW + "BRK B,2012-01-04,\n", "line 3: 'BRK B' is not a ticker symbol"),
        ("ticker,start,end\n" + GOOD_ROW + GOOD_ROW, "line 3: AAA repeats line 2; give each ticker one row per stay"),
        ("ticker,start,end\nBRK-B,2010-01-04,2012-01-03\nBRK.B,2012-01-02,\n", "line 3: BRK-B overlaps line 2"),
        (
            "ticker,start,end\nAAA,2015-01-02,\nAAA,2010-01-04,2011-01-03\nAAA,2010-06-01,2010-07-01\n",
            "line 4: AAA overlaps line 3",
        ),
    ],
)
def test_user_file_is_checked_strictly(tmp_path, content, message):
    path = tmp_path / "members.csv"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        read_membership_file(path)
    text = str(caught.value)
    assert "\n" not in text and text.startswith(f"membership file {path}") and message in text


def test_user_file_accepts_extra_columns_touching_stays_and_a_bom(tmp_path):
    path = tmp_path / "members.csv"
    path.write_text("\ufeffName,Ticker,Start,End\nAlpha,AAA,2010-01-04,2012-01-03\nAlpha,AAA,2012-01-03,\n", encoding="utf-8")
    history = read_membership_file(path)
    assert history.intervals.to_dict("records") == [{"ticker": "AAA", "start": pd.Timestamp("2010-01-04"), "end": pd.NaT}]
    assert history.start == pd.Timestamp("2010-01-04") and history.end is None


def test_user_file_not_found(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(ConfigError, match=r"^data.universe: membership file .*nope\.csv not found; create it"):
        load_membership(str(missing))
