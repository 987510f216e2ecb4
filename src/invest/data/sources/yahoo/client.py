"""yfinance plumbing: make it raise instead of logging, and collect its per-symbol error log."""

from __future__ import annotations

import ast
import contextlib
import logging
import re
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def raising_errors(yf: Any) -> Iterator[None]:
    """Make yfinance raise errors instead of logging them and returning empty frames, so they can be retried."""
    config = getattr(yf, "config", None)
    debug = getattr(config, "debug", None)
    if debug is None:
        yield
        return
    previous = debug.hide_exceptions
    debug.hide_exceptions = False
    try:
        yield
    finally:
        debug.hide_exceptions = previous


class ErrorLog(logging.Handler):
    """Collects yfinance's per-symbol download errors ("['AAPL', 'X']: YFRateLimitError(...)")."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.by_symbol: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed log record must not break the fetch
            return
        match = re.match(r"\s*(\[[^\]]*\]):\s*(.+)", message, re.S)
        if not match:
            return
        try:
            symbols = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            return
        text = " ".join(match.group(2).split())[:160]
        for symbol in symbols:
            self.by_symbol.setdefault(str(symbol).upper(), text)

    def get(self, ticker: str) -> str | None:
        return self.by_symbol.get(ticker.upper())


@contextlib.contextmanager
def capture_errors() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    logger = logging.getLogger("yfinance")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
