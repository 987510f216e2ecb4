"""The ``per_ticker`` layout of the files source: one Yahoo-style CSV per ticker (``data.files_layout``).

``data.files_dir`` holds:

* ``prices/<TICKER>.csv`` or ``.csv.gz``: ``Date,Open,High,Low,Close,Adj Close,Volume`` as
  Yahoo writes them (column names in any case; extra columns ignored; rows in any order).
  Only ``Date`` and a close are needed: ``adj_close`` is ``Adj Close``, or ``Close`` when the
  file has no ``Adj Close``; a missing ``Open``/``High``/``Low``/``Close``/``Volume`` column
  stays empty, never invented. A zero price is Yahoo's mark of an unknown one and becomes
  empty; a row without an ``adj_close`` is dropped; both are counted in the report.
* ``companies.csv`` (optional): ``ticker,name,sector,industry``; a ticker it lacks (or all,
  without the file) gets its symbol as name and ``Unknown`` labels. Yahoo's sector names
  are mapped to GICS names as in the yfinance source.
* ``fundamentals.csv`` or ``.parquet`` (optional): the raw table, checked as in the tables layout.
* market and macro series named by ``data.files_market`` / ``data.files_macro``
  (``files_series``). Without an ``index_close`` file the index is ``equal_weighted_index``.

The universe is ``data.universe`` (``universe.resolve_universe``; ``[]`` = every price file).
A listed ticker without a file, with no rows, or with no prices in the window is a
failure in the report; the run stops only when no ticker has prices. Everything is cut to
``data.start``..``data.as_of`` (``base.clip_to_window``) and sorted by key.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from invest.data.schema import COMPANIES, FUNDAMENTALS, MACRO, MARKET, PRICES, conform
from invest.data.sources import files_csv
from invest.data.sources.base import FetchResult, clip_to_window, empty_table, fundamentals_coverage, row_counts
from invest.data.sources.files import find_file, read_checked
from invest.data.sources.files_series import SeriesReader, index_from_file, macro_table, market_table
from invest.data.sources.universe import checked_symbol, resolve_universe
from invest.data.sources.yahoo.companies import SECTOR_TO_GICS, UNKNOWN
from invest.errors import ConfigError, DataError
from invest.params import DataParams

SUFFIXES = (".csv.gz", ".csv")
PARALLEL_FROM_FILES = 200  # fewer files read faster in this process than a pool starts
MAX_READ_PROCESSES = 8
PRICE_COLUMNS = {"open": "open", "high": "high", "low": "low", "close": "close", "adj_close": "adjclose", "volume": "volume"}
PRICE_FIELDS = ("open", "high", "low", "close", "adj_close")
TABLES = {table.name: table for table in (PRICES, COMPANIES, FUNDAMENTALS, MARKET, MACRO)}
EQUAL_WEIGHTED = "equal-weighted index of the universe's daily adjusted-close returns, 100 on the first day"


class Counts:
    """What the fetch report says about the files read."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}  # file -> rows read
        self.dropped: dict[str, int] = {}  # file -> rows without a close (prices) or a value (series)
        self.zero_prices: dict[str, int] = {}  # file -> zero prices read as unknown

    def add(self, other: Counts) -> None:
        """Append ``other``'s files (counted elsewhere, e.g. in a reading process) after this one's."""
        for name, counted in vars(other).items():
            getattr(self, name).update(counted)


def fetch(params: DataParams) -> FetchResult:
    """Read every ticker's file and the named series, and cut them to the window."""
    root = Path(params.files_dir)
    folder = root / "prices"
    if not folder.is_dir():
        raise ConfigError(
            f"data.files_dir: {folder} is not a directory; the per_ticker layout needs prices/<TICKER>.csv "
            "(or .csv.gz) files there (see docs/data_sources.md)"
        )
    files = price_files(folder)
    tickers = universe(params, files, folder)
    counts, failures = Counts(), {}
    frames = []
    found = [(ticker, files[ticker]) for ticker in tickers if ticker in files]
    read = dict(zip((ticker for ticker, _ in found), read_all(found, counts), strict=True))
    for ticker in tickers:
        path, frame = files.get(ticker), read.get(ticker)
        if path is None:
            failures[ticker] = f"no file {folder / ticker}.csv (or .csv.gz)"
        elif frame.empty:
            failures[ticker] = f"{path} has no rows with a close"
        else:
            frames.append(frame)
    if not frames:
        raise DataError(
            f"{folder}: none of the {len(tickers)} tickers of data.universe has a price file with a close "
            f"(e.g. {folder / tickers[0]}.csv); add the files or fix data.universe"
        )
    start, as_of = pd.Timestamp(params.start), pd.Timestamp(params.as_of)
    prices = clip_to_window(PRICES, conform(pd.concat(frames, ignore_index=True), PRICES, str(folder)), start, as_of)
    for ticker in sorted({frame["ticker"].iloc[0] for frame in frames} - set(prices["ticker"])):
        failures[ticker] = f"no prices between data.start {params.start} and data.as_of {params.as_of}"
    if prices.empty:
        raise DataError(
            f"{folder}: no price rows between data.start {params.start} and data.as_of {params.as_of}; "
            "widen the dates or add data"
        )
    tables, reader = side_tables(params, root, prices)
    tables = {name: clip_to_window(table, tables[name], start, as_of) for name, table in TABLES.items()}
    report = fetch_report(params, tables, tickers, failures, counts, reader)
    return FetchResult(tables=tables, report=report, failures=failures)


def price_files(folder: Path) -> dict[str, Path]:
    """Upper-cased file stem -> file, for every ``*.csv`` and ``*.csv.gz`` in ``folder``."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        suffix = next((s for s in SUFFIXES if path.name.lower().endswith(s)), None)
        if suffix is None or not path.is_file():
            continue
        stem = path.name[: -len(suffix)].upper()
        if stem in found:
            raise DataError(f"{folder}: both {found[stem].name} and {path.name} hold prices of {stem}; keep only one of them")
        found[stem] = path
    return found


def universe(params: DataParams, files: dict[str, Path], folder: Path) -> list[str]:
    """``data.universe``, or (``[]``, or a liquidity rule without candidates) every price file, each file name
    checked as a symbol."""
    rule_without_candidates = isinstance(params.universe, dict) and not params.universe.get("candidates")
    if params.universe and not rule_without_candidates:
        return resolve_universe(params)
    if not files:
        raise DataError(f"{folder}: no <TICKER>.csv or .csv.gz files; add one price file per ticker")
    return [checked_symbol(f"price file {files[stem]}", stem) for stem in files]


def read_all(files: list[tuple[str, Path]], counts: Counts) -> list[pd.DataFrame]:
    """``read_prices`` of every (ticker, file), in order; a folder of thousands of files is read by one process
    per core (the same frames and counts as one process: each file is read alone, results kept in order)."""
    processes = read_processes()
    if len(files) < PARALLEL_FROM_FILES or processes < 2:
        return [read_prices(path, ticker, counts) for ticker, path in files]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_read_alone, files, chunksize=16))
    for _, alone in results:
        counts.add(alone)
    return [frame for frame, _ in results]


def read_processes() -> int:
    return min(len(os.sched_getaffinity(0)), MAX_READ_PROCESSES)


def _read_alone(item: tuple[str, Path]) -> tuple[pd.DataFrame, Counts]:
    ticker, path = item
    counts = Counts()
    return read_prices(path, ticker, counts), counts


def read_prices(path: Path, ticker: str, counts: Counts) -> pd.DataFrame:
    """One ticker's file as price rows (not yet clipped); see the module docstring."""
    raw = files_csv.read(path)
    date = files_csv.date_column(raw, path)
    columns = {field: files_csv.find_column(raw, name) for field, name in PRICE_COLUMNS.items()}
    if columns["close"] is None and columns["adj_close"] is None:
        raise DataError(
            f"{path}: line 1: no Close or Adj Close column (columns: {', '.join(raw.columns)}); "
            "the per_ticker layout needs Date and Close (Yahoo's columns)"
        )
    frame = pd.DataFrame({"ticker": ticker, "date": files_csv.dates(raw, date, path)}, index=raw.index)
    for field, column in columns.items():
        frame[field] = files_csv.numbers(raw, column, path) if column is not None else np.nan
        if column is not None:
            _not_negative(frame, field, column, path)
    if columns["adj_close"] is None:
        frame["adj_close"] = frame["close"]
    files_csv.check_unique(frame["date"], path)
    zero = frame[list(PRICE_FIELDS)] == 0
    frame[list(PRICE_FIELDS)] = frame[list(PRICE_FIELDS)].mask(zero)
    no_close = frame["adj_close"].isna()
    counts.rows[str(path)] = len(raw)
    for kept, n in ((counts.zero_prices, int(zero.to_numpy().sum())), (counts.dropped, int(no_close.sum()))):
        if n:
            kept[str(path)] = n
    return frame[~no_close].sort_values("date").reset_index(drop=True)


def _not_negative(frame: pd.DataFrame, field: str, column: str, path: Path) -> None:
    negative = frame.index[(frame[field] < 0).to_numpy()]
    if len(negative):
        value = frame.loc[negative[0], field]
        raise DataError(
            f"{path}: {files_csv.line(negative[0])}: {column} is {value:g}; prices and volumes cannot be negative "
            "(leave the cell empty if the value is unknown)"
        )


def equal_weighted_index(prices: pd.DataFrame) -> pd.Series:
    """100 × the compounded mean daily adjusted-close return of the tickers priced on a day and the day before.

    The days are those on which any ticker has a price; a ticker enters a day's mean only
    with prices on both that day and the previous such day (no return across its own gaps).
    """
    wide = prices.pivot(index="date", columns="ticker", values="adj_close").sort_index()
    mean = wide.pct_change(fill_method=None).mean(axis=1).fillna(0.0)  # no return on the first day: flat
    return 100.0 * (1.0 + mean).cumprod()


def side_tables(params: DataParams, root: Path, prices: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], SeriesReader]:
    """Companies, fundamentals, market and macro tables for ``prices`` (already in the window)."""
    reader = SeriesReader(root)
    index_file = params.files_market.get("index_close")
    index = index_from_file(reader, index_file) if index_file else equal_weighted_index(prices)
    tables = {
        "prices": prices,
        "companies": companies(root / "companies.csv", list(prices["ticker"].unique()), reader),
        "fundamentals": fundamentals(root),
        "market": market_table(reader, params.files_market, index),
        "macro": macro_table(reader, params.files_macro),
    }
    return tables, reader


def fundamentals(root: Path) -> pd.DataFrame:
    path = find_file(root, FUNDAMENTALS)
    return read_checked(path, FUNDAMENTALS) if path is not None else empty_table(FUNDAMENTALS)


def companies(path: Path, tickers: list[str], reader: SeriesReader) -> pd.DataFrame:
    """One row per ticker: the labels of ``companies.csv`` where it has them, else the symbol and Unknown."""
    rows = {ticker: {"ticker": ticker, "name": ticker, "sector": UNKNOWN, "industry": UNKNOWN} for ticker in tickers}
    if path.is_file():
        raw = files_csv.read(path)
        column = files_csv.find_column(raw, "ticker")
        if column is None:
            raise DataError(
                f"{path}: line 1: no ticker column (columns: {', '.join(raw.columns)}); "
                "write the header ticker,name,sector,industry"
            )
        symbols = raw[column].map(lambda s: s.upper())
        files_csv.check_unique(symbols, path, "ticker")
        labels = {field: files_csv.find_column(raw, field) for field in ("name", "sector", "industry")}
        for i, symbol in symbols.items():
            if symbol in rows:
                rows[symbol].update({field: raw.at[i, c] for field, c in labels.items() if c and raw.at[i, c]})
        reader.rows[str(path)] = len(raw)
    frame = pd.DataFrame(list(rows.values()), columns=list(COMPANIES.columns))
    frame["sector"] = frame["sector"].map(lambda sector: SECTOR_TO_GICS.get(sector, sector))
    return conform(frame, COMPANIES, str(path))


def fetch_report(
    params: DataParams,
    tables: dict[str, pd.DataFrame],
    tickers: list[str],
    failures: dict[str, str],
    counts: Counts,
    reader: SeriesReader,
) -> dict[str, Any]:
    ok = sorted(tables["prices"]["ticker"].unique())
    return {
        "source": "files",
        "files_layout": "per_ticker",
        "files_dir": params.files_dir,
        "start": params.start,
        "as_of": params.as_of,
        "tickers_requested": len(tickers),
        "tickers_ok": len(ok),
        "tickers_failed": len(failures),
        "http_calls": 0,
        "index_close": params.files_market.get("index_close") or f"{EQUAL_WEIGHTED} ({len(ok)} tickers)",
        "files_read": counts.rows | reader.rows,
        "rows_dropped": counts.dropped | reader.dropped,  # prices without a close, series rows without a value
        "zero_prices_blanked": counts.zero_prices,
        "rows": row_counts(tables),
        "fundamentals_coverage": fundamentals_coverage(tables["fundamentals"], ok),
    }
