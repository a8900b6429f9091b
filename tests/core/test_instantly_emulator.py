"""The Instantly emulator judged by a client we did not write: the `instantlyai` SDK, generated from
Instantly's OpenAPI document, creates, reads, updates, lists and deletes accounts through it, and its typed
models must accept every reply; the refusals (unknown fields, missing ones, a duplicate, a wrong key, the
rate limit) come back as the SDK's own error classes, with the emulator's message."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import instantlyai
import pytest
from instantlyai.models import Warmup

from mailbox_iac.sandbox import instantly
from mailbox_iac.sandbox.logins import Login, LoginFailure

KEY = "sandbox-instantly-key-0000"
SECRET = "correct horse battery staple"


def account(address: str, password: str = SECRET) -> dict[str, Any]:
    host = "mail." + address.split("@")[1]
    return {
        "email": address,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "provider_code": 1,
        "imap_username": address,
        "imap_password": password,
        "imap_host": host,
        "imap_port": 993,
        "smtp_username": address,
        "smtp_password": password,
        "smtp_host": host,
        "smtp_port": 587,
    }


@pytest.fixture
def emulator() -> Iterator[tuple[instantly.InstantlyEmulator, str]]:
    emu = instantly.InstantlyEmulator({KEY})
    server = instantly.serve(emu)
    try:
        yield emu, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _status(account: Any) -> int:
    return int(account.status.value)


def sdk(url: str, key: str = KEY) -> instantlyai.Instantly:
    return instantlyai.Instantly(api_key=key, base_url=url, max_retries=3)


def test_the_sdk_creates_reads_updates_and_deletes_an_account(emulator: Any) -> None:
    emu, url = emulator
    with sdk(url) as client:
        made = client.accounts.create(**account("ada@demo-a.example"), daily_limit=30, warmup=Warmup(limit=20))
        assert made.status is not None  # the SDK's enums: Status, ProviderCode, WarmupStatus
        assert (made.email, made.status.value, made.daily_limit, made.provider_code.value) == (
            "ada@demo-a.example",
            1,
            30,
            1,
        )
        assert made.warmup is not None and made.warmup.limit == 20 and made.warmup_status.value == 0
        assert client.accounts.retrieve("ada@demo-a.example").first_name == "Ada"
        job = client.accounts.enable_warmup(emails=["ada@demo-a.example"])  # a background job, as Instantly's
        assert (job.type.value, job.status.value) == ("update-warmup-accounts", "pending")
        for _ in range(50):
            if client.background_jobs.retrieve(job.id).status.value == "success":
                break
            time.sleep(0.1)
        assert client.accounts.retrieve("ada@demo-a.example").warmup_status.value == 1
        changed = client.accounts.update("ada@demo-a.example", daily_limit=25, warmup=Warmup(limit=10))
        assert (changed.daily_limit, changed.warmup.limit if changed.warmup else None) == (25, 10)
        assert _status(client.accounts.pause("ada@demo-a.example")) == 2
        assert _status(client.accounts.resume("ada@demo-a.example")) == 1
        assert client.accounts.delete("ada@demo-a.example").email == "ada@demo-a.example"
        with pytest.raises(instantlyai.NotFoundError, match="Account not found"):
            client.accounts.retrieve("ada@demo-a.example")
    assert emu.accounts == {}


def test_no_reply_ever_holds_a_password(emulator: Any) -> None:
    _, url = emulator
    with sdk(url) as client:
        client.accounts.create(**account("ada@demo-a.example"))
    raw = httpx.get(f"{url}/api/v2/accounts", headers={"Authorization": f"Bearer {KEY}"}).text
    raw += httpx.get(f"{url}/_emulator/state").text
    assert "ada@demo-a.example" in raw and SECRET not in raw


def test_listing_pages_by_address_and_searches(emulator: Any) -> None:
    _, url = emulator
    addresses = [f"{n}@demo-a.example" for n in ("ann", "bo", "cy", "di", "ed")]
    with sdk(url) as client:
        for address in reversed(addresses):
            client.accounts.create(**account(address))
        assert [a.email for a in client.accounts.list(limit=2)] == addresses  # three pages, walked by the SDK
        first = client.accounts.list(limit=2)
        assert (len(first.items), first.next_starting_after) == (2, "bo@demo-a.example")
        assert [a.email for a in client.accounts.list(search="cy@")] == ["cy@demo-a.example"]


def test_refusals_come_back_as_the_sdks_errors_with_their_message(emulator: Any) -> None:
    _, url = emulator
    with sdk(url) as client:
        client.accounts.create(**account("ada@demo-a.example"))
        with pytest.raises(instantlyai.ValidationError, match="already exists"):
            client.accounts.create(**account("ADA@demo-a.example"))
    with sdk(url, key="not-a-key") as stranger, pytest.raises(instantlyai.AuthenticationError, match="Invalid API key"):
        stranger.accounts.retrieve("ada@demo-a.example")
    headers = {"Authorization": f"Bearer {KEY}"}
    refusals = [
        ({**account("bo@demo-a.example"), "password": "x"}, "must NOT have additional properties ('password')"),
        ({k: v for k, v in account("bo@demo-a.example").items() if k != "imap_host"}, "required property 'imap_host'"),
        ({**account("bo@demo-a.example"), "provider_code": 7}, "allowed values [1, 2, 3, 4, 8]"),
        ({**account("bo@demo-a.example"), "imap_port": "993"}, "body/imap_port must be number"),
    ]
    for body, message in refusals:
        reply = httpx.post(f"{url}/api/v2/accounts", json=body, headers=headers)
        assert reply.status_code == 400 and message in reply.json()["message"], reply.text
    patch = httpx.patch(f"{url}/api/v2/accounts/ada@demo-a.example", json={"smtp_password": "new"}, headers=headers)
    assert patch.status_code == 400 and "additional properties ('smtp_password')" in patch.json()["message"]


def test_a_failed_connection_test_marks_the_account_with_the_servers_reply() -> None:
    def refuse(login: Login) -> LoginFailure | None:
        return None if login.smtp_password == SECRET else LoginFailure("smtp", "AUTH PLAIN", 535, "535 5.7.8 failed")

    emu = instantly.InstantlyEmulator({KEY}, connection_test=refuse)
    server = instantly.serve(emu)
    try:
        with sdk(f"http://127.0.0.1:{server.server_address[1]}") as client:
            good = client.accounts.create(**account("ada@demo-a.example"))
            bad = client.accounts.create(**account("bo@demo-a.example", password="wrong"))
    finally:
        server.shutdown()
    assert (_status(good), good.status_message) == (1, None)
    assert _status(bad) == -1 and bad.status_message is not None
    assert (bad.status_message.responseCode, bad.status_message.response) == (535, "535 5.7.8 failed")


def test_past_the_rate_limit_a_429_with_retry_after_which_the_sdk_waits_out(emulator: Any) -> None:
    emu, url = emulator
    emu.per_second = 3
    headers = {"Authorization": f"Bearer {KEY}"}
    codes = [httpx.get(f"{url}/api/v2/accounts", headers=headers) for _ in range(5)]
    assert [r.status_code for r in codes].count(429) >= 1
    refused = next(r for r in codes if r.status_code == 429)
    assert refused.headers["retry-after"] == "1" and refused.json()["statusCode"] == 429
    with sdk(url) as client:
        for n in range(6):
            client.accounts.create(**account(f"u{n}@demo-a.example"))
    assert len(emu.accounts) == 6 and emu.refused >= 2
