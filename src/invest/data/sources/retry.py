"""The retry policy every live source uses: bounded exponential backoff with jitter that honours
``Retry-After``, no retry for errors a retry cannot fix, a fast stop when the machine is offline, and
the call counter behind a fetch report's ``http_calls``.

Offline: until a first call has had an answer, an error saying the host cannot be reached at all
(``unreachable``: its name does not resolve, nothing accepts the connection, no route) stops the
whole fetch with one FetchError instead of minutes of backoff. What those errors look like, read from
yfinance 1.7 + curl_cffi 0.17 and checked in a network namespace without a network:

* ``Ticker.info``, the statements and ``get_earnings_dates`` raise curl_cffi's ``DNSError`` (a
  ``ConnectionError``, an ``OSError``; curl code 6): "Failed to perform, curl: (6) Could not resolve
  host: query2.finance.yahoo.com (Could not contact DNS servers). See https://curl.se/...", or its
  ``ConnectionError`` (code 7): "... curl: (7) Failed to connect to query2.finance.yahoo.com:443 after
  0 ms: Could not connect to server ..." when the connection is refused or there is no route.
* ``yf.download`` raises nothing: it logs ``['AAPL', '^GSPC']: DNSError('Failed to perform, curl: (6)
  ...')`` per failed symbol and returns an empty frame, so the logged text is classified too.
* ``requests``/``urllib`` (fredapi) wrap ``socket.gaierror`` or ``ConnectionRefusedError``.

Rate limits (429) and 5xx errors are answers, and a timeout may pass: they keep their retries. After
a first answer an unreachable host is a blip and is retried like a timeout.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from invest.errors import FetchError

BACKOFF_BASE_S = 1.0  # first retry waits ~1 s, then ~2, 4, 8 ... (times a jitter factor in [0.5, 1.5))
RATE_LIMIT_BASE_S = 5.0  # a 429 without Retry-After backs off from ~5 s instead
BACKOFF_MAX_S = 120.0
RETRY_AFTER_MAX_S = 900.0  # never sleep longer than this on a server's say-so
OFFLINE_HINT = "offline, use data.source: sim or files"  # the fix an offline message names (a source may name its own)


def http_status(exc: BaseException | None) -> int | None:
    """The HTTP status code carried by ``exc`` (or an exception it wraps), if any."""
    for err in _chain(exc):
        for holder in (err, getattr(err, "response", None)):
            code = getattr(holder, "status_code", None) if holder is not None else None
            if code is None and holder is not None:
                code = getattr(holder, "status", None)
            if isinstance(code, int | np.integer) and 100 <= code <= 599:  # curl_cffi's failed requests carry status 0
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


# What a host that cannot be reached says, from curl (yfinance), urllib3/requests and the socket layer:
# (pattern, reason); the reason's {host} is the pattern's first group when it has one.
_UNREACHABLE = (
    (re.compile(r"could not resolve (?:host|proxy):? *([\w.-]+)?", re.I), "could not resolve host {host}"),
    (re.compile(r"failed to resolve '?([\w.-]+)", re.I), "could not resolve host {host}"),
    (re.compile(r"failed to connect to ([\w.-]+(?::\d+| port \d+)?)", re.I), "could not connect to {host}"),
    (
        re.compile(
            r"name or service not known|temporary failure in name resolution|nodename nor servname|getaddrinfo failed", re.I
        ),
        "could not resolve host",
    ),
    (re.compile(r"connection refused", re.I), "connection refused"),
    (re.compile(r"network is unreachable|no route to host", re.I), "no route to the host"),
)


def unreachable(problem: BaseException | str | None) -> str | None:
    """Why ``problem`` says the host cannot be reached at all, in a few words; None for anything else.

    ``problem`` is an exception (only network-level ones count: an ``OSError`` without an HTTP status,
    never a timeout) or the text yfinance's download logs for a symbol.
    """
    if problem is None:
        return None
    if isinstance(problem, str):
        texts = [problem]
    elif http_status(problem) is not None:
        return None  # the server answered
    else:
        reason = getattr(problem, "reason", None)  # urllib's URLError keeps the socket error here, not as a cause
        errors = [*_chain(problem), *(_chain(reason) if isinstance(reason, BaseException) else ())]
        texts = [str(err) for err in errors if isinstance(err, OSError) and not isinstance(err, TimeoutError)]
    for text in texts:
        for pattern, says in _UNREACHABLE:
            match = pattern.search(text)
            if match:
                host = match.group(1) if pattern.groups else None
                return says.format(host=host.replace(" port ", ":")) if host else says.replace(" {host}", "")
    return None


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
    ``rng`` are injected so tests run instantly and reproducibly. ``services`` names the service
    behind a call kind for the offline message (``"*"``: every other kind), ``offline_hint`` the fix it names.
    """

    def __init__(
        self,
        max_retries: int,
        sleep: Callable[[float], Any] = time.sleep,
        rng: random.Random | None = None,
        services: dict[str, str] | None = None,
        offline_hint: str = OFFLINE_HINT,
    ):
        self.max_retries = max_retries
        self.sleep = sleep
        self.rng = rng if rng is not None else random.Random()
        self.services = services or {}
        self.offline_hint = offline_hint
        self.calls: Counter[str] = Counter()
        self.retries = 0
        self.slept_s = 0.0
        self.answered = False  # some call got an answer: from then on an unreachable host is a blip, not offline

    @property
    def http_calls(self) -> int:
        return sum(self.calls.values())

    def count(self, kind: str) -> None:
        self.calls[kind] += 1

    def check_offline(self, kind: str, problems: Iterable[BaseException | str | None]) -> None:
        """Raise FetchError when nothing has answered yet and every problem says the host is unreachable."""
        if self.answered:
            return
        reasons = [unreachable(problem) for problem in problems]
        if reasons and all(reasons):
            service = self.services.get(kind, self.services.get("*", "the data source"))
            raise FetchError(f"cannot reach {service} ({reasons[0]}): check the network connection; {self.offline_hint}")

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
                result = fn()
            except Exception as exc:  # noqa: BLE001 - any failure of a remote call is retried or reported
                self.answered |= http_status(exc) is not None
                self.check_offline(kind, [exc])
                if attempt >= self.max_retries or is_permanent(exc):
                    tries = attempt + 1
                    return None, f"{describe(exc)} (after {tries} tr{'y' if tries == 1 else 'ies'})"
                self.wait(attempt, exc)
            else:
                self.answered = True
                return result, None
        raise AssertionError("every try returns or retries")  # pragma: no cover


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
