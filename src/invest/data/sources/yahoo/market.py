"""The market table from Yahoo's index, volatility and rate symbols, on the index's trading calendar.

The table is always built from one download of its whole range (``data.start``..``data.as_of``), never
merged with stored rows: a forward fill across a merge would count carried values as observations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from invest.data.schema import MAX_FILL_DAYS

MARKET_SYMBOLS = {"^GSPC": "index_close", "^VIX": "vol_index", "^IRX": "short_rate", "^TNX": "long_rate"}


def market_frame(parts: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    series = {
        MARKET_SYMBOLS[symbol]: part.set_index("date")["close"].dropna()
        for symbol, part in parts.items()
        if symbol in MARKET_SYMBOLS
    }
    series = {k: v for k, v in series.items() if len(v)}
    if not series:
        return None
    if "index_close" in series:
        calendar = series["index_close"].index
    else:
        calendar = pd.DatetimeIndex(sorted(set().union(*(s.index for s in series.values()))))
    out = pd.DataFrame({"date": calendar})
    for column in MARKET_SYMBOLS.values():
        s = series.get(column)
        if s is None:
            out[column] = np.nan
            continue
        union = s.reindex(calendar.union(s.index))
        out[column] = bounded_ffill(union).reindex(calendar).to_numpy()
    return out


def bounded_ffill(s: pd.Series) -> pd.Series:
    """Forward-fill at most MAX_FILL_DAYS rows, only between the first and last observation."""
    valid = s.dropna()
    if valid.empty:
        return s
    filled = s.ffill(limit=MAX_FILL_DAYS)
    filled[filled.index > valid.index[-1]] = np.nan
    return filled
