"""The sequencer-account provider through Pulumi's own servicer, against the Instantly emulator: added
once and connected, adopted rather than added twice, a failed connection test leaves nothing behind and
names the sequencer's reason, a setting changed in the sequencer reads as drift, a new password replaces
the account."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mailbox_iac.sandbox import instantly, smartlead
from mailbox_iac.sandbox.logins import Login, LoginFailure
from mailbox_iac.sequencers.instantly import InstantlyClient
from mailbox_iac.sequencers.provider import SequencerAccountProvider
from mailbox_iac.sequencers.smartlead import SmartleadClient
from tests.core.test_instantly_emulator import account
from tests.providers.servicer import Aborted, Driver

KEY = "sandbox-instantly-key-provider-0000"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def workspace() -> Iterator[tuple[instantly.InstantlyEmulator, str]]:
    def login(login: Login) -> LoginFailure | None:
        ok = login.smtp_password == PASSWORD
        return None if ok else LoginFailure("smtp", "AUTH PLAIN", 535, "535 5.7.8 failed")

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


def test_instantlys_warm_up_is_switched_by_its_background_job_and_read_back(workspace: Any) -> None:
    emu, url = workspace
    warm = {"enabled": True, "limit": 20, "increment": "2", "reply_rate": 30}
    driver = Driver(SequencerAccountProvider())
    id_, outs = driver.create(inputs(url, warmup=warm))
    account = emu.accounts["ada@demo-a.example"]
    assert outs["warmup"] == warm and account["warmup_status"] == 1 and "enabled" not in account["warmup"]
    assert [job["data"] for job in emu.jobs.values()] == [{"emails": ["ada@demo-a.example"], "enable": True}]
    InstantlyClient(KEY, url).set_warmup("ada@demo-a.example", False)  # switched off in Instantly's UI
    _, seen = driver.read(id_, outs)
    assert seen["warmup"] == {**warm, "enabled": False}
    diff = driver.diff(id_, seen, inputs(url, warmup=warm))
    assert diff.changes == diff.DIFF_SOME and list(diff.replaces) == []
    assert driver.update(id_, seen, inputs(url, warmup=warm))["warmup"] == warm
    assert account["warmup_status"] == 1


def test_a_new_password_replaces_the_account_and_a_deleted_one_reads_as_gone(workspace: Any) -> None:
    emu, url = workspace
    driver = Driver(SequencerAccountProvider())
    id_, outs = driver.create(inputs(url))
    diff = driver.diff(id_, outs, inputs(url, password="rotated"))
    assert list(diff.replaces) == ["password"] and diff.deleteBeforeReplace
    driver.delete(id_, outs)
    assert emu.accounts == {}
    assert driver.read(id_, outs)[0] == ""


SMARTLEAD_KEY = "sandbox-smartlead-key-provider-0000"


@pytest.fixture
def smartlead_workspace() -> Iterator[tuple[smartlead.SmartleadEmulator, str]]:
    def login(login: Login) -> LoginFailure | None:
        if login.smtp_password != PASSWORD:
            return LoginFailure("smtp", "AUTH PLAIN", 535, "535 5.7.8 failed")
        if login.imap_port != 993:
            return LoginFailure("imap", "IMAP LOGIN", None, "connection refused")
        return None

    emu = smartlead.SmartleadEmulator({SMARTLEAD_KEY}, connection_test=login)
    server = smartlead.serve(emu)
    try:
        yield emu, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def smartlead_inputs(url: str, **changes: Any) -> dict[str, Any]:
    warmup = {"warmup_enabled": True, "total_warmup_per_day": 20, "daily_rampup": 2, "reply_rate_percentage": 30}
    return inputs(url, **{"kind": "smartlead", "api_key": SMARTLEAD_KEY, "warmup": warmup, **changes})


def test_smartlead_adds_once_connected_and_reads_back_without_its_passwords(smartlead_workspace: Any) -> None:
    emu, url = smartlead_workspace
    driver = Driver(SequencerAccountProvider())
    id_, outs = driver.create(smartlead_inputs(url))
    assert id_ == "smartlead:ada@demo-a.example" and outs["status"] == 1
    assert (outs["first_name"], outs["daily_limit"], outs["warmup"]) == ("Ada", 30, smartlead_inputs(url)["warmup"])
    [account] = emu.accounts.values()
    assert (account["from_name"], account["message_per_day"]) == ("Ada Lovelace", 30)
    assert driver.read(id_, outs) == (id_, outs)
    # adopted, never added twice: a second create finds the address
    assert driver.create(smartlead_inputs(url, daily_limit=25))[1]["daily_limit"] == 25
    assert len(emu.accounts) == 1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"password": "wrong-pw-7"}, "SMTP connection failed: 535 5.7.8 failed"),
        ({"imap_port": 143}, "connection refused"),
    ],
)
def test_smartlead_connection_failures_name_the_reason_and_leave_nothing(
    smartlead_workspace: Any, changes: dict[str, Any], reason: str
) -> None:
    emu, url = smartlead_workspace
    with pytest.raises(Aborted, match=f"cannot log in to ada@demo-a.example: {reason}") as info:
        Driver(SequencerAccountProvider()).create(smartlead_inputs(url, **changes))
    assert "wrong-pw-7" not in info.value.details and SMARTLEAD_KEY not in info.value.details
    assert emu.accounts == {}


def test_smartlead_drift_is_put_back_and_a_new_password_changes_the_account_in_place(
    smartlead_workspace: Any,
) -> None:
    emu, url = smartlead_workspace
    driver = Driver(SequencerAccountProvider())
    id_, outs = driver.create(smartlead_inputs(url))
    [account_id] = emu.accounts
    client = SmartleadClient(SMARTLEAD_KEY, url)
    client.update(account_id, {"max_email_per_day": 99, "from_name": "Someone Else"})
    client.warmup(account_id, {"warmup_enabled": False})
    _, seen = driver.read(id_, outs)
    assert (seen["daily_limit"], seen["first_name"], seen["warmup"]["warmup_enabled"]) == (99, "Someone Else", False)
    diff = driver.diff(id_, seen, smartlead_inputs(url))
    assert diff.changes == diff.DIFF_SOME and list(diff.replaces) == []
    back = driver.update(id_, seen, smartlead_inputs(url))
    assert (back["daily_limit"], back["first_name"], back["warmup"]["warmup_enabled"]) == (30, "Ada", True)
    emu.connection_test = None  # the rotated password is one the host accepts
    rotated = smartlead_inputs(url, password="rotated-pw")
    diff = driver.diff(id_, back, rotated)
    assert diff.changes == diff.DIFF_SOME and list(diff.replaces) == []  # Smartlead changes it in place
    driver.update(id_, back, rotated)
    assert list(emu.accounts) == [account_id] and emu.accounts[account_id]["password"] == "rotated-pw"
    assert list(driver.diff(id_, back, smartlead_inputs(url, api_key="other")).replaces) == ["api_key"]
    driver.delete(id_, back)
    assert emu.accounts == {} and driver.read(id_, back)[0] == ""
