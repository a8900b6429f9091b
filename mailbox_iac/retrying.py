"""One call to a SaaS JSON API as our own clients make it (Cloudflare reads, Instantly): within the API's
budget on this machine (ratelimit.py); 429, 5xx, a dropped connection or a body that is not JSON (an
edge's HTML page) retried after `Retry-After`, else with exponential backoff; any other refusal raised at
once. Each API says what an answer is and how its refusals read."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from mailbox_iac.errors import Permanent
from mailbox_iac.ratelimit import Budgets, RateLimiter


class ApiError(RuntimeError):
    """A SaaS API call that failed; `status` is the last HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class ApiRefused(ApiError, Permanent):
    """A 4xx other than 429: the request itself is wrong, or the key; running again cannot help."""


# (status, decoded body) -> None when the body is the answer, else what the API said was wrong
Answered = Callable[[int, Any], str | None]
# (message, status) -> the exception to raise
Failure = Callable[[str, int], Exception]


def call(
    api: httpx.Client,
    budget: RateLimiter | Budgets,
    method: str,
    path: str,
    *,
    answered: Answered,
    refused: Failure,
    failed: Failure,
    params: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
    attempts: int = 6,
) -> Any:
    """The decoded answer; `refused` for a refusal that running again cannot change, `failed` when the
    transient trouble outlasts `attempts`."""
    status, problem = 0, ""
    for attempt in range(1, attempts + 1):
        wait = 2.0 ** (attempt - 1)
        try:
            with budget.slot():
                response = api.request(method, path, params=params, json=body)
            status = response.status_code
            data = response.json()
        except (httpx.TransportError, ValueError) as exc:
            problem = f"HTTP {status} with a body that is not JSON" if status else type(exc).__name__
        else:
            detail = answered(status, data)
            if detail is None:
                return data
            problem = f"HTTP {status}: {detail}"
            if status != 429 and status < 500:
                raise refused(f"{method} {path}: {problem}", status)
            wait = float(response.headers.get("Retry-After") or wait)
        if attempt < attempts:
            time.sleep(min(wait, 60.0))
    raise failed(f"{method} {path}: still failing after {attempts} attempts: {problem}", status)


class JsonApi:
    """The plumbing of our clients of one SaaS API: an HTTP client that carries the credential (never a
    path, so no message does), the machine-wide budget, and `_call` in that API's words. A subclass says
    its `name`, its error classes and `_answered`."""

    name = ""
    error: type[ApiError] = ApiError
    refused: type[ApiRefused] = ApiRefused

    def __init__(self, http: httpx.Client, budget: RateLimiter | Budgets, attempts: int) -> None:
        self._http, self._budget, self.attempts = http, budget, attempts

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._http.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def _answered(status: int, data: Any) -> str | None:
        raise NotImplementedError

    def _call(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Mapping[str, Any] | None = None
    ) -> Any:
        return call(
            self._http,
            self._budget,
            method,
            path,
            answered=self._answered,
            refused=lambda message, status: self.refused(f"{self.name} {message}", status),
            failed=lambda message, status: self.error(f"{self.name} {message}", status),
            params=params,
            body=body,
            attempts=self.attempts,
        )
