"""The sequencer-account provider through Pulumi's own servicer, against the Instantly emulator: added
once and connected, adopted rather than added twice, a failed connection test leaves nothing behind and
names the sequencer's reason, a setting changed in the sequencer reads as drift, a new password replaces
the account."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mailbox_iac.sandbox import instantly
from mailbox_iac.sequencers.instantly import InstantlyClient
from mailbox_iac.sequencers.provider import SequencerAccountProvider
from tests.core.test_instantly_emulator import account
from tests.providers.servicer import Aborted, Driver

KEY = "sandbox-instantly-key-provider-0000"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def workspace() -> Iterator[tuple[instantly.InstantlyEmulator, str]]:
    def login(acc: dict[str, Any]) -> dict[str, Any] | None:
        ok = acc["smtp_password"] == PASSWORD
        return None if ok else {"command": "AUTH PLAIN", "responseCode": 535, "response": "535 5.7.8 failed"}

    emu = instantly.InstantlyEmulator({KEY}, connection_test=login)
    server = instantly.serve(emu)
    try:
        yield emu, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def inputs(url: str, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "instantly",
        "base_url": url,
        "api_key": KEY,
        "address": "ada@demo-a.example",
        "username": "ada@demo-a.example",
        "password": PASSWORD,
        "smtp_host": "mail.demo-a.example",
        "smtp_port": 587,
        "imap_host": "mail.demo-a.example",
        "imap_port": 993,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "daily_limit": 30,
        "warmup": {"limit": 20, "increment": "2", "reply_rate": 30},
        **changes,
    }


def test_added_once_connected_and_read_back_in_the_same_shape(workspace: Any) -> None:
    emu, url = workspace
    driver = Driver(SequencerAccountProvider())
    id_, outs = driver.create(inputs(url))
    assert id_ == "instantly:ada@demo-a.example" and outs["status"] == 1
    again_id, again = driver.read(id_, outs)
    assert (again_id, again) == (id_, outs)
    assert list(emu.accounts) == ["ada@demo-a.example"]


def test_an_account_already_in_the_workspace_is_adopted_not_added_twice(workspace: Any) -> None:
    emu, url = workspace
    InstantlyClient(KEY, url).create({**account("ada@demo-a.example", PASSWORD), "daily_limit": 50})
    _, outs = Driver(SequencerAccountProvider()).create(inputs(url))
    assert (
        outs["daily_limit"] == 30 and len(emu.accounts) == 1 and emu.accounts["ada@demo-a.example"]["daily_limit"] == 30
    )


def test_a_failed_connection_test_names_the_reason_and_leaves_nothing(workspace: Any) -> None:
    emu, url = workspace
    with pytest.raises(Aborted, match="cannot log in to ada@demo-a.example: 535 5.7.8 failed") as info:
        Driver(SequencerAccountProvider()).create(inputs(url, password="wrong-pw-7"))
    assert "wrong-pw-7" not in info.value.details and KEY not in info.value.details
    assert emu.accounts == {}


def test_a_limit_changed_in_the_sequencer_is_drift_and_an_update_puts_it_back(workspace: Any) -> None:
    emu, url = workspace
    driver = Driver(SequencerAccountProvider())
    id_, outs = driver.create(inputs(url))
    InstantlyClient(KEY, url).update("ada@demo-a.example", {"daily_limit": 99})
    _, seen = driver.read(id_, outs)
    assert seen["daily_limit"] == 99
    diff = driver.diff(id_, seen, inputs(url))
    assert diff.changes == diff.DIFF_SOME and list(diff.replaces) == []
    assert driver.update(id_, seen, inputs(url))["daily_limit"] == 30
    assert emu.accounts["ada@demo-a.example"]["daily_limit"] == 30


def test_a_new_password_replaces_the_account_and_a_deleted_one_reads_as_gone(workspace: Any) -> None:
    emu, url = workspace
    driver = Driver(SequencerAccountProvider())
    id_, outs = driver.create(inputs(url))
    diff = driver.diff(id_, outs, inputs(url, password="rotated"))
    assert list(diff.replaces) == ["password"] and diff.deleteBeforeReplace
    driver.delete(id_, outs)
    assert emu.accounts == {}
    assert driver.read(id_, outs)[0] == ""
