"""The built-in simulated market as a data source (``data.source: sim``).

The market is always generated from ``data.start`` to the fixed ``SIM_END`` and then cut at
``data.as_of``, exactly as a live source only sees what happened by ``as_of``: moving ``as_of``
never changes the past (a later ``as_of`` adds days, an earlier one removes them).
"""

from __future__ import annotations

import pandas as pd

from invest.data.market import simulate
from invest.data.schema import TABLES_BY_NAME
from invest.data.sources.base import FetchResult, clip_to_window, row_counts
from invest.errors import ConfigError
from invest.params import DataParams

SIM_END = "2030-12-31"  # the simulated calendar's last day; data.as_of cuts it


def fetch(params: DataParams, existing: dict[str, pd.DataFrame]) -> FetchResult:
    """Generate every table from the seed and cut it at ``as_of``; ``existing`` is ignored (the result is fully determined)."""
    if pd.Timestamp(params.as_of) > pd.Timestamp(SIM_END):
        raise ConfigError(f"data.as_of {params.as_of} is after the simulated market's last day ({SIM_END}); set it on or before")
    start, as_of = pd.Timestamp(params.start), pd.Timestamp(params.as_of)
    generated = simulate(params.n_tickers, params.start, SIM_END, params.seed)
    tables = {name: clip_to_window(TABLES_BY_NAME[name], frame, start, as_of) for name, frame in generated.items()}
    report = {
        "source": "sim",
        "simulated_to": SIM_END,
        "tickers_requested": params.n_tickers,
        "tickers_ok": int(tables["prices"]["ticker"].nunique()),
        "http_calls": 0,
        "rows": row_counts(tables),
    }
    return FetchResult(tables=tables, report=report)
