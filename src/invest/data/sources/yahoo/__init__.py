"""Live market data from Yahoo Finance through ``yfinance`` (``data.source: yfinance``).

Modules: ``prices`` (downloads, answer shapes, the re-adjustment check), ``market`` (index, VIX
and rates), ``statements`` (quarterly statements and report dates), ``companies`` (labels),
``refresh`` (one fetch or refresh and the merge with stored tables), ``schedule`` (when to ask
again: the ``fetch_log``), ``client`` (yfinance plumbing); FRED macro is
``invest.data.sources.fred`` and the retry policy ``invest.data.sources.retry``.

What is fetched (see docs/data_sources.md for the full story):

* **prices**: daily OHLCV plus ``Adj Close`` for the universe, ``data.batch_size``
  tickers per threaded ``yf.download`` call, ``auto_adjust=False``.
* **market**: ``^GSPC`` -> index_close, ``^VIX`` -> vol_index, ``^IRX`` (13-week
  T-bill) -> short_rate, ``^TNX`` (10-year Treasury) -> long_rate, both in percent,
  on the ``^GSPC`` trading calendar. A series missing on a day the index traded
  (bond-market holidays, a late print) is forward-filled for at most
  ``schema.MAX_FILL_DAYS`` rows, and never before its first or after its last
  observation in the downloaded range.
* **fundamentals**: ``Ticker.quarterly_income_stmt`` / ``quarterly_balance_sheet`` /
  ``quarterly_cashflow`` (Yahoo serves only the last ~5 quarters), mapped through
  ``LINE_ITEMS``. ``report_date`` is the first earnings date within
  ``EARNINGS_WINDOW_DAYS`` after the period end (``Ticker.get_earnings_dates``; an
  announcement at or after 16:00 New York time counts from the next day), else
  ``period_end + data.report_lag_days``. Only rows with ``report_date <= as_of`` are
  kept: nothing is in the table before it was public.
* **companies**: name, sector and industry from ``Ticker.info``; only these static
  labels are read, never a numeric field (market cap, ratios...), which would be a
  value as of today. Yahoo's sector names are mapped to GICS names.
* **macro**: empty unless ``data.fred_macro``; then CPI inflation (year on year, %),
  unemployment (%) and real GDP growth (% annualised) from FRED via ``fredapi``,
  with publication lags as ``release_date``.

Incremental refresh (``refresh``, ``schedule``): with tables already on disk, a run asks only for
what can be new and writes the same tables as one fetch to the same ``as_of``. Prices are fetched
per ticker from (last stored date - ``OVERLAP_DAYS``), and in full again where the overlap shows
that Yahoo re-adjusted history; the market table is downloaded whole for every new window;
statements only when a newer quarter can be public, labels once a quarter. When each request was
last made is kept in the ``fetch_log`` bookkeeping table, dated by ``as_of``.

Faults: each network call gets ``1 + data.max_retries`` tries with exponential backoff and jitter
(``Retry-After`` honoured). A ticker that still fails is reported in ``FetchResult.failures`` and
the rest carry on; FetchError is raised only if no price at all could be fetched, or at once when
the first requests find Yahoo unreachable (offline: no name resolution, connection refused).

``report['http_calls']`` counts one per ``yf.download`` call (one batch; yfinance
itself sends one request per symbol inside it, see ``download_symbols``), one per
``Ticker`` attribute read that goes to the network (``info``, each of the three
statements, ``get_earnings_dates``) and one per FRED series, retries included.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from invest.data.sources import fred as fred_source
from invest.data.sources.base import FetchResult
from invest.data.sources.retry import CallBudget
from invest.data.sources.universe import resolve_universe
from invest.data.sources.yahoo.client import raising_errors
from invest.data.sources.yahoo.prices import Download, split_download
from invest.data.sources.yahoo.refresh import Refresh, TickerFactory
from invest.data.sources.yahoo.statements import report_dates, statements_to_fundamentals
from invest.params import DataParams

__all__ = ["fetch", "report_dates", "split_download", "statements_to_fundamentals"]


def fetch(
    params: DataParams,
    existing: dict[str, pd.DataFrame],
    *,
    download: Download | None = None,
    ticker_factory: TickerFactory | None = None,
    sleep: Callable[[float], Any] = time.sleep,
    rng: random.Random | None = None,
    fred: Any = None,
) -> FetchResult:
    """Fetch (or refresh) every raw table from Yahoo Finance; see the module docstring.

    ``download`` and ``ticker_factory`` default to ``yfinance.download`` and
    ``yfinance.Ticker``; ``fred`` defaults to ``fredapi.Fred(api_key=$FRED_API_KEY)``
    and is only used when ``params.fred_macro`` is true.
    """
    tickers = resolve_universe(params)
    if params.fred_macro and fred is None:
        fred = fred_source.client_from_environment()
    hide = contextlib.nullcontext()
    if download is None or ticker_factory is None:
        import yfinance as yf  # lazily: importing invest must not import yfinance

        download = download or yf.download
        if ticker_factory is None:
            ticker_factory = yf.Ticker
            hide = raising_errors(yf)
    budget = CallBudget(params.max_retries, sleep, rng, services={"fred": "FRED", "*": "Yahoo Finance"})
    with hide:
        return Refresh(params, existing, tickers, download, ticker_factory, budget, fred).run()
