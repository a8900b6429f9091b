"""Our Instantly client against the emulator (itself judged by the instantlyai SDK): the calls the
sequencer resources make, refusals at once with Instantly's message, 429 waited out, the key kept out of
every message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mailbox_iac.errors import Permanent
from mailbox_iac.sandbox import instantly as emulator
from mailbox_iac.sequencers.instantly import InstantlyClient, InstantlyRefused
from tests.core.test_instantly_emulator import account

KEY = "sandbox-instantly-key-client-0000"


@pytest.fixture
def served() -> Iterator[tuple[emulator.InstantlyEmulator, InstantlyClient, str]]:
    emu = emulator.InstantlyEmulator({KEY})
    server = emulator.serve(emu)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    client = InstantlyClient(KEY, url)
    try:
        yield emu, client, url
    finally:
        client.close()
        server.shutdown()


def test_create_read_update_delete(served: Any) -> None:
    emu, client, _ = served
    assert client.account("ada@demo-a.example") is None
    made = client.create({**account("ada@demo-a.example"), "daily_limit": 30})
    assert (made["email"], made["status"], made["daily_limit"]) == ("ada@demo-a.example", 1, 30)
    assert client.update("ada@demo-a.example", {"daily_limit": 25})["daily_limit"] == 25
    seen = client.account("ada@demo-a.example")
    assert seen is not None and seen["daily_limit"] == 25 and "smtp_password" not in seen
    client.delete("ada@demo-a.example")
    client.delete("ada@demo-a.example")  # already gone: done
    assert emu.accounts == {}


def test_a_refusal_is_permanent_at_once_with_instantlys_message_and_no_key(served: Any) -> None:
    emu, client, url = served
    client.create(account("ada@demo-a.example"))
    before = emu.requests
    with pytest.raises(InstantlyRefused, match="already exists") as info:
        client.create(account("ada@demo-a.example"))
    assert isinstance(info.value, Permanent) and info.value.status == 400
    assert emu.requests == before + 1  # not retried
    stranger = InstantlyClient("wrong-key-9999", url)
    with pytest.raises(InstantlyRefused, match="Invalid API key") as refused:
        stranger.account("ada@demo-a.example")
    assert "wrong-key-9999" not in str(refused.value) and "wrong-key-9999" not in repr(stranger)
    assert KEY not in repr(client)


def test_past_the_rate_limit_the_client_waits_instead_of_failing(served: Any) -> None:
    emu, client, _ = served
    emu.per_second = 2  # below the client's own budget of 100: the server's 429s must be waited out
    for n in range(6):
        client.create(account(f"u{n}@demo-a.example"))
    assert len(emu.accounts) == 6 and emu.refused >= 1
