"""`sequencers:` in a spec: which mailboxes each workspace gets, with what limits and warm-up, and the
mistakes refused with their position (an unknown domain or mailbox, an override of a mailbox it does not
get, an API key written where its secret's name belongs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mailbox_iac.plan.planner import plan
from mailbox_iac.plan.render import as_text
from mailbox_iac.spec.errors import SpecInvalid
from mailbox_iac.spec.load import load_file
from tests.conftest import SPECS

SEQUENCERS = """
sequencers:
  outreach:
    kind: instantly
    api_key: instantlyApiKey
    daily_limit: 20
    warmup: {max_per_day: 10}
    overrides:
      alice@acme-mail.com: {daily_limit: 5, warmup: {reply_rate_percent: 50}}
  sales:
    kind: smartlead
    api_key: salesApiKey
    domains: [acme-outreach.com]
    mailboxes: [bob@acme-mail.com]
"""


def acme_with(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "acme.yaml"
    path.write_text((SPECS / "acme.yaml").read_text() + extra)
    return path


def test_each_workspace_gets_its_mailboxes_with_its_settings_over_theirs(tmp_path: Path) -> None:
    tenant = load_file(acme_with(tmp_path, SEQUENCERS)).tenant
    got = {(a.sequencer, a.address): a for a in tenant.sequencer_accounts}
    assert sorted(a for s, a in got if s == "outreach") == [
        "alice@acme-mail.com",
        "bob@acme-mail.com",
        "carol@acme-mail.com",
        "dave@acme-outreach.com",
        "erin@acme-outreach.com",
    ]
    assert sorted(a for s, a in got if s == "sales") == [
        "bob@acme-mail.com",
        "dave@acme-outreach.com",
        "erin@acme-outreach.com",
    ]
    alice, dave = got["outreach", "alice@acme-mail.com"], got["outreach", "dave@acme-outreach.com"]
    assert (alice.kind, alice.api_key, alice.daily_limit) == ("instantly", "instantlyApiKey", 5)
    assert got["sales", "bob@acme-mail.com"].api_key == "salesApiKey"
    assert (alice.warmup.max_per_day, alice.warmup.reply_rate_percent) == (10, 50)
    assert (dave.daily_limit, dave.warmup.max_per_day) == (20, 10)  # the workspace's warm-up over dave's 25
    sales_bob, sales_erin = got["sales", "bob@acme-mail.com"], got["sales", "erin@acme-outreach.com"]
    assert (sales_bob.daily_limit, sales_erin.warmup.enabled) == (40, False)  # the mailboxes' own settings


def test_each_account_is_planned_in_its_sequencers_terms(tmp_path: Path) -> None:
    accounts = plan(load_file(acme_with(tmp_path, SEQUENCERS)).tenant).sequencer_accounts
    got = {(a.sequencer, a.address): a for a in accounts}
    alice = got["outreach", "alice@acme-mail.com"]
    assert (alice.kind, alice.first_name, alice.warmup) == (
        "instantly",
        "Alice",
        {"enabled": True, "limit": 10, "increment": "2", "reply_rate": 50},
    )
    erin = got["sales", "erin@acme-outreach.com"]
    assert (erin.kind, erin.warmup) == (
        "smartlead",
        {"warmup_enabled": False, "total_warmup_per_day": 20, "daily_rampup": 2, "reply_rate_percentage": 30},
    )


def test_the_text_plan_lists_each_account_with_its_warm_up_in_its_sequencers_terms(tmp_path: Path) -> None:
    text = as_text(plan(load_file(acme_with(tmp_path, SEQUENCERS)).tenant))
    assert (
        "  outreach     instantly  alice@acme-mail.com                      limit 5/day, "
        "warm-up enabled=True limit=10 increment=2 reply_rate=50"
    ) in text
    assert (
        "  sales        smartlead  erin@acme-outreach.com                   limit 30/day, warm-up "
        "warmup_enabled=False total_warmup_per_day=20 daily_rampup=2 reply_rate_percentage=30"
    ) in text


def test_a_spec_without_sequencers_has_no_accounts() -> None:
    assert load_file(SPECS / "acme.yaml").tenant.sequencer_accounts == ()


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        ({"domains": ["acme-other.com"]}, "sequencers.sales.domains[0]", "not one of the tenant's domains"),
        ({"mailboxes": ["zed@acme-mail.com"]}, "sequencers.sales.mailboxes[0]", "not one of the tenant's mailboxes"),
        (
            {"overrides": {"alice@acme-mail.com": {"daily_limit": 3}}},
            "sequencers.sales.overrides.alice@acme-mail.com",
            "not a mailbox this sequencer gets",
        ),
        ({"api_key": "sk_live_0123456789abcdef"}, "sequencers.sales.api_key", "should match pattern"),
        ({"kind": "lemlist"}, "sequencers.sales.kind", "'instantly' or 'smartlead'"),
        ({"daily_limit": 0}, "sequencers.sales.daily_limit", "greater than or equal to 1"),
    ],
)
def test_mistakes_are_refused_where_they_stand(
    tmp_path: Path, change: dict[str, Any], where: str, message: str
) -> None:
    sales: dict[str, Any] = {"kind": "smartlead", "api_key": "salesApiKey", "domains": ["acme-outreach.com"]}
    extra = "\n" + yaml.safe_dump({"sequencers": {"sales": {**sales, **change}}}, sort_keys=False)
    path = acme_with(tmp_path, extra)
    with pytest.raises(SpecInvalid) as info:
        load_file(path)
    text = str(info.value)
    assert f": {where}: " in text and message in text, text
    line = int(text.split(":")[1])
    assert line > len((SPECS / "acme.yaml").read_text().splitlines())  # in the sequencers section
