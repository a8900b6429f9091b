"""One call to a SaaS JSON API as our own clients make it (Cloudflare reads, Instantly): within the API's
budget on this machine (ratelimit.py); 429, 5xx, a dropped connection or a body that is not JSON (an
edge's HTML page) retried after `Retry-After`, else with exponential backoff; any other refusal raised at
once. Each API says what an answer is and how its refusals read."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from mailbox_iac.ratelimit import Budgets, RateLimiter

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
