"""A folder of Yahoo-style CSVs (``data.files_layout: per_ticker``) just works, and bad files say what to fix."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invest.data.schema import TABLES_BY_NAME, conform
from invest.data.sources import files, files_csv, files_series, files_yahoo, registry
from invest.data.sources.files_yahoo import EQUAL_WEIGHTED, equal_weighted_index
from invest.data.sources.universe import resolve_universe
from invest.errors import ConfigError, DataError
from invest.params import DataParams, from_dict

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata-dev"
needs_realdata = pytest.mark.skipif(not REALDATA.is_dir(), reason=f"the shared real data folder {REALDATA} is absent")

YAHOO = "Date,Open,High,Low,Close,Adj Close,Volume\n"
AAA = (
    YAHOO + "2023-12-29,9.5,10.5,9,10,9.8,1000\n"
    "2024-01-02,10,11,9.5,10.5,10.29,1200\n"
    "2024-01-03,10.5,11.5,10,11,10.78,900\n"
    "2024-01-04,11,11,10,10,9.8,1500\n"
    "2024-01-11,10,10,10,10,9.8,100\n"
)
BBB = "Date,Close\n2024-01-04,21\n2024-01-03,20\n2024-01-02,20\n"  # no Adj Close, newest first


def folder(tmp_path: Path, prices: dict[str, str | bytes], other: dict[str, str] | None = None) -> Path:
    """``tmp_path/data`` with ``prices/<name>`` (text gzipped when the name ends in .gz; bytes as they are) and other files."""
    root = tmp_path / "data"
    (root / "prices").mkdir(parents=True)
    for name, text in prices.items():
        data = text if isinstance(text, bytes) else text.encode()
        gzipped = name.endswith(".gz") and isinstance(text, str)
        (root / "prices" / name).write_bytes(gzip.compress(data) if gzipped else data)
    for relative, text in (other or {}).items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def params(root: Path, **changes) -> DataParams:
    base = DataParams(source="files", files_layout="per_ticker", files_dir=str(root), start="2024-01-02", as_of="2024-01-10")
    return dataclasses.replace(base, **changes)


def fetch(root: Path, **changes):
    return files.fetch(params(root, **changes), {})


# ---------------------------------------------------------------- a folder that works


def test_a_folder_of_yahoo_csvs_becomes_the_raw_tables(tmp_path):
    root = folder(tmp_path, {"AAA.csv": AAA, "BBB.csv.gz": BBB})
    result = fetch(root)
    for name, frame in result.tables.items():
        pd.testing.assert_frame_equal(frame, conform(frame, TABLES_BY_NAME[name], name))
    prices = result.tables["prices"]
    assert prices["ticker"].tolist() == ["AAA"] * 3 + ["BBB"] * 3  # cut to start..as_of, sorted
    assert prices["date"].dt.strftime("%m-%d").tolist() == ["01-02", "01-03", "01-04"] * 2
    aaa = prices[prices["ticker"] == "AAA"]
    assert aaa["adj_close"].tolist() == [10.29, 10.78, 9.8] and aaa["volume"].tolist() == [1200, 900, 1500]
    bbb = prices[prices["ticker"] == "BBB"]
    assert bbb["adj_close"].tolist() == bbb["close"].tolist() == [20, 20, 21]  # no Adj Close: the close
    assert bbb[["open", "high", "low", "volume"]].isna().all().all()  # missing columns stay empty
    assert result.tables["companies"].to_dict("records") == [
        {"ticker": t, "name": t, "sector": "Unknown", "industry": "Unknown"} for t in ("AAA", "BBB")
    ]
    assert result.tables["fundamentals"].empty and result.tables["macro"].empty
    assert result.failures == {}
    report = result.report
    assert (report["files_layout"], report["tickers_ok"], report["http_calls"]) == ("per_ticker", 2, 0)
    assert report["files_read"] == {f"{root}/prices/AAA.csv": 5, f"{root}/prices/BBB.csv.gz": 3}
    assert report["index_close"] == f"{EQUAL_WEIGHTED} (2 tickers)"


def test_without_an_index_file_the_index_is_the_equal_weighted_universe(tmp_path):
    market = fetch(folder(tmp_path, {"AAA.csv": AAA, "BBB.csv.gz": BBB})).tables["market"]
    day2 = (10.78 / 10.29 - 1 + 20 / 20 - 1) / 2
    day3 = (9.8 / 10.78 - 1 + 21 / 20 - 1) / 2
    assert market["index_close"].tolist() == pytest.approx([100, 100 * (1 + day2), 100 * (1 + day2) * (1 + day3)])
    assert market[["vol_index", "short_rate", "long_rate"]].isna().all().all()  # not invented


def test_the_equal_weighted_index_takes_no_return_across_a_tickers_gap():
    days = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"])
    prices = pd.DataFrame(
        {"ticker": ["A", "A", "A", "B", "B"], "date": [*days, days[0], days[2]], "adj_close": [10, 11, 11, 20, 30]}
    )
    assert equal_weighted_index(prices).tolist() == pytest.approx([100, 110, 110])  # B's 50 % spans its gap


def test_rows_without_a_close_are_dropped_and_zero_prices_are_unknown(tmp_path):
    text = YAHOO + (
        "2024-01-02,null,null,null,null,null,null\n"  # Yahoo's row of a day without data
        "2024-01-03,0,11,10,10.5,10.5,100\n"  # Yahoo's zero for an unknown open
        "2024-01-04,10,11,10,10.5,,100\n"
    )
    root = folder(tmp_path, {"AAA.csv": text, "BBB.csv": BBB})
    result = fetch(root)
    aaa = result.tables["prices"].query("ticker == 'AAA'")
    assert aaa["date"].dt.strftime("%m-%d").tolist() == ["01-03"] and np.isnan(aaa["open"].iloc[0])
    assert result.report["rows_dropped"] == {f"{root}/prices/AAA.csv": 2}
    assert result.report["zero_prices_blanked"] == {f"{root}/prices/AAA.csv": 1}


def test_a_yfinance_to_csv_file_with_its_three_header_lines_is_read(tmp_path):
    text = (
        "Price,Adj Close,Close,High,Low,Open,Volume\n"
        "Ticker,AAA,AAA,AAA,AAA,AAA,AAA\n"
        "Date,,,,,,\n"
        "2024-01-02,10.29,10.5,11,9.5,10,1200\n"
        "2024-01-03,10.78,11,11.5,10,10.5,abc\n"
    )
    with pytest.raises(DataError, match=r"AAA.csv: line 5: Volume holds 'abc'"):  # lines count as in an editor
        fetch(folder(tmp_path, {"AAA.csv": text}))
    fixed = folder(tmp_path / "fixed", {"AAA.csv": text.replace("abc", "900")})
    assert fetch(fixed).tables["prices"]["adj_close"].tolist() == [10.29, 10.78]


def test_companies_csv_labels_tickers_and_maps_yahoo_sectors(tmp_path):
    companies = "ticker,name,sector,industry\nbbb,Bbb Corp,Technology,\nZZZ,Other,Energy,Oil\n"
    table = fetch(folder(tmp_path, {"AAA.csv": AAA, "BBB.csv": BBB}, {"companies.csv": companies})).tables["companies"]
    assert table.to_dict("records") == [
        {"ticker": "AAA", "name": "AAA", "sector": "Unknown", "industry": "Unknown"},
        {"ticker": "BBB", "name": "Bbb Corp", "sector": "Information Technology", "industry": "Unknown"},
    ]


# ---------------------------------------------------------------- the universe


def test_listed_tickers_without_a_file_or_prices_are_failures_not_fatal(tmp_path):
    late = YAHOO + "2024-02-01,1,1,1,1,1,1\n"
    root = folder(tmp_path, {"AAA.csv": AAA, "LATE.csv": late, "EMPTY.csv": YAHOO})
    result = fetch(root, universe=["aaa", "MISSING", "LATE", "EMPTY"])
    assert set(result.tables["prices"]["ticker"]) == {"AAA"}
    assert result.failures == {
        "MISSING": f"no file {root}/prices/MISSING.csv (or .csv.gz)",
        "LATE": "no prices between data.start 2024-01-02 and data.as_of 2024-01-10",
        "EMPTY": f"{root}/prices/EMPTY.csv has no rows with a close",
    }
    assert (result.report["tickers_requested"], result.report["tickers_ok"], result.report["tickers_failed"]) == (4, 1, 3)
    with pytest.raises(DataError, match=r"none of the 1 tickers of data.universe has a price file"):
        fetch(root, universe=["MISSING"])


def test_an_empty_universe_is_every_file_and_a_csv_universe_keeps_its_order(tmp_path):
    root = folder(tmp_path, {"BBB.csv.gz": BBB, "AAA.csv": AAA, "notes.txt": "not prices"})
    assert set(fetch(root).tables["prices"]["ticker"]) == {"AAA", "BBB"}
    universe = tmp_path / "universe.csv"
    universe.write_text("# members in 2005\nrank,Ticker\n1,BBB\n2,AAA\n3,BBB\n")
    assert resolve_universe(params(root, universe=str(universe))) == ["BBB", "AAA"]


@needs_realdata
def test_the_real_universe_file_is_read_in_its_row_order():
    universe = resolve_universe(DataParams(universe=str(REALDATA / "universe.csv")))
    assert len(universe) == 300 and universe[:3] == ["BB", "SIRI", "BP"]


# ---------------------------------------------------------------- market and macro series


def test_market_series_follow_the_index_calendar_with_bounded_fills(tmp_path):
    other = {
        "market/spy.csv": "date,SPY\n2024-01-02,470\n2024-01-03,468\n2024-01-04,467\n2024-01-05,469\n2024-01-08,475\n",
        "market/vix.csv": "DATE,OPEN,HIGH,LOW,CLOSE\n2023-12-29,1,1,1,12.5\n2024-01-03,1,1,1,13\n2024-01-08,1,1,1,14\n",
        "fred/DGS2.csv": "observation_date,DGS2\n2024-01-02,4.33\n2024-01-03,.\n2024-01-04,4.38\n",
    }
    root = folder(tmp_path, {"AAA.csv": AAA}, other)
    market_files = {"index_close": "market/spy.csv", "vol_index": "market/vix.csv", "short_rate": "fred/DGS2.csv"}
    result = fetch(root, files_market=market_files)
    market = result.tables["market"].set_index(result.tables["market"]["date"].dt.strftime("%m-%d"))
    assert market["index_close"].tolist() == [470, 468, 467, 469, 475]
    assert market["vol_index"].tolist() == [12.5, 13, 13, 13, 14]  # filled from the last value before
    assert market["short_rate"].tolist()[:3] == [4.33, 4.33, 4.38]
    assert market["short_rate"].iloc[3:].isna().all()  # never extrapolated past the last value
    assert market["long_rate"].isna().all()
    assert result.report["index_close"] == "market/spy.csv"
    assert result.report["rows_dropped"] == {f"{root}/fred/DGS2.csv": 1}


@pytest.mark.parametrize(
    ("text", "column"),
    [
        (AAA, "Adj Close"),
        ("DATE,OPEN,HIGH,LOW,CLOSE\n2024-01-02,1,2,0.5,1.5\n", "CLOSE"),
        ("date,value\n2024-01-02,4.3\n", "value"),
        ("date,SPY\n2024-01-02,470\n", "SPY"),
        ("observation_date,note,DGS10\n2024-01-02,x,.\n2024-01-03,y,4.1\n", "DGS10"),
    ],
)
def test_the_value_column_is_adj_close_then_close_then_value_then_the_one_numeric_column(tmp_path, text, column):
    path = tmp_path / "series.csv"
    path.write_text(text)
    raw = files_csv.read(path)
    assert files_series.value_column(raw, files_csv.date_column(raw, path), path) == column


def test_macro_series_are_transformed_and_dated_like_fred(tmp_path):
    months = pd.date_range("2022-01-01", "2023-12-01", freq="MS")
    quarters = pd.date_range("2022-01-01", "2023-10-01", freq="QS")
    other = {
        "fred/CPI.csv": "date,value\n" + "".join(f"{d.date()},{100 + i}\n" for i, d in enumerate(months)),
        "fred/GDP.csv": "date,value\n" + "".join(f"{d.date()},{100 + i}\n" for i, d in enumerate(quarters)),
        "fred/UNRATE.csv": "date,value\n2023-11-01,3.7\n2023-12-01,3.8\n",
    }
    macro_files = {"inflation": "fred/CPI.csv", "gdp_growth": "fred/GDP.csv", "unemployment": "fred/UNRATE.csv"}
    macro = fetch(folder(tmp_path, {"AAA.csv": AAA}, other), files_macro=macro_files).tables["macro"]
    last = macro.groupby("series").tail(1).set_index("series")
    assert last["period_end"].dt.strftime("%Y-%m-%d").to_dict() == {
        "gdp_growth": "2023-09-30",  # Q4 is released 2024-01-30, after as_of
        "inflation": "2023-11-30",  # December is released 2024-01-15
        "unemployment": "2023-12-31",  # released 2024-01-07
    }
    assert (last["release_date"] - last["period_end"]).dt.days.to_dict() == {"gdp_growth": 30, "inflation": 15, "unemployment": 7}
    assert last.loc["inflation", "value"] == pytest.approx(100 * (122 / 110 - 1))  # year on year
    assert last.loc["gdp_growth", "value"] == pytest.approx(100 * ((106 / 105) ** 4 - 1))  # q/q annualised
    assert last.loc["unemployment", "value"] == 3.8
    assert macro["period_end"].min() == pd.Timestamp("2023-01-31")  # a year before start, like every source


# ---------------------------------------------------------------- bad inputs: one line naming file, line and fix

GARBAGE = bytes(range(256)) * 4


@pytest.mark.parametrize(
    ("prices", "other", "changes", "error", "expected"),
    [
        ({"AAA.csv.gz": b"not gzip"}, {}, {}, DataError, "prices/AAA.csv.gz: not a readable CSV file"),
        ({"AAA.csv": GARBAGE}, {}, {}, DataError, "prices/AAA.csv: not a readable CSV file"),
        ({"AAA.csv": ""}, {}, {}, DataError, "prices/AAA.csv: the file is empty (not even a header line)"),
        ({"AAA.csv": "Day,Close\nx,1\n"}, {}, {}, DataError, "prices/AAA.csv: line 1: no Date column (columns: Day, Close)"),
        ({"AAA.csv": "Date,Open\n2024-01-02,1\n"}, {}, {}, DataError, "prices/AAA.csv: line 1: no Close or Adj Close column"),
        ({"AAA.csv": AAA.replace("10,9.8,1500", "ten,9.8,1500")}, {}, {}, DataError, "AAA.csv: line 5: Close holds 'ten'"),
        ({"AAA.csv": AAA.replace("2024-01-03", "01/03/2024")}, {}, {}, DataError, "line 4: Date holds '01/03/2024', not a date"),
        ({"AAA.csv": BBB + "\n2024-01-02,22\n"}, {}, {}, DataError, "line 4 and line 6 are the same day (2024-01-02)"),
        ({"AAA.csv": AAA.replace("11,9.5,", "11,-9.5,")}, {}, {}, DataError, "AAA.csv: line 3: Low is -9.5; prices"),
        ({"AAA.csv": AAA, "aaa.csv.gz": AAA}, {}, {}, DataError, "both AAA.csv and aaa.csv.gz hold prices of AAA"),
        ({"AAA (1).csv": AAA}, {}, {}, ConfigError, "price file"),
        (
            {"AAA.csv": AAA},
            {"market/two.csv": "date,SPY,QQQ\n2024-01-02,470,400\n"},
            {"files_market": {"index_close": "market/two.csv"}},
            DataError,
            "market/two.csv: line 1: cannot tell which column holds the values (columns: date, SPY, QQQ)",
        ),
        (
            {"AAA.csv": AAA},
            {},
            {"files_market": {"vol_index": "market/vix.csv"}},
            DataError,
            "market/vix.csv not found (named by data.files_market.vol_index)",
        ),
        (
            {"AAA.csv": AAA},
            {"spy.csv": "date,SPY\n2024-01-02,470\n2024-01-03,0\n"},
            {"files_market": {"index_close": "spy.csv"}},
            DataError,
            "spy.csv: line 3: the value is 0; index levels must be positive",
        ),
        (
            {"AAA.csv": AAA},
            {"gdp.csv": "date,value\n2023-01-01,100\n2023-02-01,101\n"},
            {"files_macro": {"gdp_growth": "gdp.csv"}},
            DataError,
            "gdp.csv: line 2 and line 3 are the same quarter (2023Q1); gdp_growth needs one value per quarter",
        ),
        (
            {"AAA.csv": AAA},
            {"cpi.csv": "date,value\n2023-01-01,3.1\n2023-02-01,-0.5\n"},
            {"files_macro": {"inflation": "cpi.csv"}},
            DataError,
            "cpi.csv: line 3: the value is -0.5; inflation is computed from a price index",
        ),
        ({"AAA.csv": AAA}, {"companies.csv": "symbol,name\nAAA,A\n"}, {}, DataError, "companies.csv: line 1: no ticker column"),
        (
            {"AAA.csv": AAA},
            {"companies.csv": "ticker,name\nAAA,A\naaa,B\n"},
            {},
            DataError,
            "companies.csv: line 2 and line 3 are the same ticker (AAA)",
        ),
        (
            {"AAA.csv": AAA},
            {"universe.csv": "symbol,weight\nAAA,1\n"},
            {"universe": "UNIVERSE"},
            ConfigError,
            "universe.csv line 1: no ticker column (columns: symbol, weight)",
        ),
    ],
    ids=[
        "not gzip",
        "binary",
        "empty file",
        "no date column",
        "no close column",
        "non-numeric close",
        "not a date",
        "duplicated date",
        "negative price",
        "two files for a ticker",
        "file name not a symbol",
        "two value columns",
        "series file missing",
        "index not positive",
        "two values in a quarter",
        "rate instead of an index",
        "companies without ticker",
        "companies duplicate",
        "universe csv without ticker",
    ],
)
def test_bad_files_are_one_clear_line(tmp_path, prices, other, changes, error, expected):
    root = folder(tmp_path, prices, other)
    if changes.get("universe") == "UNIVERSE":
        changes = {"universe": str(root / "universe.csv")}
    with pytest.raises(error) as info:
        fetch(root, **changes)
    message = str(info.value)
    assert "\n" not in message and expected in message, message
    assert type(info.value) is error


def test_folders_and_params_that_do_not_fit_the_layout(tmp_path):
    with pytest.raises(ConfigError, match=r"prices is not a directory; the per_ticker layout needs prices/<TICKER>.csv"):
        fetch(tmp_path)
    (tmp_path / "prices").mkdir()
    with pytest.raises(DataError, match=r"no <TICKER>.csv or .csv.gz files"):
        fetch(tmp_path)
    with pytest.raises(DataError, match=r"set data.files_layout: per_ticker"):
        fetch(tmp_path, files_layout="tables")
    with pytest.raises(ConfigError, match=r"data.files_market names an unknown series 'spy'; allowed: index_close"):
        from_dict({"data": {"files_layout": "per_ticker", "files_market": {"spy": "spy.csv"}}})
    with pytest.raises(ConfigError, match=r"data.files_macro is read only with data.files_layout: per_ticker"):
        registry.check(from_dict({"data": {"source": "files", "files_macro": {"inflation": "cpi.csv"}}}).data)


CELLS = st.one_of(
    st.sampled_from(
        ["", "2024-01-02", "2024-01-03", "2024-01-03 00:00:00-05:00", "2024-13-01", "01/02/2024", "1.5", "-1", "0"]
        + ["null", "nan", "inf", "1e400", ".", "NA", '"', "a,b", "Date", "Ticker", "Price"]
    ),
    st.text(max_size=5),
)
HEADERS = st.lists(
    st.sampled_from(["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume", "value", "x", "Price"]), max_size=7
)


@st.composite
def csv_texts(draw) -> str:
    header = draw(HEADERS)
    rows = [",".join(draw(CELLS).replace("\n", " ") for _ in header) for _ in range(draw(st.integers(0, 5)))]
    return "\n".join([",".join(header), *rows]) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(prices=st.one_of(csv_texts(), st.text(max_size=80)), series=st.one_of(csv_texts(), st.text(max_size=80)))
def test_any_price_or_series_file_is_read_or_refused_in_one_line(tmp_path_factory, prices, series):
    root = folder(tmp_path_factory.mktemp("fuzz"), {"AAA.csv": prices}, {"series.csv": series})
    for market in ({}, {"index_close": "series.csv"}, {"vol_index": "series.csv"}):
        try:
            result = fetch(root, files_market=market)
        except (DataError, ConfigError) as error:
            assert "\n" not in str(error)
        else:
            assert set(result.tables["prices"]["ticker"]) == {"AAA"} and result.tables["market"]["date"].is_unique


# ---------------------------------------------------------------- the real data


def _file_rows(path: Path, start: str, end: str) -> list[dict[str, str]]:
    with gzip.open(path, "rt") as handle:
        return [row for row in csv.DictReader(io.StringIO(handle.read())) if start <= row["Date"] <= end]


@needs_realdata
def test_real_yahoo_files_with_market_and_fred_series():
    tickers = ["BB", "SIRI", "BP", "TOL", "NOK"]
    result = files.fetch(
        DataParams(
            source="files",
            files_layout="per_ticker",
            files_dir=str(REALDATA),
            universe=tickers,
            start="2019-01-01",
            as_of="2023-12-31",
            files_market={
                "index_close": "market/spy_prices.csv",
                "vol_index": "market/vix-daily.csv",
                "short_rate": "fred/DGS2.csv",
                "long_rate": "fred/DGS10.csv",
            },
            files_macro={"inflation": "fred/CPIAUCSL.csv", "unemployment": "fred/UNRATE.csv", "gdp_growth": "fred/GDPC1.csv"},
        ),
        {},
    )
    assert result.failures == {} and len(result.report["files_read"]) == 5 + 7
    prices = result.tables["prices"]
    for ticker in tickers:
        rows = _file_rows(REALDATA / "prices" / f"{ticker}.csv.gz", "2019-01-01", "2023-12-31")
        mine = prices[prices["ticker"] == ticker]
        assert len(mine) == len(rows)
        assert mine["adj_close"].tolist() == [float(row["Adj Close"]) for row in rows]
    market = result.tables["market"]
    spy = pd.read_csv(REALDATA / "market" / "spy_prices.csv", parse_dates=["date"]).set_index("date")["SPY"]
    assert market["index_close"].tolist() == spy["2019-01-01":"2023-12-31"].tolist()
    assert market["vol_index"].notna().all() and market["long_rate"].isna().mean() < 0.01
    macro = result.tables["macro"].set_index(["series", "period_end"])["value"]
    cpi = pd.read_csv(REALDATA / "fred" / "CPIAUCSL.csv", parse_dates=["date"]).set_index("date")["value"]
    expected = 100 * (cpi["2022-06-01"] / cpi["2021-06-01"] - 1)
    assert macro["inflation", pd.Timestamp("2022-06-30")] == pytest.approx(expected) and 8 < expected < 10
    assert set(macro.index.get_level_values("series")) == {"inflation", "unemployment", "gdp_growth"}


@needs_realdata
def test_thousands_of_files_are_read_by_a_pool_with_the_same_tables_and_report(tmp_path, monkeypatch):
    """A folder past PARALLEL_FROM_FILES is read by one process per core: the same tables and counts as one process."""
    real = sorted((REALDATA / "prices").glob("*.csv.gz"))[:24]
    assert len(real) == 24
    prices = {path.name: path.read_bytes() for path in real}
    prices["ZZZ.csv"] = YAHOO + "2024-01-02,null,null,null,null,null,null\n2024-01-03,0,11,10,10.5,10.5,100\n"
    root = folder(tmp_path, prices)
    window = {"start": "2020-01-01", "as_of": "2024-01-10"}
    monkeypatch.setattr(files_yahoo, "PARALLEL_FROM_FILES", 10**9)
    alone = fetch(root, **window)
    monkeypatch.setattr(files_yahoo, "PARALLEL_FROM_FILES", 2)
    monkeypatch.setattr(files_yahoo, "read_processes", lambda: 2)
    pooled = fetch(root, **window)
    for name, table in alone.tables.items():
        pd.testing.assert_frame_equal(pooled.tables[name], table, check_exact=True)
    assert pooled.report == alone.report and alone.report["rows_dropped"] == {f"{root}/prices/ZZZ.csv": 1}

    (root / "prices" / "ZZZ.csv").write_text(YAHOO + "2024-01-03,10,11,10,-10.5,10.5,100\n")
    with pytest.raises(DataError, match=r"ZZZ.csv: line 2: Close is -10.5; prices and volumes cannot be negative"):
        fetch(root, **window)  # a worker's error reaches the user as it is
