"""Data sources behind one interface: ``fetch(params, existing) -> FetchResult``.

``sim`` (the built-in simulated market), ``yfinance`` (live Yahoo Finance data) and
``files`` (your own CSV/Parquet files in the raw schema).
"""

from __future__ import annotations

import pandas as pd

from invest.data.sources.base import FetchResult
from invest.params import DataParams


def fetch(params: DataParams, existing: dict[str, pd.DataFrame]) -> FetchResult:
    """Run the source named by ``params.source`` (imported here, so that a run loads only its own source)."""
    if params.source == "sim":
        from invest.data.sources import sim as source
    elif params.source == "yfinance":
        from invest.data.sources import yahoo as source
    else:
        from invest.data.sources import files as source
    return source.fetch(params, existing)
