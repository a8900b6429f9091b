"""A refresh reads every mailbox of a host at once: one command reads all of the host's accounts, and the
other mailboxes' reads use it (a strict fake host states every command)."""

from __future__ import annotations

from typing import Any

import pytest

from mailbox_iac.mailhost import accounts, provider
from tests.fakehost import StrictHost

PASSWORD = "correct horse battery staple"
HASH = accounts.hash_password(PASSWORD)
COMMAND = str(accounts.ACCOUNTS.command)


def props(address: str, host: str) -> dict[str, Any]:
    ssh = {"host": host, "port": 22, "user": "root", "private_key": "k", "host_key": "ssh-ed25519 AAAA"}
    return {**ssh, "address": address, "password": PASSWORD}


def listing(*addresses: str) -> str:
    """What the host answers: each account file's path, a NUL, its line."""
    lines = []
    for address in addresses:
        local, domain = address.split("@")
        lines.append(f"./{domain}/{local}\0{address}:{{ARGON2ID}}{HASH}::::::userdb_quota_rule=*:storage=1024M\n")
    return "".join(lines)


def test_the_mailboxes_of_a_host_are_read_in_one_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provider._ACCOUNTS, "seconds", 60.0)  # "together", however slow this machine is today
    host = StrictHost({COMMAND: (0, listing("ann@a.example", "bo@a.example", "cy@b.example"))})
    mailbox = provider.MailboxProvider()
    addresses = ("ann@a.example", "bo@a.example", "cy@b.example", "dee@b.example")
    read = {a: mailbox._live(host, props(a, "192.0.2.10")) for a in addresses}
    assert host.ran == [COMMAND]
    assert read.pop("dee@b.example") is None  # not on the host
    assert [(r["verified"], r["quota_mb"]) for r in read.values() if r] == [(True, 1024)] * 3
    other = StrictHost({COMMAND: (0, "")})  # another host is read on its own
    assert mailbox._live(other, props("ann@a.example", "192.0.2.11")) is None and other.ran == [COMMAND]


def test_a_write_forgets_what_was_read() -> None:
    host = StrictHost({COMMAND: (0, listing("ann@c.example"))})
    mailbox = provider.MailboxProvider()
    assert mailbox._live(host, props("ann@c.example", "192.0.2.12")) is not None
    provider._ACCOUNTS.forget(provider._host(props("ann@c.example", "192.0.2.12")))
    host.answers[COMMAND] = (0, "")  # the account was deleted since
    assert mailbox._live(host, props("ann@c.example", "192.0.2.12")) is None
    assert host.ran == [COMMAND, COMMAND]
