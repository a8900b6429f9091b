"""Resolved tenant (+ known facts) -> desired state. Pure and deterministic: same input, same output."""

from __future__ import annotations

from datetime import date

from mailbox_iac.dns import records, txt
from mailbox_iac.plan.model import (
    IMAPS_PORT,
    SMTP_SUBMISSION_PORT,
    SMTPS_PORT,
    DesiredState,
    DkimKeyPlan,
    DkimPublicKey,
    DnsRecord,
    Facts,
    MailboxPlan,
    MailHostPlan,
    Reference,
    SequencerAccountPlan,
    ServerIp,
    ServerPlan,
)
from mailbox_iac.sequencers.terms import WARMUP_TERMS
from mailbox_iac.spec import roles
from mailbox_iac.spec.names import is_within, name_parts
from mailbox_iac.spec.resolve import Domain, Mailbox, SequencerAccount, Server, Tenant


def server_label(tenant: str, server: str) -> str:
    """A server's label at its backend: unique per tenant and server, so a retry finds and adopts it."""
    return f"mbx-{tenant}-{server}"


class _Records:
    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self.out: list[DnsRecord] = []

    def add(
        self,
        zone: str,
        name: str,
        rtype: str,
        content: str,
        purpose: str,
        domain: str,
        priority: int | None = None,
        needs: Reference | None = None,
    ) -> None:
        if rtype == "TXT":
            content = txt.quote(content)
        self.out.append(DnsRecord(zone, name, rtype, content, self.ttl, priority, purpose, domain, needs))

    def ip(self, zone: str, name: str, server: Server, facts: Facts, purpose: str, domain: str) -> None:
        ip = facts.server_ips.get(server.name)
        needs = None if ip else ServerIp(server.name)
        self.add(zone, name, "A", ip or str(needs), purpose, domain, needs=needs)


def published_selectors(d: Domain, today: date) -> tuple[str, ...]:
    """The domain's DKIM selectors in DNS: the one that signs, then the previous ones until their day ends."""
    return (d.dkim.selector, *(p.selector for p in d.dkim.previous if p.until is None or p.until >= today))


def _domain_records(r: _Records, d: Domain, server: Server, facts: Facts) -> None:
    r.add(d.zone, d.name, "MX", server.hostname, "mx", d.name, priority=records.MX_PRIORITY)
    r.add(d.zone, d.name, "TXT", records.spf(d.spf), "spf", d.name)
    for selector in published_selectors(d, facts.today):
        key = facts.dkim_public_keys.get((d.name, selector))
        needs = None if key else DkimPublicKey(d.name, selector)
        name = f"{selector}._domainkey.{d.name}"
        r.add(d.zone, name, "TXT", records.dkim(key or str(needs)), "dkim", d.name, needs=needs)
    r.add(d.zone, f"_dmarc.{d.name}", "TXT", records.dmarc(d.dmarc), "dmarc", d.name)
    policy = records.mta_sts_policy(d.mta_sts, [server.hostname])
    r.add(d.zone, f"_mta-sts.{d.name}", "TXT", records.mta_sts_txt(policy), "mta-sts", d.name)
    r.ip(d.zone, f"mta-sts.{d.name}", server, facts, "mta-sts-host", d.name)
    if d.tls_rpt:
        r.add(d.zone, f"_smtp._tls.{d.name}", "TXT", records.tls_rpt(d.tls_rpt), "tls-rpt", d.name)
    for name in d.no_mail:
        r.add(d.zone, name, "MX", records.NULL_MX, "null-mx", d.name, priority=0)
        r.add(d.zone, name, "TXT", records.SPF_NOTHING, "null-mx", d.name)
        r.add(d.zone, f"_dmarc.{name}", "TXT", records.DMARC_REJECT, "null-mx", d.name)


def _report_authorisations(r: _Records, domains: tuple[Domain, ...]) -> None:
    """Each of the tenant's domains that receives another organisation's DMARC reports says it agrees to."""
    zone_of = {d.name: d.zone for d in domains}
    for d in domains:
        destination = roles.report_destination(d.name, d.dmarc.rua)
        if destination in zone_of:
            name = f"{d.name}._report._dmarc.{destination}"
            # checked with the destination's records: its zone's servers answer for it
            r.add(zone_of[destination], name, "TXT", roles.REPORT_AUTHORISATION, "dmarc-report-auth", destination)


def _helo(r: _Records, zone: str, server: Server, taken: set[str]) -> None:
    """SPF for the HELO name (RFC 7208 §2.3), unless the name is a mail domain with its own SPF."""
    if server.hostname not in taken:
        r.add(zone, server.hostname, "TXT", records.SPF_HELO, "helo-spf", zone)


def _mailhost(server: Server, domains: list[Domain]) -> MailHostPlan:
    aliases: list[tuple[str, tuple[str, ...]]] = []
    for d in domains:
        aliases += [(f"{alias}@{d.name}", targets) for alias, targets in sorted(d.forwards.items())]
        if d.catch_all:
            aliases.append((f"@{d.name}", (f"{d.catch_all}@{d.name}",)))
    return MailHostPlan(
        server=server.name,
        hostname=server.hostname,
        domains=tuple(d.name for d in domains),
        mailboxes=tuple((m.address, m.quota_mb) for d in domains for m in d.mailboxes),
        aliases=tuple(aliases),
        dkim=tuple((d.name, d.dkim.selector) for d in domains),
        mta_sts_policies=tuple((d.name, records.mta_sts_policy(d.mta_sts, [server.hostname])) for d in domains),
        sending_limits=tuple((m.address, m.daily_limit) for d in domains for m in d.mailboxes),
        warmups=tuple(
            (m.address, w.start.isoformat(), w.start_per_day, w.increment_per_day)
            for d in domains
            for m in d.mailboxes
            if (w := m.warmup).enabled and w.start
        ),
        ipv6=server.ipv6,
    )


def _mailbox(d: Domain, server: Server, m: Mailbox) -> MailboxPlan:
    return MailboxPlan(
        address=m.address,
        domain=d.name,
        server=server.name,
        display_name=m.name,
        username=m.address,
        smtp_host=server.hostname,
        smtp_port=SMTP_SUBMISSION_PORT,
        smtp_tls="starttls",
        smtps_port=SMTPS_PORT,
        imap_host=server.hostname,
        imap_port=IMAPS_PORT,
        imap_tls="ssl",
        quota_mb=m.quota_mb,
        daily_limit=m.daily_limit,
        warmup=m.warmup.model_dump(mode="json"),
    )


def plan(tenant: Tenant, facts: Facts | None = None) -> DesiredState:
    facts = facts or Facts()
    r = _Records(tenant.ttl)
    zones = sorted({d.zone for d in tenant.domains}, key=len, reverse=True)
    with_spf = {d.name for d in tenant.domains} | {n for d in tenant.domains for n in d.no_mail}
    for server in tenant.servers.values():
        zone = next(z for z in zones if is_within(server.hostname, z))
        r.ip(zone, server.hostname, server, facts, "mail-host", zone)
        _helo(r, zone, server, with_spf)
    for d in tenant.domains:
        _domain_records(r, d, tenant.servers[d.server], facts)
    _report_authorisations(r, tenant.domains)

    mailboxes = tuple(_mailbox(d, tenant.servers[d.server], m) for d in tenant.domains for m in d.mailboxes)
    by_address = {m.address: m for m in mailboxes}
    return DesiredState(
        tenant=tenant.tenant,
        servers=tuple(
            ServerPlan(
                name=s.name,
                backend=s.backend,
                label=server_label(tenant.tenant, s.name),
                hostname=s.hostname,
                region=s.region,
                size=s.size,
                image=s.image,
                billing_cycle=s.billing_cycle,
                ssh_keys=s.ssh_keys,
                ip=facts.server_ips.get(s.name),
            )
            for s in tenant.servers.values()
        ),
        dns_records=tuple(r.out),
        dkim_keys=tuple(
            DkimKeyPlan(d.name, selector, d.dkim.key_size, signing=selector == d.dkim.selector)
            for d in tenant.domains
            for selector in published_selectors(d, facts.today)
        ),
        mailhosts=tuple(
            _mailhost(s, [d for d in tenant.domains if d.server == s.name]) for s in tenant.servers.values()
        ),
        mailboxes=mailboxes,
        sequencer_accounts=tuple(_sequencer_account(a, by_address[a.address]) for a in tenant.sequencer_accounts),
    )


def _sequencer_account(account: SequencerAccount, mailbox: MailboxPlan) -> SequencerAccountPlan:
    first, last = name_parts(mailbox.display_name, mailbox.address)
    return SequencerAccountPlan(
        sequencer=account.sequencer,
        kind=account.kind,
        api_key=account.api_key,
        address=account.address,
        first_name=first,
        last_name=last,
        daily_limit=account.daily_limit,
        warmup=WARMUP_TERMS[account.kind](account.warmup),
    )
