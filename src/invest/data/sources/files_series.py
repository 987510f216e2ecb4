"""Market and macro series of a ``per_ticker`` files directory: one CSV per series, named in params.

``data.files_market`` and ``data.files_macro`` map a series to a file (relative to
``data.files_dir``) holding a date column (``Date`` or ``observation_date``, any case) and
a value column, found by ``VALUE_COLUMNS`` (see ``value_column``). Empty values (FRED's
holidays, Yahoo's nulls) are dropped and counted.

* market: each series on the trading days of ``index_close`` (the file, or the
  equal-weighted index of the universe; see ``files_yahoo``), a gap forward-filled for at
  most ``schema.MAX_FILL_DAYS`` rows exactly as the yfinance source does (``yahoo.market``).
* macro: one value per month (quarter for ``gdp_growth``), transformed and dated as the FRED
  source does (``fred.FRED_SERIES``): ``MACRO_TRANSFORMS`` says what each file must hold.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from invest.data.schema import MACRO, MARKET, conform
from invest.data.sources import files_csv
from invest.data.sources.base import empty_table
from invest.data.sources.fred import FRED_SERIES, series_frame
from invest.data.sources.yahoo.market import MARKET_SYMBOLS, market_frame
from invest.errors import DataError

# tried in this order; then the one numeric column besides the date, if there is exactly one
VALUE_COLUMNS = (("adjclose",), ("close",), ("value",))

# series -> (what the file holds, transform of fred.series_frame); lags and periods are FRED_SERIES'
MACRO_TRANSFORMS = {
    "inflation": ("a price index such as FRED CPIAUCSL", "yoy"),  # -> % change on a year earlier
    "unemployment": ("the unemployment rate in percent such as FRED UNRATE", "level"),  # as it is
    "gdp_growth": ("the real GDP level such as FRED GDPC1", "qoq_annualised"),  # -> % q/q, annualised
}


class SeriesReader:
    """Reads series files under ``root``; remembers rows read and dropped per file for the fetch report."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rows: dict[str, int] = {}
        self.dropped: dict[str, int] = {}

    def read(self, relative: str, key: str) -> pd.DataFrame:
        """``date`` and ``value`` in file order, indexed by row (``files_csv.line``); ``key`` names the param."""
        path = self.root / relative
        if not path.is_file():
            raise DataError(f"{path} not found (named by {key}); fix the path, relative to data.files_dir {self.root}")
        raw = files_csv.read(path)
        date = files_csv.date_column(raw, path)
        frame = pd.DataFrame(
            {"date": files_csv.dates(raw, date, path), "value": files_csv.numbers(raw, value_column(raw, date, path), path)}
        )
        files_csv.check_unique(frame["date"], path)
        self.rows[str(path)] = len(raw)
        empty = int(frame["value"].isna().sum())
        if empty:
            self.dropped[str(path)] = empty
        frame = frame.dropna(subset=["value"])
        if frame.empty:
            raise DataError(f"{path}: no values (named by {key}); the file needs rows of a date and a number")
        return frame

    def positive(self, frame: pd.DataFrame, relative: str, why: str) -> None:
        """DataError at the first value that is zero or negative."""
        bad = frame.index[(frame["value"] <= 0).to_numpy()]
        if len(bad):
            raise DataError(
                f"{self.root / relative}: {files_csv.line(bad[0])}: the value is {frame.loc[bad[0], 'value']:g}; {why}"
            )


def by_date(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(frame["value"].to_numpy(), index=pd.DatetimeIndex(frame["date"]), dtype="float64").sort_index()


def value_column(raw: pd.DataFrame, date: str, path: Path) -> str:
    """``Adj Close`` > ``Close`` > ``value`` (any case), else the single other numeric column."""
    for names in VALUE_COLUMNS:
        found = files_csv.find_column(raw, *names)
        if found is not None:
            return found
    numeric = [column for column in raw.columns if column != date and files_csv.is_numeric(raw, column)]
    if len(numeric) == 1:
        return numeric[0]
    raise DataError(
        f"{path}: line 1: cannot tell which column holds the values (columns: {', '.join(raw.columns)}); "
        "keep the date and one value column, or name the value column value (or Close)"
    )


def market_table(reader: SeriesReader, files: dict[str, str], index_close: pd.Series) -> pd.DataFrame:
    """The market table on the trading days of ``index_close``; the other series from ``files``."""
    series = {"index_close": index_close}
    for column, relative in files.items():
        if column != "index_close":
            series[column] = by_date(reader.read(relative, f"data.files_market.{column}"))
    symbol_of = {column: symbol for symbol, column in MARKET_SYMBOLS.items()}
    parts = {symbol_of[column]: pd.DataFrame({"date": s.index, "close": s.to_numpy()}) for column, s in series.items()}
    return conform(market_frame(parts), MARKET, "market series")


def index_from_file(reader: SeriesReader, relative: str) -> pd.Series:
    frame = reader.read(relative, "data.files_market.index_close")
    reader.positive(frame, relative, "index levels must be positive (leave the cell empty if unknown)")
    return by_date(frame)


def macro_table(reader: SeriesReader, files: dict[str, str]) -> pd.DataFrame:
    """Macro rows of every named series, each dated ``period end + publication lag``."""
    frames = [macro_rows(reader, series, relative) for series, relative in files.items()]
    if not frames:
        return empty_table(MACRO)
    return conform(pd.concat(frames, ignore_index=True), MACRO, "macro series")


def macro_rows(reader: SeriesReader, series: str, relative: str) -> pd.DataFrame:
    frame = reader.read(relative, f"data.files_macro.{series}")
    _, _, lag, freq = FRED_SERIES[series]
    holds, transform = MACRO_TRANSFORMS[series]
    period = "month" if freq == "M" else "quarter"
    fix = f"{series} needs one value per {period}: {holds}"
    files_csv.check_unique(frame["date"].dt.to_period(freq), reader.root / relative, period, fix)
    if transform != "level":
        reader.positive(frame, relative, f"{series} is computed from {holds}, whose values are positive")
    return series_frame(series, by_date(frame), transform, lag, freq)
