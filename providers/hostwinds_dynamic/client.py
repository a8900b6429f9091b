"""A small client for the Hostwinds Cloud API (one form-POST endpoint, `action` + `API` fields).

What the contract makes us handle (shared/reference/hostwinds-api.md):
- errors arrive with HTTP 200 as `[{"result":"error", ...}]` or a bare object: always inspect `result`;
- reads come wrapped in `{"success": ...}` or bare: accept both;
- input errors are never retried; transient ones are, with exponential backoff and full jitter;
- `get_instance` returns the root `password` and `configkey`: they, and the API key, never reach a log
  line, an exception or a repr.
The rate limit is shared by every client for the same endpoint on this machine (a lock file), so many
stacks running at once in separate processes still respect it.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from typing import Any

import httpx

from mailbox_iac.errors import Permanent
from mailbox_iac.ratelimit import RateLimiter, machine_wide

log = logging.getLogger("hostwinds_dynamic")

SECRET_KEYS = frozenset({"API", "password", "configkey", "rootpass"})
REDACTED = "***"


def redact(value: Any) -> Any:
    """A copy of `value` with every secret field replaced, at any depth."""
    if isinstance(value, dict):
        return {k: REDACTED if k in SECRET_KEYS else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class HostwindsError(Exception):
    """An error reported by the API or on the way to it. Carries the action, never the parameters."""

    retryable = False

    def __init__(self, action: str, message: str) -> None:
        self.action = action
        self.message = message
        super().__init__(f"Hostwinds {action}: {message}")


class HostwindsAuthError(HostwindsError, Permanent):
    """Bad API key, or this machine's IP is not on the key's allow-list."""


class HostwindsInputError(HostwindsError, Permanent):
    """The request itself is wrong (unknown serviceid, location, plan...): retrying cannot help."""


class HostwindsLockedError(HostwindsInputError):
    """The service is locked (toggle_lock) and refuses changes."""


class HostwindsTransientError(HostwindsError):
    retryable = True


class HostwindsUnavailable(HostwindsError):
    """The circuit breaker is open after repeated failures; calls fail fast until it resets."""


_INPUT_HINTS = ("required", "invalid", "not found", "disabled", "contact customer service", "does not belong")


def classify(action: str, message: str) -> HostwindsError:
    lowered = message.lower()
    if "not authorized" in lowered:
        return HostwindsAuthError(action, message)
    if "locked" in lowered:
        return HostwindsLockedError(action, message)
    if any(hint in lowered for hint in _INPUT_HINTS):
        return HostwindsInputError(action, message)
    return HostwindsTransientError(action, message)


def unwrap(action: str, body: Any) -> Any:
    """The payload of a successful response, or the typed error it carries."""
    items = body if isinstance(body, list) else [body]
    for item in items:
        if isinstance(item, dict) and str(item.get("result", "")).lower() == "error":
            raise classify(action, str(item.get("message") or "unspecified error"))
    if isinstance(body, dict) and "success" in body:
        return body["success"]
    return body


class CircuitBreaker:
    def __init__(self, threshold: int = 5, reset_after: float = 60.0) -> None:
        self.threshold = threshold
        self.reset_after = reset_after
        self.failures = 0
        self.opened_at = 0.0
        self._lock = threading.Lock()

    def check(self, action: str) -> None:
        with self._lock:
            if self.failures >= self.threshold and time.monotonic() - self.opened_at < self.reset_after:
                raise HostwindsUnavailable(
                    action, f"{self.failures} failures in a row; not calling the API for {self.reset_after:.0f}s"
                )

    def record(self, ok: bool) -> None:
        with self._lock:
            if ok:
                self.failures = 0
            else:
                self.failures += 1
                if self.failures >= self.threshold:
                    self.opened_at = time.monotonic()


_breakers: dict[tuple[str, float], CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def _shared_guards(endpoint: str, rate: float) -> tuple[RateLimiter, CircuitBreaker]:
    """`rate` requests a second: `rate` at once (at least one), then one window of them per second."""
    with _breakers_lock:
        breaker = _breakers.setdefault((endpoint, rate), CircuitBreaker())
    burst = max(1, int(rate))
    return machine_wide("hostwinds", endpoint, burst, burst / rate, os.environ.get("HOSTWINDS_RATE_FILE")), breaker


class HostwindsClient:
    def __init__(
        self,
        endpoint: str,
        api_key: str,
        *,
        rate: float = 2.0,
        retries: int = 4,
        backoff: float = 0.5,
        timeout: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self._api_key = api_key
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.Client(timeout=timeout)
        self._limiter, self._breaker = _shared_guards(endpoint, rate)

    def __repr__(self) -> str:
        return f"HostwindsClient(endpoint={self.endpoint!r}, api_key={REDACTED!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HostwindsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _once(self, action: str, params: dict[str, Any]) -> Any:
        self._breaker.check(action)
        form = {"action": action, "API": self._api_key, **params}
        log.debug("POST %s %s", self.endpoint, redact(form))
        try:
            with self._limiter.slot():
                response = self._http.post(self.endpoint, data=form)
        except httpx.TransportError as exc:
            self._breaker.record(False)
            raise HostwindsTransientError(action, f"{type(exc).__name__} talking to {self.endpoint}") from None
        if response.status_code in (401, 403):
            raise HostwindsAuthError(action, f"HTTP {response.status_code}: Not Authorized")
        if response.status_code >= 500:
            self._breaker.record(False)
            raise HostwindsTransientError(action, f"HTTP {response.status_code}")
        try:
            body = response.json()
        except json.JSONDecodeError:
            self._breaker.record(False)
            raise HostwindsTransientError(action, f"HTTP {response.status_code} with a body that is not JSON") from None
        log.debug("reply to %s: %s", action, redact(body))
        try:
            result = unwrap(action, body)
        except HostwindsTransientError:
            self._breaker.record(False)
            raise
        self._breaker.record(True)
        return result

    def call(self, action: str, params: dict[str, Any] | None = None, *, idempotent: bool = True) -> Any:
        """Call one action. Non-idempotent actions (add_instance) are never retried here: the caller must
        first find out whether the failed attempt took effect."""
        params = params or {}
        attempt = 0
        while True:
            try:
                return self._once(action, params)
            except HostwindsTransientError as exc:
                attempt += 1
                if not idempotent or attempt > self.retries:
                    raise
                delay = random.uniform(0, min(8.0, self.backoff * 2**attempt))  # noqa: S311 (jitter, not crypto)  # nosec B311
                log.info(
                    "Hostwinds %s failed (%s); retry %d/%d in %.1fs", action, exc.message, attempt, self.retries, delay
                )
                time.sleep(delay)

    # --- the actions the provider uses --------------------------------------------------------------

    def list_instances(self) -> list[dict[str, Any]]:
        result = self.call("get_instances")
        if isinstance(result, dict):  # some accounts answer with an object keyed by serviceid
            result = list(result.values())
        return [i for i in result or [] if isinstance(i, dict)]

    def get_instance(self, serviceid: int) -> dict[str, Any] | None:
        """The instance, or None when the serviceid is unknown (terminated)."""
        try:
            result = self.call("get_instance", {"serviceid": serviceid})
        except HostwindsInputError as exc:
            if "serviceid" in exc.message.lower():
                return None
            raise
        return result if isinstance(result, dict) else None

    def find_by_name(self, srvrname: str) -> list[dict[str, Any]]:
        return [i for i in self.list_instances() if i.get("srvrname") == srvrname]

    def add_instance(
        self, *, template: str, rid: int, location_id: int, srvrname: str, keys: list[str], billingcycle: str
    ) -> None:
        params: dict[str, Any] = {
            "template": template,
            "rid": rid,
            "location_id": location_id,
            "qty": 1,
            "srvrname": srvrname,
            "billingcycle": billingcycle,
            "keys[]": keys,
        }
        self.call("add_instance", params, idempotent=False)

    def edit_instance(self, serviceid: int, srvrname: str) -> None:
        self.call("edit_instance", {"serviceid": serviceid, "srvrname": srvrname})

    def terminate(self, serviceid: int) -> None:
        self.call("terminate", {"serviceid": serviceid})

    def set_rdns(self, serviceid: int, ip: str, hostname: str) -> None:
        self.call("set_rdns", {"serviceid": serviceid, "ip": ip, "rdns": hostname})
