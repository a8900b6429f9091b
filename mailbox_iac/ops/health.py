"""Scheduled health of deployed tenants, from their stacks' outputs and checkpoints (no engine run): what ends
a cold-email domain's life without anything changing in our state. Every server address on the IP blocklists
and every mail domain on the domain blocklists (checks/blocklist.py), every certificate the mail hosts serve
(checks/tls.py), every record the stack deployed still answered at its zone's servers (checks/dns.py), each
host's ports greeting from here, and, over one SSH session per host, its port 25 out, its HELO name against
its PTR and A (checks/reach.py), its deferred queue and bounces (checks/queue.py). Asked in parallel with a
bound."""

from __future__ import annotations

import html
import json
import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import dns.resolver
import httpx

from mailbox_iac import checkpoint
from mailbox_iac.checks import blocklist, queue, reach, tls
from mailbox_iac.checks import dns as zone_dns
from mailbox_iac.checks.blocklist import Blocklist
from mailbox_iac.checks.result import Result
from mailbox_iac.mailhost import vitals
from mailbox_iac.mailhost.ssh import SshConnection, SshError, SshTarget
from mailbox_iac.ops.health_config import HealthConfig

QUESTIONS_AT_ONCE = 16


@dataclass(frozen=True)
class Host:
    ip: str
    hostname: str
    ssh: SshTarget | None  # how its MailHost logs in (None: the checkpoint holds none for this server)


@dataclass(frozen=True)
class Subjects:
    """What one tenant's health is asked about, from its stack's outputs and checkpoint."""

    tenant: str
    addresses: tuple[str, ...]  # its servers' IPs
    domains: tuple[str, ...]  # its mail domains
    tls: tuple[tuple[str, str, int], ...] = ()  # (ip, name, port) of every certificate its hosts serve
    records: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)  # zone -> deployed record rows
    hosts: tuple[Host, ...] = ()
    mailboxes: tuple[tuple[str, str, str], ...] = ()  # (address, domain, its server's IP)


def subjects(
    tenant: str, outputs: Mapping[str, Any], deployment: Mapping[str, Any] | None = None, zones: Sequence[str] = ()
) -> Subjects:
    servers = {k: s for k, s in (outputs.get("servers") or {}).items() if s.get("ip")}
    mailboxes: Mapping[str, Any] = outputs.get("mailboxes") or {}
    served_by = {str(m["domain"]): servers[m["server"]]["ip"] for m in mailboxes.values() if m.get("server") in servers}
    policy_hosts = {  # the MTA-STS hosts the stack deployed an A record for
        key.removeprefix("A:"): domain
        for domain, keys in (outputs.get("dns_records") or {}).items()
        for key in keys
        if key.startswith("A:mta-sts.")
    }
    access = checkpoint.ssh_access(deployment or {})
    return Subjects(
        tenant,
        tuple(sorted({str(s["ip"]) for s in servers.values()})),
        tuple(sorted({str(m["domain"]) for m in mailboxes.values() if m.get("domain")})),
        tuple(
            sorted(
                [(str(s["ip"]), str(s["hostname"]), port) for s in servers.values() for port in tls.MAIL_PORTS]
                + [(served_by[d], host, 443) for host, d in policy_hosts.items() if d in served_by]
            )
        ),
        checkpoint.record_rows(deployment or {}, zones),
        tuple(
            Host(str(s["ip"]), str(s["hostname"]), SshTarget.of(access[s["ip"]]) if s["ip"] in access else None)
            for _, s in sorted(servers.items())
        ),
        tuple(
            sorted(
                (str(a), str(m["domain"]), str(servers[m["server"]]["ip"]))
                for a, m in mailboxes.items()
                if m.get("server") in servers
            )
        ),
    )


@dataclass(frozen=True)
class Asking:
    """How health asks: the project's health.yaml (lists, probe target, thresholds), the recursive resolver
    blocklists, PTRs and HELO names are asked through, the DNS server the zones' records are asked of (None:
    each zone's own), the roots certificates verify against, and the moment certificates and the bounce
    window are judged as of."""

    config: HealthConfig
    recursive: dns.resolver.Resolver
    zone_resolver: str | None
    trust: ssl.SSLContext
    as_of: datetime


def _listed(subject: str, bl: Blocklist, asking: Asking) -> list[Result]:
    return [blocklist.check(subject, bl, asking.recursive)]


def _lasting(endpoint: tuple[str, str, int], asking: Asking) -> list[Result]:
    ip, name, port = endpoint
    return [tls.lasting(ip, name, port, asking.trust, asking.as_of)]


def _published(zone: str, rows: list[dict[str, Any]], asking: Asking) -> list[Result]:
    return zone_dns.records(rows, zone_dns.resolver_for(zone, asking.zone_resolver))


def _greets(host: Host, port: int, asking: Asking) -> list[Result]:
    return [reach.inbound(host.ip, host.hostname, port, asking.trust)]


def _inside(host: Host, asking: Asking) -> list[Result]:
    """One SSH session: the host's port 25 out, HELO name, queue and bounces, then what they say."""
    if host.ssh is None:
        return [reach.SSH.result(host.ip, False, "the stack's checkpoint holds no mail host for this server")]
    config = asking.config
    try:
        with SshConnection(host.ssh, timeout=15) as conn:
            found = vitals.of(config.outbound_probe).read(conn)
    except SshError as exc:
        return [reach.SSH.result(host.ip, False, str(exc)[:300])]
    return [
        reach.SSH.result(host.ip, True),
        reach.outbound(host.ip, config.outbound_probe, found.outbound, found.outbound_ok),
        reach.identity(host.ip, host.hostname, found.helo, asking.recursive),
        queue.deferred(host.ip, found.deferred, config.max_deferred),
        queue.bounces(host.ip, found.bounces_within(timedelta(hours=24), asking.as_of), config.max_bounces_24h),
    ]


def check(of: list[Subjects], asking: Asking) -> dict[str, list[Result]]:
    """Each tenant's results: each address on every IP list and each domain on every domain list (one
    question each: a fleet's are O(servers + domains)); each certificate its hosts serve; each record it
    deployed (SPF, DKIM, DMARC, MTA-STS...), still answered at its zone's servers; each host's ports from
    here, and what one SSH session to it finds. QUESTIONS_AT_ONCE at a time."""
    asks: list[tuple[str, Callable[[], list[Result]]]] = []
    for s in of:
        for host in s.hosts:
            asks.append((s.tenant, partial(_inside, host, asking)))
            asks += [(s.tenant, partial(_greets, host, port, asking)) for port in reach.INBOUND_PORTS]
        for bl in asking.config.lists():
            asks += [
                (s.tenant, partial(_listed, x, bl, asking)) for x in (s.addresses if bl.kind == "ip" else s.domains)
            ]
        asks += [(s.tenant, partial(_lasting, endpoint, asking)) for endpoint in s.tls]
        asks += [(s.tenant, partial(_published, zone, rows, asking)) for zone, rows in s.records.items()]
    with ThreadPoolExecutor(QUESTIONS_AT_ONCE) as pool:
        found = list(pool.map(lambda ask: ask[1](), asks))
    results: dict[str, list[Result]] = {s.tenant: [] for s in of}
    for (tenant, _), result in zip(asks, found, strict=True):
        results[tenant] += result
    return results


def _about(subject: str, name: str) -> bool:
    """Whether a result's subject names `name` (an address, or a domain or a name under it): "198.51.100.7
    on Spamhaus ZEN", "mail.a.example (198.51.100.7:25)", "TXT _dmarc.a.example"; 198.51.100.7 is not
    198.51.100.70 and a.example is not demo-a.example."""
    return re.search(rf"(^|[\s(.]){re.escape(name)}($|[\s):])", subject) is not None


def mailbox_statuses(results: Mapping[str, list[Result]], of: list[Subjects]) -> dict[str, dict[str, str]]:
    """tenant -> mailbox -> the worst status of the results about it: a result naming a server's address is
    about that server's mailboxes (its hostname may sit under any domain), any other about the most specific
    of the tenant's domains it names (b.a.example's records are not a.example's). What a person looking for
    one mailbox on the page wants to know: "ok", "warning" or "error"."""
    statuses: dict[str, dict[str, str]] = {}
    for s in of:
        domains, ips = {d for _, d, _ in s.mailboxes}, {ip for _, _, ip in s.mailboxes}
        about: list[tuple[str, set[str]]] = []  # (severity, the servers' IPs and domains a failure is about)
        for r in results.get(s.tenant, []):
            if r.ok:
                continue
            servers = {ip for ip in ips if _about(r.subject, ip)}
            named = max((d for d in domains if _about(r.subject, d)), key=len, default="")
            about.append((r.check.severity.value, servers or {named}))
        for address, domain, ip in s.mailboxes:
            bad = {severity for severity, on in about if ip in on or domain in on}
            statuses.setdefault(s.tenant, {})[address] = "error" if "error" in bad else "warning" if bad else "ok"
    return statuses


def problems(results: Mapping[str, list[Result]]) -> int:
    return sum(not r.ok for rs in results.values() for r in rs)


def as_json(
    results: Mapping[str, list[Result]],
    not_deployed: list[str],
    checked_at: datetime,
    mailboxes: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    return (
        json.dumps(
            {
                "checked_at": checked_at.isoformat(timespec="seconds"),
                "healthy": problems(results) == 0,
                "tenants": {t: [r.as_dict() for r in rs] for t, rs in results.items()},
                "mailboxes": dict(mailboxes or {}),
                "not_deployed": not_deployed,
            },
            indent=2,
        )
        + "\n"
    )


def alert(tenant: str, found: list[Result], checked_at: datetime) -> dict[str, Any]:
    """The webhook's JSON body for a tenant with problems (README: health alerts)."""
    return {
        "tenant": tenant,
        "checked_at": checked_at.isoformat(timespec="seconds"),
        "problems": [r.as_dict() for r in found if not r.ok],
        "text": as_text({tenant: found}, [], checked_at),
    }


def send_alerts(results: Mapping[str, list[Result]], webhooks: Mapping[str, str], checked_at: datetime) -> list[str]:
    """POST each tenant's problems to its webhook (`webhooks`: tenant -> URL; none: no alert). Returns one
    line per alert that was not accepted, naming the tenant, never the URL (it often holds a token)."""
    failed = []
    with httpx.Client(timeout=15) as client:
        for tenant, found in results.items():
            if tenant not in webhooks or all(r.ok for r in found):
                continue
            try:
                reply = client.post(webhooks[tenant], json=alert(tenant, found, checked_at))
                reply.raise_for_status()
            except httpx.HTTPStatusError as exc:
                failed.append(f"{tenant}: the health webhook answered HTTP {exc.response.status_code}")
            except httpx.HTTPError as exc:
                failed.append(f"{tenant}: the health webhook could not be reached ({type(exc).__name__})")
    return failed


def as_text(results: Mapping[str, list[Result]], not_deployed: list[str], checked_at: datetime) -> str:
    lines = [f"Health at {checked_at.isoformat(timespec='seconds')}"]
    for tenant, found in results.items():
        bad = [r for r in found if not r.ok]
        lines.append(f"{tenant}: {'healthy' if not bad else f'{len(bad)} problem(s)'} ({len(found)} checks)")
        lines += [f"  {r.check.severity.value:<7} {r.check.id} {r.subject}: {r.detail}" for r in bad]
    if not_deployed:
        lines.append(f"Not deployed yet (no stack): {', '.join(not_deployed)}.")
    return "\n".join(lines) + "\n"


_PAGE_STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1b1b1b}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;width:100%}td,th{padding:.35rem .5rem;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top;overflow-wrap:anywhere}th{white-space:nowrap}
.ok{color:#1a7f37}.warning{color:#9a6700}.error{color:#cf222e}.status{font-weight:600;white-space:nowrap}
h3{font-size:1rem}@media (max-width:40rem){.checks td:nth-child(2),.checks th:nth-child(2){display:none}}
"""


def as_html(
    results: Mapping[str, list[Result]],
    not_deployed: list[str],
    checked_at: datetime,
    mailboxes: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """One self-contained page (no external assets; readable on a phone): per tenant, each check's status,
    id, subject and detail, problems first, then each mailbox's status. Everything shown is escaped:
    details quote DNS answers."""
    when = checked_at.isoformat(timespec="seconds")
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>mailbox-iac health {html.escape(when)}</title><style>{_PAGE_STYLE}</style></head><body>",
        f"<h1>mailbox-iac health</h1><p>Checked at {html.escape(when)}.</p>",
    ]
    for tenant, found in results.items():
        bad = sum(not r.ok for r in found)
        parts.append(f"<h2>{html.escape(tenant)}: {'healthy' if not bad else f'{bad} problem(s)'}</h2>")
        parts.append('<table class="checks"><tr><th>status</th><th>check</th><th>subject</th><th>detail</th></tr>')
        for r in sorted(found, key=lambda r: r.ok):
            status = "ok" if r.ok else r.check.severity.value
            cells = (r.check.id, r.subject, r.detail)
            parts.append(
                f'<tr class="{status}"><td class="status">{status}</td>'
                + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
                + "</tr>"
            )
        parts.append("</table>")
        own = (mailboxes or {}).get(tenant, {})
        if own:
            parts.append("<h3>Mailboxes</h3><table><tr><th>status</th><th>mailbox</th></tr>")
            parts += [
                f'<tr class="{status}"><td class="status">{status}</td><td>{html.escape(address)}</td></tr>'
                for address, status in sorted(own.items(), key=lambda kv: (kv[1] == "ok", kv[0]))
            ]
            parts.append("</table>")
    if not_deployed:
        parts.append(f"<p>Not deployed yet (no stack): {html.escape(', '.join(not_deployed))}.</p>")
    return "".join(parts) + "</body></html>\n"
