"""The retry policy every live source uses: bounded exponential backoff with jitter that honours
``Retry-After``, no retry for errors a retry cannot fix, and the call counter behind a fetch
report's ``http_calls``."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

BACKOFF_BASE_S = 1.0  # first retry waits ~1 s, then ~2, 4, 8 ... (times a jitter factor in [0.5, 1.5))
RATE_LIMIT_BASE_S = 5.0  # a 429 without Retry-After backs off from ~5 s instead
BACKOFF_MAX_S = 120.0
RETRY_AFTER_MAX_S = 900.0  # never sleep longer than this on a server's say-so


def http_status(exc: BaseException | None) -> int | None:
    """The HTTP status code carried by ``exc`` (or an exception it wraps), if any."""
    for err in _chain(exc):
        for holder in (err, getattr(err, "response", None)):
            code = getattr(holder, "status_code", None) if holder is not None else None
            if code is None and holder is not None:
                code = getattr(holder, "status", None)
            if isinstance(code, int | np.integer):
                return int(code)
    return None


def retry_after_seconds(exc: BaseException | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date) seen on ``exc``."""
    for err in _chain(exc):
        value = getattr(err, "retry_after", None)
        if value is None:
            for holder in (getattr(err, "response", None), err):
                headers = getattr(holder, "headers", None) if holder is not None else None
                if headers is not None:
                    value = _header(headers, "Retry-After")
                    if value is not None:
                        break
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except (TypeError, ValueError):
            pass
        try:
            when = email.utils.parsedate_to_datetime(str(value))
        except (TypeError, ValueError):
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        now = now or dt.datetime.now(dt.UTC)
        return max(0.0, (when - now).total_seconds())
    return None


def is_rate_limit(exc: BaseException | None) -> bool:
    for err in _chain(exc):
        text = f"{type(err).__name__} {err}".lower()
        if "ratelimit" in text or "rate limit" in text or "too many requests" in text:
            return True
    return http_status(exc) == 429


def is_permanent(exc: BaseException) -> bool:
    """Errors a retry cannot fix: HTTP 4xx other than 408 (timeout) and 429 (rate limit)."""
    status = http_status(exc)
    return status is not None and 400 <= status < 500 and status not in (408, 429)


def describe(exc: BaseException) -> str:
    """One line for a report: the exception type, its HTTP status and a short message."""
    status = http_status(exc)
    text = " ".join(str(exc).split())
    if len(text) > 160:
        text = text[:157] + "..."
    head = type(exc).__name__ + (f" (HTTP {status})" if status else "")
    return f"{head}: {text}" if text else head


class CallBudget:
    """Counts network calls and runs them with bounded retries.

    ``call`` tries ``fn`` up to ``1 + max_retries`` times. Between tries it sleeps
    ``Retry-After`` when the error carries one, else ``base * 2**attempt`` seconds
    (capped at ``BACKOFF_MAX_S``) times a jitter factor in [0.5, 1.5). ``sleep`` and
    ``rng`` are injected so tests run instantly and reproducibly.
    """

    def __init__(self, max_retries: int, sleep: Callable[[float], Any] = time.sleep, rng: random.Random | None = None):
        self.max_retries = max_retries
        self.sleep = sleep
        self.rng = rng if rng is not None else random.Random()
        self.calls: Counter[str] = Counter()
        self.retries = 0
        self.slept_s = 0.0

    @property
    def http_calls(self) -> int:
        return sum(self.calls.values())

    def count(self, kind: str) -> None:
        self.calls[kind] += 1

    def delay(self, attempt: int, exc: BaseException | None = None, rate_limited: bool = False) -> float:
        after = retry_after_seconds(exc)
        if after is not None:
            return min(after, RETRY_AFTER_MAX_S)
        base = RATE_LIMIT_BASE_S if rate_limited or is_rate_limit(exc) else BACKOFF_BASE_S
        return min(BACKOFF_MAX_S, base * 2.0**attempt) * (0.5 + self.rng.random())

    def wait(self, attempt: int, exc: BaseException | None = None, rate_limited: bool = False) -> None:
        seconds = self.delay(attempt, exc, rate_limited)
        self.retries += 1
        self.slept_s += seconds
        self.sleep(seconds)

    def call(self, kind: str, fn: Callable[[], Any]) -> tuple[Any, str | None]:
        """``(result, None)`` on success, ``(None, reason)`` once the retries are spent."""
        for attempt in range(self.max_retries + 1):
            self.count(kind)
            try:
                return fn(), None
            except Exception as exc:  # noqa: BLE001 - any failure of a remote call is retried or reported
                if attempt >= self.max_retries or is_permanent(exc):
                    tries = attempt + 1
                    return None, f"{describe(exc)} (after {tries} tr{'y' if tries == 1 else 'ies'})"
                self.wait(attempt, exc)
        raise AssertionError("unreachable")  # pragma: no cover


def _chain(exc: BaseException | None) -> Iterable[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _header(headers: Any, name: str) -> Any:
    try:
        value = headers.get(name)
    except AttributeError:
        return None
    if value is None and isinstance(headers, dict):
        lowered = {str(k).lower(): v for k, v in headers.items()}
        value = lowered.get(name.lower())
    return value
