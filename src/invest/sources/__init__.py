"""Data sources behind one interface: ``fetch(params, existing) -> FetchResult``.

``sim`` (the built-in simulated market), ``yfinance`` (live Yahoo Finance data) and
``files`` (your own CSV/Parquet files in the raw schema).
"""

from __future__ import annotations

from importlib import import_module

import pandas as pd

from invest.params import DataParams
from invest.sources.base import FetchResult

MODULES = {"sim": "invest.sources.sim", "yfinance": "invest.sources.yahoo", "files": "invest.sources.files"}


def fetch(params: DataParams, existing: dict[str, pd.DataFrame]) -> FetchResult:
    """Run the source named by ``params.source``."""
    module = import_module(MODULES[params.source])
    return module.fetch(params, existing)
