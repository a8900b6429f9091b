"""A small client for Instantly's API v2 accounts (the subset the sequencer resources need).

- Every call within the workspace's budget on this machine: Instantly allows 100 requests a second and
  6,000 a minute per workspace, whatever the key (ratelimit.py; the per-second limit is the one kept).
- 429, 5xx and dropped connections are retried after `Retry-After`, else with exponential backoff; any
  other refusal is an `InstantlyError` with the API's own message, at once (4xx: `Permanent`).
- The API key never reaches a message, an exception or a repr.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx

from mailbox_iac.ratelimit import machine_wide
from mailbox_iac.retrying import ApiError, ApiRefused, JsonApi

DEFAULT_BASE = "https://api.instantly.ai"
BUDGET = (100, 1.0)  # requests, seconds: Instantly's published workspace limit


class InstantlyError(ApiError):
    """Instantly's API failed."""


class InstantlyRefused(InstantlyError, ApiRefused):
    """Instantly refused the request (a 4xx other than 429)."""


class InstantlyClient(JsonApi):
    name, error, refused = "Instantly", InstantlyError, InstantlyRefused

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE, attempts: int = 6) -> None:
        auth = {"Authorization": f"Bearer {api_key}"}
        http = httpx.Client(base_url=base_url.rstrip("/"), headers=auth, timeout=60)
        super().__init__(http, machine_wide("instantly", f"{base_url} {api_key}", *BUDGET), attempts)

    def account(self, address: str) -> dict[str, Any] | None:
        """The account as Instantly sees it, or None when the workspace has no such address."""
        try:
            found: dict[str, Any] = self._call("GET", _path(address))
            return found
        except InstantlyRefused as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self._call("POST", "/api/v2/accounts", body=fields)
        return created

    def update(self, address: str, changes: dict[str, Any]) -> dict[str, Any]:
        updated: dict[str, Any] = self._call("PATCH", _path(address), body=changes)
        return updated

    def set_warmup(self, address: str, enabled: bool, timeout: float = 120.0) -> None:
        """Switch the account's warm-up on or off: Instantly does it in a background job, awaited here (asked
        after 0.1 s, then half as long again each time up to 2 s: a quick job is seen at once, a slow one costs
        few requests)."""
        action = "enable" if enabled else "disable"
        job = self._call("POST", f"/api/v2/accounts/warmup/{action}", body={"emails": [address]})
        deadline = time.monotonic() + timeout
        poll = 0.1
        while job.get("status") in ("pending", "in-progress"):
            if time.monotonic() > deadline:
                raise InstantlyError(
                    f"Instantly's job to {action} the warm-up of {address} still runs after {timeout:.0f}s"
                )
            time.sleep(poll)
            poll = min(1.5 * poll, 2.0)
            job = self._call("GET", f"/api/v2/background-jobs/{quote(str(job['id']))}")
        if job.get("status") != "success":
            raise InstantlyRefused(f"Instantly's job to {action} the warm-up of {address} ended {job.get('status')}")

    def delete(self, address: str) -> None:
        """Remove the account; one already gone is done."""
        try:
            self._call("DELETE", _path(address))
        except InstantlyRefused as exc:
            if exc.status != 404:
                raise

    @staticmethod
    def _answered(status: int, data: Any) -> str | None:
        if status < 400 and isinstance(data, dict):
            return None
        message = data.get("message") if isinstance(data, dict) else None
        return str(message or "no message")


def _path(address: str) -> str:
    return f"/api/v2/accounts/{quote(address, safe='@')}"
