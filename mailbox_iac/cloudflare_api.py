"""The few Cloudflare API v4 reads mailbox-iac makes itself (drift's undeclared records, adoption before an
`up`): envelopes checked (`success`, errors with their codes), 429 and 5xx retried after `Retry-After` or
with backoff, pages followed, and every call within the token's budget on this machine (ratelimit.py), so
a fleet's parallel stacks never earn the 5-minute block. Writes stay with the Cloudflare provider."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from mailbox_iac import retrying
from mailbox_iac.ratelimit import RateLimiter, machine_wide
from mailbox_iac.retrying import ApiError

DEFAULT_BASE = "https://api.cloudflare.com/client/v4"
# Cloudflare's published limit: 1,200 requests per 5 minutes per user; past it, every call is refused
# for 5 minutes. (requests, seconds)
BUDGET = (1200, 300.0)


class CloudflareError(ApiError):
    """Cloudflare's API failed or refused (its messages and codes in the message)."""


def client(env: Mapping[str, str]) -> httpx.Client | None:
    """A client from CLOUDFLARE_API_TOKEN / CLOUDFLARE_BASE_URL, or None without a token."""
    token = env.get("CLOUDFLARE_API_TOKEN")
    if not token:
        return None
    base = env.get("CLOUDFLARE_BASE_URL", DEFAULT_BASE)
    return httpx.Client(base_url=base.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _budget(api: httpx.Client) -> RateLimiter:
    """The budget of the client's token at its endpoint, shared by every process of this machine."""
    return machine_wide("cloudflare", f"{api.base_url} {api.headers.get('Authorization', '')}", *BUDGET)


def get(api: httpx.Client, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return request(api, "GET", path, params)


def delete(api: httpx.Client, path: str) -> dict[str, Any]:
    """A DELETE; one already gone (404) is done."""
    try:
        return request(api, "DELETE", path)
    except CloudflareError as exc:
        if exc.status == 404:
            return {}
        raise


def request(
    api: httpx.Client,
    method: str,
    path: str,
    params: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
    attempts: int = 6,
) -> dict[str, Any]:
    """One call, its envelope checked (`success`, or CloudflareError with the API's messages and codes);
    transient answers retried (retrying.py)."""
    data: dict[str, Any] = retrying.call(
        api,
        _budget(api),
        method,
        path,
        answered=_answered,
        refused=_error,
        failed=_error,
        params=dict(params or {}),
        body=dict(body) if body else None,
        attempts=attempts,
    )
    return data


def _answered(status: int, data: Any) -> str | None:
    if status != 429 and status < 500 and data.get("success"):
        return None
    errors = data.get("errors") or []
    return "; ".join(f"{e.get('message')} ({e.get('code')})" for e in errors) or "no error detail"


def _error(message: str, status: int) -> CloudflareError:
    return CloudflareError(f"Cloudflare {message}", status)


def zone_records(api: httpx.Client, zone: str) -> list[dict[str, Any]]:
    """Every record of the zone named `zone` ([] when the token sees no such zone)."""
    zones = get(api, "/zones", {"name": zone})["result"]
    if len(zones) != 1:
        return []
    records: list[dict[str, Any]] = []
    page = 1
    while True:
        body = get(api, f"/zones/{zones[0]['id']}/dns_records", {"page": page, "per_page": 100})
        records += [{**r, "zone_id": zones[0]["id"]} for r in body["result"]]
        if page >= int((body.get("result_info") or {}).get("total_pages") or 1):
            return records
        page += 1
