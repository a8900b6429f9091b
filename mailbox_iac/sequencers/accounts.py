"""A mailbox's account in each sequencer, in our terms: the calls of that sequencer's API that find, add,
change and remove it, and the account as that sequencer reports it, in the shape of the provider's
outputs (`View`: names, daily limit, warm-up in the sequencer's terms, status 1 connected / -1 cannot log
in / 2 paused or suspended).

Adding is never half done: when the sequencer's connection test fails, the account is removed again and
`ConnectionFailed` carries the sequencer's reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol, Self

from mailbox_iac.errors import Permanent
from mailbox_iac.sequencers.instantly import DEFAULT_BASE as INSTANTLY_BASE
from mailbox_iac.sequencers.instantly import InstantlyClient
from mailbox_iac.sequencers.smartlead import DEFAULT_BASE as SMARTLEAD_BASE
from mailbox_iac.sequencers.smartlead import SmartleadClient, SmartleadRefused

View = dict[str, Any]
CONNECTED, FAILING, PAUSED = 1, -1, 2
WARMUP_ON = "enabled"  # in Instantly's terms (terms.py): not a field of its warmup object, a switch apart


class ConnectionFailed(Permanent):
    """The sequencer could not log in to the mailbox; its reason is in the message."""


def _failed(address: str, reason: object) -> ConnectionFailed:
    return ConnectionFailed(f"the sequencer cannot log in to {address}: {reason or 'no reason given'}")


class Workspace(Protocol):
    def find(self, props: dict[str, Any]) -> View | None: ...
    def add(self, props: dict[str, Any]) -> View: ...
    def change(self, props: dict[str, Any]) -> View: ...
    def remove(self, props: dict[str, Any]) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...


# The connection settings each sequencer changes on an existing account; any other is a new account.
IN_PLACE = {
    "instantly": (),  # Instantly takes no new password or host for an account
    "smartlead": ("username", "password", "smtp_host", "smtp_port", "imap_host", "imap_port"),
}


def workspace(props: dict[str, Any], env: Mapping[str, str] = os.environ) -> Workspace:
    """The account's workspace, at `base_url`, else MAILBOX_IAC_<KIND>_URL in `env`, else the sequencer's
    own API; closed when a `with` ends."""
    kind = str(props["kind"])
    base = props.get("base_url") or env.get(f"MAILBOX_IAC_{kind.upper()}_URL")
    key = str(props["api_key"])
    if kind == "instantly":
        return Instantly(InstantlyClient(key, str(base or INSTANTLY_BASE)))
    if kind == "smartlead":
        return Smartlead(SmartleadClient(key, str(base or SMARTLEAD_BASE)))
    raise Permanent(f"sequencer kind {kind!r} has no provider")


class _Client(Protocol):
    def account(self, address: str) -> dict[str, Any] | None: ...
    def close(self) -> None: ...


class _Adapter:
    """What every adapter does alike: an account found by its address, seen as `_view` sees it."""

    client: _Client

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def find(self, props: dict[str, Any]) -> View | None:
        account = self.client.account(str(props["address"]))
        return None if account is None else self._view(props, account)

    @staticmethod
    def _view(props: dict[str, Any], account: dict[str, Any]) -> View:
        raise NotImplementedError


class Instantly(_Adapter):
    def __init__(self, client: InstantlyClient) -> None:
        self.client: InstantlyClient = client

    def add(self, props: dict[str, Any]) -> View:
        user = str(props["username"])
        account = self.client.create(
            {
                "email": props["address"],
                "provider_code": 1,  # custom IMAP/SMTP
                "imap_username": user,
                "imap_password": props["password"],
                "imap_host": props["imap_host"],
                "imap_port": int(props["imap_port"]),
                "smtp_username": user,
                "smtp_password": props["password"],
                "smtp_host": props["smtp_host"],
                "smtp_port": int(props["smtp_port"]),
                **self._settings(props),
            }
        )
        if account.get("status") == FAILING:
            self.client.delete(str(props["address"]))
        return self._connected(props, account)

    def change(self, props: dict[str, Any]) -> View:
        return self._connected(props, self.client.update(str(props["address"]), self._settings(props)))

    def _connected(self, props: dict[str, Any], account: dict[str, Any]) -> View:
        """The account, connected, its warm-up switched as the spec says."""
        if account.get("status") == FAILING:
            problem = account.get("status_message") or {}
            raise _failed(str(props["address"]), problem.get("response") or problem.get("e_message"))
        wanted = props["warmup"].get(WARMUP_ON)
        if wanted is not None and (account.get("warmup_status") == 1) != wanted:
            self.client.set_warmup(str(props["address"]), bool(wanted))
            account = self.client.account(str(props["address"])) or account
        return self._view(props, account)

    def remove(self, props: dict[str, Any]) -> None:
        self.client.delete(str(props["address"]))

    @staticmethod
    def _settings(props: dict[str, Any]) -> dict[str, Any]:
        return {
            "first_name": props["first_name"],
            "last_name": props["last_name"],
            "daily_limit": int(props["daily_limit"]),
            "warmup": {k: v for k, v in props["warmup"].items() if k != WARMUP_ON},
        }

    @staticmethod
    def _view(props: dict[str, Any], account: dict[str, Any]) -> View:
        limit = account.get("daily_limit")
        return {
            "first_name": account.get("first_name"),
            "last_name": account.get("last_name"),
            "daily_limit": int(limit) if limit is not None else None,
            "warmup": {
                **{k: v for k, v in (account.get("warmup") or {}).items() if k in props["warmup"]},
                **({WARMUP_ON: account.get("warmup_status") == 1} if WARMUP_ON in props["warmup"] else {}),
            },
            "status": account.get("status"),
        }


class Smartlead(_Adapter):
    """Smartlead names a mailbox once (`from_name`) and tests the connection on every save."""

    def __init__(self, client: SmartleadClient) -> None:
        self.client: SmartleadClient = client

    def add(self, props: dict[str, Any]) -> View:
        return self._save(props, None)

    def change(self, props: dict[str, Any]) -> View:
        account = self.client.account(str(props["address"]))
        if account is None:
            raise Permanent(f"Smartlead has no account for {props['address']} any more: refresh, then run again")
        return self._save(props, int(account["id"]))

    def remove(self, props: dict[str, Any]) -> None:
        account = self.client.account(str(props["address"]))
        if account is not None:
            self.client.delete(int(account["id"]))

    def _save(self, props: dict[str, Any], account_id: int | None) -> View:
        """One save carries the connection and every setting; Smartlead refuses it when SMTP cannot log in
        and keeps an account whose IMAP cannot, which is removed again here (a new one only)."""
        address = str(props["address"])
        fields = {
            "from_name": _from_name(props),
            "from_email": address,
            "user_name": props["username"],
            "password": props["password"],
            "smtp_host": props["smtp_host"],
            "smtp_port": int(props["smtp_port"]),
            "imap_host": props["imap_host"],
            "imap_port": int(props["imap_port"]),
            "max_email_per_day": int(props["daily_limit"]),
            **props["warmup"],
            **({"id": account_id} if account_id is not None else {}),
        }
        try:
            self.client.save(fields)
        except SmartleadRefused as exc:
            if "connection failed" in str(exc):
                raise _failed(address, str(exc).split(": ", 2)[-1]) from None
            raise
        account = self.client.account(address)
        if account is None:
            raise Permanent(f"Smartlead saved {address} but does not list it")
        if not account.get("is_imap_success"):
            if account_id is None:
                self.client.delete(int(account["id"]))
            raise _failed(address, account.get("imap_failure_error"))
        return self._view(props, account)

    @staticmethod
    def _view(props: dict[str, Any], account: dict[str, Any]) -> View:
        seen = account.get("warmup_details") or {}
        warmup = {
            "warmup_enabled": seen.get("status") == "ACTIVE",
            "total_warmup_per_day": seen.get("max_email_per_day"),
            "daily_rampup": seen.get("daily_rampup"),
            "reply_rate_percentage": seen.get("reply_rate"),
        }
        named = account.get("from_name") == _from_name(props)
        connected = account.get("is_smtp_success") and account.get("is_imap_success")
        limit = account.get("message_per_day")
        return {
            "first_name": props["first_name"] if named else account.get("from_name"),
            "last_name": props["last_name"] if named else "",
            "daily_limit": int(limit) if limit is not None else None,
            "warmup": {k: v for k, v in warmup.items() if k in props["warmup"]},
            "status": PAUSED if account.get("is_suspended") else CONNECTED if connected else FAILING,
        }


def _from_name(props: dict[str, Any]) -> str:
    return f"{props['first_name']} {props['last_name']}".strip()
