"""Role and report addresses (RFC 5321 §4.5.1, RFC 2142, RFC 7489 §7.1) and SPF for the HELO name, as the
plan holds them; receivers' judges see them live in tests/e2e/test_deliverability.py."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from mailbox_iac.plan.planner import plan
from mailbox_iac.spec.errors import SpecInvalid
from mailbox_iac.spec.load import load_file
from tests.conftest import REPO, SPECS


def aliases(state: Any) -> dict[str, tuple[str, ...]]:
    return {source: targets for host in state.mailhosts for source, targets in host.aliases}


def txt(state: Any) -> dict[str, str]:
    return {r.name: r.value for r in state.dns_records if r.type == "TXT"}


def test_every_domain_accepts_postmaster_abuse_and_its_report_addresses() -> None:
    state = plan(load_file(REPO / "specs" / "demo.yaml").tenant)
    forwarded = aliases(state)
    for domain in ("demo-a.example", "demo-b.example"):
        for local in ("postmaster", "abuse", "dmarc", "tlsrpt"):
            assert forwarded[f"{local}@{domain}"] == ("ada@demo-a.example",)  # the first mailbox in the file


def test_what_the_spec_declares_wins_and_a_catch_all_takes_nothing(write_spec, spec_data) -> None:
    domain = spec_data["domains"][0]
    domain["mailboxes"].append("abuse")
    domain["forwards"] = {"postmaster": ["noc@elsewhere.example"]}
    domain["catch_all"] = "bob"
    spec_data["postmaster"] = "ops@elsewhere.example"
    forwarded = aliases(plan(load_file(write_spec(spec_data)).tenant))
    assert forwarded["postmaster@tiny.example"] == ("noc@elsewhere.example",)
    assert "abuse@tiny.example" not in forwarded  # a mailbox of its own
    assert forwarded["@tiny.example"] == ("bob@tiny.example",)
    assert set(forwarded) == {"postmaster@tiny.example", "@tiny.example"}


def test_a_postmaster_in_the_tenants_domains_must_be_delivered(write_spec, spec_data) -> None:
    spec_data["postmaster"] = "nobody@tiny.example"
    with pytest.raises(SpecInvalid, match=r"tiny.yaml:\d+:\d+: postmaster: nobody@tiny.example is in the tenant's"):
        load_file(write_spec(spec_data))


def test_reports_for_a_sibling_domain_are_authorised_by_it() -> None:
    state = plan(load_file(SPECS / "globex.yaml").tenant)
    records = txt(state)
    authorised = sorted(name for name, value in records.items() if "._report._dmarc." in name)
    assert len(authorised) == 9 and "globex-mail.com._report._dmarc.globex-mail.com" not in authorised
    assert records["globex-reach.com._report._dmarc.globex-mail.com"] == "v=DMARC1"
    assert aliases(state)["dmarc-reports@globex-mail.com"] == ("ava@globex-mail.com",)


def test_reports_sent_outside_are_warned_about_not_refused(write_spec, spec_data) -> None:
    spec_data["defaults"]["domain"] = {"dmarc": {"rua": "reports@dmarc-vendor.example"}}
    path = write_spec(spec_data)
    loaded = load_file(path)
    [warning] = [str(w) for w in loaded.warnings]
    assert warning.startswith(f"{path}:") and "defaults.domain.dmarc.rua: receivers will send" in warning
    assert "tiny.example._report._dmarc.dmarc-vendor.example" in warning
    assert not [n for n in txt(plan(loaded.tenant)) if "_report" in n]  # not ours to publish
    result = subprocess.run(
        [sys.executable, "-m", "mailbox_iac", "validate", str(path), "--format", "json"], capture_output=True, text=True
    )
    assert result.returncode == 0 and json.loads(result.stdout)["warnings"][0]["field"] == "defaults.domain.dmarc.rua"
    text = subprocess.run([sys.executable, "-m", "mailbox_iac", "validate", str(path)], capture_output=True, text=True)
    assert text.returncode == 0 and text.stderr.startswith("warning: ")


def test_a_tenant_without_mailboxes_is_warned_that_role_mail_bounces(write_spec, spec_data) -> None:
    spec_data["domains"][0]["mailboxes"] = []
    [warning] = [w.field for w in load_file(write_spec(spec_data)).warnings]
    assert warning == "postmaster"


def test_the_helo_name_has_spf_of_its_own(write_spec, spec_data) -> None:
    assert txt(plan(load_file(write_spec(spec_data)).tenant))["mail.tiny.example"] == "v=spf1 a -all"
    spec_data["servers"]["mx1"]["hostname"] = "tiny.example"  # the mail domain itself: its SPF covers it
    records = [r for r in plan(load_file(write_spec(spec_data)).tenant).dns_records if r.name == "tiny.example"]
    assert [r.value for r in records if r.type == "TXT"] == ["v=spf1 mx ~all"]
