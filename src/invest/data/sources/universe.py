"""Which tickers a live source fetches: ``data.universe`` resolved to a list of symbols.

* an empty list (the default) -> ``DEFAULT_UNIVERSE``: 104 of today's US large caps.
  Beware survivorship bias: these are the firms that grew big and survived until
  now, so any backtest on them looks better than one on the universe investors
  could actually have picked from at the time (see docs/data_sources.md).
* ``sp500`` or ``nasdaq100`` (any case) -> a point-in-time universe: every ticker that was a
  member on some day of ``data.start``..``data.as_of`` (``invest.data.membership``). The fetch
  stage also writes the membership intervals (``membership_table``) so that the cache stage keeps,
  on each date, only the stocks that were members then. So does a CSV file whose header names
  ``ticker``, ``start`` and ``end`` (your own membership history).
* a list of symbols -> those symbols.
* a string -> a path to a text file with one symbol per line; ``#`` starts a comment
  (whole-line or after the symbol) and blank lines are skipped. A file named ``*.csv``, or
  whose first line (after comments) holds a comma, is a CSV table instead: its header names a ``ticker``
  column (any case), whose values are the symbols in row order; other columns are ignored.
  A name without a suffix or a folder that is not a file is taken for a misspelt index.

Symbols are upper-cased and de-duplicated, keeping the first occurrence's order.
"""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from invest.data import membership as pit
from invest.data.liquidity import LiquidityRule
from invest.data.schema import MEMBERSHIP, conform
from invest.errors import ConfigError
from invest.params import DataParams

DEFAULT_UNIVERSE: tuple[str, ...] = tuple(
    """
    AAPL MSFT GOOGL AMZN NVDA META TSLA BRK-B UNH LLY V JPM XOM JNJ WMT MA PG AVGO HD CVX
    MRK ABBV COST PEP KO ADBE MCD CSCO CRM TMO ABT BAC NKE NFLX ACN DHR DIS WFC TXN ORCL
    PM QCOM UPS VZ NEE RTX INTU BMY HON UNP AMD T AMGN LOW BA CAT IBM ELV PFE SPGI GS DE
    BLK AXP MDLZ GILD PLD LMT SYK AMAT BKNG ADP MMC TJX ADI CI VRTX C MO SO NOW ISRG REGN
    ZTS DUK PGR CB PANW GE BSX SLB ETN CME FISV MCO NOC ITW FDX SCHW ICE MU MRVL LIN MDT
    """.split()
)

# Yahoo symbols: letters, digits and . - ^ = (BRK-B, ^GSPC, EURUSD=X, 7203.T).
_SYMBOL = re.compile(r"^\^?[A-Z0-9][A-Z0-9.\-=]*$")


def liquidity_rule(params: DataParams) -> LiquidityRule | None:
    """``data.universe: {top_dollar_volume: N, ...}`` as a rule (None for a list, a file or an index)."""
    if not isinstance(params.universe, dict):
        return None
    rule = params.universe
    return LiquidityRule(int(rule["top_dollar_volume"]), int(rule.get("lookback_days", 252)), float(rule.get("min_price", 1.0)))


def resolve_universe(params: DataParams) -> list[str]:
    """The tickers to fetch, in order; ConfigError for an empty universe, a missing file or a bad symbol.
    With a liquidity rule: its candidates (a file), from which the rule chooses on each date."""
    history = membership(params)
    if history is not None:
        return pit.all_tickers(history, params.start, params.as_of)
    universe = params.universe
    if isinstance(universe, dict):
        if not universe.get("candidates"):
            raise ConfigError(
                "data.universe: a liquidity rule needs the stocks it chooses from here (data.universe.candidates: a file of "
                "tickers); the source cannot list every stock. With data.source: files it takes every price file"
            )
        universe = str(universe["candidates"])
    if isinstance(universe, str):
        symbols = _read_universe_file(universe)
        where = f"universe file {universe}"
    elif not universe:
        return list(DEFAULT_UNIVERSE)
    else:
        symbols = [(f"data.universe[{i}]", str(symbol)) for i, symbol in enumerate(universe)]
        where = "data.universe"
    out: list[str] = []
    seen: set[str] = set()
    for origin, raw in symbols:
        symbol = checked_symbol(origin, raw)
        if symbol not in seen:
            seen.add(symbol)
            out.append(symbol)
    if not out:
        raise ConfigError(f"{where} lists no tickers; add one symbol per line (or use [] for the default universe)")
    return out


def checked_symbol(origin: str, raw: str) -> str:
    """``raw`` upper-cased; ConfigError naming ``origin`` if it is not a ticker symbol."""
    symbol = raw.strip().upper()
    if not _SYMBOL.match(symbol):
        raise ConfigError(f"{origin}: {raw!r} is not a ticker symbol; write one Yahoo symbol such as AAPL or BRK-B per entry")
    return symbol


def _read_universe_file(path: str) -> list[tuple[str, str]]:
    if not path.strip():
        raise ConfigError("data.universe is an empty path; give a file with one ticker per line, or a list")
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"data.universe: file {path} not found; create it (one ticker per line) or fix the path") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"data.universe: cannot read {path} ({type(exc).__name__}); give a UTF-8 text file") from None
    lines = text.splitlines()
    first = next((line.split("#", 1)[0] for line in lines if line.split("#", 1)[0].strip()), "")
    if file.suffix.lower() == ".csv" or "," in first:
        return _csv_symbols(path, lines)
    symbols = []
    for number, line in enumerate(lines, start=1):
        symbol = line.split("#", 1)[0].strip()
        if symbol:
            symbols.append((f"{path} line {number}", symbol))
    return symbols


def _csv_symbols(path: str, lines: list[str]) -> list[tuple[str, str]]:
    """The ``ticker`` column of a CSV universe file, in row order (blank cells and leading comments skipped)."""
    skip = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")), len(lines))
    rows = list(csv.reader(lines[skip:]))
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    if "ticker" not in header:
        shown = ", ".join(cell.strip() for cell in rows[0]) if rows else "none"
        raise ConfigError(
            f"data.universe: {path} line {skip + 1}: no ticker column (columns: {shown}); "
            "name the column of symbols ticker, or write one symbol per line without a header"
        )
    column = header.index("ticker")
    return [
        (f"{path} line {number}", row[column])
        for number, row in enumerate(rows[1:], start=skip + 2)
        if len(row) > column and row[column].strip()
    ]


# ---------------------------------------------------------------- point-in-time universes


def membership(params: DataParams) -> pit.Membership | None:
    """The membership history ``data.universe`` names, checked against data.start..data.as_of; None for a plain list or file."""
    universe = params.universe
    if isinstance(universe, dict):
        return None
    if not isinstance(universe, str) or not universe.strip():
        return None
    name = universe.strip()
    path = Path(name)
    if name.lower() in pit.INDICES:
        history = _packaged(name.lower())
    elif path.suffix.lower() == ".csv" and path.is_file() and _is_membership_file(path):
        history = pit.read_membership_file(path)
    elif not path.suffix and len(path.parts) == 1 and not path.exists():
        raise ConfigError(
            f"data.universe: {name!r} is neither a known index ({', '.join(pit.INDICES)}) nor a file; "
            "name one of those indices, a file of tickers, or list the tickers"
        )
    else:
        return None
    _check_coverage(history, pd.Timestamp(params.start), pd.Timestamp(params.as_of))
    return history


@functools.cache
def _packaged(index: str) -> pit.Membership:
    return pit.load_membership(index)  # read once per process: the package's data never changes under it


def _is_membership_file(path: Path) -> bool:
    """A CSV file whose header names ticker, start and end: membership intervals, not a list of symbols."""
    try:
        with path.open(encoding="utf-8-sig") as file:
            header = next(csv.reader(file), [])
    except (OSError, UnicodeDecodeError):
        return False  # read (and reported) as a list of symbols
    return {"ticker", "start", "end"} <= {cell.strip().lower() for cell in header}


def _check_coverage(history: pit.Membership, start: pd.Timestamp, as_of: pd.Timestamp) -> None:
    """ConfigError before anything is fetched when data.start..data.as_of leaves the dates the history answers for."""
    until = f"to {history.end.date()}" if history.end is not None else "on"
    if start < history.start:
        raise ConfigError(
            f"data.start {start.date()} is before the membership history of {history.source}, which is complete from "
            f"{history.start.date()} {until}: set data.start to {history.start.date()} or later, or give data.universe "
            "a membership file (ticker,start,end) that covers it"
        )
    if history.end is not None and as_of > history.end:
        raise ConfigError(
            f"data.as_of {as_of.date()} is after the membership history of {history.source} ({history.start.date()} {until}, "
            f"its last recorded change + {pit.STALE_AFTER.days} days): install a newer {pit.PACKAGE}, set data.as_of "
            "earlier, or give data.universe a membership file (ticker,start,end)"
        )


def membership_table(history: pit.Membership, start: str, as_of: str) -> pd.DataFrame:
    """The raw ``membership`` table: the intervals of data.start..data.as_of as known on data.as_of."""
    return conform(pit.window(history, start, as_of), MEMBERSHIP, "membership table")


def membership_report(
    history: pit.Membership, prices: pd.DataFrame, market: pd.DataFrame, start: str, as_of: str
) -> dict[str, Any]:
    """Members and members without a price on the last trading day of each month; tickers never priced.

    Yahoo serves no prices for delisted companies: the members that fail, merge or go private drop
    out of the rows, so some survivorship bias remains (docs/data_sources.md).
    """
    tickers = pit.all_tickers(history, start, as_of)
    days = pd.Series(market["date"]).groupby(market["date"].dt.to_period("M")).max().to_numpy()
    rows = pd.DataFrame({"ticker": np.repeat(tickers, len(days)), "date": np.tile(days, len(tickers))})
    rows = rows[pit.member_mask(history, rows)]
    priced = prices.loc[prices["adj_close"].notna(), ["ticker", "date"]].assign(priced=True)
    rows = rows.merge(priced, on=["ticker", "date"], how="left")
    counts = rows.assign(missing=rows["priced"].isna()).groupby("date")["missing"].agg(["size", "sum"])
    never = sorted(set(tickers) - set(prices["ticker"]))
    return {
        "membership": history.source,
        "repairs": list(history.repairs),
        "tickers": len(tickers),
        "tickers_with_prices": len(tickers) - len(never),
        "tickers_without_prices": never,
        "members_without_prices": {
            str(day.date()): {"members": int(size), "without_prices": int(missing)} for day, (size, missing) in counts.iterrows()
        },
    }
