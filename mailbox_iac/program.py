"""The Pulumi program of a tenant stack: spec -> plan -> resources. Thin; the decisions are in the planner.

Graph (each arrow a real dependency, so independent work runs in parallel):
  ChangeBudget -> everything;   SshKey -> Hostwinds SshKey -> Instance -> ReverseDns (after the A record)
  Instance.main_ip -> A records (mail host, mta-sts) and MailHost -> Mailbox (host key pinned by MailHost)
  MailHost + those A records -> Certificate (ACME HTTP-01) -> Readiness (verifies the certificate)
  DkimKey -> DKIM TXT record and MailHost;   SPF, DMARC, MX, MTA-STS, TLS-RPT TXT: no waiting at all.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare
from pulumi import automation as auto

from hostwinds_dynamic.provider import InstanceProvider
from hostwinds_dynamic.resources import Instance, ReverseDns
from hostwinds_dynamic.resources import SshKey as HostwindsSshKey
from mailbox_iac import adopt, cloudflare_api, project
from mailbox_iac.credentials.resources import DkimKey, Password, SshKey
from mailbox_iac.dns import records, txt
from mailbox_iac.guards import ChangeBudget
from mailbox_iac.mailhost.resources import Certificate, Mailbox, MailHost
from mailbox_iac.plan.model import DesiredState, DnsRecord, Facts, MailboxPlan
from mailbox_iac.plan.planner import plan
from mailbox_iac.readiness import Readiness
from mailbox_iac.spec.errors import SpecInvalid
from mailbox_iac.spec.load import load_file


class ProgramError(pulumi.RunError):
    """A problem with the stack's configuration or spec: shown to the user without a traceback."""


@dataclass(frozen=True)
class Settings:
    """The stack configuration (`mailbox-iac:*`) the program reads."""

    stack: str
    spec_path: Path
    allowed_zones: tuple[str, ...]
    zone_ids: dict[str, str] = field(default_factory=dict)
    allow_server_replacement: bool = False
    allow_mass_changes: bool = False
    protect_servers: bool = True
    password_rotation: dict[str, int] = field(default_factory=dict)
    hostwinds_poll_seconds: float = 10.0
    acme_directory: str = ""  # empty: the provider's default (MAILBOX_IAC_ACME_DIRECTORY, else Let's Encrypt)
    acme_email: str = ""
    adopt_records: dict[str, str] = field(default_factory=dict)  # record key -> import id (adopt.py)
    operator_networks: tuple[str, ...] = ()  # where mailbox-iac and its operators work from: never banned

    @classmethod
    def from_config(cls, project_dir: Path) -> Settings:
        """`project_dir`: where Pulumi.yaml is; a relative `mailbox-iac:spec` is taken from there."""
        cfg = pulumi.Config("mailbox-iac")
        stack = pulumi.get_stack()
        zones = cfg.get_object("allowedZones")
        if not isinstance(zones, list) or not zones:
            raise ProgramError(
                f"stack {stack}: set the zones this stack may manage, e.g. "
                f"`pulumi config set --path 'mailbox-iac:allowedZones[0]' example.com`"
            )
        return cls(
            stack=stack,
            spec_path=project_dir / (cfg.get("spec") or f"specs/{stack}.yaml"),
            allowed_zones=tuple(str(z) for z in zones),
            zone_ids={str(k): str(v) for k, v in (cfg.get_object("zoneIds") or {}).items()},
            allow_server_replacement=bool(cfg.get_bool("allowServerReplacement")),
            allow_mass_changes=bool(cfg.get_bool("allowMassChanges")),
            protect_servers=cfg.get_bool("protectServers") is not False,
            password_rotation={str(k): int(v) for k, v in (cfg.get_object("passwordRotation") or {}).items()},
            hostwinds_poll_seconds=cfg.get_float("hostwindsPollSeconds") or 10.0,
            acme_directory=cfg.get("acmeDirectory") or "",
            acme_email=cfg.get("acmeEmail") or "",
            operator_networks=_networks(stack, cfg.get_object("operatorNetworks") or []),
        )


def _networks(stack: str, values: Any) -> tuple[str, ...]:
    """`mailbox-iac:operatorNetworks`: addresses or networks (CIDR) that fail2ban never bans."""
    if not isinstance(values, list):
        values = [values]
    networks = []
    for value in values:
        try:
            networks.append(str(ipaddress.ip_network(str(value), strict=False)))
        except ValueError:
            raise ProgramError(
                f"stack {stack}: mailbox-iac:operatorNetworks: {value!r} is not an IP address or network "
                "(e.g. 203.0.113.7 or 2001:db8::/48)"
            ) from None
    return tuple(networks)


def zone_violations(state: DesiredState, allowed: tuple[str, ...]) -> list[str]:
    """Zones the plan would touch that the stack may not manage (tenant isolation)."""
    return sorted({r.zone for r in state.dns_records} - set(allowed))


def desired_state(settings: Settings) -> DesiredState:
    try:
        tenant = load_file(settings.spec_path).tenant
    except SpecInvalid as exc:
        raise ProgramError(f"the spec of stack {settings.stack} is invalid:\n{exc}") from None
    if tenant.tenant != settings.stack:
        raise ProgramError(
            f"{settings.spec_path} declares tenant {tenant.tenant!r}, but this is stack {settings.stack!r}"
        )
    state = plan(tenant)
    outside = zone_violations(state, settings.allowed_zones)
    if outside:
        raise ProgramError(
            f"stack {settings.stack} may only manage {', '.join(settings.allowed_zones)}, but the spec also uses "
            f"{', '.join(outside)}. If this tenant really owns them, add them to mailbox-iac:allowedZones."
        )
    return state


def _record_content(
    r: DnsRecord, servers: dict[str, Instance], dkim: dict[tuple[str, str], DkimKey]
) -> pulumi.Input[str]:
    """The record's content, waiting for the fact it needs (a server IP, a DKIM key) only if it needs one."""
    if r.needs is None:
        return r.content
    kind, _, ref = r.needs.partition(":")
    if kind == "server_ip":
        return servers[ref].main_ip
    domain, _, selector = ref.partition("/")
    return dkim[(domain, selector)].public_key.apply(lambda key: txt.quote(records.dkim(key)))


def declare(state: DesiredState, settings: Settings) -> None:
    tenant = state.tenant
    budget = ChangeBudget(
        "change-budget",
        tenant=tenant,
        dns_records=[r.key for r in state.dns_records],
        mailboxes=[m.address for m in state.mailboxes],
        allow_mass_changes=settings.allow_mass_changes,
    )
    after_budget = pulumi.ResourceOptions(depends_on=[budget])

    ssh = SshKey("ssh-key", comment=f"mailbox-iac-{tenant}", opts=after_budget)
    key_name = f"mbx-{tenant}"
    hw_key = HostwindsSshKey("hostwinds-ssh-key", name=key_name, public_key=ssh.public_key, opts=after_budget)
    servers: dict[str, Instance] = {}
    for s in state.servers:
        servers[s.name] = Instance(
            f"server-{s.name}",
            location_id=s.location,
            template=s.image,
            rid=s.plan,
            srvrname=s.srvrname,
            ssh_keys=[key_name, *s.ssh_keys],
            billing_cycle=s.billing_cycle,
            allow_replace=settings.allow_server_replacement,
            provider=InstanceProvider(poll_interval=settings.hostwinds_poll_seconds),
            opts=pulumi.ResourceOptions(
                depends_on=[budget, hw_key], protect=settings.protect_servers and not settings.allow_server_replacement
            ),
        )

    dkim = {
        (k.domain, k.selector): DkimKey(
            f"dkim-{k.domain}-{k.selector}", domain=k.domain, selector=k.selector, bits=k.bits, opts=after_budget
        )
        for k in state.dkim_keys
    }
    zone_ids: dict[str, pulumi.Input[str]] = {
        z: settings.zone_ids.get(z) or cloudflare.get_zone_output(filter={"name": z, "match": "all"}).id
        for z in sorted({r.zone for r in state.dns_records})
    }
    dns: dict[str, cloudflare.DnsRecord] = {}
    for r in state.dns_records:
        dns[r.key] = cloudflare.DnsRecord(
            f"dns-{r.type}-{r.name}",
            zone_id=zone_ids[r.zone],
            name=r.name,
            type=r.type,
            content=_record_content(r, servers, dkim),
            ttl=r.ttl,
            priority=r.priority,
            comment=adopt.comment(tenant),
            opts=pulumi.ResourceOptions(
                depends_on=[budget],
                import_=settings.adopt_records.get(r.key),
                ignore_changes=adopt.IGNORED_WHILE_ADOPTING if r.key in settings.adopt_records else None,
            ),
        )

    hosts: dict[str, MailHost] = {}
    certs: dict[str, Certificate] = {}
    rdns: dict[str, ReverseDns] = {}
    for s in state.servers:
        rdns[s.name] = ReverseDns(
            f"rdns-{s.name}",
            serviceid=servers[s.name].serviceid,
            ip=servers[s.name].main_ip,
            hostname=s.hostname,
            opts=pulumi.ResourceOptions(depends_on=[dns[f"A:{s.hostname}"]]),
        )
    for mh in state.mailhosts:
        hosts[mh.server] = MailHost(
            f"mailhost-{mh.server}",
            host=servers[mh.server].main_ip,
            private_key=ssh.private_key,
            plan=mh,
            dkim_keys=pulumi.Output.all(**{f"{d}/{sel}": dkim[(d, sel)].private_key for d, sel in mh.dkim}),
            operator_networks=settings.operator_networks,
            opts=after_budget,
        )
        names = [mh.hostname, *(f"mta-sts.{d}" for d, _ in mh.mta_sts_policies)]
        certs[mh.server] = Certificate(
            f"certificate-{mh.server}",
            host=servers[mh.server].main_ip,
            private_key=ssh.private_key,
            host_key=hosts[mh.server].host_key,
            names=names,
            directory=settings.acme_directory,
            email=settings.acme_email,
            # HTTP-01 validation resolves each name: its A record must exist first.
            opts=pulumi.ResourceOptions(depends_on=[hosts[mh.server], *(dns[f"A:{n}"] for n in names)]),
        )

    passwords: dict[str, Password] = {}
    ready: dict[str, pulumi.Output[bool]] = {}
    for m in state.mailboxes:
        passwords[m.address] = Password(
            f"password-{m.address}",
            address=m.address,
            rotation=settings.password_rotation.get(m.address, 0),
            opts=after_budget,
        )
        host = hosts[m.server]
        account = Mailbox(
            f"mailbox-{m.address}",
            host=servers[m.server].main_ip,
            private_key=ssh.private_key,
            host_key=host.host_key,
            address=m.address,
            password=passwords[m.address].password,
            quota_mb=m.quota_mb,
            opts=pulumi.ResourceOptions(depends_on=[host]),
        )
        domain_records = [r for r in state.dns_records if r.domain == m.domain]
        ready[m.address] = Readiness(
            f"ready-{m.address}",
            address=m.address,
            zone=domain_records[0].zone,
            ip=servers[m.server].main_ip,
            hostname=m.smtp_host,
            password=passwords[m.address].password,
            records=pulumi.Output.all(
                *[
                    pulumi.Output.all(
                        name=r.name,
                        type=r.type,
                        content=_record_content(r, servers, dkim),
                        priority=r.priority if r.priority is not None else 0,
                    )
                    for r in domain_records
                ]
            ),
            opts=pulumi.ResourceOptions(
                depends_on=[account, rdns[m.server], certs[m.server], *(dns[r.key] for r in domain_records)]
            ),
        ).ready

    pulumi.export("tenant", tenant)
    pulumi.export(
        "servers",
        {
            s.name: {"serviceid": servers[s.name].serviceid, "ip": servers[s.name].main_ip, "hostname": s.hostname}
            for s in state.servers
        },
    )
    pulumi.export("mailboxes", {m.address: {**mailbox_output(m), "ready": ready[m.address]} for m in state.mailboxes})
    pulumi.export("dkim_public_keys", {f"{d}/{sel}": key.public_key for (d, sel), key in dkim.items()})
    pulumi.export("mailbox_passwords", pulumi.Output.secret({a: p.password for a, p in passwords.items()}))
    by_domain: dict[str, dict[str, pulumi.Output[str]]] = {}
    for r in state.dns_records:
        by_domain.setdefault(r.domain, {})[r.key] = dns[r.key].id
    pulumi.export("dns_records", by_domain)


def mailbox_output(m: MailboxPlan) -> dict[str, Any]:
    """What a mailbox is worth to its consumers (warm-up, unified inbox, rotation); the password is apart."""
    return {
        "address": m.address,
        "username": m.username,
        "display_name": m.display_name,
        "domain": m.domain,
        "server": m.server,
        "smtp_host": m.smtp_host,
        "smtp_port": m.smtp_port,
        "smtp_tls": m.smtp_tls,
        "smtps_port": m.smtps_port,
        "imap_host": m.imap_host,
        "imap_port": m.imap_port,
        "imap_tls": m.imap_tls,
        "daily_limit": m.daily_limit,
        "warmup": m.warmup,
    }


def facts_from(outputs: dict[str, Any]) -> Facts:
    """The facts a stack's outputs hold (server IPs, DKIM keys); a key missing is a fact not known yet."""
    return Facts(
        server_ips={name: server["ip"] for name, server in outputs["servers"].items() if server.get("ip")},
        dkim_public_keys={(k.split("/", 1)[0], k.split("/", 1)[1]): v for k, v in outputs["dkim_public_keys"].items()},
    )


def deployed_state(stack: auto.Stack, project_dir: Path) -> tuple[DesiredState, dict[str, Any]]:
    """The desired state of a deployed stack, with the facts its outputs hold, and those outputs' values:
    what `verify` and `drift` compare the world with. KeyError: the stack has no such outputs yet."""
    outputs = {k: v.value for k, v in stack.outputs().items()}
    return plan(load_file(project.tenant_spec(project_dir, stack.name)).tenant, facts_from(outputs)), outputs


def adopt_before_up(
    stack: auto.Stack,
    project_dir: Path,
    deployment: Mapping[str, Any],
    env: Mapping[str, str],
    say: Callable[[str], None],
) -> dict[str, str]:
    """The records to adopt in this `up` (adopt.py), from the spec, the last outputs, the stack's checkpoint
    and the zones. The Cloudflare token and endpoint: the stack's `cloudflare:apiToken` /
    `cloudflare:baseUrl`, else `env`."""
    outputs = {k: v.value for k, v in stack.outputs().items()}
    known = facts_from(outputs) if {"servers", "dkim_public_keys"} <= set(outputs) else Facts()
    state = plan(load_file(project.tenant_spec(project_dir, stack.name)).tenant, known)
    config = {k: v.value for k, v in stack.get_all_config().items()}
    allowed = set(json.loads(config.get("mailbox-iac:allowedZones") or "[]"))
    planned = [r for r in state.dns_records if r.zone in allowed]  # never a zone the stack may not manage
    credentials = {
        "CLOUDFLARE_API_TOKEN": config.get("cloudflare:apiToken") or env.get("CLOUDFLARE_API_TOKEN", ""),
        "CLOUDFLARE_BASE_URL": config.get("cloudflare:baseUrl") or env.get("CLOUDFLARE_BASE_URL", ""),
    }
    api = cloudflare_api.client({k: v for k, v in credentials.items() if v})
    try:
        return adopt.prepare(state.tenant, planned, deployment, api, say)
    finally:
        if api is not None:
            api.close()


def main(project_dir: Path | None = None, adopt_records: dict[str, str] | None = None) -> None:
    """The program; `project_dir` (default: the working directory) is where Pulumi.yaml and specs/ are;
    `adopt_records` are the imports `adopt_before_up` found (mailbox-iac up)."""
    settings = Settings.from_config(project_dir or Path.cwd())
    if adopt_records:
        settings = dataclasses.replace(settings, adopt_records=dict(adopt_records))
    declare(desired_state(settings), settings)
