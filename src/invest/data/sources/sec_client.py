"""A small HTTP client for three SEC EDGAR JSON endpoints.

Plain ``urllib`` on purpose: the source needs three GET endpoints (``COMPANYFACTS_URL``,
``SUBMISSIONS_URL``, ``TICKERS_URL``). ``edgartools`` (5.62) would wrap them but
brings some twenty dependencies (httpx, lxml, pydantic, rich, rapidfuzz...) and its
own caching, throttling and retry layers, which would sit beside ``CallBudget`` rather
than under it, and it parses filings we never read.

SEC's fair-access rules, as enforced here:

* every request carries a ``User-Agent`` naming the requester and a contact e-mail,
  from ``user_agent=`` or the ``SEC_USER_AGENT`` environment variable; without one (or
  without an '@' in it) the client refuses to start with a ConfigError;
* at most ``MAX_PER_SECOND`` (10) requests in any one-second window (``RateLimiter``,
  retries included);
* 429 and 5xx answers (and timeouts, resets, truncated answers) are retried through
  ``CallBudget`` with exponential backoff that honours ``Retry-After``; other 4xx are
  final. 404 on ``companyfacts`` means the company files no XBRL financial data
  (``NotFound``): reported, not retried;
* a name-resolution (DNS) failure or a refused connection before any request has
  had an answer raises FetchError at once (no retries: a machine without network would
  otherwise back off for minutes per ticker): the one offline policy of every live source,
  ``invest.data.sources.retry.CallBudget.check_offline``;
* answers may be gzip- or deflate-compressed (``Accept-Encoding`` asks for it).

The transport is one injectable callable ``(url, headers, timeout_s) -> (status, headers,
body)`` that returns HTTP error statuses rather than raising, so tests serve recorded
answers without a network (``urllib_transport`` is the default).
"""

from __future__ import annotations

import gzip
import json
import os
import time
import urllib.error
import urllib.request
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from random import Random
from typing import Any

from invest.data.sources.retry import CallBudget, is_permanent
from invest.errors import ConfigError, FetchError

COMPANYFACTS_URL = "https://data.sec.gov/api/xbrl/companyfacts/CIK{cik:010d}.json"
SUBMISSIONS_URL = "https://data.sec.gov/submissions/CIK{cik:010d}.json"
TICKERS_URL = "https://www.sec.gov/files/company_tickers.json"
MAX_PER_SECOND = 10
TIMEOUT_S = 30.0
USER_AGENT_ENV = "SEC_USER_AGENT"
SERVICES = {"tickers": "www.sec.gov", "*": "data.sec.gov"}  # the host behind each kind of request, for the offline message
OFFLINE_HINT = "offline, set data.fundamentals: none (prices only) or use data.source: sim"

Transport = Callable[[str, Mapping[str, str], float], tuple[int, Mapping[str, str], bytes]]


class SecHTTPError(Exception):
    """An HTTP error status from SEC; ``status`` and ``headers`` feed ``invest.data.sources.retry``'s retry helpers."""

    def __init__(self, status: int, url: str, headers: Mapping[str, str] | None = None, hint: str = ""):
        self.status = status
        self.url = url
        self.headers = dict(headers or {})
        super().__init__(f"HTTP {status} from {url}" + (f" ({hint})" if hint else ""))


class NotFound(SecHTTPError):
    """404: SEC has no such document (for companyfacts: no XBRL financial data for the company)."""


class MalformedAnswer(Exception):
    """A 200 answer whose body is not the JSON we asked for (truncated, or an HTML error page)."""


@dataclass(frozen=True)
class Company:
    cik: int
    title: str  # the issuer's name in company_tickers.json


def urllib_transport(url: str, headers: Mapping[str, str], timeout_s: float) -> tuple[int, Mapping[str, str], bytes]:
    """GET ``url`` with ``urllib``; HTTP error statuses are returned, network failures raise."""
    request = urllib.request.Request(url, headers=dict(headers), method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - fixed https URLs
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read() if exc.fp is not None else b""
        return exc.code, dict(exc.headers.items()) if exc.headers else {}, body


class RateLimiter:
    """At most ``max_calls`` calls in any window of ``period_s`` seconds; clock and sleep are injectable."""

    def __init__(
        self,
        max_calls: int = MAX_PER_SECOND,
        period_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ):
        self.max_calls = max_calls
        self.period_s = period_s
        self.clock = clock
        self.sleep = sleep
        self.stamps: deque[float] = deque(maxlen=max_calls)
        self.waited_s = 0.0

    def wait(self) -> None:
        """Block until one more call fits in the window, then record it."""
        if len(self.stamps) == self.max_calls:
            pause = self.stamps[0] + self.period_s - self.clock()
            if pause > 0:
                self.waited_s += pause
                self.sleep(pause)
        self.stamps.append(self.clock())


def normalize_ticker(ticker: str) -> str:
    """One spelling for share classes: ``brk.b``, ``BRK/B`` and ``BRK-B`` (Yahoo's and SEC's) all become ``BRK-B``."""
    return ticker.strip().upper().replace(".", "-").replace("/", "-")


def resolve_user_agent(user_agent: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The ``User-Agent`` to send: the argument, else ``$SEC_USER_AGENT``; ConfigError without a contact e-mail."""
    if user_agent is None:
        user_agent = (os.environ if environ is None else environ).get(USER_AGENT_ENV, "")
    value = user_agent.strip()
    if "@" not in value:
        shown = f" (got {value!r})" if value else ""
        raise ConfigError(
            f"SEC EDGAR needs a User-Agent with your name and contact e-mail{shown}: "
            f"export {USER_AGENT_ENV}='Your Name you@example.com' or set data.sec_user_agent "
            "(or choose data.fundamentals: yahoo or none)"
        )
    return value


class SecClient:
    """Rate-limited, retrying JSON GETs against SEC EDGAR (see the module docstring)."""

    def __init__(
        self,
        user_agent: str | None = None,
        *,
        transport: Transport | None = None,
        max_retries: int = 4,
        timeout_s: float = TIMEOUT_S,
        max_per_second: int = MAX_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
        rng: Random | None = None,
        environ: Mapping[str, str] | None = None,
    ):
        self.user_agent = resolve_user_agent(user_agent, environ)
        self.transport = transport or urllib_transport
        self.timeout_s = timeout_s
        self.limiter = RateLimiter(max_per_second, 1.0, clock, sleep)
        self.budget = CallBudget(max_retries, sleep, rng, services=SERVICES, offline_hint=OFFLINE_HINT)
        self._companies: dict[str, Company] | None = None

    def companies(self) -> dict[str, Company]:
        """Normalised ticker -> CIK and name, from ``company_tickers.json`` (fetched once per client)."""
        if self._companies is None:
            data = self.get_json(TICKERS_URL, "tickers")
            rows = data.values() if isinstance(data, dict) else []
            table: dict[str, Company] = {}
            for row in rows:
                if isinstance(row, dict) and row.get("ticker") and isinstance(row.get("cik_str"), int):
                    table.setdefault(normalize_ticker(row["ticker"]), Company(row["cik_str"], str(row.get("title", ""))))
            if not table:
                raise FetchError(f"{TICKERS_URL}: no ticker rows in the answer; SEC may have changed its format")
            self._companies = table
        return self._companies

    def companyfacts(self, cik: int) -> dict[str, Any]:
        """All XBRL facts of one company; NotFound when it has none."""
        return self.get_json(COMPANYFACTS_URL.format(cik=cik), "companyfacts")

    def submissions(self, cik: int) -> dict[str, Any]:
        """The company's profile (name, SIC code) and recent filings."""
        return self.get_json(SUBMISSIONS_URL.format(cik=cik), "submissions")

    def get_json(self, url: str, kind: str) -> Any:
        """GET ``url`` and decode its JSON, with the retry policy above; raises the last error when tries run out."""
        headers = {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate", "Accept": "application/json"}
        for attempt in range(self.budget.max_retries + 1):
            self.limiter.wait()
            self.budget.count(kind)
            try:
                return self._once(url, headers)
            except NotFound:
                raise
            except Exception as exc:  # noqa: BLE001 - classified below: fatal, final or retried
                self.budget.check_offline(kind, [exc])  # offline before any answer: FetchError at once
                if attempt >= self.budget.max_retries or is_permanent(exc):
                    raise
                self.budget.wait(attempt, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, url: str, headers: Mapping[str, str]) -> Any:
        status, answer_headers, body = self.transport(url, headers, self.timeout_s)
        self.budget.answered = True  # SEC is there: from now on an unreachable host is a blip, retried
        if status == 404:
            raise NotFound(status, url, answer_headers)
        if status != 200:
            hint = (
                "SEC refuses requests without a User-Agent with a contact e-mail, or above 10 per second" if status == 403 else ""
            )
            raise SecHTTPError(status, url, answer_headers, hint)
        try:
            return json.loads(_decompress(body, answer_headers))
        except (ValueError, OSError, EOFError, zlib.error) as exc:  # bad JSON, bad gzip
            raise MalformedAnswer(f"{url}: the answer is not valid JSON ({type(exc).__name__})") from None


def _decompress(body: bytes, headers: Mapping[str, str]) -> bytes:
    encoding = next((str(v).lower() for k, v in headers.items() if k.lower() == "content-encoding"), "")
    if "gzip" in encoding or body[:2] == b"\x1f\x8b":
        return gzip.decompress(body)
    if "deflate" in encoding:
        return zlib.decompress(body)
    return body
