"""A small client for Smartlead's email-account endpoints (the subset the sequencer resources need).

- Every call within the key's budgets on this machine: Smartlead allows 10 requests a second and 60 a
  minute per key on its standard tier (ratelimit.py).
- 429, 5xx and dropped connections are retried after `Retry-After`, else with exponential backoff
  (retrying.py); any other refusal is a `SmartleadRefused` with the API's own words, at once.
- The key travels as the `api_key` query parameter, Smartlead's only way: it is set on the HTTP client,
  so no path in a message carries it. Smartlead returns an account's passwords (base64): `account`
  drops them before anyone else sees the account.
"""

from __future__ import annotations

from typing import Any

import httpx

from mailbox_iac.ratelimit import Budgets, machine_wide
from mailbox_iac.retrying import ApiError, ApiRefused, JsonApi

DEFAULT_BASE = "https://server.smartlead.ai"
BUDGETS = ((10, 1.0), (60, 60.0))  # requests, seconds: Smartlead's standard tier
PAGE = 100  # Smartlead's largest page
SECRET_FIELDS = ("password", "imap_password")


class SmartleadError(ApiError):
    """Smartlead's API failed."""


class SmartleadRefused(SmartleadError, ApiRefused):
    """Smartlead refused the request (a 4xx other than 429)."""


class SmartleadClient(JsonApi):
    name, error, refused = "Smartlead", SmartleadError, SmartleadRefused

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE, attempts: int = 6) -> None:
        http = httpx.Client(base_url=base_url.rstrip("/"), params={"api_key": api_key}, timeout=60)
        budget = Budgets(*(machine_wide("smartlead", f"{base_url} {api_key}", *b) for b in BUDGETS))
        super().__init__(http, budget, attempts)

    def account(self, address: str) -> dict[str, Any] | None:
        """The account of `address` as Smartlead sees it (without its passwords), or None."""
        offset = 0
        while True:
            page = self._call("GET", "/api/v1/email-accounts/", {"offset": offset, "limit": PAGE, "username": address})
            for account in page:
                if str(account.get("from_email", "")).lower() == address.lower():
                    return {k: v for k, v in account.items() if k not in SECRET_FIELDS}
            if len(page) < PAGE:
                return None
            offset += PAGE

    def save(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Add an account, or change one (`id` among the fields); Smartlead tests the connection first."""
        data: dict[str, Any] = self._call("POST", "/api/v1/email-accounts/save", body=fields)["data"]
        return data

    def update(self, account_id: int, changes: dict[str, Any]) -> None:
        self._call("POST", f"/api/v1/email-accounts/{account_id}", body=changes)

    def warmup(self, account_id: int, settings: dict[str, Any]) -> None:
        self._call("POST", f"/api/v1/email-accounts/{account_id}/warmup", body=settings)

    def delete(self, account_id: int) -> None:
        """Remove the account; one already gone is done."""
        try:
            self._call("DELETE", f"/api/v1/email-accounts/{account_id}")
        except SmartleadRefused as exc:
            if exc.status != 404:
                raise

    @staticmethod
    def _answered(status: int, data: Any) -> str | None:
        """None for an answer; else Smartlead's words, whichever of its error shapes they come in."""
        refused = isinstance(data, dict) and data.get("ok") is False
        if status < 400 and not refused:
            return None
        if not isinstance(data, dict):
            return "no message"
        error = data.get("error")
        if isinstance(error, dict):
            error = error.get("message")
        words = [str(w) for w in (data.get("message"), error, data.get("errorCode")) if w]
        return ": ".join(words) or "no message"
