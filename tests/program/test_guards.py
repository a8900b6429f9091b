"""The change budget through Pulumi's servicer: refuses mass deletion unless allowed, from a population of
10 (octoDNS's floor); refuses removing a domain's MX or its last DKIM selector at any size; creates never
count."""

from __future__ import annotations

import pytest
from pulumi.runtime import proto

from mailbox_iac import changes
from mailbox_iac.guards import ChangeBudgetProvider, inventory
from tests.providers.servicer import Aborted, Driver

RECORDS = [f"TXT:r{i}.example" for i in range(10)]
MAILBOXES = [f"u{i}@example.com" for i in range(10)]
DOMAIN = ["MX:example.com", "TXT:s1._domainkey.example.com", "TXT:example.com"]


def state(records: list[str], mailboxes: list[str], allow: bool = False) -> dict[str, object]:
    return {"tenant": "acme", "dns_records": records, "mailboxes": mailboxes, "allow_mass_changes": allow}


def mass_change(olds: dict[str, object], news: dict[str, object]) -> list[str]:
    before, after = inventory(olds), inventory(news)
    return changes.mass_change(before, changes.changes(before, after))


def always_guarded(olds: dict[str, object], news: dict[str, object]) -> list[str]:
    before, after = inventory(olds), inventory(news)
    return changes.always_guarded(before, after, changes.changes(before, after))


def test_budget_counts_deletions_only() -> None:
    olds = state(RECORDS, MAILBOXES)
    assert mass_change(olds, state(RECORDS[:7], MAILBOXES)) == []  # 30% exactly: allowed
    assert mass_change(olds, state(RECORDS + [f"A:new{i}" for i in range(50)], MAILBOXES)) == []
    assert mass_change(olds, state(RECORDS[:6], MAILBOXES[:6])) == [
        "4 of 10 DNS records (40%) would be deleted or replaced: TXT:r6.example, TXT:r7.example, TXT:r8.example, "
        "TXT:r9.example",
        "4 of 10 mailboxes (40%) would be deleted or replaced: u6@example.com, u7@example.com, u8@example.com, "
        "u9@example.com",
    ]


def test_below_ten_a_small_tenant_edits_freely() -> None:
    three = ["ada@demo-a.example", "grace@demo-a.example", "linus@demo-b.example"]
    assert mass_change(state(RECORDS[:9], three), state(RECORDS[:3], three[:2])) == []


def test_a_domains_mx_and_last_dkim_selector_are_guarded_at_any_size() -> None:
    assert always_guarded(state(DOMAIN, []), state(DOMAIN[2:], [])) == [
        "MX:example.com would be deleted: the domain's mail would bounce",
        "example.com would lose its last DKIM selector (s1._domainkey.example.com): its mail would fail DMARC",
    ]
    overlapping = [
        "MX:example.com",
        "TXT:s1._domainkey.example.com",
        "TXT:s2._domainkey.example.com",
        "TXT:example.com",
    ]
    assert always_guarded(state(DOMAIN, []), state(overlapping, [])) == []  # the new one published beside the old
    assert always_guarded(state(overlapping, []), state(overlapping[:1] + overlapping[2:], [])) == []  # retired
    rotated = ["MX:example.com", "TXT:s2._domainkey.example.com", "TXT:example.com"]
    assert always_guarded(state(DOMAIN, []), state(rotated, [])) == [
        "example.com's DKIM selector s1 would be unpublished as s2 starts signing: mail it signed that is still "
        "queued or being checked would fail DKIM. Keep it published for a while: "
        "`dkim: {selector: s2, previous: [{selector: s1}]}`"
    ]


def test_budget_refuses_and_can_be_overridden() -> None:
    d = Driver(ChangeBudgetProvider())
    _, outs = d.create(state(RECORDS, MAILBOXES))
    assert d.diff("budget-acme", outs, state(RECORDS, MAILBOXES)).changes == proto.DiffResponse.DIFF_NONE
    with pytest.raises(
        Aborted,
        match=r"tenant acme: 4 of 10 mailboxes \(40%\) would be deleted or replaced: "
        r"u6@example.com, u7@example.com, u8@example.com, u9@example.com\. .*"
        r"label the pull request `mailbox-iac:allow-mass-changes`, or run `mailbox-iac up --allow mass-changes`",
    ):
        d.diff("budget-acme", outs, state(RECORDS, MAILBOXES[:6]))
    allowed = d.diff("budget-acme", outs, state(RECORDS, MAILBOXES[:6], allow=True))
    assert allowed.changes == proto.DiffResponse.DIFF_SOME
    after = d.update("budget-acme", outs, state(RECORDS, MAILBOXES[:6], allow=True))
    assert after["mailboxes"] == MAILBOXES[:6] and after["allow_mass_changes"] is False  # the opt-in is not sticky


def test_removing_a_domain_is_refused_without_the_opt_in() -> None:
    d = Driver(ChangeBudgetProvider())
    _, outs = d.create(state(DOMAIN, ["a@example.com"]))
    with pytest.raises(Aborted, match=r"MX:example.com would be deleted"):
        d.diff("budget-acme", outs, state([], []))
