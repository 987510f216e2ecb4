"""The built-in simulated market as a data source (``data.source: sim``)."""

from __future__ import annotations

import pandas as pd

from invest.data.market import simulate
from invest.data.sources.base import FetchResult
from invest.params import DataParams


def fetch(params: DataParams, existing: dict[str, pd.DataFrame]) -> FetchResult:
    """Generate every table from the seed; ``existing`` is ignored (the result is fully determined)."""
    tables = simulate(params.n_tickers, params.start, params.as_of, params.seed)
    report = {
        "source": "sim",
        "tickers_requested": params.n_tickers,
        "tickers_ok": int(tables["prices"]["ticker"].nunique()),
        "http_calls": 0,
        "rows": {name: len(frame) for name, frame in tables.items()},
    }
    return FetchResult(tables=tables, report=report)
