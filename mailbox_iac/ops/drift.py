"""Drift: what changed behind our back, in three layers, each finding saying what differs and how to fix it.

(a) state vs providers, and (c) the mail host vs the spec: `pulumi refresh --preview-only` of every
    resource but the DNS records (nothing is written; the MailHost and Mailbox reads hash the live files and
    check the accounts over SSH, read-only, one SSH session per host), classified by provider. The records
    are compared with one paged listing of each zone through the Cloudflare API instead of one provider
    read each: a fleet's drift stays inside Cloudflare's request budget.
(b) live DNS vs the records the stack deployed (its checkpoint, not the spec), asked of the zone's
    authoritative servers, plus records in the managed zones that nobody declared (the same listing),
    minus an ignore file.
Repair stays `pulumi up` (with --refresh).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from pulumi import automation as auto

from mailbox_iac import checkpoint, cloudflare_api
from mailbox_iac.checks import dns
from mailbox_iac.dns import txt
from mailbox_iac.ops.against import compare
from mailbox_iac.program import stack_zones
from mailbox_iac.servers import registry
from mailbox_iac.spec.resolve import Tenant


@dataclass(frozen=True)
class Finding:
    tenant: str
    layer: str  # a server backend (hostwinds), cloudflare, host, sequencer, state, dns, dns-undeclared
    resource: str
    differs: str
    fix: str
    check: str = ""  # the id of the check that found it (checks/), when a check did


def layer_of(type_token: str) -> str:
    """Which layer a resource type belongs to: its server backend's name, cloudflare, host, sequencer, else
    state."""
    package, module = type_token.split(":")[0], type_token.split(":")[1].rsplit("/", 1)[-1]
    backend = registry.by_module(module) if package == "pulumi-python" else None
    if backend is not None:
        return backend.name
    return {"cloudflare": "cloudflare"}.get(package) or {"mailhost": "host", "sequencers": "sequencer"}.get(
        module, "state"
    )


def refreshed(deployment: Mapping[str, Any]) -> list[str]:
    """The URNs a drift refresh reads: every resource of the tenant's but the DNS records (listed per zone
    instead), the stack and the providers."""
    return [
        str(r["urn"])
        for r in checkpoint.live_resources(deployment)
        if r.get("type") != checkpoint.DNS_RECORD and not str(r.get("type", "")).startswith("pulumi:")
    ]


def state_findings(tenant: str, stack: auto.Stack, targets: list[str]) -> list[Finding]:
    """Layers (a) and (c): a dry-run refresh of `targets`; every resource whose live state differs."""
    found: list[Finding] = []
    if not targets:
        return found  # an empty target list would be no filter at all: the whole stack

    def on_event(event: auto.EngineEvent) -> None:
        done = event.res_outputs_event  # a refresh that found a difference ends in an update or delete step
        if not done or done.metadata.op not in (auto.OpType.UPDATE, auto.OpType.DELETE):
            return
        meta = done.metadata
        kind = meta.urn.split("::")[2]
        if kind.startswith("pulumi:"):
            return
        layer = layer_of(kind)
        if meta.op == auto.OpType.DELETE:
            what = "is gone"
        else:
            old = dict(meta.old.outputs or {}) if meta.old else {}
            new = dict(meta.new.outputs or {}) if meta.new else {}
            keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and not k.startswith("__"))
            what = f"changed: {', '.join(keys) or 'state'}"
        found.append(
            Finding(
                tenant,
                layer,
                f"{kind.rsplit(':', 1)[-1]} {meta.urn.rsplit('::', 1)[-1]}",
                what,
                f"`mailbox-iac up --stack {tenant} --refresh` puts it back",
            )
        )

    stack.refresh(preview_only=True, target=targets, on_event=on_event, show_secrets=False, color="never")
    return found


def load_ignores(path: Path | None) -> list[dict[str, str]]:
    """`drift-ignore.yaml`: a list of {tenant, type, name} glob patterns (missing keys match anything)."""
    if path is None or not path.exists():
        return []
    data = yaml.safe_load(path.read_text()) or []
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ValueError(f"{path}: expected a list of {{tenant, type, name}} patterns")
    return [{str(k): str(v) for k, v in d.items()} for d in data]


def ignored(tenant: str, rtype: str, name: str, ignores: list[dict[str, str]]) -> bool:
    return any(
        all(
            fnmatch.fnmatch(value, rule.get(key, "*"))
            for key, value in (("tenant", tenant), ("type", rtype), ("name", name))
        )
        for rule in ignores
    )


def dns_findings(
    tenant: str,
    deployed: dict[str, list[dict[str, Any]]],
    resolver: str | None,
    cloudflare: httpx.Client | None,
    ignores: list[dict[str, str]],
) -> list[Finding]:
    """Layer (b): every deployed record (zone -> `checkpoint.record_rows`) at the authoritative DNS, and the
    records nobody declared. The checkpoint, not the spec: an edit not applied yet is not drift."""
    found: list[Finding] = []
    for zone, rows in sorted(deployed.items()):
        results = dns.records(rows, dns.resolver_for(zone, resolver))
        for row, check in zip(rows, results, strict=True):
            if not check.ok and not ignored(tenant, row["type"], row["name"], ignores):
                found.append(
                    Finding(
                        tenant,
                        "dns",
                        check.subject,
                        check.detail,
                        f"`mailbox-iac up --stack {tenant} --refresh` publishes it again",
                        check.check.id,
                    )
                )
        if cloudflare is None:
            continue
        listing = cloudflare_api.zone_records(cloudflare, zone)
        found += cloudflare_findings(tenant, rows, listing)
        wanted = {(r["type"], r["name"], _value(r["type"], r["content"], r["priority"])) for r in rows}
        for rec in listing:
            key = (rec["type"], rec["name"], _value(rec["type"], rec["content"], rec.get("priority")))
            if key in wanted or ignored(tenant, rec["type"], rec["name"], ignores):
                continue
            value = txt.canonical(rec["content"]) if rec["type"] == "TXT" else rec["content"]
            found.append(
                Finding(
                    tenant,
                    "dns-undeclared",
                    f"{rec['type']} {rec['name']}",
                    f"a record nobody declared: {value[:80]!r}",
                    "delete it in Cloudflare, declare it in the spec, or list it in drift-ignore.yaml",
                )
            )
    return found


def cloudflare_findings(tenant: str, rows: list[dict[str, Any]], listing: list[dict[str, Any]]) -> list[Finding]:
    """The deployed records (`checkpoint.record_rows`) against the zone's records as Cloudflare lists them,
    by record id: what a refresh of each record would find, from one listing. Pure."""
    live = {str(rec["id"]): rec for rec in listing}
    found = []
    for row in rows:
        rec = live.get(row["id"])
        if rec is None:
            differs = "is gone"
        else:
            now = {"name": rec["name"], "type": rec["type"], "content": rec["content"], "ttl": int(rec.get("ttl") or 1)}
            now["priority"] = int(rec.get("priority") or 0)
            keys = [k for k, v in now.items() if row[k] != v]
            if not keys:
                continue
            differs = f"changed: {', '.join(keys)}"
        fix = f"`mailbox-iac up --stack {tenant} --refresh` puts it back"
        found.append(Finding(tenant, "cloudflare", f"DnsRecord {row['resource']}", differs, fix))
    return found


def stack_findings(
    tenant: str,
    stack: auto.Stack,
    spec: Tenant,
    resolver: str | None,
    cloudflare: httpx.Client | None,
    ignores: list[dict[str, str]],
) -> tuple[list[Finding], int]:
    """All three layers of one deployed stack, and how many changes its spec holds that were not applied."""
    deployment = stack.export_stack().deployment or {}
    found = state_findings(tenant, stack, refreshed(deployment))
    zones = stack_zones(stack.get_all_config())
    found += dns_findings(tenant, checkpoint.record_rows(deployment, zones), resolver, cloudflare, ignores)
    outputs = {k: v.value for k, v in stack.outputs().items()}
    pending, _ = compare(deployment, outputs, spec)
    return found, len(pending)


def _value(rtype: str, content: str, priority: int | None) -> str:
    return dns.expected({"type": rtype, "content": content, "priority": priority or 0})


def as_json(
    findings: list[Finding], not_deployed: Sequence[str] = (), not_applied: Mapping[str, int] | None = None
) -> str:
    report = {
        "drift": bool(findings),
        "findings": [asdict(f) for f in findings],
        "not_deployed": list(not_deployed),
        "not_applied": dict(not_applied or {}),
    }
    return json.dumps(report, indent=2)


def as_markdown(
    findings: list[Finding],
    tenants: list[str],
    not_deployed: Sequence[str] = (),
    not_applied: Mapping[str, int] | None = None,
) -> str:
    """`tenants`: those checked; `not_deployed`: those with a spec and no stack yet (nothing to drift);
    `not_applied`: tenant -> the changes its spec holds that no `up` applied yet."""
    absent = f"Not deployed yet (no stack): {', '.join(not_deployed)}.\n" if not_deployed else ""
    if not_applied:
        waiting = ", ".join(f"{t} ({n} change(s))" for t, n in sorted(not_applied.items()))
        absent += f"Spec changes not applied yet (`mailbox-iac up` applies them): {waiting}.\n"
    if not findings:
        checked = f"No drift in {len(tenants)} tenant(s): {', '.join(tenants)}.\n" if tenants else ""
        return checked + absent
    lines = [
        f"**Drift: {len(findings)} finding(s)**",
        "",
        "| tenant | layer | resource | what differs | fix |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {f.tenant} | {f.layer} | `{f.resource}` | {f.differs} | {f.fix} |" for f in findings]
    return "\n".join(lines) + "\n" + (f"\n{absent}" if absent else "")
