"""What every data source returns to the fetch stage, and helpers the live sources share.

A source is a module with ``fetch(params, existing, **injectables) -> FetchResult``:
``existing`` holds the raw tables already on disk (maybe none) so a source can refresh
incrementally; the returned tables must pass ``invest.data.schema.conform``.

The helpers here are small table utilities (empty tables, keyed merges, the point-in-time
window, per-year fundamentals coverage); the retry policy is in ``retry.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from invest.data.schema import Table, conform


@dataclass
class FetchResult:
    """Raw tables (name -> frame in the schema of ``invest.data.schema``), a JSON-able report, per-ticker failures."""

    tables: dict[str, pd.DataFrame]
    report: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def empty_table(table: Table) -> pd.DataFrame:
    """A zero-row frame with the table's columns and dtypes."""
    kinds = {"str": object, "date": "datetime64[ns]", "float": "float64"}
    frame = pd.DataFrame({column: pd.Series(dtype=kinds[kind]) for column, kind in table.columns.items()})
    return conform(frame, table, f"empty {table.name} table")


def merge_keyed(old: pd.DataFrame | None, new: pd.DataFrame | None, table: Table) -> pd.DataFrame:
    """Union of ``old`` and ``new`` rows, one per key; ``new`` wins where both have a key."""
    parts = [frame[list(table.columns)] for frame in (old, new) if frame is not None and len(frame)]
    if not parts:
        return empty_table(table)
    merged = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    merged = merged.drop_duplicates(list(table.key), keep="last")
    return conform(merged, table, f"{table.name} table")


def fundamentals_coverage(fundamentals: pd.DataFrame, tickers: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per calendar year of ``period_end``: tickers with at least one quarter, their share of ``tickers``, quarters."""
    wanted = set(tickers)
    frame = fundamentals[fundamentals["ticker"].isin(wanted)] if wanted else fundamentals
    out: dict[str, dict[str, Any]] = {}
    if frame.empty:
        return out
    years = frame["period_end"].dt.year
    for year, group in frame.groupby(years):
        n = int(group["ticker"].nunique())
        out[str(int(year))] = {
            "tickers": n,
            "share": round(n / len(wanted), 4) if wanted else None,
            "quarters": len(group),
        }
    return out


LOOKBACK = pd.DateOffset(years=1)  # quarters/months ending up to a year before data.start are kept (growth rates)


def clip_to_window(table: Table, frame: pd.DataFrame, start: pd.Timestamp, as_of: pd.Timestamp) -> pd.DataFrame:
    """Rows a point-in-time view of ``start``..``as_of`` may hold.

    Daily tables (prices, market, oracle): ``start <= date <= as_of``. Fundamentals
    and macro: public by ``as_of`` (``report_date``/``release_date <= as_of``) and
    with a period ending no more than ``LOOKBACK`` before ``start``. Companies: all.
    """
    columns = table.columns
    if "date" in columns:
        keep = (frame["date"] >= start) & (frame["date"] <= as_of)
    elif "period_end" in columns:
        public = "report_date" if "report_date" in columns else "release_date"
        keep = (frame[public] <= as_of) & (frame["period_end"] >= start - LOOKBACK)
    else:
        return frame
    return frame[keep].reset_index(drop=True)


def row_counts(tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    return {name: len(frame) for name, frame in tables.items()}
