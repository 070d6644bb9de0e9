"""The telco backend: what the operator's systems know about a subscriber.

Self-service (IVR, bots, SMS keywords), proactive care and the desk ask the same four questions
— who is this number, what is the balance, how much data is left, is there an outage in this
region — through one interface, `TelcoBackend`, chosen by settings:

- `TEAMLINE_TELCO_BACKEND=demo` (default): the demo operator's seeded subscribers
  (telco_demo.py), so `make demo` works with nothing else running;
- `TEAMLINE_TELCO_BACKEND=http` with `TEAMLINE_TELCO_URL` and `TEAMLINE_TELCO_SECRET`: the
  operator's HTTP service, described for its integrators in docs/telco-backend.md.

Every failure to get an answer — timeout (2 s), connection refused, a 5xx, a response that is
not the documented shape, an open circuit — is `TelcoUnavailable`, so callers have exactly one
thing to handle: say "I can't read your balance right now" and offer the team. An unknown
number is `SubscriberNotFound`. A circuit breaker stops calling a backend that keeps failing, so
a dead backend costs callers nothing but the error, not a 2 s wait each.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

import httpx
import phonenumbers
from django.conf import settings
from django.core import checks

from . import telco_demo

TIMEOUT_SECONDS = 2.0
FAILURES_TO_OPEN = 5  # consecutive failures that open the circuit
OPEN_SECONDS = 30.0  # how long an open circuit refuses calls before one trial call
MAX_TEXT = 200  # longest name/title/plan kept from the backend
MAX_MB = 10**9  # a petabyte of data: anything larger is not a real counter
MAX_RESPONSE_BYTES = 1024 * 1024
_AMOUNT = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,4})?")


class TelcoError(Exception):
    pass


class TelcoUnavailable(TelcoError):
    """The backend could not answer now (down, slow, broken response, circuit open)."""


class SubscriberNotFound(TelcoError):
    """The backend does not know this number."""


class InvalidNumber(TelcoError):
    """Not a phone number in E.164 (+ and country code)."""


@dataclass(frozen=True)
class Subscriber:
    msisdn: str
    name: str
    language: str
    region: str
    plan: str


@dataclass(frozen=True)
class Balance:
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class DataUsage:
    used_mb: int
    cap_mb: int
    period_ends: date

    @property
    def left_mb(self) -> int:
        return max(0, self.cap_mb - self.used_mb)

    @property
    def used_share(self) -> float:
        return self.used_mb / self.cap_mb if self.cap_mb else 1.0


@dataclass(frozen=True)
class Outage:
    id: str
    title: str
    regions: tuple[str, ...]
    started_at: datetime
    expected_end: datetime | None


class TelcoBackend(Protocol):
    def subscriber(self, msisdn: str) -> Subscriber: ...
    def balance(self, msisdn: str) -> Balance: ...
    def data_usage(self, msisdn: str) -> DataUsage: ...
    def outages(self, region: str) -> list[Outage]: ...


def normalise_msisdn(msisdn: str) -> str:
    """E.164 (`+4791234567`) or InvalidNumber; the backends only ever see this form."""
    try:
        number = phonenumbers.parse(msisdn, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"not a phone number in +E.164 form: {msisdn[:32]!r}") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidNumber(f"not a possible phone number: {msisdn[:32]!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- Reading the documented shapes (shared by both backends) ---------------------------------


def _text(payload: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = payload.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise TelcoUnavailable(f"telco response: {key} is not a string")
    # Text that some databases refuse (NUL, lone surrogates) never gets past here.
    cleaned = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return cleaned[:MAX_TEXT]


def _megabytes(payload: dict[str, Any], key: str) -> int:
    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MB:
        raise TelcoUnavailable(f"telco response: {key} is not a number of megabytes")
    return value


def _instant(value: Any, key: str) -> datetime:
    if not isinstance(value, str):
        raise TelcoUnavailable(f"telco response: {key} is not a date-time")
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TelcoUnavailable(f"telco response: {key} is not an ISO 8601 date-time") from exc
    if instant.tzinfo is None:
        raise TelcoUnavailable(f"telco response: {key} has no time zone")
    return instant


def subscriber_from(payload: Any, msisdn: str) -> Subscriber:
    if not isinstance(payload, dict):
        raise TelcoUnavailable("telco response: subscriber is not an object")
    return Subscriber(
        msisdn=msisdn,
        name=_text(payload, "name", required=False),
        language=_text(payload, "language", required=False)[:16],
        region=_text(payload, "region", required=False),
        plan=_text(payload, "plan", required=False),
    )


def balance_from(payload: Any) -> Balance:
    if not isinstance(payload, dict):
        raise TelcoUnavailable("telco response: balance is not an object")
    raw, currency = payload.get("balance"), _text(payload, "currency")
    if not isinstance(raw, str) or not _AMOUNT.fullmatch(raw):
        raise TelcoUnavailable("telco response: balance is not a decimal string like 187.50")
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise TelcoUnavailable("telco response: currency is not an ISO 4217 code")
    amount = Decimal(raw)
    return Balance(amount=amount, currency=currency.upper())


def usage_from(payload: Any) -> DataUsage:
    if not isinstance(payload, dict):
        raise TelcoUnavailable("telco response: usage is not an object")
    ends = payload.get("period_ends")
    try:
        period_ends = date.fromisoformat(ends) if isinstance(ends, str) else None
    except ValueError:
        period_ends = None
    if period_ends is None:
        raise TelcoUnavailable("telco response: period_ends is not a date")
    return DataUsage(
        used_mb=_megabytes(payload, "data_used_mb"),
        cap_mb=_megabytes(payload, "data_cap_mb"),
        period_ends=period_ends,
    )


def outages_from(payload: Any) -> list[Outage]:
    items = payload.get("outages") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise TelcoUnavailable("telco response: outages is not a list")
    outages = []
    for item in items[:100]:
        if not isinstance(item, dict):
            raise TelcoUnavailable("telco response: an outage is not an object")
        regions = item.get("regions")
        if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
            raise TelcoUnavailable("telco response: an outage's regions are not strings")
        end = item.get("expected_end")
        outages.append(
            Outage(
                id=_text(item, "id"),
                title=_text(item, "title"),
                regions=tuple(r[:MAX_TEXT] for r in regions[:50]),
                started_at=_instant(item.get("started_at"), "started_at"),
                expected_end=None if end is None else _instant(end, "expected_end"),
            )
        )
    return outages


# --- The circuit breaker -------------------------------------------------------------------


class CircuitBreaker:
    """Closed → (FAILURES_TO_OPEN failures in a row) → open: calls fail at once for
    OPEN_SECONDS → half-open: one trial call; success closes, failure opens again.

    Per process: each web or worker process learns for itself that the backend is down, after
    a handful of failures, which keeps the breaker free of shared state."""

    def __init__(
        self,
        *,
        failures_to_open: int = FAILURES_TO_OPEN,
        open_seconds: float = OPEN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures_to_open = failures_to_open
        self.open_seconds = open_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    def call(self, operation: Callable[[], Any]) -> Any:
        with self._lock:
            if self._opened_at is not None:
                if self.clock() - self._opened_at < self.open_seconds or self._trial_running:
                    raise TelcoUnavailable("telco backend unavailable (circuit open)")
                self._trial_running = True  # half-open: this caller makes the one trial
        try:
            result = operation()
        except TelcoUnavailable:
            with self._lock:
                self._trial_running = False
                self._failures += 1
                if self._opened_at is not None or self._failures >= self.failures_to_open:
                    self._opened_at = self.clock()
            raise
        except BaseException:
            # An answer (not found, invalid number) proves the backend is up.
            self._succeeded()
            raise
        self._succeeded()
        return result

    def _succeeded(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None


# --- The backends --------------------------------------------------------------------------


def sign(secret: str, method: str, path_with_query: str, timestamp: int) -> str:
    """`sha256=<hex HMAC-SHA256(secret, METHOD + "\\n" + path?query + "\\n" + timestamp)>`."""
    message = f"{method}\n{path_with_query}\n{timestamp}".encode()
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class HttpTelcoBackend:
    """The operator's HTTP service (docs/telco-backend.md): signed GETs, 2 s timeout, breaker."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = TIMEOUT_SECONDS,
        breaker: CircuitBreaker | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.secret = secret
        self.breaker = breaker or CircuitBreaker()
        self.client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    def _get(self, path: str, query: dict[str, str] | None = None) -> Any:
        target = f"{self.url}{path}"
        if query:
            target += "?" + urlencode(query, quote_via=quote)
        split = urlsplit(target)
        signed_path = split.path + (f"?{split.query}" if split.query else "")
        timestamp = int(time.time())
        headers = {
            "Accept": "application/json",
            "X-Teamline-Timestamp": str(timestamp),
            "X-Teamline-Signature": sign(self.secret, "GET", signed_path, timestamp),
        }

        def request() -> Any:
            try:
                with self.client.stream("GET", target, headers=headers) as response:
                    if response.status_code == 404:
                        raise SubscriberNotFound("the telco backend does not know this number")
                    if response.status_code != 200:
                        raise TelcoUnavailable(f"telco backend answered {response.status_code}")
                    body = b""
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > MAX_RESPONSE_BYTES:
                            raise TelcoUnavailable("telco response is too large")
            except httpx.HTTPError as exc:
                raise TelcoUnavailable(f"telco backend unreachable: {type(exc).__name__}") from exc
            try:
                return json.loads(body)
            except (ValueError, RecursionError) as exc:  # RecursionError: absurd nesting
                raise TelcoUnavailable("telco response is not JSON") from exc

        return self.breaker.call(request)

    @staticmethod
    def _subscriber_path(msisdn: str) -> str:
        return "/subscribers/" + quote(normalise_msisdn(msisdn), safe="")

    def subscriber(self, msisdn: str) -> Subscriber:
        return subscriber_from(self._get(self._subscriber_path(msisdn)), normalise_msisdn(msisdn))

    def balance(self, msisdn: str) -> Balance:
        return balance_from(self._get(self._subscriber_path(msisdn) + "/balance"))

    def data_usage(self, msisdn: str) -> DataUsage:
        return usage_from(self._get(self._subscriber_path(msisdn) + "/usage"))

    def outages(self, region: str) -> list[Outage]:
        return outages_from(self._get("/outages", {"region": region[:MAX_TEXT]}))


class DemoTelcoBackend:
    """The demo operator's seeded subscribers and outages (telco_demo.py), read through the same
    shape checks as the HTTP backend, so the demo behaves like a real integration."""

    def _record(self, msisdn: str) -> dict[str, Any]:
        record = telco_demo.SUBSCRIBERS.get(normalise_msisdn(msisdn))
        if record is None:
            raise SubscriberNotFound("the demo operator has no such subscriber")
        return record

    def subscriber(self, msisdn: str) -> Subscriber:
        return subscriber_from(self._record(msisdn), normalise_msisdn(msisdn))

    def balance(self, msisdn: str) -> Balance:
        return balance_from(self._record(msisdn)["balance"])

    def data_usage(self, msisdn: str) -> DataUsage:
        return usage_from(self._record(msisdn)["usage"])

    def outages(self, region: str) -> list[Outage]:
        found = outages_from({"outages": telco_demo.outages()})
        wanted = region.strip().casefold()
        return [o for o in found if wanted in (r.casefold() for r in o.regions)]


_backend: TelcoBackend | None = None
_backend_key: tuple[str, str, str] | None = None
_backend_lock = threading.Lock()


def telco_backend() -> TelcoBackend:
    """The configured backend, one per process (its circuit breaker lives as long)."""
    global _backend, _backend_key
    conf = settings.TEAMLINE
    key = (conf["TELCO_BACKEND"], conf["TELCO_URL"], conf["TELCO_SECRET"])
    with _backend_lock:
        if _backend is None or _backend_key != key:
            http = key[0] == "http"
            _backend = HttpTelcoBackend(key[1], key[2]) if http else DemoTelcoBackend()
            _backend_key = key
        return _backend


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """`manage.py check`: a telco backend that cannot work is reported before anyone calls."""
    conf = settings.TEAMLINE
    kind = conf["TELCO_BACKEND"]
    if kind not in ("demo", "http"):
        return [
            checks.Error(
                f"TEAMLINE_TELCO_BACKEND is {kind!r}; use 'demo' or 'http'.", id="teamline.E101"
            )
        ]
    if kind == "http":
        problems: list[checks.CheckMessage] = []
        url = urlsplit(conf["TELCO_URL"] or "")
        if url.scheme not in ("http", "https") or not url.netloc:
            problems.append(
                checks.Error(
                    "TEAMLINE_TELCO_URL must be an http(s) URL when TEAMLINE_TELCO_BACKEND=http.",
                    id="teamline.E102",
                )
            )
        if len(conf["TELCO_SECRET"] or "") < 16:
            problems.append(
                checks.Error(
                    "TEAMLINE_TELCO_SECRET must be at least 16 characters (it signs requests).",
                    id="teamline.E103",
                )
            )
        return problems
    return []
