"""Lifting the servers' protection for a destroy, on a checkpoint: pure (the destroy itself: e2e/test_preview)."""

from __future__ import annotations

from typing import Any

from mailbox_iac.ops.destroy import without_protection


def test_protection_is_lifted_from_every_resource_and_nothing_else_changes() -> None:
    server = {
        "urn": "urn:pulumi:p1::mailbox-iac::pulumi-python:dynamic/hostwinds:Instance::server-mx1",
        "protect": True,
    }
    record = {"urn": "urn:pulumi:p1::mailbox-iac::cloudflare:index/dnsRecord:DnsRecord::dns-A-x", "outputs": {"ttl": 1}}
    deployment: dict[str, Any] = {"manifest": {"time": "t"}, "resources": [server, record]}
    lifted, urns = without_protection(deployment)
    assert urns == [server["urn"]]
    assert lifted == {"manifest": {"time": "t"}, "resources": [{"urn": server["urn"]}, record]}
    assert deployment["resources"][0]["protect"] is True  # the checkpoint read is left as it was
    assert without_protection({"resources": [record]}) == ({"resources": [record]}, [])
