"""Monthly macro series from FRED (``data.fred_macro: true``), each dated by its publication lag."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from invest.data.schema import MACRO, conform
from invest.data.sources.base import clip_to_window, merge_keyed
from invest.data.sources.retry import CallBudget
from invest.errors import ConfigError

# FRED: series -> (FRED id, transform, publication lag in days, period frequency).
FRED_SERIES: dict[str, tuple[str, str, int, str]] = {
    "inflation": ("CPIAUCSL", "yoy", 15, "M"),  # CPI-U index -> % change on a year earlier
    "unemployment": ("UNRATE", "level", 7, "M"),  # %, published on the first Friday after the month
    "gdp_growth": ("A191RL1Q225SBEA", "level", 30, "Q"),  # real GDP, % q/q annualised, advance estimate
}

# transform -> (months back, periods per year): % change on that earlier observation, annualised
# by compounding; "level" keeps the values as they are
TRANSFORMS: dict[str, tuple[int, int]] = {
    "yoy": (12, 1),  # a price index -> % change on the same month a year earlier
    "qoq_annualised": (3, 4),  # a quarterly level (real GDP) -> % change on the quarter before, annualised
}


def client(api_key: str) -> Any:
    try:
        from fredapi import Fred
    except ImportError:
        raise ConfigError(
            "data.fred_macro is true but the fredapi package is not installed; run `pip install fredapi` "
            "or set data.fred_macro: false"
        ) from None
    return Fred(api_key=api_key)


def series_frame(series: str, values: Any, transform: str, lag: int, freq: str) -> pd.DataFrame:
    s = pd.Series(values, dtype="float64") if not isinstance(values, pd.Series) else values.astype("float64")
    s.index = pd.DatetimeIndex(pd.to_datetime(s.index)).normalize()
    s = s[~s.index.duplicated(keep="last")].sort_index().dropna()
    if transform in TRANSFORMS:
        months, per_year = TRANSFORMS[transform]
        earlier = s.copy()
        earlier.index = earlier.index + pd.DateOffset(months=months)
        s = (100.0 * ((s / earlier.reindex(s.index)) ** per_year - 1.0)).dropna()
    period_end = s.index.to_period(freq).to_timestamp(how="end").normalize()
    return pd.DataFrame(
        {
            "series": pd.Series([series] * len(s), dtype=object),
            "period_end": period_end,
            "release_date": period_end + pd.Timedelta(days=lag),
            "value": s.to_numpy(),
        }
    )


def client_from_environment() -> Any:
    """``fredapi.Fred`` with the key in ``FRED_API_KEY``; one line saying how to get one when it is missing."""
    key = os.environ.get("FRED_API_KEY", "").strip()
    if not key:
        raise ConfigError(
            "data.fred_macro is true but FRED_API_KEY is not set; export FRED_API_KEY=<your key> "
            "(free at https://fred.stlouisfed.org/docs/api/api_key.html) or set data.fred_macro: false"
        )
    return client(key)


def fetch(fred: Any, budget: CallBudget, start: pd.Timestamp, as_of: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every series of ``FRED_SERIES`` as macro rows, and a reason per series that failed."""
    frames, failures = [], {}
    begin = start - pd.DateOffset(months=13)  # a year of history for year-on-year inflation
    for series, (fred_id, transform, lag, freq) in FRED_SERIES.items():
        values, error = budget.call(
            "fred",
            lambda fred_id=fred_id: fred.get_series(fred_id, observation_start=begin.strftime("%Y-%m-%d"), observation_end=as_of),
        )
        if error:
            failures[f"FRED:{fred_id}"] = f"{series}: {error}"
            continue
        frames.append(series_frame(series, values, transform, lag, freq))
    macro = merge_keyed(None, pd.concat(frames, ignore_index=True) if frames else None, MACRO)
    return conform(clip_to_window(MACRO, macro, start, pd.Timestamp(as_of)), MACRO, "FRED macro"), failures
