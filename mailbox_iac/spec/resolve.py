"""Apply defaults and the cross-field rules to a validated spec, giving the tenant the planner uses.

Pure: a `TenantSpec` in, a `Tenant` and a list of `(Loc, message)` problems out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import TypeVar

from pydantic import BaseModel

from mailbox_iac.dns.spf import MAX_LOOKUPS, lookup_count
from mailbox_iac.servers import registry
from mailbox_iac.spec import names, roles
from mailbox_iac.spec.defaults import DEFAULT_BACKEND, DEFAULT_BILLING_CYCLE, DEFAULT_DAILY_LIMIT, DEFAULT_QUOTA_MB
from mailbox_iac.spec.errors import Loc
from mailbox_iac.spec.model import (
    Dkim,
    Dmarc,
    MailboxSettings,
    MtaSts,
    ServerSettings,
    Spf,
    TenantSpec,
    TlsRpt,
    Warmup,
)
from mailbox_iac.spec.model import Domain as SpecDomain

Problem = tuple[Loc, str]
DEFAULT_RUA: Loc = ("defaults", "domain", "dmarc", "rua")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Server:
    name: str
    backend: str
    hostname: str
    region: int | str  # the spec's `location`
    size: int | str  # the spec's `plan`
    image: str
    billing_cycle: str
    ssh_keys: tuple[str, ...]
    ipv6: bool


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
class SequencerAccount:
    """One mailbox's account in one sequencer workspace, its settings there resolved."""

    sequencer: str  # the spec's name for the workspace
    kind: str  # instantly, smartlead
    api_key: str  # the name of the stack secret holding the workspace's key
    address: str
    daily_limit: int
    warmup: Warmup


@dataclass(frozen=True)
class Tenant:
    tenant: str
    ttl: int
    servers: dict[str, Server]
    domains: tuple[Domain, ...]  # forwards include the role and report addresses (spec/roles.py)
    warnings: tuple[Problem, ...] = ()  # valid, but receivers will not do what the spec seems to want
    sequencer_accounts: tuple[SequencerAccount, ...] = ()


@functools.cache
def _blank(model: type[M]) -> M:
    """One shared all-defaults instance per (frozen) model: building 5,000 of them cost 0.1 s per plan."""
    return model()


def merged(default: M | None, override: M | None, fallback: type[M]) -> M:
    """Field-wise merge: fields the override sets win over the default's, which win over the fallback's defaults."""
    base = default if default is not None else _blank(fallback)
    if override is None:
        return base
    return base.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})


def _for_domain(address: str, domain: str) -> str:
    return address.replace("{domain}", domain)


def _servers(spec: TenantSpec, problems: list[Problem]) -> dict[str, Server]:
    """Each server's settings over `defaults.server`, checked by the backend it names."""
    d = spec.defaults.server
    out = {}
    for name, s in spec.servers.items():
        values = {k: getattr(s, k) if getattr(s, k) is not None else getattr(d, k) for k in ServerSettings.model_fields}
        values["backend"] = values["backend"] or DEFAULT_BACKEND
        values["billing_cycle"] = values["billing_cycle"] or DEFAULT_BILLING_CYCLE
        try:
            backend = registry.get(values["backend"])
        except registry.UnknownBackend as exc:
            problems.append((("servers", name, "backend"), str(exc.args[0])))
        else:
            problems += [(("servers", name, key), message) for key, message in backend.problems(values)]
        out[name] = Server(
            name=name,
            backend=values["backend"],
            hostname=s.hostname,
            region=values["location"] or 0,
            size=values["plan"] or 0,
            image=values["image"] or "",
            billing_cycle=values["billing_cycle"],
            ssh_keys=tuple(values["ssh_keys"] or ()),
            ipv6=bool(values["ipv6"]),
        )
    return out


def _hostname_problems(servers: dict[str, Server], zones: set[str]) -> list[Problem]:
    problems: list[Problem] = []
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
    return problems


def _server_of(d: SpecDomain, loc: Loc, servers: dict[str, Server], problems: list[Problem]) -> str:
    if d.server is None:
        if len(servers) == 1:
            return next(iter(servers))
        problems.append((loc + ("server",), f"required: the tenant has {len(servers)} servers"))
        return ""
    if d.server not in servers:
        known = ", ".join(sorted(servers)) or "none"
        problems.append((loc + ("server",), f"unknown server {d.server!r} (declared: {known})"))
    return d.server


def _mailboxes(d: SpecDomain, loc: Loc, defaults: MailboxSettings, problems: list[Problem]) -> tuple[Mailbox, ...]:
    mailboxes = []
    seen: dict[str, int] = {}
    for j, m in enumerate(d.mailboxes):
        if m.local in seen:
            problems.append(
                (
                    loc + ("mailboxes", j, "local"),
                    f"mailbox {m.local}@{d.name} is declared twice (also mailboxes[{seen[m.local]}])",
                )
            )
        seen[m.local] = j
        mailboxes.append(
            Mailbox(
                local=m.local,
                address=f"{m.local}@{d.name}",
                name=m.name or "",
                quota_mb=m.quota_mb or defaults.quota_mb or DEFAULT_QUOTA_MB,
                daily_limit=m.daily_limit or defaults.daily_limit or DEFAULT_DAILY_LIMIT,
                warmup=merged(defaults.warmup, m.warmup, Warmup),
            )
        )
    for alias in d.forwards:
        if alias in seen:
            problems.append((loc + ("forwards", alias), f"{alias}@{d.name} is already a mailbox"))
    if d.catch_all is not None and d.catch_all not in seen:
        problems.append((loc + ("catch_all",), f"{d.catch_all!r} is not a mailbox of {d.name}"))
    return tuple(mailboxes)


def _no_mail(d: SpecDomain, loc: Loc, hostnames: set[str], problems: list[Problem]) -> tuple[str, ...]:
    no_mail: list[str] = []
    for k, raw in enumerate(d.no_mail):
        fqdn = raw if names.is_within(raw, d.name) else f"{raw}.{d.name}"
        try:
            names.check_hostname(fqdn)
        except ValueError as exc:
            problems.append((loc + ("no_mail", k), str(exc)))
            continue
        if fqdn in (d.name, f"mta-sts.{d.name}") or fqdn in hostnames or fqdn in no_mail:
            problems.append((loc + ("no_mail", k), f"{fqdn!r} cannot be a no-mail name (it is used or repeated)"))
            continue
        no_mail.append(fqdn)
    return tuple(no_mail)


def _domain(spec: TenantSpec, i: int, servers: dict[str, Server], problems: list[Problem]) -> Domain:
    d, dd = spec.domains[i], spec.defaults.domain
    loc: Loc = ("domains", i)
    zone = d.zone or d.name
    if not names.is_within(d.name, zone):
        problems.append((loc + ("zone",), f"zone {zone!r} does not contain the domain {d.name!r}"))
    spf = merged(dd.spf, d.spf, Spf)
    lookups = 1 + lookup_count(spf.extra)  # the 'mx' term mailbox-iac adds
    if lookups > MAX_LOOKUPS:
        problems.append(
            (loc + ("spf", "extra"), f"SPF would need {lookups} DNS lookups; RFC 7208 allows {MAX_LOOKUPS}")
        )
    dmarc = merged(dd.dmarc, d.dmarc, Dmarc)
    dkim = merged(dd.dkim, d.dkim, Dkim)
    seen = {dkim.selector}
    for k, p in enumerate(dkim.previous):
        if p.selector in seen:
            problems.append((loc + ("dkim", "previous", k, "selector"), f"selector {p.selector!r} is listed twice"))
        seen.add(p.selector)
    tls_rpt = d.tls_rpt or dd.tls_rpt  # its only field is required, so there is nothing to merge
    return Domain(
        name=d.name,
        zone=zone,
        server=_server_of(d, loc, servers, problems),
        dkim=dkim,
        dmarc=dmarc.model_copy(update={"rua": _for_domain(dmarc.rua, d.name) if dmarc.rua else None}),
        spf=spf,
        mta_sts=merged(dd.mta_sts, d.mta_sts, MtaSts),
        tls_rpt=tls_rpt.model_copy(update={"rua": _for_domain(tls_rpt.rua, d.name)}) if tls_rpt else None,
        catch_all=d.catch_all,
        forwards={a: tuple(_for_domain(t, d.name) for t in ts) for a, ts in d.forwards.items()},
        no_mail=_no_mail(d, loc, {s.hostname for s in servers.values()}, problems),
        mailboxes=_mailboxes(d, loc, spec.defaults.mailbox, problems),
    )


def resolve(spec: TenantSpec) -> tuple[Tenant, list[Problem]]:
    problems: list[Problem] = []
    servers = _servers(spec, problems)
    problems += _hostname_problems(servers, {d.zone or d.name for d in spec.domains})
    domains = []
    seen_domains: dict[str, int] = {}
    for i, d in enumerate(spec.domains):
        if d.name in seen_domains:
            problems.append(
                (("domains", i, "name"), f"domain {d.name!r} is declared twice (also domains[{seen_domains[d.name]}])")
            )
        seen_domains[d.name] = i
        domains.append(_domain(spec, i, servers, problems))
    postmaster = _postmaster(spec, domains, problems)
    forwards = roles.role_forwards(domains, postmaster) if postmaster else {}
    domains = [replace(d, forwards={**d.forwards, **forwards.get(d.name, {})}) for d in domains]
    warnings = _warnings(spec, domains, postmaster)
    accounts = _sequencer_accounts(spec, domains, problems)
    return Tenant(spec.tenant, spec.defaults.ttl, servers, tuple(domains), warnings, accounts), problems


def _sequencer_accounts(
    spec: TenantSpec, domains: list[Domain], problems: list[Problem]
) -> tuple[SequencerAccount, ...]:
    """Each sequencer's mailboxes (its domains' and its single ones; every mailbox when it names neither),
    with the sequencer's and the override's settings over the mailbox's own."""
    by_address = {m.address: m for d in domains for m in d.mailboxes}
    by_domain = {d.name: [m.address for m in d.mailboxes] for d in domains}
    accounts = []
    for name, seq in spec.sequencers.items():
        loc: Loc = ("sequencers", name)
        chosen: dict[str, None] = {}
        for k, domain in enumerate(seq.domains or []):
            if domain not in by_domain:
                problems.append((loc + ("domains", k), f"{domain!r} is not one of the tenant's domains"))
            chosen.update(dict.fromkeys(by_domain.get(domain, [])))
        for k, address in enumerate(seq.mailboxes or []):
            if address not in by_address:
                problems.append((loc + ("mailboxes", k), f"{address!r} is not one of the tenant's mailboxes"))
            chosen[address] = None
        if seq.domains is None and seq.mailboxes is None:
            chosen = dict.fromkeys(by_address)
        for address in seq.overrides:
            if address not in chosen:
                problems.append((loc + ("overrides", address), f"{address!r} is not a mailbox this sequencer gets"))
        for address in (a for a in chosen if a in by_address):
            mailbox, override = by_address[address], seq.overrides.get(address)
            warmup = merged(merged(mailbox.warmup, seq.warmup, Warmup), override.warmup if override else None, Warmup)
            limit = (override.daily_limit if override else None) or seq.daily_limit or mailbox.daily_limit
            accounts.append(SequencerAccount(name, seq.kind, seq.api_key, address, limit, warmup))
    return tuple(accounts)


def _postmaster(spec: TenantSpec, domains: list[Domain], problems: list[Problem]) -> str:
    """The spec's `postmaster`, or the first mailbox; one of the tenant's own addresses must be delivered."""
    mailboxes = [m.address for d in domains for m in d.mailboxes]
    if spec.postmaster is None:
        return mailboxes[0] if mailboxes else ""
    local, _, domain = spec.postmaster.rpartition("@")
    owned = next((d for d in domains if d.name == domain), None)
    if owned is not None and spec.postmaster not in mailboxes and local not in owned.forwards:
        problems.append(
            (("postmaster",), f"{spec.postmaster} is in the tenant's domain {domain} but no mailbox or forward of it")
        )
    return spec.postmaster


def _warnings(spec: TenantSpec, domains: list[Domain], postmaster: str) -> tuple[Problem, ...]:
    ours = {d.name for d in domains}
    warnings: list[Problem] = []
    if domains and not postmaster:
        warnings.append(
            (("postmaster",), "postmaster@ and abuse@ of every domain bounce: no mailbox receives them; set postmaster")
        )
    for i, d in enumerate(domains):
        destination = roles.report_destination(d.name, d.dmarc.rua)
        if destination and destination not in ours:
            own = spec.domains[i].dmarc
            warnings.append(
                (
                    ("domains", i, "dmarc", "rua") if own and "rua" in own.model_fields_set else DEFAULT_RUA,
                    f"receivers will send {d.name}'s DMARC reports to {d.dmarc.rua} only if {destination} publishes "
                    f'{d.name}._report._dmarc.{destination} TXT "{roles.REPORT_AUTHORISATION}" (RFC 7489 §7.1)',
                )
            )
    return tuple(warnings)
