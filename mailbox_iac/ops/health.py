"""Scheduled health of deployed tenants, from their stacks' outputs (no engine run): what ends a cold-email
domain's life without anything changing in our state. Today: every server address on the IP blocklists and
every mail domain on the domain blocklists (checks/blocklist.py), asked in parallel with a bound."""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dns.resolver

from mailbox_iac.checks import blocklist
from mailbox_iac.checks.blocklist import Blocklist
from mailbox_iac.checks.result import Result

QUESTIONS_AT_ONCE = 16


@dataclass(frozen=True)
class Subjects:
    """What one tenant's health is asked about, from its stack's outputs."""

    tenant: str
    addresses: tuple[str, ...]  # its servers' IPs
    domains: tuple[str, ...]  # its mail domains


def subjects(tenant: str, outputs: Mapping[str, Any]) -> Subjects:
    servers = outputs.get("servers") or {}
    mailboxes = outputs.get("mailboxes") or {}
    return Subjects(
        tenant,
        tuple(sorted({str(s["ip"]) for s in servers.values() if s.get("ip")})),
        tuple(sorted({str(m["domain"]) for m in mailboxes.values() if m.get("domain")})),
    )


def blocklists(
    of: list[Subjects], lists: tuple[Blocklist, ...], resolver: dns.resolver.Resolver
) -> dict[str, list[Result]]:
    """Each tenant's blocklist results: each address on every IP list, each domain on every domain list,
    one question each (a fleet's: O(servers + domains) questions), QUESTIONS_AT_ONCE at a time."""
    asks = [
        (s.tenant, subject, bl)
        for s in of
        for bl in lists
        for subject in (s.addresses if bl.kind == "ip" else s.domains)
    ]
    with ThreadPoolExecutor(QUESTIONS_AT_ONCE) as pool:
        found = list(pool.map(lambda ask: blocklist.check(ask[1], ask[2], resolver), asks))
    results: dict[str, list[Result]] = {s.tenant: [] for s in of}
    for (tenant, _, _), result in zip(asks, found, strict=True):
        results[tenant].append(result)
    return results


def problems(results: Mapping[str, list[Result]]) -> int:
    return sum(not r.ok for rs in results.values() for r in rs)


def as_json(results: Mapping[str, list[Result]], not_deployed: list[str], checked_at: datetime) -> str:
    return (
        json.dumps(
            {
                "checked_at": checked_at.isoformat(timespec="seconds"),
                "healthy": problems(results) == 0,
                "tenants": {t: [r.as_dict() for r in rs] for t, rs in results.items()},
                "not_deployed": not_deployed,
            },
            indent=2,
        )
        + "\n"
    )


def as_text(results: Mapping[str, list[Result]], not_deployed: list[str], checked_at: datetime) -> str:
    lines = [f"Health at {checked_at.isoformat(timespec='seconds')}"]
    for tenant, found in results.items():
        bad = [r for r in found if not r.ok]
        lines.append(f"{tenant}: {'healthy' if not bad else f'{len(bad)} problem(s)'} ({len(found)} checks)")
        lines += [f"  {r.check.severity.value:<7} {r.check.id} {r.subject}: {r.detail}" for r in bad]
    if not_deployed:
        lines.append(f"Not deployed yet (no stack): {', '.join(not_deployed)}.")
    return "\n".join(lines) + "\n"
