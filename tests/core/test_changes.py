"""The change layer as pure functions: Create/Update/Delete between inventories, replacements, the safety
rules, a checkpoint read back, and the lines a reviewer reads."""

from __future__ import annotations

from mailbox_iac import changes, checkpoint
from mailbox_iac.changes import Create, Delete, Update
from mailbox_iac.plan import render

DEPLOYED: dict[tuple[str, str], dict[str, str]] = {
    ("dns_record", "TXT:_dmarc.example.com"): {"content": "v=DMARC1; p=quarantine", "ttl": "3600"},
    ("dns_record", "MX:example.com"): {"content": "mail.example.com", "ttl": "3600", "priority": "10"},
    ("mailbox", "bo@example.com"): {"quota_mb": "1024"},
    ("server", "mx1"): {"backend": "hostwinds", "region": "12", "size": "52", "image": "deb", "label": "mbx-t-mx1"},
}


def test_creates_updates_deletes_sorted_by_kind_and_key() -> None:
    desired = {k: dict(v) for k, v in DEPLOYED.items()}
    desired[("dns_record", "TXT:_dmarc.example.com")]["content"] = "v=DMARC1; p=reject"
    del desired[("mailbox", "bo@example.com")]
    desired[("mailbox", "cy@example.com")] = {"quota_mb": "2048"}
    assert changes.changes(DEPLOYED, desired) == [
        Update(
            "dns_record",
            "TXT:_dmarc.example.com",
            {"content": "v=DMARC1; p=quarantine", "ttl": "3600"},
            {"content": "v=DMARC1; p=reject", "ttl": "3600"},
        ),
        Delete("mailbox", "bo@example.com", {"quota_mb": "1024"}),
        Create("mailbox", "cy@example.com", {"quota_mb": "2048"}),
    ]
    assert changes.changes(DEPLOYED, DEPLOYED) == []


def test_an_attribute_the_deployed_side_does_not_hold_is_not_compared() -> None:
    keys_only: dict[tuple[str, str], dict[str, str]] = {k: {} for k in DEPLOYED}
    assert changes.changes(keys_only, DEPLOYED) == []


def test_a_new_region_size_or_image_replaces_a_server_and_is_refused() -> None:
    desired = {k: dict(v) for k, v in DEPLOYED.items()}
    desired[("server", "mx1")]["size"] = "53"
    [update] = changes.changes(DEPLOYED, desired)
    assert isinstance(update, Update) and update.replaces and update.fields == ["size"]
    assert changes.violations(DEPLOYED, desired) == [
        "server mx1 would be replaced: a new server has a new IP without the old one's sending reputation, "
        "and a new reverse DNS"
    ]
    desired[("server", "mx1")] |= {"size": "52", "label": "renamed"}
    [rename] = changes.changes(DEPLOYED, desired)
    assert isinstance(rename, Update) and not rename.replaces and changes.violations(DEPLOYED, desired) == []


def test_mx_removal_is_refused_at_any_size() -> None:
    desired = {k: v for k, v in DEPLOYED.items() if k[1] != "MX:example.com"}
    assert changes.violations(DEPLOYED, desired) == ["MX:example.com would be deleted: the domain's mail would bounce"]


def test_a_checkpoint_reads_back_as_the_plan_spells_it() -> None:
    deployment = {
        "resources": [
            {
                "urn": "urn:pulumi:t::mailbox-iac::cloudflare:index/dnsRecord:DnsRecord::dns-TXT-example.com",
                "type": checkpoint.DNS_RECORD,
                "outputs": {"name": "example.com", "type": "TXT", "content": '"v=spf1 " "mx -all"', "ttl": 3600.0},
            },
            {
                "urn": "urn:pulumi:t::mailbox-iac::pulumi-python:dynamic/hostwinds:Instance::server-mx1",
                "type": "pulumi-python:dynamic/hostwinds:Instance",
                "outputs": {"srvrname": "mbx-t-mx1", "location_id": 12.0, "rid": 52.0, "template": "deb"},
            },
            {"type": checkpoint.MAILBOX, "outputs": {"address": "gone@example.com", "quota_mb": 1}, "delete": True},
        ]
    }
    found = checkpoint.inventory(deployment)
    assert found[("dns_record", "TXT:example.com")] == {"content": "v=spf1 mx -all", "ttl": "3600"}
    assert found[("server", "mx1")] | {"billing_cycle": ""} == {
        "backend": "hostwinds",
        "label": "mbx-t-mx1",
        "region": "12",
        "size": "52",
        "image": "deb",
        "billing_cycle": "",
    }
    assert ("mailbox", "gone@example.com") not in found  # a resource pending deletion is not deployed


def test_change_lines_show_old_and_new() -> None:
    desired = {k: dict(v) for k, v in DEPLOYED.items()}
    desired[("dns_record", "TXT:_dmarc.example.com")]["content"] = "v=DMARC1; p=reject"
    desired[("server", "mx1")]["image"] = "deb13"
    del desired[("mailbox", "bo@example.com")]
    found = changes.changes(DEPLOYED, desired)
    assert render.change_lines(found) == [
        "  ~ dns_record TXT:_dmarc.example.com  content: 'v=DMARC1; p=quarantine' => 'v=DMARC1; p=reject'",
        "  - mailbox bo@example.com",
        "  -/+ server mx1  image: 'deb' => 'deb13'",
    ]
    text = render.changes_text("t", found, changes.violations(DEPLOYED, desired))
    assert text.startswith("t: 1 to update, 1 to replace, 1 to delete\n") and "  ! server mx1 would be replaced" in text


def test_the_records_drift_checks_come_from_the_checkpoint_in_their_zones() -> None:
    def record(name: str, rtype: str, content: str, **extra: object) -> dict[str, object]:
        outputs = {"name": name, "type": rtype, "content": content, "ttl": 300.0, **extra}
        urn = f"urn:pulumi:acme::mailbox-iac::{checkpoint.DNS_RECORD}::dns-{rtype}-{name}"
        return {"type": checkpoint.DNS_RECORD, "urn": urn, "id": f"id-{name}", "outputs": outputs}

    deployment = {
        "resources": [
            record("example.com", "MX", "mail.example.com", priority=10.0),
            record("sel._domainkey.mail.example.com", "TXT", '"v=DKIM1; k=rsa; p=MIIB"'),
            record("other.org", "A", "192.0.2.1"),  # a zone the stack may not manage (any more): not asked
            {**record("old.example.com", "A", "192.0.2.9"), "delete": True},
        ]
    }
    rows = checkpoint.record_rows(deployment, ["example.com", "mail.example.com"])
    assert rows == {
        "example.com": [
            {
                "name": "example.com",
                "type": "MX",
                "content": "mail.example.com",
                "priority": 10,
                "ttl": 300,
                "id": "id-example.com",
                "resource": "dns-MX-example.com",
            }
        ],
        "mail.example.com": [  # the longest zone the name is in
            {
                "name": "sel._domainkey.mail.example.com",
                "type": "TXT",
                "content": '"v=DKIM1; k=rsa; p=MIIB"',
                "priority": 0,
                "ttl": 300,
                "id": "id-sel._domainkey.mail.example.com",
                "resource": "dns-TXT-sel._domainkey.mail.example.com",
            }
        ],
    }


def test_a_checkpoint_holds_the_stack_outputs_with_secrets_revealed() -> None:
    sig = "4dabf18193072939515e22adb298388d"
    servers = {"mx1": {"ip": "192.0.2.7", "serviceid": "1"}}
    deployment = {
        "resources": [
            {"type": "pulumi:providers:cloudflare", "outputs": {"version": "6.23.1"}},
            {
                "type": checkpoint.STACK,
                "outputs": {
                    "servers": servers,
                    "passwords": {sig: "1b47061264138c4ac30d75fd1eb44270", "plaintext": '{"a": "s3"}'},
                },
            },
        ]
    }
    assert checkpoint.stack_outputs(deployment) == {"servers": servers, "passwords": {"a": "s3"}}
    assert checkpoint.stack_outputs({"resources": []}) == {}  # a stack never deployed
