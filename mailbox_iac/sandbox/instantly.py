"""A local emulator of the Instantly API v2 account endpoints (shared/reference/anchors-2.md §3; the shapes
of Instantly's OpenAPI document as the `instantlyai` SDK generates them, which the tests drive it with).

- `POST /api/v2/accounts`: the 12 required fields, the documented optional ones and nothing else (unknown
  fields are a 400, as `additionalProperties: false`); `provider_code` 1 (custom IMAP/SMTP), 2, 3, 4 or 8;
  an address already in the workspace is a 400. The new account's connection is tested at once, as
  Instantly does: with a `connection_test` (`login_test`: real SMTP and IMAP logins), status 1 (active)
  when both logins work, else -1 (connection error) and a `status_message` with the server's reply;
  without one, every account connects.
- `GET /api/v2/accounts/{email}` (404 when unknown), `PATCH` (only the documented updatable fields:
  passwords and hosts are not among them, so a new password means a new account), `DELETE`,
  `POST .../pause` and `.../resume` (status 2 and back), `GET /api/v2/accounts` (`limit` 1-100,
  `starting_after` the last address of the previous page, `search` a substring of the address, `status`):
  `{items, next_starting_after}`.
- Bearer keys (401 without a known one); the workspace's rate limit, 100 requests a second (429 past it,
  with `retry-after`); errors in Fastify's shape `{statusCode, error, message}` (an assumption: what
  Instantly's API answers was not found in public material; the SDK reads `message`).
- `POST /api/v2/accounts/warmup/enable` and `.../disable` (`{emails}`): a background job, as Instantly
  runs them: `pending` at first, `success` a moment later (`job_seconds`), when the accounts'
  `warmup_status` is 1 or 0; `GET /api/v2/background-jobs/{id}` reads it.
- Passwords are kept for the connection test and never returned.

`GET /_emulator/state` dumps the accounts without their passwords and the request counts.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from mailbox_iac.sandbox.jsonhttp import RoutedHandler, serve_in_background
from mailbox_iac.sandbox.logins import Login, LoginFailure, LoginTest

REQUIRED: dict[str, type | tuple[type, ...]] = {
    "email": str,
    "first_name": str,
    "last_name": str,
    "provider_code": (int, float),
    "imap_username": str,
    "imap_password": str,
    "imap_host": str,
    "imap_port": (int, float),
    "smtp_username": str,
    "smtp_password": str,
    "smtp_host": str,
    "smtp_port": (int, float),
}
UPDATABLE: dict[str, type | tuple[type, ...]] = {
    "first_name": str,
    "last_name": str,
    "warmup": dict,
    "daily_limit": (int, float),
    "tracking_domain_name": str,
    "tracking_domain_status": str,
    "enable_slow_ramp": bool,
    "inbox_placement_test_limit": (int, float),
    "sending_gap": (int, float),
    "signature": str,
    "reply_to": str,
    "skip_cname_check": bool,
    "remove_tracking_domain": bool,
}
OPTIONAL = {k: v for k, v in UPDATABLE.items() if k not in ("first_name", "last_name", "remove_tracking_domain")}
OPTIONAL["warmup_custom_ftag"] = str
WARMUP_JOB: dict[str, type | tuple[type, ...]] = {
    "emails": list,
    "include_all_emails": bool,
    "excluded_emails": list,
    "filter": dict,
    "search": str,
}
SECRET = ("imap_password", "smtp_password")
PROVIDER_CODES = {1, 2, 3, 4, 8}
ORGANIZATION = "0198e874-1315-75e4-8094-644feeb142bc"


def _login(account: dict[str, Any]) -> Login:
    return Login(
        account["smtp_host"],
        int(account["smtp_port"]),
        account["smtp_username"],
        account["smtp_password"],
        account["imap_host"],
        int(account["imap_port"]),
        account["imap_username"],
        account["imap_password"],
    )


def _status_message(failure: LoginFailure) -> dict[str, Any]:
    """Instantly's `status_message` of a failed connection test (nodemailer's error fields)."""
    if failure.code is not None:
        return {
            "code": "EAUTH",
            "command": failure.command,
            "responseCode": failure.code,
            "response": failure.reply,
            "e_message": failure.reply,
        }
    return {
        "code": "EAUTH" if failure.command != "CONN" else "ECONNECTION",
        "command": failure.command,
        "e_message": failure.reply,
    }


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}

    def body(self) -> dict[str, Any]:
        names = {
            400: "Bad Request",
            401: "Unauthorized",
            404: "Not Found",
            429: "Too Many Requests",
            500: "Internal Server Error",
        }
        return {"statusCode": self.status, "error": names.get(self.status, "Error"), "message": self.message}


@dataclass
class InstantlyEmulator:
    keys: set[str]
    connection_test: LoginTest | None = None
    per_second: int = 100
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # address -> account, passwords included
    requests: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _recent: deque[float] = field(default_factory=deque)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    job_seconds: float = 0.3

    def admit(self, authorization: str | None) -> None:
        key = (authorization or "").removeprefix("Bearer ").strip()
        with self.lock:
            self.requests += 1
            now = time.monotonic()
            while self._recent and self._recent[0] <= now - 1:
                self._recent.popleft()
            if len(self._recent) >= self.per_second:
                self.refused += 1
                raise ApiError(429, "Rate limit exceeded, retry in 1 second", {"retry-after": "1"})
            self._recent.append(now)
        if key not in self.keys:
            raise ApiError(401, "Invalid API key")

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        _check(body, {**REQUIRED, **OPTIONAL}, required=REQUIRED)
        if int(body["provider_code"]) not in PROVIDER_CODES:
            raise ApiError(
                400, f"body/provider_code must be equal to one of the allowed values {sorted(PROVIDER_CODES)}"
            )
        address = body["email"].lower()
        with self.lock:
            if address in self.accounts:
                raise ApiError(400, f"Account {address} already exists in this workspace")
            now = _now()
            account = {
                **body,
                "email": address,
                "timestamp_created": now,
                "timestamp_updated": now,
                "organization": ORGANIZATION,
                "added_by": str(uuid.uuid4()),
                "warmup_status": 0,  # warm-up runs once enabled (POST /api/v2/accounts/warmup/enable)
                "setup_pending": False,
                "is_managed_account": False,
                "status": 1,
            }
            self.accounts[address] = account
        failure = self.connection_test(_login(account)) if self.connection_test else None
        problem = _status_message(failure) if failure else None
        with self.lock:
            account.update(status=-1 if problem else 1, status_message=problem)
            return _public(account)

    def get(self, address: str) -> dict[str, Any]:
        with self.lock:
            return _public(self._find(address))

    def update(self, address: str, body: dict[str, Any]) -> dict[str, Any]:
        _check(body, UPDATABLE, required={})
        with self.lock:
            account = self._find(address)
            if body.pop("remove_tracking_domain", False):
                account.pop("tracking_domain_name", None)
            account.update(body, timestamp_updated=_now())
            return _public(account)

    def delete(self, address: str) -> dict[str, Any]:
        with self.lock:
            account = self._find(address)
            del self.accounts[account["email"]]
            return _public(account)

    def warmup(self, enable: bool, body: Any) -> dict[str, Any]:
        _check(body, WARMUP_JOB, required={})
        if not body.get("emails"):  # the emulator selects by address only
            raise ApiError(400, "body/emails must NOT have fewer than 1 items")
        with self.lock:
            accounts = [self._find(address) for address in body["emails"]]
            now, job_id = _now(), uuid.uuid4().hex[:24]
            job: dict[str, Any] = {
                "id": job_id,
                "workspace_id": ORGANIZATION,
                "type": "update-warmup-accounts",
                "data": {"emails": [a["email"] for a in accounts], "enable": enable},
                "progress": 0,
                "status": "pending",
                "created_at": now,
                "updated_at": now,
            }
            self.jobs[job_id] = job

        def finish() -> None:
            with self.lock:
                for account in accounts:
                    account.update(warmup_status=1 if enable else 0, timestamp_updated=_now())
                job.update(status="success", progress=100, updated_at=_now())

        timer = threading.Timer(self.job_seconds, finish)
        timer.daemon = True
        timer.start()
        return dict(job)

    def job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                raise ApiError(404, "Background job not found")
            return dict(job)

    def set_status(self, address: str, status: int) -> dict[str, Any]:
        with self.lock:
            account = self._find(address)
            account.update(status=status, timestamp_updated=_now())
            return _public(account)

    def page(self, q: dict[str, str]) -> dict[str, Any]:
        try:
            limit = int(q.get("limit", "100"))
        except ValueError:
            raise ApiError(400, "querystring/limit must be integer") from None
        if not 1 <= limit <= 100:
            raise ApiError(400, "querystring/limit must be >= 1 and <= 100")
        with self.lock:
            chosen = [
                a
                for address, a in sorted(self.accounts.items())
                if address > q.get("starting_after", "")
                and q.get("search", "").lower() in address
                and ("status" not in q or str(a["status"]) == q["status"])
            ]
            items = [_public(a) for a in chosen[:limit]]
        after = items[-1]["email"] if len(chosen) > limit else None
        return {"items": items, "next_starting_after": after}

    def _find(self, address: str) -> dict[str, Any]:
        account = self.accounts.get(address.lower())
        if account is None:
            raise ApiError(404, "Account not found")
        return account

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "accounts": {a: _public(acc) for a, acc in self.accounts.items()},
                "requests": self.requests,
                "refused": self.refused,
            }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _public(account: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in account.items() if k not in SECRET}


def _check(body: Any, allowed: dict[str, type | tuple[type, ...]], required: dict[str, Any]) -> None:
    """Ajv-like validation of a JSON body, first problem only, in the words Fastify uses."""
    if not isinstance(body, dict):
        raise ApiError(400, "body must be object")
    for name in required:
        if name not in body:
            raise ApiError(400, f"body must have required property '{name}'")
    for name, value in body.items():
        if name not in allowed:
            raise ApiError(400, f"body must NOT have additional properties ('{name}')")
        kinds = allowed[name]
        if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
            raise ApiError(400, f"body/{name} must be {_kind(kinds)}")
        if value is not None and not isinstance(value, kinds):
            raise ApiError(400, f"body/{name} must be {_kind(kinds)}")


def _kind(kinds: type | tuple[type, ...]) -> str:
    first = kinds[0] if isinstance(kinds, tuple) else kinds
    return {str: "string", int: "number", dict: "object", bool: "boolean", list: "array"}[first]


def _route(emu: InstantlyEmulator, method: str, parts: list[str], q: dict[str, str], body: Any) -> Any:
    if parts[:3] == ["api", "v2", "background-jobs"] and len(parts) == 4 and method == "GET":
        return emu.job(parts[3])
    warmup_job = parts[3:] in (["warmup", "enable"], ["warmup", "disable"])
    if parts[:3] == ["api", "v2", "accounts"] and warmup_job and method == "POST":
        return emu.warmup(parts[4] == "enable", body)
    if parts[:3] != ["api", "v2", "accounts"]:
        raise ApiError(404, f"Route {method}:/{'/'.join(parts)} not found")
    rest = [unquote(p) for p in parts[3:]]
    if not rest:
        if method == "GET":
            return emu.page(q)
        if method == "POST":
            return emu.create(body)
    elif len(rest) == 1:
        if method == "GET":
            return emu.get(rest[0])
        if method == "PATCH":
            return emu.update(rest[0], body)
        if method == "DELETE":
            return emu.delete(rest[0])
    elif len(rest) == 2 and method == "POST" and rest[1] in ("pause", "resume"):
        return emu.set_status(rest[0], 2 if rest[1] == "pause" else 1)
    raise ApiError(404, f"Route {method}:/{'/'.join(parts)} not found")


def make_handler(emu: InstantlyEmulator) -> type[RoutedHandler]:
    class Handler(RoutedHandler):
        def handle_method(self, method: str) -> None:
            url = urlsplit(self.path)
            raw = self.body()
            if url.path == "/_emulator/state":
                return self.reply(200, emu.state())
            try:
                emu.admit(self.headers.get("Authorization"))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    raise ApiError(400, "Body is not valid JSON") from None
                q = {k: v[-1] for k, v in parse_qs(url.query).items()}
                self.reply(200, _route(emu, method, url.path.strip("/").split("/"), q, body))
            except ApiError as exc:
                self.reply(exc.status, exc.body(), exc.headers)
            except Exception as exc:  # an emulator bug answers 500, as a server would, instead of hanging up
                self.reply(500, ApiError(500, f"{type(exc).__name__}: {exc}").body())
            return None

    return Handler


def serve(emu: InstantlyEmulator, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    return serve_in_background(make_handler(emu), host, port, "instantly-emulator")
