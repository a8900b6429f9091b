"""The Smartlead emulator against Smartlead's API reference (anchors-2.md §3): the key as a query
parameter, the save with its connection test (SMTP failing refuses, IMAP failing saves a marked account),
bare arrays and base64 passwords on reads, `{"ok": true}` updates, the delete and not-found bodies, Joi's
422s, and both rate limits with Retry-After."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mailbox_iac.sandbox import smartlead
from mailbox_iac.sandbox.logins import Login, LoginFailure

KEY = "sandbox-smartlead-key-0000"
SECRET = "correct horse battery staple"


def fields(address: str, password: str = SECRET, **more: Any) -> dict[str, Any]:
    host = "mail." + address.split("@")[1]
    return {
        "from_name": "Ada Lovelace",
        "from_email": address,
        "user_name": address,
        "password": password,
        "smtp_host": host,
        "smtp_port": 587,
        "imap_host": host,
        "imap_port": 993,
        "warmup_enabled": True,
        **more,
    }


def refuse_unless_secret(login: Login) -> LoginFailure | None:
    """SMTP refuses a wrong password; IMAP refuses a login whose host starts with `noimap`."""
    if login.smtp_password != SECRET:
        return LoginFailure("smtp", "AUTH PLAIN", 535, "535 5.7.8 Error: authentication failed")
    if login.imap_host.startswith("noimap"):
        return LoginFailure("imap", "IMAP LOGIN", None, "[AUTHENTICATIONFAILED] Authentication failed.")
    return None


@pytest.fixture
def emulator() -> Iterator[tuple[smartlead.SmartleadEmulator, str]]:
    emu = smartlead.SmartleadEmulator({KEY}, connection_test=refuse_unless_secret)
    server = smartlead.serve(emu)
    try:
        yield emu, f"http://127.0.0.1:{server.server_address[1]}/api/v1/email-accounts"
    finally:
        server.shutdown()


def test_save_then_read_update_warmup_and_delete_in_smartleads_shapes(emulator: Any) -> None:
    emu, url = emulator
    key = {"api_key": KEY}
    saved = httpx.post(f"{url}/save", params=key, json=fields("ada@demo-a.example", max_email_per_day=30))
    assert saved.status_code == 200 and saved.json()["ok"] is True, saved.text
    data = saved.json()["data"]
    assert (data["from_email"], data["is_smtp_success"], data["is_imap_success"]) == ("ada@demo-a.example", True, True)
    assert data["warmup_details"] == {"status": "ACTIVE"}
    listed = httpx.get(f"{url}/", params={**key, "username": "ada@"}).json()
    assert isinstance(listed, list) and [a["id"] for a in listed] == [data["id"]]
    [account] = listed
    assert base64.b64decode(account["password"]).decode() == SECRET  # as documented: base64, not hidden
    assert (account["message_per_day"], account["username"], account["smtp_port_type"]) == (
        30,
        "ada@demo-a.example",
        "TLS",
    )
    one = f"{url}/{data['id']}"
    assert httpx.post(one, params=key, json={"max_email_per_day": 12}).json() == {"ok": True}
    warm = {"warmup_enabled": False, "total_warmup_per_day": 8, "daily_rampup": 1, "reply_rate_percentage": 40}
    assert httpx.post(f"{one}/warmup", params=key, json=warm).json() == {"ok": True}
    account = httpx.get(one, params=key).json()
    assert account["message_per_day"] == 12
    details = account["warmup_details"]
    assert (details["status"], details["max_email_per_day"], details["daily_rampup"], details["reply_rate"]) == (
        "INACTIVE",
        8,
        1,
        40,
    )
    gone = httpx.delete(one, params=key)
    assert gone.json() == {"ok": True, "message": "Email account deleted successfully!", "emailAccountId": data["id"]}
    again = httpx.delete(one, params=key)
    assert again.status_code == 404 and again.json()["errorCode"] == "ACCOUNT_NOT_FOUND"
    assert "password" not in str(emu.state()["accounts"])


def test_the_connection_test_refuses_smtp_failures_and_marks_imap_ones(emulator: Any) -> None:
    emu, url = emulator
    key = {"api_key": KEY}
    wrong = httpx.post(f"{url}/save", params=key, json=fields("bo@demo-a.example", password="wrong"))
    assert wrong.status_code == 400
    assert wrong.json() == {
        "ok": False,
        "message": "SMTP connection failed",
        "error": "535 5.7.8 Error: authentication failed",
    }
    assert emu.accounts == {}  # nothing saved
    no_imap = fields("cy@demo-a.example", imap_host="noimap.demo-a.example")
    saved = httpx.post(f"{url}/save", params=key, json=no_imap).json()
    assert saved["data"]["is_imap_success"] is False
    [account] = httpx.get(f"{url}/", params=key).json()
    assert account["imap_failure_error"] == "[AUTHENTICATIONFAILED] Authentication failed."
    # a save with the account's id changes it, password and hosts included, and tests again
    fixed = fields("cy@demo-a.example", id=account["id"])
    assert httpx.post(f"{url}/save", params=key, json=fixed).json()["message"] == "Email account updated successfully!"
    assert httpx.get(f"{url}/{account['id']}", params=key).json()["is_imap_success"] is True
    dup = httpx.post(f"{url}/save", params=key, json=fields("cy@demo-a.example"))
    assert dup.status_code == 400 and "already exists" in dup.json()["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({k: v for k, v in fields("ada@demo-a.example").items() if k != "from_name"}, "from_name is required"),
        (fields("ada@demo-a.example", smtp_port="587"), '"smtp_port" must be a number'),
        (fields("ada@demo-a.example", warmup_enabled="yes"), '"warmup_enabled" must be a boolean'),
        (fields("ada@demo-a.example", provider_code=1), '"provider_code" is not allowed'),
    ],
)
def test_bad_bodies_are_422_in_joi_words(emulator: Any, body: dict[str, Any], message: str) -> None:
    emu, url = emulator
    reply = httpx.post(f"{url}/save", params={"api_key": KEY}, json=body)
    assert (reply.status_code, reply.json()) == (422, {"error": message})
    assert emu.accounts == {}


def test_the_key_pages_and_limits(emulator: Any) -> None:
    emu, url = emulator
    assert httpx.get(f"{url}/").json() == {"message": "Invalid API Key"}
    assert httpx.get(f"{url}/", params={"api_key": "nope"}).status_code == 401
    too_many = httpx.get(f"{url}/", params={"api_key": KEY, "limit": 101})
    assert (too_many.status_code, too_many.json()) == (422, {"error": "limit must be less than or equal to 100"})
    emu.per_second = 3
    codes = [httpx.get(f"{url}/", params={"api_key": KEY}) for _ in range(5)]
    refused = next(r for r in codes if r.status_code == 429)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED" and refused.json()["error"]["retry_after"] == 1
    emu.per_second, emu.per_minute = 100, emu.requests - emu.refused  # the minute is full
    minute = httpx.get(f"{url}/", params={"api_key": KEY})
    assert minute.status_code == 429 and int(minute.headers["retry-after"]) > 1
