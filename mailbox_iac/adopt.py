"""DNS records that exist in the zone but not in the stack's state: a reply lost after Cloudflare created the
record, a run killed mid-create, a record a person or another tool made. Before an `up`, each planned record
is matched with the zone (pure: `adoption`), then:

- a record exactly as planned is imported (Pulumi's `import` option with `<zone_id>/<record_id>`, which the
  real Cloudflare provider accepts too): never a second copy, never "identical record already exists";
- a record of ours (its comment names this tenant) whose content is not the planned one, or a second copy
  of ours, is deleted first and made again by the `up`;
- a record of someone else's where ours must go (a second SPF, another MX, an A record pointing elsewhere)
  is a conflict: reported before anything changes, and the run refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from mailbox_iac import checkpoint, cloudflare_api
from mailbox_iac.dns import txt
from mailbox_iac.errors import Permanent
from mailbox_iac.plan.model import DnsRecord

# While adopting, differences Pulumi's import would refuse but the next run simply updates: the content's
# quoting and split (compared here in canonical form), TTL, comment, proxied, tags.
IGNORED_WHILE_ADOPTING = ["content", "ttl", "comment", "proxied", "tags"]


def comment(tenant: str) -> str:
    """The comment on every record mailbox-iac makes: how a record of ours is told from others."""
    return f"managed by mailbox-iac ({tenant})"


@dataclass
class Adoption:
    imports: dict[str, str] = field(default_factory=dict)  # record key -> import id
    stale: list[dict[str, Any]] = field(default_factory=list)  # our records to delete before the up
    conflicts: list[str] = field(default_factory=list)


def _kind(record_type: str, content: str) -> str:
    """What a record is for: TXT records by their tag (`v=spf1`, `v=DMARC1`...); others by type."""
    if record_type != "TXT":
        return record_type
    text = txt.canonical(content)
    return text.split(";", 1)[0].split(" ", 1)[0].strip().lower() if text.lower().startswith("v=") else text


def _same(planned: DnsRecord, live: Mapping[str, Any]) -> bool:
    if planned.type == "TXT":
        return txt.canonical(planned.content) == txt.canonical(str(live.get("content", "")))
    same_priority = planned.priority is None or int(live.get("priority") or 0) == planned.priority
    return planned.content.rstrip(".") == str(live.get("content", "")).rstrip(".") and same_priority


def state_record_ids(deployment: Mapping[str, Any]) -> set[str]:
    """The ids of the DNS records the stack's checkpoint holds."""
    return {
        str(r.get("id") or (r.get("outputs") or {}).get("id"))
        for r in deployment.get("resources") or []
        if r.get("type") == checkpoint.DNS_RECORD
    }


def adoption(tenant: str, planned: Iterable[DnsRecord], live: list[dict[str, Any]], in_state: set[str]) -> Adoption:
    ours = comment(tenant)
    result = Adoption()
    for record in planned:
        known = record.needs is None  # else a value from a fact not known yet (a new server's IP, a new key)
        same_kind = [
            r
            for r in live
            if r["name"] == record.name
            and r["type"] == record.type
            and _kind(r["type"], r["content"]) == _kind(record.type, record.content)
        ]
        if any(r["id"] in in_state for r in same_kind):
            result.stale += [r for r in same_kind if r["id"] not in in_state and r.get("comment") == ours]
            continue
        exact = next((r for r in same_kind if known and _same(record, r)), None)
        if exact is not None:
            result.imports[record.key] = f"{exact['zone_id']}/{exact['id']}"
        for other in (r for r in same_kind if r is not exact):
            if other.get("comment") == ours:
                result.stale.append(other)
            else:
                shown = txt.canonical(other["content"]) if other["type"] == "TXT" else other["content"]
                result.conflicts.append(
                    f"{record.type} {record.name}: the zone already has {shown[:100]!r} (record {other['id']}, "
                    f"not made by mailbox-iac for {tenant}) where {tenant}'s record must go; delete it in "
                    "Cloudflare, or change the spec, then run again"
                )
    return result


class AdoptionConflict(Permanent):
    """Records someone else made are where the plan puts ours."""


def prepare(
    tenant: str,
    planned: list[DnsRecord],
    deployment: Mapping[str, Any],
    api: httpx.Client | None,
    say: Callable[[str], None],
) -> dict[str, str]:
    """Match the zones with the plan before an `up`: delete our stale records, refuse on conflicts, and
    return the imports for the program (`program.main(adopt_records=...)`). Without an API token: nothing to do."""
    if api is None:
        return {}
    live = [r for zone in sorted({r.zone for r in planned}) for r in cloudflare_api.zone_records(api, zone)]
    found = adoption(tenant, planned, live, state_record_ids(deployment))
    if found.conflicts:
        raise AdoptionConflict(
            f"stack {tenant!r}: records in the way, nothing was changed:\n  " + "\n  ".join(found.conflicts)
        )
    for record in found.stale:
        cloudflare_api.delete(api, f"/zones/{record['zone_id']}/dns_records/{record['id']}")
        say(f"{record['type']} {record['name']}: removed a copy of ours that this stack's state does not hold")
    for key, import_id in sorted(found.imports.items()):
        say(f"{key.replace(':', ' ', 1)}: already in the zone exactly as planned, adopted ({import_id})")
    return found.imports
