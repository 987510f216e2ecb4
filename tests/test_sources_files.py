"""The bring-your-own-data source: strict checks, clear one-line errors, a clean round trip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from invest.data.schema import TABLES_BY_NAME, conform
from invest.data.sources import files
from invest.errors import ConfigError, DataError
from invest.params import DataParams

START, AS_OF = "2024-01-01", "2024-01-05"


def valid_tables() -> dict[str, pd.DataFrame]:
    days = pd.bdate_range("2023-12-27", "2024-01-09")
    prices = pd.DataFrame(
        [
            (ticker, day, 10.0 + i, 11.0 + i, 9.0 + i, 10.5 + i, 10.4 + i, 1000.0 * (i + 1))
            for ticker in ("AAA", "BBB")
            for i, day in enumerate(days)
        ],
        columns=["ticker", "date", "open", "high", "low", "close", "adj_close", "volume"],
    )
    prices.loc[3, "volume"] = np.nan  # an unknown value is allowed
    companies = pd.DataFrame(
        {
            "ticker": ["AAA", "BBB"],
            "name": ["Aaa Inc", "Bbb, Ltd"],
            "sector": ["Energy", "Financials"],
            "industry": ["Oil", "Banks"],
        }
    )
    fields = {
        f: [1.0, 2.0, 3.0, 4.0]
        for f in TABLES_BY_NAME["fundamentals"].columns
        if f not in ("ticker", "period_end", "report_date")
    }
    fundamentals = pd.DataFrame(
        {
            "ticker": ["AAA", "AAA", "AAA", "BBB"],
            "period_end": pd.to_datetime(["2022-09-30", "2023-09-30", "2023-12-31", "2023-09-30"]),
            "report_date": pd.to_datetime(["2022-11-01", "2023-10-30", "2024-02-01", "2023-11-02"]),
            **fields,
        }
    )
    market = pd.DataFrame(
        {
            "date": days,
            "index_close": np.linspace(4700, 4800, len(days)),
            "vol_index": 13.0,
            "short_rate": 5.2,
            "long_rate": -0.1,  # negative rates are legal
        }
    )
    macro = pd.DataFrame(
        {
            "series": ["inflation", "inflation", "unemployment"],
            "period_end": pd.to_datetime(["2023-11-30", "2023-12-31", "2023-11-30"]),
            "release_date": pd.to_datetime(["2023-12-15", "2024-01-15", "2023-12-07"]),
            "value": [3.1, 3.4, 3.7],
        }
    )
    return {"prices": prices, "companies": companies, "fundamentals": fundamentals, "market": market, "macro": macro}


def write(directory, tables: dict[str, pd.DataFrame], fmt: str = "csv") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "csv":
            out = frame.copy()
            for column in out.columns:
                if pd.api.types.is_datetime64_any_dtype(out[column]):
                    out[column] = out[column].dt.strftime("%Y-%m-%d")
            out.to_csv(directory / f"{name}.csv", index=False)
        else:
            frame.to_parquet(directory / f"{name}.parquet", index=False)


def params(directory, **changes) -> DataParams:
    return dataclasses.replace(DataParams(source="files", files_dir=str(directory), start=START, as_of=AS_OF), **changes)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_valid_round_trip(tmp_path, fmt):
    write(tmp_path / "in", valid_tables(), fmt)
    result = files.fetch(params(tmp_path / "in"), {})
    assert result.failures == {} and result.report["http_calls"] == 0
    assert set(result.tables) == {"prices", "companies", "fundamentals", "market", "macro"}
    for name, frame in result.tables.items():
        pd.testing.assert_frame_equal(frame, conform(frame, TABLES_BY_NAME[name], name))
    prices = result.tables["prices"]
    assert prices["date"].min() == pd.Timestamp(START) and prices["date"].max() == pd.Timestamp(AS_OF)
    assert result.tables["market"]["date"].between(START, AS_OF).all()
    fundamentals = result.tables["fundamentals"]
    # public by as_of, period ending at most a year before start
    assert list(zip(fundamentals["ticker"], fundamentals["period_end"].dt.strftime("%Y-%m-%d"), strict=True)) == [
        ("AAA", "2023-09-30"),
        ("BBB", "2023-09-30"),
    ]
    assert list(result.tables["macro"]["series"]) == ["inflation", "unemployment"]  # Dec CPI not out by as_of
    assert result.tables["companies"]["name"].tolist() == ["Aaa Inc", "Bbb, Ltd"]
    assert result.report["rows"]["prices"] == len(prices) and result.report["tickers_ok"] == 2

    other = "parquet" if fmt == "csv" else "csv"
    write(tmp_path / "again", result.tables, other)
    again = files.fetch(params(tmp_path / "again"), {})
    for name in result.tables:
        pd.testing.assert_frame_equal(again.tables[name], result.tables[name], obj=name)


def test_optional_tables(tmp_path):
    tables = valid_tables()
    del tables["macro"]
    write(tmp_path, tables)
    result = files.fetch(params(tmp_path), {})
    assert result.tables["macro"].empty and list(result.tables["macro"].columns) == list(TABLES_BY_NAME["macro"].columns)
    assert "oracle" not in result.tables
    oracle = pd.DataFrame({"ticker": ["AAA"], "date": ["2024-01-02"], "expected_return_1y": [0.05]})
    oracle.to_csv(tmp_path / "oracle.csv", index=False)
    assert len(files.fetch(params(tmp_path), {}).tables["oracle"]) == 1


def test_ticker_named_na_is_text(tmp_path):
    tables = valid_tables()
    for name in ("prices", "companies", "fundamentals"):
        tables[name]["ticker"] = tables[name]["ticker"].replace("AAA", "NA")
    tables["prices"] = tables["prices"].sort_values(["ticker", "date"])
    tables["fundamentals"] = tables["fundamentals"].sort_values(["ticker", "period_end"])
    tables["companies"] = tables["companies"].sort_values("ticker")
    write(tmp_path, tables)
    assert "NA" in set(files.fetch(params(tmp_path), {}).tables["prices"]["ticker"])


def _set(table: str, row: int, column: str, value):
    def mutate(tables):
        frame = tables[table]
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value

    return mutate


def _drop_column(table: str, column: str):
    return lambda tables: tables[table].drop(columns=column, inplace=True)


def _swap_rows(table: str, i: int, j: int):
    def mutate(tables):
        frame = tables[table]
        order = list(range(len(frame)))
        order[i], order[j] = order[j], order[i]
        tables[table] = frame.iloc[order].reset_index(drop=True)

    return mutate


def _duplicate_row(table: str, i: int):
    def mutate(tables):
        frame = tables[table]
        tables[table] = pd.concat([frame.iloc[: i + 1], frame.iloc[[i]], frame.iloc[i + 1 :]], ignore_index=True)

    return mutate


ERRORS = [
    ("missing column", _drop_column("prices", "adj_close"), "prices.csv: missing column(s) adj_close"),
    ("not a number", _set("prices", 2, "close", "abc"), "prices.csv: line 4: column 'close' holds 'abc', not a number"),
    ("infinite", _set("prices", 2, "close", "inf"), "prices.csv: line 4: column 'close' is infinite"),
    ("not a date", _set("prices", 1, "date", "2024/01/02"), "prices.csv: line 3: column 'date' holds '2024/01/02'"),
    ("bad date", _set("market", 0, "date", "2024-13-45"), "market.csv: line 2: column 'date' holds '2024-13-45'"),
    ("empty key", _set("prices", 0, "ticker", ""), "prices.csv: line 2: column 'ticker' is empty"),
    ("empty label", _set("companies", 1, "sector", ""), "companies.csv: line 3: column 'sector' is empty"),
    (
        "empty date",
        _set("fundamentals", 0, "report_date", ""),
        "fundamentals.csv: line 2: column 'report_date' is empty",
    ),
    ("unsorted", _swap_rows("prices", 4, 5), "prices.csv: rows are not sorted by ticker, date: line 7"),
    ("unsorted ticker", _swap_rows("companies", 0, 1), "companies.csv: rows are not sorted by ticker: line 3 (AAA)"),
    ("duplicate", _duplicate_row("prices", 2), "prices.csv: line 4 and line 5 share the key (AAA, 2023-12-29)"),
    ("macro duplicate", _duplicate_row("macro", 0), "macro.csv: line 2 and line 3 share the key"),
    (
        "report before period",
        _set("fundamentals", 1, "report_date", "2023-09-01"),
        "fundamentals.csv: line 3: report_date 2023-09-01 is before period_end 2023-09-30",
    ),
    (
        "release before period",
        _set("macro", 2, "release_date", "2023-11-01"),
        "macro.csv: line 4: release_date 2023-11-01 is before period_end 2023-11-30",
    ),
    ("zero price", _set("prices", 5, "close", 0.0), "prices.csv: line 7: close is 0"),
    ("negative price", _set("prices", 6, "low", -1.5), "prices.csv: line 8: low is -1.5"),
    ("negative volume", _set("prices", 6, "volume", -10.0), "prices.csv: line 8: volume is -10"),
    ("zero index", _set("market", 0, "index_close", 0.0), "market.csv: line 2: index_close is 0"),
]


@pytest.mark.parametrize(("mutate", "expected"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_schema_errors_are_one_clear_line(tmp_path, mutate, expected):
    tables = valid_tables()
    mutate(tables)
    write(tmp_path, tables)
    with pytest.raises(DataError) as info:
        files.fetch(params(tmp_path), {})
    message = str(info.value)
    assert "\n" not in message
    assert expected in message, message


def test_parquet_errors_name_rows_and_types(tmp_path):
    tables = valid_tables()
    tables["prices"].loc[4, "close"] = -1.0
    write(tmp_path, tables, "parquet")
    with pytest.raises(DataError, match=r"prices.parquet: row 5: close is -1"):
        files.fetch(params(tmp_path), {})
    tables = valid_tables()
    tables["market"]["date"] = np.arange(len(tables["market"]))
    write(tmp_path, tables, "parquet")
    with pytest.raises(DataError, match=r"market.parquet: column 'date' has type int64; it must hold dates"):
        files.fetch(params(tmp_path), {})


def test_missing_and_ambiguous_files(tmp_path):
    tables = valid_tables()
    del tables["fundamentals"]
    write(tmp_path, tables)
    with pytest.raises(DataError, match=r"fundamentals.csv \(or .parquet\) not found"):
        files.fetch(params(tmp_path), {})
    write(tmp_path, valid_tables())
    valid_tables()["market"].to_parquet(tmp_path / "market.parquet")
    with pytest.raises(DataError, match="both market.csv and market.parquet exist"):
        files.fetch(params(tmp_path), {})
    with pytest.raises(ConfigError, match="is not a directory"):
        files.fetch(params(tmp_path / "nowhere"), {})


def test_unreadable_file_and_empty_window(tmp_path):
    write(tmp_path, valid_tables())
    with pytest.raises(DataError, match="no price rows between"):
        files.fetch(params(tmp_path, start="2030-01-01", as_of="2030-12-31"), {})
    (tmp_path / "prices.csv").unlink()
    (tmp_path / "prices.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="prices.parquet: not a readable Parquet file"):
        files.fetch(params(tmp_path), {})
