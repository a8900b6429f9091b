"""Sequencer accounts: each workspace a mailbox is handed to reports its account connected (the
sequencer logs in to the mailbox over SMTP and IMAP), asked through the sequencer's own API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailbox_iac.checks.result import Check, Result, Severity, Stage
from mailbox_iac.plan.model import SequencerAccountPlan
from mailbox_iac.sequencers import accounts

CONNECTED = Check(
    "sequencer.connected",
    Severity.error,
    frozenset({Stage.verify}),
    "each sequencer workspace the spec hands a mailbox to has its account, and reports it connected",
)
STATUS = {accounts.FAILING: "cannot log in", accounts.PAUSED: "paused"}


def connected(account: SequencerAccountPlan, api_key: str | None, env: Mapping[str, str]) -> Result:
    """`env`: where the sequencer's API is (MAILBOX_IAC_<KIND>_URL, else the sequencer's own)."""
    subject = f"{account.sequencer} ({account.kind})"
    if not api_key:
        return CONNECTED.result(subject, False, f"the stack has no secret {account.api_key!r} (the workspace's key)")
    props: dict[str, Any] = {"kind": account.kind, "base_url": "", "api_key": api_key}
    props |= {"address": account.address, "first_name": account.first_name, "last_name": account.last_name}
    props["warmup"] = account.warmup
    try:
        with accounts.workspace(props, env) as seq:
            view = seq.find(props)
    except Exception as exc:  # the sequencer's refusal or outage is this check's finding
        return CONNECTED.result(subject, False, f"the sequencer did not answer: {exc}")
    if view is None:
        return CONNECTED.result(subject, False, "no account there (no `up` since it was declared, or removed there)")
    status = view.get("status")
    ok = status == accounts.CONNECTED
    return CONNECTED.result(subject, ok, "" if ok else f"{STATUS.get(int(status or 0), f'status {status}')} there")
