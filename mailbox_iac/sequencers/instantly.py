"""A small client for Instantly's API v2 accounts (the subset the sequencer resources need).

- Every call within the workspace's budget on this machine: Instantly allows 100 requests a second and
  6,000 a minute per workspace, whatever the key (ratelimit.py; the per-second limit is the one kept).
- 429, 5xx and dropped connections are retried after `Retry-After`, else with exponential backoff; any
  other refusal is an `InstantlyError` with the API's own message, at once (4xx: `Permanent`).
- The API key never reaches a message, an exception or a repr.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from mailbox_iac import retrying
from mailbox_iac.errors import Permanent
from mailbox_iac.ratelimit import RateLimiter, machine_wide

DEFAULT_BASE = "https://api.instantly.ai"
BUDGET = (100, 1.0)  # requests, seconds: Instantly's published workspace limit


class InstantlyError(RuntimeError):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class InstantlyRefused(InstantlyError, Permanent):
    """A 4xx other than 429: the request itself is wrong, or the key; running again cannot help."""


class InstantlyClient:
    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE, attempts: int = 6) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {api_key}"}, timeout=60
        )
        self._budget: RateLimiter = machine_wide("instantly", f"{base_url} {api_key}", *BUDGET)
        self.attempts = attempts

    def __repr__(self) -> str:
        return f"InstantlyClient({str(self._http.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    def account(self, address: str) -> dict[str, Any] | None:
        """The account as Instantly sees it, or None when the workspace has no such address."""
        try:
            return self._call("GET", _path(address))
        except InstantlyRefused as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/api/v2/accounts", fields)

    def update(self, address: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", _path(address), changes)

    def delete(self, address: str) -> None:
        """Remove the account; one already gone is done."""
        try:
            self._call("DELETE", _path(address))
        except InstantlyRefused as exc:
            if exc.status != 404:
                raise

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = retrying.call(
            self._http,
            self._budget,
            method,
            path,
            answered=_answered,
            refused=lambda message, status: InstantlyRefused(f"Instantly {message}", status),
            failed=lambda message, status: InstantlyError(f"Instantly {message}", status),
            body=body,
            attempts=self.attempts,
        )
        return data


def _answered(status: int, data: Any) -> str | None:
    if status < 400 and isinstance(data, dict):
        return None
    message = data.get("message") if isinstance(data, dict) else None
    return str(message or "no message")


def _path(address: str) -> str:
    return f"/api/v2/accounts/{quote(address, safe='@')}"
