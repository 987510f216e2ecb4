"""Data sources behind one interface: ``fetch(params, existing) -> FetchResult``.

``sim`` (the built-in simulated market), ``yfinance`` (live Yahoo Finance data) and
``files`` (your own CSV/Parquet files in the raw schema) make the tables; then
``assemble`` adds what comes from elsewhere: the SEC's fundamentals and labels
(``data.fundamentals``, ``data.sectors``), or no fundamentals, and the membership
intervals of a point-in-time universe (``data.universe: sp500``).

Everything that can be checked without the network is checked before anything is
fetched: the universe and its membership coverage, and the SEC's User-Agent.
"""

from __future__ import annotations

import pandas as pd

from invest.data.sources import assemble, universe
from invest.data.sources.base import FetchResult
from invest.data.sources.sec_client import SecClient
from invest.errors import ConfigError
from invest.params import DataParams


def fetch(params: DataParams, existing: dict[str, pd.DataFrame]) -> FetchResult:
    """Run the source named by ``params.source`` (imported here, so that a run loads only its own source)."""
    history = universe.membership(params)  # a misspelt index or data.start before its coverage: stop here
    if history is not None and params.source == "sim":
        raise ConfigError(
            f"data.universe: {params.universe!r} selects real tickers; the simulated market has its own "
            "(use data.source: yfinance or files, or data.universe: [])"
        )
    if params.source == "yfinance":
        universe.resolve_universe(params)  # a bad symbol or an empty file: before the SEC's User-Agent is asked for
    client = None
    if params.fundamentals_from == "sec":
        client = SecClient(params.sec_user_agent.strip() or None, max_retries=params.max_retries, timeout_s=params.timeout_s)
    if params.source == "sim":
        from invest.data.sources import sim as source
    elif params.source == "yfinance":
        from invest.data.sources import yahoo as source
    else:
        from invest.data.sources import files as source
    result = source.fetch(params, existing)
    if client is not None:
        assemble.with_sec(result, params, existing, client)
    elif params.fundamentals_from == "none":
        assemble.without_fundamentals(result, params)
    if history is not None:
        assemble.with_membership(result, history, params)
    return result
