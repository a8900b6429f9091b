"""A local emulator of Smartlead's email-account endpoints (shared/reference/anchors-2.md §3; the shapes of
Smartlead's API reference pages: get-all, add-smtp, update, warm-up, delete, rate limits).

- The key is the `api_key` query parameter (401 `{"message": "Invalid API Key"}` without a known one).
- `POST /api/v1/email-accounts/save`: the 9 required fields and the documented optional ones (422
  `{"error": "<field> is required"}`, `... must be a number`, `... is not allowed`: Joi's words, an
  assumption). The connection is tested at once, as Smartlead does, with a `connection_test` (real SMTP
  and IMAP logins): SMTP failing is a 400 `{"ok": false, "message": "SMTP connection failed", "error":
  <the server's reply>}` and nothing is saved; IMAP failing saves the account marked `is_imap_success:
  false` with the reply in `imap_failure_error`. With an `id`, the save changes that account (password
  and hosts too, tested again); without one, an address the workspace has is a 400.
- `GET /api/v1/email-accounts/` (`offset`, `limit` 1-100 else 422, `username` a substring of the
  address): a bare array. `GET /api/v1/email-accounts/{id}`: one account. Both return the passwords
  base64-encoded, as Smartlead documents: whoever reads an account must drop them.
- `POST /api/v1/email-accounts/{id}` (from_name, max_email_per_day, signature, ...) and
  `POST /api/v1/email-accounts/{id}/warmup` (warmup_enabled required) answer `{"ok": true}`;
  `DELETE /api/v1/email-accounts/{id}`; an unknown id is a 404 `{"ok": false, "errorCode":
  "ACCOUNT_NOT_FOUND"}`.
- The key's limits: 10 requests a second, 60 a minute (the standard tier), 429 past either with
  `Retry-After` and `{"error": {"code": "RATE_LIMIT_EXCEEDED", "message", "retry_after"}}`.
- `warmup_details` carries `max_email_per_day`, `daily_rampup` and the reply rate besides the documented
  status and counters (field names seen in public clients' types, not on the reference page).

`GET /_emulator/state` dumps the accounts without their passwords and the request counts.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mailbox_iac.sandbox.jsonhttp import RoutedHandler, serve_in_background
from mailbox_iac.sandbox.logins import Login, LoginTest

Kinds = tuple[type, ...]
NUMBER: Kinds = (int, float)
TEXT: Kinds = (str,)
FLAG: Kinds = (bool,)
REQUIRED: dict[str, Kinds] = {
    "from_name": TEXT,
    "from_email": TEXT,
    "user_name": TEXT,
    "password": TEXT,
    "smtp_host": TEXT,
    "smtp_port": NUMBER,
    "imap_host": TEXT,
    "imap_port": NUMBER,
    "warmup_enabled": FLAG,
}
UPDATABLE: dict[str, Kinds] = {
    "from_name": TEXT,
    "max_email_per_day": NUMBER,
    "time_to_wait_in_mins": NUMBER,
    "signature": TEXT,
    "custom_tracking_url": TEXT,
    "bcc": TEXT,
    "different_reply_to_address": TEXT,
    "client_id": NUMBER,
}
WARMUP: dict[str, Kinds] = {
    "warmup_enabled": FLAG,
    "total_warmup_per_day": NUMBER,
    "daily_rampup": NUMBER,
    "reply_rate_percentage": NUMBER,
}
OPTIONAL: dict[str, Kinds] = {
    **UPDATABLE,
    **WARMUP,
    "id": NUMBER,
    "type": TEXT,
    "imap_user_name": TEXT,
    "imap_password": TEXT,
    "is_suspended": FLAG,
}
USER_ID = 41230


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(json.dumps(body))
        self.status, self.body, self.headers = status, body, headers or {}


def _invalid(message: str) -> ApiError:
    return ApiError(422, {"error": message})


NOT_FOUND = {"ok": False, "errorCode": "ACCOUNT_NOT_FOUND", "message": "Email account not found"}


@dataclass
class SmartleadEmulator:
    keys: set[str]
    connection_test: LoginTest | None = None
    per_second: int = 10
    per_minute: int = 60
    accounts: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> account, passwords in clear
    requests: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _recent: deque[float] = field(default_factory=deque)
    _next_id: int = 4301

    def admit(self, key: str) -> None:
        with self.lock:
            self.requests += 1
            now = time.monotonic()
            while self._recent and self._recent[0] <= now - 60:
                self._recent.popleft()
            last_second = sum(1 for t in self._recent if t > now - 1)
            if last_second >= self.per_second or len(self._recent) >= self.per_minute:
                self.refused += 1
                wait = 1 if last_second >= self.per_second else int(self._recent[0] + 60 - now) + 1
                message = f"Too many requests. Please retry after {wait} seconds."
                body = {"error": {"code": "RATE_LIMIT_EXCEEDED", "message": message, "retry_after": wait}}
                raise ApiError(429, body, {"Retry-After": str(wait)})
            self._recent.append(now)
        if key not in self.keys:
            raise ApiError(401, {"message": "Invalid API Key"})

    def save(self, body: Any) -> dict[str, Any]:
        _check(body, {**REQUIRED, **OPTIONAL}, REQUIRED)
        with self.lock:
            if "id" in body:
                known = self._find(body["id"])
            elif self._by_address(body["from_email"]) is not None:
                raise ApiError(400, {"ok": False, "message": f"Email account {body['from_email']} already exists"})
            else:
                known = None
        login = Login(
            body["smtp_host"],
            int(body["smtp_port"]),
            body["user_name"],
            body["password"],
            body["imap_host"],
            int(body["imap_port"]),
            body.get("imap_user_name") or body["user_name"],
            body.get("imap_password") or body["password"],
        )
        failure = self.connection_test(login) if self.connection_test else None
        if failure and failure.leg == "smtp":
            raise ApiError(400, {"ok": False, "message": "SMTP connection failed", "error": failure.reply})
        imap_error = failure.reply if failure else None
        with self.lock:
            account = known if known is not None else self._new()
            _apply(account, body)
            account.update(is_smtp_success=True, is_imap_success=imap_error is None)
            account.update(smtp_failure_error=None, imap_failure_error=imap_error)
            self.accounts[account["id"]] = account
            data = {k: account[k] for k in ("id", "from_email", "is_smtp_success", "is_imap_success")}
            data["warmup_details"] = {"status": account["warmup_details"]["status"]}
        verb = "updated" if known is not None else "added"
        return {"ok": True, "message": f"Email account {verb} successfully!", "data": data}

    def _new(self) -> dict[str, Any]:
        account_id, self._next_id = self._next_id, self._next_id + 1
        now = _now()
        return {
            "id": account_id,
            "created_at": now,
            "user_id": USER_ID,
            "type": "SMTP",
            "message_per_day": 50,
            "minTimeToWaitInMins": 5,
            "daily_sent_count": 0,
            "campaign_count": 0,
            "client_id": None,
            "signature": None,
            "custom_tracking_domain": None,
            "bcc_email": None,
            "different_reply_to_address": None,
            "is_suspended": False,
            "tags": [],
            "warmup_details": {
                "status": "INACTIVE",
                "total_sent_count": 0,
                "total_spam_count": 0,
                "warmup_reputation": "100%",
                "warmup_key_id": account_id * 7,
                "warmup_created_at": now,
                "reply_rate": 30,
                "blocked_reason": None,
                "is_warmup_blocked": False,
                "max_email_per_day": 20,
                "daily_rampup": 2,
            },
        }

    def get(self, account_id: str) -> dict[str, Any]:
        with self.lock:
            return _public(self._find(account_id))

    def update(self, account_id: str, body: Any) -> dict[str, Any]:
        _check(body, UPDATABLE, {})
        with self.lock:
            _apply(self._find(account_id), body)
        return {"ok": True}

    def warmup(self, account_id: str, body: Any) -> dict[str, Any]:
        _check(body, WARMUP, {"warmup_enabled": FLAG})
        with self.lock:
            _apply(self._find(account_id), body)
        return {"ok": True}

    def delete(self, account_id: str) -> dict[str, Any]:
        with self.lock:
            account = self._find(account_id)
            del self.accounts[account["id"]]
        return {"ok": True, "message": "Email account deleted successfully!", "emailAccountId": account["id"]}

    def page(self, q: dict[str, str]) -> list[dict[str, Any]]:
        try:
            offset, limit = int(q.get("offset", "0")), int(q.get("limit", "100"))
        except ValueError:
            raise _invalid("offset and limit must be numbers") from None
        if limit > 100:
            raise _invalid("limit must be less than or equal to 100")
        if limit < 1 or offset < 0:
            raise _invalid("limit must be at least 1 and offset at least 0")
        wanted = q.get("username", "").lower()
        with self.lock:
            chosen = [a for _, a in sorted(self.accounts.items()) if wanted in a["username"].lower()]
            return [_public(a) for a in chosen[offset : offset + limit]]

    def _find(self, account_id: Any) -> dict[str, Any]:
        try:
            number = int(account_id)
        except (TypeError, ValueError):
            raise _invalid('"id" must be a number') from None
        account = self.accounts.get(number)
        if account is None:
            raise ApiError(404, NOT_FOUND)
        return account

    def _by_address(self, address: str) -> dict[str, Any] | None:
        return next((a for a in self.accounts.values() if a["from_email"].lower() == address.lower()), None)

    def state(self) -> dict[str, Any]:
        with self.lock:
            public = [_public(a) for a in self.accounts.values()]
        hidden = ("password", "imap_password")
        accounts = [{k: v for k, v in a.items() if k not in hidden} for a in public]
        return {"accounts": accounts, "requests": self.requests, "refused": self.refused}


def _apply(account: dict[str, Any], body: dict[str, Any]) -> None:
    """A request's fields into an account, as it stores them (Smartlead's names on the way out differ)."""
    renamed = {
        "user_name": "username",
        "imap_user_name": "imap_username",
        "max_email_per_day": "message_per_day",
        "time_to_wait_in_mins": "minTimeToWaitInMins",
        "custom_tracking_url": "custom_tracking_domain",
        "bcc": "bcc_email",
    }
    warmup = {
        "total_warmup_per_day": "max_email_per_day",
        "daily_rampup": "daily_rampup",
        "reply_rate_percentage": "reply_rate",
    }
    for name, value in body.items():
        if name == "warmup_enabled":
            account["warmup_details"]["status"] = "ACTIVE" if value else "INACTIVE"
        elif name in warmup:
            account["warmup_details"][warmup[name]] = value
        elif name != "id":
            account[renamed.get(name, name)] = value
    account["updated_at"] = _now()


def _public(account: dict[str, Any]) -> dict[str, Any]:
    """The account as Smartlead returns it: passwords base64-encoded, IMAP credentials spelled out."""
    out = {k: v for k, v in account.items() if k != "warmup_details"}
    out["warmup_details"] = dict(account["warmup_details"])
    out["imap_username"] = account.get("imap_username") or account["username"]
    imap_password = account.get("imap_password") or account["password"]
    out["is_different_imap_account"] = (out["imap_username"], imap_password) != (
        account["username"],
        account["password"],
    )
    out["password"] = base64.b64encode(account["password"].encode()).decode()
    out["imap_password"] = base64.b64encode(imap_password.encode()).decode()
    out["smtp_port_type"] = "SSL" if int(account["smtp_port"]) == 465 else "TLS"
    out["imap_port_type"] = "SSL"
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check(body: Any, allowed: dict[str, Kinds], required: dict[str, Kinds]) -> None:
    """Joi-like validation of a JSON body, first problem only."""
    if not isinstance(body, dict):
        raise _invalid('"value" must be of type object')
    for name in required:
        if name not in body:
            raise _invalid(f"{name} is required")
    for name, value in body.items():
        if name not in allowed:
            raise _invalid(f'"{name}" is not allowed')
        kinds = allowed[name]
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            word = {str: "string", int: "number", bool: "boolean"}[kinds[0]]
            raise _invalid(f'"{name}" must be a {word}')


def _route(emu: SmartleadEmulator, method: str, parts: list[str], q: dict[str, str], body: Any) -> Any:
    if parts[:3] != ["api", "v1", "email-accounts"]:
        raise ApiError(404, {"message": f"Cannot {method} /{'/'.join(parts)}"})
    rest = parts[3:]
    if not rest and method == "GET":
        return emu.page(q)
    if rest == ["save"] and method == "POST":
        return emu.save(body)
    if len(rest) == 1:
        if method == "GET":
            return emu.get(rest[0])
        if method == "POST":
            return emu.update(rest[0], body)
        if method == "DELETE":
            return emu.delete(rest[0])
    if len(rest) == 2 and rest[1] == "warmup" and method == "POST":
        return emu.warmup(rest[0], body)
    raise ApiError(404, {"message": f"Cannot {method} /{'/'.join(parts)}"})


def make_handler(emu: SmartleadEmulator) -> type[RoutedHandler]:
    class Handler(RoutedHandler):
        def handle_method(self, method: str) -> None:
            url = urlsplit(self.path)
            raw = self.body()
            if url.path == "/_emulator/state":
                return self.reply(200, emu.state())
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            try:
                emu.admit(q.pop("api_key", ""))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    raise ApiError(400, {"error": "Unexpected token in JSON"}) from None
                parts = [p for p in url.path.split("/") if p]
                self.reply(200, _route(emu, method, parts, q, body))
            except ApiError as exc:
                self.reply(exc.status, exc.body, exc.headers)
            except Exception as exc:  # an emulator bug answers 500, as a server would, instead of hanging up
                self.reply(500, {"error": f"{type(exc).__name__}: {exc}"})
            return None

    return Handler


def serve(emu: SmartleadEmulator, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    return serve_in_background(make_handler(emu), host, port, "smartlead-emulator")
