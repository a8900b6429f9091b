"""Apply defaults and the cross-field rules to a validated spec, giving the tenant the planner uses.

Pure: a `TenantSpec` in, a `Tenant` and a list of `(Loc, message)` problems out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

from mailbox_iac.dns.spf import MAX_LOOKUPS, lookup_count
from mailbox_iac.spec import names
from mailbox_iac.spec.errors import Loc
from mailbox_iac.spec.model import Dkim, Dmarc, MtaSts, Spf, TenantSpec, TlsRpt, Warmup

Problem = tuple[Loc, str]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Server:
    name: str
    hostname: str
    location: int
    plan: int
    image: str
    billing_cycle: str
    ssh_keys: tuple[str, ...]


@dataclass(frozen=True)
class Mailbox:
    local: str
    address: str
    name: str
    quota_mb: int
    daily_limit: int
    warmup: Warmup


@dataclass(frozen=True)
class Domain:
    name: str
    zone: str
    server: str
    dkim: Dkim
    dmarc: Dmarc
    spf: Spf
    mta_sts: MtaSts
    tls_rpt: TlsRpt | None
    catch_all: str | None
    forwards: dict[str, tuple[str, ...]]
    no_mail: tuple[str, ...]
    mailboxes: tuple[Mailbox, ...]


@dataclass(frozen=True)
class Tenant:
    tenant: str
    ttl: int
    servers: dict[str, Server]
    domains: tuple[Domain, ...]


def merged(default: M | None, override: M | None, fallback: M) -> M:
    """Field-wise merge: fields the override sets win over the default's, which win over the fallback."""
    base = default if default is not None else fallback
    if override is None:
        return base
    return base.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})


def _for_domain(address: str, domain: str) -> str:
    return address.replace("{domain}", domain)


def _servers(spec: TenantSpec, problems: list[Problem]) -> dict[str, Server]:
    d = spec.defaults.server
    out = {}
    for name, s in spec.servers.items():
        values = {}
        for key in ("location", "plan", "image"):
            value = getattr(s, key) if getattr(s, key) is not None else getattr(d, key)
            if value is None:
                problems.append((("servers", name, key), f"required (here or in defaults.server.{key})"))
            values[key] = value
        out[name] = Server(
            name=name,
            hostname=s.hostname,
            location=values["location"] or 0,
            plan=values["plan"] or 0,
            image=values["image"] or "",
            billing_cycle=s.billing_cycle or d.billing_cycle or "monthly",
            ssh_keys=tuple(s.ssh_keys if s.ssh_keys is not None else d.ssh_keys or ()),
        )
    return out


def resolve(spec: TenantSpec) -> tuple[Tenant, list[Problem]]:
    problems: list[Problem] = []
    servers = _servers(spec, problems)
    zones = {d.zone or d.name for d in spec.domains}
    hostnames: dict[str, str] = {}
    for name, server in servers.items():
        if server.hostname in hostnames:
            problems.append(
                (("servers", name, "hostname"), f"hostname already used by server {hostnames[server.hostname]!r}")
            )
        hostnames[server.hostname] = name
        if not any(names.is_within(server.hostname, z) for z in zones):
            problems.append(
                (("servers", name, "hostname"), "must lie in one of the tenant's zones so its A record can be managed")
            )

    dd, md = spec.defaults.domain, spec.defaults.mailbox
    domains = []
    seen_domains: dict[str, int] = {}
    for i, d in enumerate(spec.domains):
        loc: Loc = ("domains", i)
        if d.name in seen_domains:
            problems.append(
                (loc + ("name",), f"domain {d.name!r} is declared twice (also domains[{seen_domains[d.name]}])")
            )
        seen_domains[d.name] = i
        zone = d.zone or d.name
        if not names.is_within(d.name, zone):
            problems.append((loc + ("zone",), f"zone {zone!r} does not contain the domain {d.name!r}"))

        server_name = d.server
        if server_name is None:
            if len(servers) == 1:
                server_name = next(iter(servers))
            else:
                problems.append((loc + ("server",), f"required: the tenant has {len(servers)} servers"))
                server_name = ""
        elif server_name not in servers:
            known = ", ".join(sorted(servers)) or "none"
            problems.append((loc + ("server",), f"unknown server {server_name!r} (declared: {known})"))

        spf = merged(dd.spf, d.spf, Spf())
        lookups = 1 + lookup_count(spf.extra)  # the 'mx' term mailbox-iac adds
        if lookups > MAX_LOOKUPS:
            problems.append(
                (loc + ("spf", "extra"), f"SPF would need {lookups} DNS lookups; RFC 7208 allows {MAX_LOOKUPS}")
            )

        mailboxes = []
        seen_locals: dict[str, int] = {}
        for j, m in enumerate(d.mailboxes):
            if m.local in seen_locals:
                problems.append(
                    (
                        loc + ("mailboxes", j, "local"),
                        f"mailbox {m.local}@{d.name} is declared twice (also mailboxes[{seen_locals[m.local]}])",
                    )
                )
            seen_locals[m.local] = j
            mailboxes.append(
                Mailbox(
                    local=m.local,
                    address=f"{m.local}@{d.name}",
                    name=m.name or "",
                    quota_mb=m.quota_mb or md.quota_mb or 1024,
                    daily_limit=m.daily_limit or md.daily_limit or 30,
                    warmup=merged(md.warmup, m.warmup, Warmup()),
                )
            )
        for alias in d.forwards:
            if alias in seen_locals:
                problems.append((loc + ("forwards", alias), f"{alias}@{d.name} is already a mailbox"))
        if d.catch_all is not None and d.catch_all not in seen_locals:
            problems.append((loc + ("catch_all",), f"{d.catch_all!r} is not a mailbox of {d.name}"))

        no_mail = []
        for k, raw in enumerate(d.no_mail):
            fqdn = raw if names.is_within(raw, d.name) else f"{raw}.{d.name}"
            try:
                names.check_hostname(fqdn)
            except ValueError as exc:
                problems.append((loc + ("no_mail", k), str(exc)))
                continue
            if fqdn == d.name or fqdn in hostnames or fqdn in (f"mta-sts.{d.name}",) or fqdn in no_mail:
                problems.append((loc + ("no_mail", k), f"{fqdn!r} cannot be a no-mail name (it is used or repeated)"))
                continue
            no_mail.append(fqdn)

        dmarc = merged(dd.dmarc, d.dmarc, Dmarc())
        tls_rpt = d.tls_rpt or dd.tls_rpt  # its only field is required, so there is nothing to merge
        domains.append(
            Domain(
                name=d.name,
                zone=zone,
                server=server_name,
                dkim=merged(dd.dkim, d.dkim, Dkim()),
                dmarc=dmarc.model_copy(update={"rua": _for_domain(dmarc.rua, d.name) if dmarc.rua else None}),
                spf=spf,
                mta_sts=merged(dd.mta_sts, d.mta_sts, MtaSts()),
                tls_rpt=tls_rpt.model_copy(update={"rua": _for_domain(tls_rpt.rua, d.name)}) if tls_rpt else None,
                catch_all=d.catch_all,
                forwards={a: tuple(_for_domain(t, d.name) for t in ts) for a, ts in d.forwards.items()},
                no_mail=tuple(no_mail),
                mailboxes=tuple(mailboxes),
            )
        )
    return Tenant(spec.tenant, spec.defaults.ttl, servers, tuple(domains)), problems
