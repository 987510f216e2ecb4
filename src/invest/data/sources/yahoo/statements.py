"""Quarterly statements (income, balance sheet, cash flow) to fundamentals rows, dated by earnings announcements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from invest.data.schema import FUNDAMENTAL_FIELDS

EARNINGS_WINDOW_DAYS = 100

EARNINGS_DATES_LIMIT = 12  # yfinance's default: ~4 upcoming + ~8 past announcements

AFTER_CLOSE_HOUR = 16

EXCHANGE_TZ = "America/New_York"

# Schema field -> Yahoo line items, in order of preference; the first non-empty value wins per quarter.
LINE_ITEMS: dict[str, tuple[str, ...]] = {
    "revenue": ("Total Revenue", "Operating Revenue"),
    "net_income": (
        "Net Income",
        "Net Income Common Stockholders",
        "Net Income From Continuing Operation Net Minority Interest",
    ),
    "eps": ("Diluted EPS", "Basic EPS"),
    "equity": ("Stockholders Equity", "Common Stock Equity", "Total Equity Gross Minority Interest"),
    "assets": ("Total Assets",),
    "debt": ("Total Debt",),
    "cash": ("Cash And Cash Equivalents", "Cash Cash Equivalents And Short Term Investments", "Cash Financial"),
    "operating_cash_flow": ("Operating Cash Flow", "Cash Flow From Continuing Operating Activities"),
    "free_cash_flow": ("Free Cash Flow",),  # else operating cash flow + capital expenditure (negative)
    "shares": ("Ordinary Shares Number", "Share Issued", "Diluted Average Shares", "Basic Average Shares"),
}

STATEMENTS = ("quarterly_income_stmt", "quarterly_balance_sheet", "quarterly_cashflow")


def statements_to_fundamentals(
    ticker: str,
    income: pd.DataFrame | None,
    balance: pd.DataFrame | None,
    cashflow: pd.DataFrame | None,
) -> pd.DataFrame:
    """One row per quarter (ticker, period_end, schema fields) from Yahoo's statement frames.

    Each frame has line items as rows and period-end Timestamps as columns (newest
    first). Quarters with no mapped value at all are dropped; report_date is left out.
    """
    frames = [_clean_statement(frame) for frame in (income, balance, cashflow)]
    frames = [frame for frame in frames if frame is not None]
    periods = pd.DatetimeIndex(sorted(set().union(*(frame.columns for frame in frames)))) if frames else pd.DatetimeIndex([])
    out = pd.DataFrame({"period_end": periods})
    for column, items in LINE_ITEMS.items():
        value = pd.Series(np.nan, index=periods)
        for item in items:
            for frame in frames:
                if item in frame.index:
                    value = value.fillna(frame.loc[item].reindex(periods))
        out[column] = value.to_numpy()
    capex = pd.Series(np.nan, index=periods)
    for frame in frames:
        if "Capital Expenditure" in frame.index:
            capex = capex.fillna(frame.loc["Capital Expenditure"].reindex(periods))
    out["free_cash_flow"] = out["free_cash_flow"].fillna(out["operating_cash_flow"] + capex.to_numpy())
    out = out[out[list(FUNDAMENTAL_FIELDS)].notna().any(axis=1)].reset_index(drop=True)
    out.insert(0, "ticker", ticker)
    out["ticker"] = out["ticker"].astype(object)
    return out


def _table_problem(answer: Any, usable: Callable[[pd.DataFrame], bool], lacking: str) -> str | None:
    """Why a table answer is unusable; None when usable or simply empty (as for a young company)."""
    if answer is None or (isinstance(answer, pd.DataFrame) and answer.empty):
        return None
    if not isinstance(answer, pd.DataFrame):
        return f"malformed answer ({type(answer).__name__}, not a table)"
    return None if usable(answer) else f"malformed answer ({lacking})"


def statement_problem(frame: Any) -> str | None:
    def has_numbers(table: pd.DataFrame) -> bool:
        cleaned = _clean_statement(table)
        return cleaned is not None and bool(cleaned.notna().to_numpy().any())

    return _table_problem(frame, has_numbers, "no numeric values under period-end dates")


def earnings_problem(earnings: Any) -> str | None:
    return _table_problem(earnings, lambda table: not _announcement_dates(table).empty, "no dates in its index")


def _clean_statement(frame: Any) -> pd.DataFrame | None:
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        return None
    frame = frame[~frame.index.duplicated(keep="first")]
    columns = pd.to_datetime(pd.Index(frame.columns), errors="coerce")
    if getattr(columns, "tz", None) is not None:
        columns = columns.tz_localize(None)
    frame = frame.loc[:, ~pd.isna(columns)]
    columns = columns[~pd.isna(columns)].normalize()
    frame = frame.set_axis(columns, axis=1)
    frame = frame.loc[:, ~frame.columns.duplicated(keep="first")]
    frame = frame.apply(pd.to_numeric, errors="coerce").astype("float64")
    frame.index = frame.index.map(str)
    return frame


def report_dates(period_ends: pd.Series, earnings: Any, lag_days: int) -> np.ndarray:
    """First earnings announcement within EARNINGS_WINDOW_DAYS after each period end, else period_end + lag."""
    ends = pd.DatetimeIndex(pd.to_datetime(period_ends))
    fallback = ends + pd.Timedelta(days=lag_days)
    dates = _announcement_dates(earnings)
    if dates.empty:
        return fallback.to_numpy(dtype="datetime64[ns]")
    positions = dates.searchsorted(ends, side="right")
    out = []
    for end, position, default in zip(ends, positions, fallback, strict=True):
        if position < len(dates) and dates[position] <= end + pd.Timedelta(days=EARNINGS_WINDOW_DAYS):
            out.append(dates[position])
        else:
            out.append(default)
    return pd.DatetimeIndex(out).to_numpy(dtype="datetime64[ns]")


def _announcement_dates(earnings: Any) -> pd.DatetimeIndex:
    """Dates from which each announcement is public; after-close ones count from the next day."""
    if not isinstance(earnings, pd.DataFrame) or earnings.empty:
        return pd.DatetimeIndex([])
    try:
        stamps = pd.DatetimeIndex(pd.to_datetime(earnings.index))
    except (TypeError, ValueError):
        return pd.DatetimeIndex([])
    stamps = stamps[~stamps.isna()]
    if stamps.tz is not None:
        stamps = stamps.tz_convert(EXCHANGE_TZ).tz_localize(None)
    after_close = stamps.hour >= AFTER_CLOSE_HOUR
    days = stamps.normalize() + pd.to_timedelta(after_close.astype(int), unit="D")
    return pd.DatetimeIndex(sorted(set(days)))
