"""The dynamic provider of a mailbox's account in a sequencer workspace (Instantly for now).

THIS MODULE PATH IS PERMANENT (`mailbox_iac.sequencers.provider`): state pickles the provider by reference.

- create: an account the workspace already has for the address is adopted (its settings updated), never
  added twice; a new one is added and its connection test awaited: when the sequencer cannot log in, the
  account is removed again and the create fails with the sequencer's own reason (nothing half-applied).
- read: the account as the sequencer sees it (the same shape as create's outputs), so a limit or warm-up
  changed in the sequencer's UI is drift; an account gone there reads as gone.
- update: names, daily limit and warm-up. A new password, host, port, address, workspace or key is a
  replacement (delete first: the workspace holds one account per address): Instantly cannot change an
  account's password in place.
- delete: the account is removed from the workspace (one already gone is done).
"""

from __future__ import annotations

import os
from typing import Any

from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from mailbox_iac.errors import Permanent
from mailbox_iac.sequencers.instantly import DEFAULT_BASE, InstantlyClient

SETTINGS = ("first_name", "last_name", "daily_limit", "warmup")  # changed in place
CONNECTION = ("address", "username", "password", "smtp_host", "smtp_port", "imap_host", "imap_port")
WORKSPACE = ("kind", "base_url", "api_key")
INPUTS = WORKSPACE + CONNECTION + SETTINGS


class ConnectionFailed(Permanent):
    """The sequencer could not log in to the mailbox; its reason is in the message."""


def _client(props: dict[str, Any]) -> InstantlyClient:
    if props["kind"] != "instantly":
        raise Permanent(f"sequencer kind {props['kind']!r} has no provider yet")
    base = str(props.get("base_url") or os.environ.get("MAILBOX_IAC_INSTANTLY_URL") or DEFAULT_BASE)
    return InstantlyClient(str(props["api_key"]), base)


def _fields(props: dict[str, Any]) -> dict[str, Any]:
    """Instantly's create body for the account (provider_code 1: custom IMAP/SMTP)."""
    user = str(props["username"])
    return {
        "email": props["address"],
        "first_name": props["first_name"],
        "last_name": props["last_name"],
        "provider_code": 1,
        "imap_username": user,
        "imap_password": props["password"],
        "imap_host": props["imap_host"],
        "imap_port": int(props["imap_port"]),
        "smtp_username": user,
        "smtp_password": props["password"],
        "smtp_host": props["smtp_host"],
        "smtp_port": int(props["smtp_port"]),
        **_settings(props),
    }


def _settings(props: dict[str, Any]) -> dict[str, Any]:
    return {
        "first_name": props["first_name"],
        "last_name": props["last_name"],
        "daily_limit": int(props["daily_limit"]),
        "warmup": dict(props["warmup"]),
    }


def _outputs(props: dict[str, Any], account: dict[str, Any]) -> dict[str, Any]:
    """Our inputs, with the settings and status as the sequencer reports them."""
    seen = {
        "first_name": account.get("first_name"),
        "last_name": account.get("last_name"),
        "daily_limit": int(account["daily_limit"]) if account.get("daily_limit") is not None else None,
        "warmup": {k: v for k, v in (account.get("warmup") or {}).items() if k in props["warmup"]},
    }
    return {**{k: props.get(k) for k in INPUTS}, **seen, "status": account.get("status")}


def _connected(account: dict[str, Any]) -> None:
    if account.get("status") == -1:
        problem = account.get("status_message") or {}
        reason = problem.get("response") or problem.get("e_message") or "no reason given"
        raise ConnectionFailed(f"the sequencer cannot log in to {account['email']}: {reason}")


class SequencerAccountProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        client = _client(props)
        try:
            address = str(props["address"])
            if client.account(address) is not None:
                account = client.update(address, _settings(props))  # adopted, never added twice
            else:
                account = client.create(_fields(props))
                if account.get("status") == -1:
                    client.delete(address)  # nothing half-applied
            _connected(account)
            return CreateResult(f"{props['kind']}:{address}", _outputs(props, account))
        finally:
            client.close()

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = _client(props)
        try:
            account = client.account(str(props["address"]))
        finally:
            client.close()
        if account is None:
            return ReadResult(None, {})  # gone from the workspace
        return ReadResult(id_, _outputs(props, account))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in WORKSPACE + CONNECTION if olds.get(k) != news.get(k)]
        changed = replaces + [k for k in SETTINGS if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = _client(news)
        try:
            account = client.update(str(news["address"]), _settings(news))
        finally:
            client.close()
        return UpdateResult(_outputs(news, account))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        client = _client(props)
        try:
            client.delete(str(props["address"]))
        finally:
            client.close()
