"""Data sources behind one interface: ``fetch(params, existing) -> FetchResult``.

The sources declared in ``registry`` (the built-in simulated market, live Yahoo Finance data,
your own CSV/Parquet files) make the tables; then ``assemble`` adds what comes from elsewhere:
the SEC's fundamentals and labels (``data.fundamentals``, ``data.sectors``), or no fundamentals,
and the membership intervals of a point-in-time universe (``data.universe: sp500``).

Everything that can be checked without the network is checked before anything is
fetched: the source and what it can serve (``registry.check``), the universe and its
membership coverage, and the SEC's User-Agent.
"""

from __future__ import annotations

import pandas as pd

from invest.data.sources import assemble, registry, universe
from invest.data.sources.base import FetchResult
from invest.data.sources.sec_client import SecClient
from invest.errors import ConfigError
from invest.params import DataParams


def fetch(params: DataParams, existing: dict[str, pd.DataFrame]) -> FetchResult:
    """Run the source named by ``params.source`` (imported here, so that a run loads only its own source)."""
    registry.check(params)  # an unknown source, or fundamentals and sectors it cannot serve
    spec = registry.get(params.source)
    history = universe.membership(params)  # a misspelt index or data.start before its coverage: stop here
    rule = universe.liquidity_rule(params)
    if history is not None and not spec.real_tickers:
        raise ConfigError(
            f"data.universe: {params.universe!r} selects real tickers; the {spec.words} has its own "
            f"(use data.source: {' or '.join(registry.names('real_tickers'))}, or data.universe: [])"
        )
    if spec.tickers_from_universe:
        universe.resolve_universe(params)  # a bad symbol or an empty file: before the SEC's User-Agent is asked for
    fundamentals = registry.fundamentals_from(params)
    client = None
    if fundamentals == "sec":
        client = SecClient(params.sec_user_agent.strip() or None, max_retries=params.max_retries, timeout_s=params.timeout_s)
    result = spec.module().fetch(params, existing)
    if client is not None:
        assemble.with_sec(result, params, existing, client)
    elif fundamentals == "none":
        assemble.without_fundamentals(result, params)
    if history is not None:
        assemble.with_membership(result, history, params)
    if rule is not None:
        assemble.with_liquidity(result, rule, params)
    return result
