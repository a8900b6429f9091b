"""The change budget through Pulumi's servicer: refuses mass deletion unless allowed; creates never count."""

from __future__ import annotations

import pytest
from pulumi.runtime import proto

from mailbox_iac.guards import ChangeBudgetProvider, mass_change
from tests.providers.servicer import Aborted, Driver

RECORDS = [f"TXT:r{i}.example" for i in range(10)]
MAILBOXES = [f"u{i}@example.com" for i in range(5)]


def state(records: list[str], mailboxes: list[str], allow: bool = False) -> dict[str, object]:
    return {"tenant": "acme", "dns_records": records, "mailboxes": mailboxes, "allow_mass_changes": allow}


def test_budget_counts_deletions_only() -> None:
    olds = state(RECORDS, MAILBOXES)
    assert mass_change(olds, state(RECORDS[:7], MAILBOXES)) == []  # 30% exactly: allowed
    assert mass_change(olds, state(RECORDS + [f"A:new{i}" for i in range(50)], MAILBOXES)) == []
    assert mass_change(olds, state(RECORDS[:6], MAILBOXES[:3])) == [
        "4 of 10 DNS records (40%) would be deleted or replaced: TXT:r6.example, TXT:r7.example, TXT:r8.example, "
        "TXT:r9.example",
        "2 of 5 mailboxes (40%) would be deleted or replaced: u3@example.com, u4@example.com",
    ]


def test_budget_refuses_and_can_be_overridden() -> None:
    d = Driver(ChangeBudgetProvider())
    _, outs = d.create(state(RECORDS, MAILBOXES))
    assert d.diff("budget-acme", outs, state(RECORDS, MAILBOXES)).changes == proto.DiffResponse.DIFF_NONE
    with pytest.raises(
        Aborted,
        match=r"tenant acme: 2 of 5 mailboxes \(40%\) would be deleted or replaced: "
        r"u3@example.com, u4@example.com\. .*pulumi config set mailbox-iac:allowMassChanges true",
    ):
        d.diff("budget-acme", outs, state(RECORDS, MAILBOXES[:3]))
    allowed = d.diff("budget-acme", outs, state(RECORDS, MAILBOXES[:3], allow=True))
    assert allowed.changes == proto.DiffResponse.DIFF_SOME
    after = d.update("budget-acme", outs, state(RECORDS, MAILBOXES[:3], allow=True))
    assert after["mailboxes"] == MAILBOXES[:3] and after["allow_mass_changes"] is False  # the opt-in is not sticky
