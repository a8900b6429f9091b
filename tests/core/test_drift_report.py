"""Drift reports and the ignore file, as pure functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mailbox_iac.ops.drift import Finding, as_json, as_markdown, cloudflare_findings, ignored, load_ignores, refreshed


def test_ignore_rules_match_by_glob(tmp_path: Path) -> None:
    path = tmp_path / "drift-ignore.yaml"
    path.write_text("- {tenant: acme, type: TXT, name: '*.acme-mail.com'}\n- {name: legacy.example}\n")
    rules = load_ignores(path)
    assert ignored("acme", "TXT", "x.acme-mail.com", rules)
    assert not ignored("globex", "TXT", "x.acme-mail.com", rules)
    assert ignored("anyone", "MX", "legacy.example", rules)
    assert load_ignores(tmp_path / "missing.yaml") == []
    path.write_text("tenant: acme\n")
    with pytest.raises(ValueError, match="expected a list"):
        load_ignores(path)


def test_reports() -> None:
    finding = Finding(
        "acme", "dns-undeclared", "TXT acme-mail.com", "a record nobody declared: 'v=spf1 ~all'", "delete it"
    )
    assert json.loads(as_json([finding])) == {
        "drift": True,
        "findings": [finding.__dict__],
        "not_deployed": [],
        "not_applied": {},
    }
    assert as_markdown([], ["acme", "globex"]) == "No drift in 2 tenant(s): acme, globex.\n"
    assert "| acme | dns-undeclared | `TXT acme-mail.com` |" in as_markdown([finding], ["acme"])


def test_tenants_not_deployed_are_reported_apart() -> None:
    assert json.loads(as_json([], ["newco"]))["not_deployed"] == ["newco"]
    assert (
        as_markdown([], ["acme"], ["newco"]) == "No drift in 1 tenant(s): acme.\nNot deployed yet (no stack): newco.\n"
    )
    assert as_markdown([], [], ["newco"]) == "Not deployed yet (no stack): newco.\n"


def test_spec_changes_not_applied_are_counted_apart_from_drift() -> None:
    assert json.loads(as_json([], (), {"acme": 3}))["not_applied"] == {"acme": 3}
    assert as_markdown([], ["acme"], (), {"acme": 3}) == (
        "No drift in 1 tenant(s): acme.\nSpec changes not applied yet (`mailbox-iac up` applies them): acme (3 change(s)).\n"
    )


def test_records_are_compared_with_the_zones_listing_by_id() -> None:
    def row(rid: str, name: str, content: str, ttl: int = 300) -> dict[str, Any]:
        kept = {"id": rid, "resource": f"dns-TXT-{name}", "ttl": ttl, "priority": 0}
        return {"name": name, "type": "TXT", "content": content, **kept}

    deployed = [
        row("r1", "a.example.com", '"v=spf1 -all"'),
        row("r2", "b.example.com", '"x"'),
        row("r3", "c.example.com", '"y"'),
    ]
    listing = [
        {"id": "r1", "name": "a.example.com", "type": "TXT", "content": '"v=spf1 -all"', "ttl": 300},
        {"id": "r2", "name": "b.example.com", "type": "TXT", "content": '"edited"', "ttl": 60},
        {"id": "r9", "name": "c.example.com", "type": "TXT", "content": '"y"', "ttl": 300},  # re-made by hand
    ]
    found = {(f.layer, f.resource, f.differs) for f in cloudflare_findings("acme", deployed, listing)}
    assert found == {
        ("cloudflare", "DnsRecord dns-TXT-b.example.com", "changed: content, ttl"),
        ("cloudflare", "DnsRecord dns-TXT-c.example.com", "is gone"),
    }


def test_a_drift_refresh_reads_everything_but_the_records_stack_and_providers() -> None:
    def res(kind: str, name: str, **extra: object) -> dict[str, Any]:
        return {"type": kind, "urn": f"urn:pulumi:acme::mailbox-iac::{kind}::{name}", "outputs": {}, **extra}

    deployment = {
        "resources": [
            res("pulumi:pulumi:Stack", "mailbox-iac-acme"),
            res("pulumi:providers:cloudflare", "default_6_23_1"),
            res("cloudflare:index/dnsRecord:DnsRecord", "dns-A-mail.acme-mail.com"),
            res("pulumi-python:dynamic/hostwinds:Instance", "server-mx1"),
            res("pulumi-python:dynamic/mailhost:Mailbox", "mailbox-alice@acme-mail.com"),
            res("pulumi-python:dynamic/mailhost:Mailbox", "mailbox-gone@acme-mail.com", delete=True),
        ]
    }
    assert [u.rsplit("::", 1)[-1] for u in refreshed(deployment)] == ["server-mx1", "mailbox-alice@acme-mail.com"]
