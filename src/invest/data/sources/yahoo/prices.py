"""Daily prices from ``yf.download``: batches with retries of the symbols still missing, the answer's
shapes turned into per-ticker frames, and the overlap check that finds where Yahoo re-adjusted history."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from invest.data.schema import PRICES, conform
from invest.data.sources.base import empty_table
from invest.data.sources.retry import CallBudget, describe, is_permanent
from invest.data.sources.yahoo.client import capture_errors

OVERLAP_DAYS = 7

READJUST_TOLERANCE = 1e-5  # relative change in the overlap that counts as a re-adjustment

PRICE_COLUMNS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}

_PRICE_LEVEL_NAMES = set(PRICE_COLUMNS) | {"Dividends", "Stock Splits", "Capital Gains", "Repaired?"}

Download = Callable[..., pd.DataFrame | None]


def download_batch(
    download: Download, budget: CallBudget, batch: list[str], begin: pd.Timestamp, as_of: pd.Timestamp, timeout_s: float
) -> tuple[dict[str, pd.DataFrame], dict[str, str], int]:
    """Download ``batch`` from ``begin`` to ``as_of``; retry only the symbols still missing.

    Returns the frames received, a reason per ticker that never arrived, and how many symbols
    were asked for in all (yfinance sends one request per symbol).
    """
    pending = list(batch)
    got: dict[str, pd.DataFrame] = {}
    reasons: dict[str, str] = {}
    symbols = 0
    end = as_of + pd.Timedelta(days=1)  # yfinance's end is exclusive
    for attempt in range(budget.max_retries + 1):
        budget.count("download")
        symbols += len(pending)
        error: BaseException | None = None
        with capture_errors() as logged, warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")  # its pandas deprecation noise
            try:
                frame = download(
                    tickers=list(pending),
                    start=begin.strftime("%Y-%m-%d"),
                    end=end.strftime("%Y-%m-%d"),
                    auto_adjust=False,
                    actions=False,
                    group_by="ticker",
                    threads=True,
                    progress=False,
                    timeout=timeout_s,
                )
                parts = split_download(frame, pending)
            except Exception as exc:  # noqa: BLE001 - reported per ticker, retried below
                error, parts = exc, {}
        if parts:
            budget.answered = True
        else:  # nothing came back: if only because the host is unreachable, stop now rather than back off for minutes
            budget.check_offline("download", [error] if error is not None else [logged.get(t) for t in pending])
        rate_limited = False
        for ticker in pending:
            part = parts.get(ticker)
            if part is not None and len(part):
                got[ticker] = part
            elif error is not None:
                reasons[ticker] = describe(error)
            else:
                note = logged.get(ticker)
                rate_limited |= bool(note and re.search(r"rate.?limit|too many requests", note, re.I))
                reasons[ticker] = f"no price rows for {begin.date()}..{as_of.date()}" + (
                    f" ({note})" if note else " (delisted, renamed or not a Yahoo symbol?)"
                )
        pending = [t for t in pending if t not in got]
        if not pending or attempt >= budget.max_retries:
            break
        if error is not None and is_permanent(error):
            break
        budget.wait(attempt, error, rate_limited)
    tries = attempt + 1
    failed = {t: f"{reasons[t]} (after {tries} tr{'y' if tries == 1 else 'ies'})" for t in pending}
    return got, failed, symbols


def split_download(frame: pd.DataFrame | None, requested: list[str]) -> dict[str, pd.DataFrame]:
    """Per-ticker price frames (date + schema price columns) from a ``yf.download`` result.

    Handles the MultiIndex column orders (Price, Ticker) of ``group_by='column'`` and
    (Ticker, Price) of ``group_by='ticker'``, flat columns for a single ticker,
    tz-aware indexes (the exchange's local date is kept), duplicated index rows (the
    last wins) and the all-NaN columns yfinance leaves for a ticker that failed. A
    ticker absent from the result is absent from the output.
    """
    if frame is None or not isinstance(frame, pd.DataFrame) or frame.empty:
        return {}
    by_upper = {t.upper(): t for t in requested}
    columns = frame.columns
    parts: dict[str, pd.DataFrame] = {}
    if isinstance(columns, pd.MultiIndex):
        if columns.nlevels != 2:
            raise ValueError(f"unexpected {columns.nlevels}-level columns from yfinance.download")
        hits = []
        for level in (0, 1):
            values = columns.get_level_values(level).unique()
            hits.append(sum(str(v) in _PRICE_LEVEL_NAMES for v in values) / max(len(values), 1))
        price_level = 0 if hits[0] >= hits[1] else 1
        ticker_level = 1 - price_level
        for symbol in dict.fromkeys(columns.get_level_values(ticker_level)):
            ticker = by_upper.get(str(symbol).upper())
            if ticker is not None:
                parts[ticker] = frame.xs(symbol, axis=1, level=ticker_level)
    elif len(requested) == 1 and "Close" in columns:
        parts[requested[0]] = frame
    else:
        raise ValueError("yfinance.download returned flat columns for several tickers; expected a MultiIndex")
    out = {}
    for ticker, part in parts.items():
        clean = _clean_prices(part)
        if len(clean):
            out[ticker] = clean
    return out


def _clean_prices(part: pd.DataFrame) -> pd.DataFrame:
    part = part.loc[:, ~part.columns.duplicated()]
    if "Close" not in part.columns:
        return pd.DataFrame(columns=["date", *PRICE_COLUMNS.values()])
    out = pd.DataFrame(index=range(len(part)))
    out["date"] = _local_dates(part.index)
    for yahoo, column in PRICE_COLUMNS.items():
        source = yahoo if yahoo in part.columns else ("Close" if yahoo == "Adj Close" else None)
        out[column] = pd.to_numeric(part[source], errors="coerce").to_numpy(dtype="float64") if source else np.nan
    prices = out[["open", "high", "low", "close", "adj_close"]]
    out = out[out["date"].notna() & prices.notna().any(axis=1) & out[["close", "adj_close"]].notna().any(axis=1)]
    out = out.drop_duplicates("date", keep="last").sort_values("date", kind="mergesort")
    return out.reset_index(drop=True)


def _local_dates(index: pd.Index) -> np.ndarray:
    dates = pd.DatetimeIndex(pd.to_datetime(index))
    if dates.tz is not None:
        dates = dates.tz_localize(None)  # a daily bar's wall-clock date in the exchange's time zone
    return dates.normalize().to_numpy(dtype="datetime64[ns]")


def long_prices(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return empty_table(PRICES)
    frames = [part.assign(ticker=ticker) for ticker, part in parts.items()]
    return conform(pd.concat(frames, ignore_index=True), PRICES, "yfinance prices")


def readjusted(stored: pd.DataFrame, new: pd.DataFrame) -> list[str]:
    """Tickers whose overlap of stored and new rows shows that Yahoo re-based their history since.

    A split changes the split-adjusted ``close`` of every earlier day, a dividend the ``adj_close``:
    the stored rows of such a ticker are on an old basis and must be fetched again in full.
    """
    if stored.empty or new.empty:
        return []
    overlap = stored.merge(new, on=["ticker", "date"], suffixes=("_old", "_new"))
    out = []
    for ticker, rows in overlap.groupby("ticker", sort=True):
        for column in ("close", "adj_close"):
            ratio = _ratio(rows[f"{column}_new"], rows[f"{column}_old"])
            if ratio is not None and abs(ratio - 1) > READJUST_TOLERANCE:
                out.append(str(ticker))
                break
    return out


def _ratio(new: pd.Series, old: pd.Series) -> float | None:
    ratio = (new / old).replace([np.inf, -np.inf], np.nan).dropna()
    ratio = ratio[ratio > 0]
    return float(ratio.median()) if len(ratio) else None
