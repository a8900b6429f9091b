"""What a stack has deployed, read from its checkpoint (`pulumi stack export`) as a `changes.Inventory`:
the other side of `mailbox-iac plan --against` and the PR summary's old -> new values. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mailbox_iac.changes import Key, record_attributes
from mailbox_iac.mailhost.connection import SSH_KEYS
from mailbox_iac.plan.model import record_key
from mailbox_iac.servers import registry
from mailbox_iac.servers.backend import SERVER_RESOURCE

DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
DKIM_KEY = "pulumi-python:dynamic/credentials:DkimKey"
MAILBOX = "pulumi-python:dynamic/mailhost:Mailbox"
MAIL_HOST = "pulumi-python:dynamic/mailhost:MailHost"
STACK = "pulumi:pulumi:Stack"


def _entry(resource: Mapping[str, Any]) -> tuple[Key, dict[str, str]] | None:
    kind, out = resource.get("type", ""), resource.get("outputs") or {}
    if kind == DNS_RECORD:
        attrs = record_attributes(str(out["content"]), out.get("ttl") or 1, out.get("priority"), str(out["type"]))
        return ("dns_record", record_key(str(out["type"]), str(out["name"]))), attrs
    if kind == DKIM_KEY:
        return ("dkim_key", f"{out['domain']}/{out['selector']}"), {"bits": str(int(out["bits"]))}
    if kind == MAILBOX:
        return ("mailbox", str(out["address"])), {"quota_mb": str(int(out["quota_mb"]))}
    backend = registry.by_server_type(kind)
    name = str(resource.get("urn", "")).rsplit("::", 1)[-1]
    if backend is not None and name.startswith(SERVER_RESOURCE.format("")):
        return ("server", name.removeprefix(SERVER_RESOURCE.format(""))), backend.deployed(out)
    return None


def inventory(deployment: Mapping[str, Any]) -> dict[Key, dict[str, str]]:
    """The servers, DNS records, DKIM keys and mailboxes a checkpoint holds (live resources only)."""
    found = [_entry(r) for r in live_resources(deployment)]
    return dict(e for e in found if e is not None)


def live_resources(deployment: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The resources a checkpoint holds as they are: not being deleted or replaced, with outputs."""
    return [
        r
        for r in deployment.get("resources") or []
        if not r.get("delete") and r.get("outputs") is not None and not r.get("pendingReplacement")
    ]


def record_rows(deployment: Mapping[str, Any], zones: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """zone -> the DNS records the checkpoint holds in it (`checks.dns.record_row`'s shape, with the
    provider's record `id`, the `ttl` and the `resource` name), each in the longest of `zones` its name
    falls in: what drift asks the zone's servers and Cloudflare for, whatever the spec now says."""
    found: dict[str, list[dict[str, Any]]] = {}
    for r in live_resources(deployment):
        if r.get("type") != DNS_RECORD:
            continue
        out = r["outputs"]
        name = str(out["name"]).rstrip(".").lower()
        zone = max((z for z in zones if name == z or name.endswith("." + z)), key=len, default=None)
        if zone is not None:
            row = {"name": name, "type": str(out["type"]), "content": str(out["content"])}
            deployed = {"id": str(r.get("id") or ""), "resource": str(r.get("urn", "")).rsplit("::", 1)[-1]}
            found.setdefault(zone, []).append(
                {**row, "priority": int(out.get("priority") or 0), "ttl": int(out.get("ttl") or 1), **deployed}
            )
    return found


def revealed(value: Any) -> Any:
    """A value of a `stack export --show-secrets` checkpoint, its secret wrapper removed."""
    if isinstance(value, Mapping) and "plaintext" in value:
        return json.loads(str(value["plaintext"]))
    return value


def stack_outputs(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The stack's outputs as its checkpoint holds them, each secret revealed: what `Stack.outputs()` gives,
    without its two more CLI processes when the checkpoint is at hand."""
    root: Mapping[str, Any] = next((r for r in deployment.get("resources") or [] if r.get("type") == STACK), {})
    return {k: revealed(v) for k, v in (root.get("outputs") or {}).items()}


def ssh_access(deployment: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """server address -> how its MailHost logs in (host, port, user, private_key, host_key): for reads of
    a deployed host outside the engine (`health`). Holds a private key: never print it."""
    return {
        str(revealed(r["outputs"]["host"])): {k: revealed(r["outputs"].get(k)) for k in SSH_KEYS}
        for r in live_resources(deployment)
        if r.get("type") == MAIL_HOST and r["outputs"].get("private_key")
    }
