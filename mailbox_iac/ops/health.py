"""Scheduled health of deployed tenants, from their stacks' outputs (no engine run): what ends a cold-email
domain's life without anything changing in our state. Today: every server address on the IP blocklists and
every mail domain on the domain blocklists (checks/blocklist.py), and every certificate the mail hosts serve
(checks/tls.py), asked in parallel with a bound."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import dns.resolver

from mailbox_iac.checks import blocklist, tls
from mailbox_iac.checks.blocklist import Blocklist
from mailbox_iac.checks.result import Result

QUESTIONS_AT_ONCE = 16


@dataclass(frozen=True)
class Subjects:
    """What one tenant's health is asked about, from its stack's outputs."""

    tenant: str
    addresses: tuple[str, ...]  # its servers' IPs
    domains: tuple[str, ...]  # its mail domains
    tls: tuple[tuple[str, str, int], ...] = ()  # (ip, name, port) of every certificate its hosts serve


def subjects(tenant: str, outputs: Mapping[str, Any]) -> Subjects:
    servers = {k: s for k, s in (outputs.get("servers") or {}).items() if s.get("ip")}
    mailboxes = (outputs.get("mailboxes") or {}).values()
    served_by = {str(m["domain"]): servers[m["server"]]["ip"] for m in mailboxes if m.get("server") in servers}
    policy_hosts = {  # the MTA-STS hosts the stack deployed an A record for
        key.removeprefix("A:"): domain
        for domain, keys in (outputs.get("dns_records") or {}).items()
        for key in keys
        if key.startswith("A:mta-sts.")
    }
    return Subjects(
        tenant,
        tuple(sorted({str(s["ip"]) for s in servers.values()})),
        tuple(sorted({str(m["domain"]) for m in mailboxes if m.get("domain")})),
        tuple(
            sorted(
                [(str(s["ip"]), str(s["hostname"]), port) for s in servers.values() for port in tls.MAIL_PORTS]
                + [(served_by[d], host, 443) for host, d in policy_hosts.items() if d in served_by]
            )
        ),
    )


def check(
    of: list[Subjects],
    lists: tuple[Blocklist, ...],
    resolver: dns.resolver.Resolver,
    trust: ssl.SSLContext,
    as_of: datetime,
) -> dict[str, list[Result]]:
    """Each tenant's results: each address on every IP list and each domain on every domain list (one
    question each: a fleet's are O(servers + domains)), then each certificate its hosts serve, judged as of
    `as_of`; QUESTIONS_AT_ONCE at a time."""
    asks: list[tuple[str, Callable[[], Result]]] = [
        (s.tenant, partial(blocklist.check, subject, bl, resolver))
        for s in of
        for bl in lists
        for subject in (s.addresses if bl.kind == "ip" else s.domains)
    ]
    asks += [(s.tenant, partial(tls.lasting, ip, name, port, trust, as_of)) for s in of for ip, name, port in s.tls]
    with ThreadPoolExecutor(QUESTIONS_AT_ONCE) as pool:
        found = list(pool.map(lambda ask: ask[1](), asks))
    results: dict[str, list[Result]] = {s.tenant: [] for s in of}
    for (tenant, _), result in zip(asks, found, strict=True):
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
