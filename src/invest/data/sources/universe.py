"""Which tickers a live source fetches: ``data.universe`` resolved to a list of symbols.

* an empty list (the default) -> ``DEFAULT_UNIVERSE``: 104 of today's US large caps.
  Beware survivorship bias: these are the firms that grew big and survived until
  now, so any backtest on them looks better than one on the universe investors
  could actually have picked from at the time (see docs/data_sources.md).
* a list of symbols -> those symbols.
* a string -> a path to a text file with one symbol per line; ``#`` starts a comment
  (whole-line or after the symbol) and blank lines are skipped. A file named ``*.csv``, or
  whose first line (after comments) holds a comma, is a CSV table instead: its header names a ``ticker``
  column (any case), whose values are the symbols in row order; other columns are ignored.

Symbols are upper-cased and de-duplicated, keeping the first occurrence's order.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

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


def resolve_universe(params: DataParams) -> list[str]:
    """The tickers to fetch, in order; ConfigError for an empty universe, a missing file or a bad symbol."""
    universe = params.universe
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
