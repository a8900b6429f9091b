"""Our Smartlead client against the emulator: an account found by address across pages and without its
passwords, a refusal at once with Smartlead's words, 429s waited out, the key in no message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mailbox_iac.errors import Permanent
from mailbox_iac.sandbox import smartlead as emulator
from mailbox_iac.sequencers.smartlead import SmartleadClient, SmartleadRefused
from tests.core.test_smartlead_emulator import KEY, SECRET, fields


@pytest.fixture
def served() -> Iterator[tuple[emulator.SmartleadEmulator, SmartleadClient, str]]:
    emu = emulator.SmartleadEmulator({KEY}, per_minute=10_000)
    server = emulator.serve(emu)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    client = SmartleadClient(KEY, url)
    try:
        yield emu, client, url
    finally:
        client.close()
        server.shutdown()


def test_an_account_is_found_by_address_on_any_page_without_its_passwords(served: Any) -> None:
    emu, client, _ = served
    for n in range(120):  # more than a page of 100 that Smartlead's filter (a substring) matches too
        emu.accounts[n] = {**_stored(f"x{n:03d}u1@demo-a.example"), "id": n}
    client.save(fields("u1@demo-a.example"))
    found = client.account("U1@demo-a.example")
    assert found is not None and found["from_email"] == "u1@demo-a.example"
    assert "password" not in found and "imap_password" not in found and SECRET not in str(found)
    assert client.account("nobody@demo-a.example") is None
    assert emu.requests == 1 + 2 + 1  # the save, two pages, one page with nothing
    client.delete(found["id"])
    client.delete(found["id"])  # already gone: done
    assert client.account("u1@demo-a.example") is None


def test_a_refusal_is_permanent_at_once_with_smartleads_words_and_no_key(served: Any) -> None:
    emu, client, url = served
    client.save(fields("ada@demo-a.example"))
    before = emu.requests
    with pytest.raises(SmartleadRefused, match="already exists") as info:
        client.save(fields("ada@demo-a.example"))
    assert isinstance(info.value, Permanent) and info.value.status == 400
    assert emu.requests == before + 1  # not retried
    with pytest.raises(SmartleadRefused, match="HTTP 422: from_name is required"):
        client.save({k: v for k, v in fields("bo@demo-a.example").items() if k != "from_name"})
    stranger = SmartleadClient("wrong-key-9999", url)
    with pytest.raises(SmartleadRefused, match="Invalid API Key") as refused:
        stranger.account("ada@demo-a.example")
    assert "wrong-key-9999" not in str(refused.value) and "wrong-key-9999" not in repr(stranger)
    assert KEY not in repr(client)


def test_past_the_rate_limit_the_client_waits_instead_of_failing(served: Any) -> None:
    emu, client, _ = served
    emu.per_second = 2  # below the client's own 10 a second: the server's 429s must be waited out
    for n in range(6):
        client.save(fields(f"u{n}@demo-a.example"))
    assert len(emu.accounts) == 6 and emu.refused >= 1


def _stored(address: str) -> dict[str, Any]:
    """An account as the emulator keeps one (for seeding many without 120 saves)."""
    seed = emulator.SmartleadEmulator(set())
    account = seed._new()
    emulator._apply(account, {**fields(address), "from_email": address})
    return account
