"""The Pulumi program of a tenant stack: spec -> plan -> resources. Thin; the decisions are in the planner.

Graph (each arrow a real dependency, so independent work runs in parallel):
  ChangeBudget -> everything;   SshKey -> Hostwinds SshKey -> Instance -> ReverseDns (after the A record)
  Instance.main_ip -> A records (mail host, mta-sts) and MailHost -> Mailbox (host key pinned by MailHost)
  MailHost + those A records -> Certificate (ACME HTTP-01) -> Readiness of each domain (verifies it)
  DkimKey -> DKIM TXT record and MailHost;   SPF, DMARC, MX, MTA-STS, TLS-RPT TXT: no waiting at all.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi import automation as auto

from mailbox_iac import adopt, allowances, checkpoint, cloudflare_api, project, sdk_tuning
from mailbox_iac import cloudflare_resources as cloudflare
from mailbox_iac.checks.dns import record_row
from mailbox_iac.credentials.resources import DkimKey, Password, SshKey
from mailbox_iac.dns import records, txt
from mailbox_iac.errors import Permanent
from mailbox_iac.guards import ChangeBudget
from mailbox_iac.mailhost.resources import Certificate, Mailbox, MailHost
from mailbox_iac.plan.model import DesiredState, DkimPublicKey, DnsRecord, Facts, MailboxPlan, ServerIp, record_key
from mailbox_iac.plan.planner import plan
from mailbox_iac.readiness import Published, Readiness
from mailbox_iac.sequencers.resources import SequencerAccount
from mailbox_iac.servers import registry
from mailbox_iac.servers.backend import DeclaredServer, ServerOptions
from mailbox_iac.spec.errors import SpecInvalid
from mailbox_iac.spec.load import load_file


class ProgramError(pulumi.RunError, Permanent):
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
    acme_directory: str = ""  # empty: the provider's default (MAILBOX_IAC_ACME_DIRECTORY, else Let's Encrypt)
    acme_email: str = ""
    adopt_records: dict[str, str] = field(default_factory=dict)  # record key -> import id (adopt.py)
    operator_networks: tuple[str, ...] = ()  # where mailbox-iac and its operators work from: never banned

    @classmethod
    def from_config(cls, project_dir: Path, allow: frozenset[str] = frozenset()) -> Settings:
        """`project_dir`: where Pulumi.yaml is; a relative `mailbox-iac:spec` is taken from there. `allow`:
        this run's opt-ins (allowances.py), each as if its stack setting were true."""
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
            allow_server_replacement="server-replacement" in allow or bool(cfg.get_bool("allowServerReplacement")),
            allow_mass_changes="mass-changes" in allow or bool(cfg.get_bool("allowMassChanges")),
            protect_servers=cfg.get_bool("protectServers") is not False,
            password_rotation={str(k): int(v) for k, v in (cfg.get_object("passwordRotation") or {}).items()},
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
        loaded = load_file(settings.spec_path)
    except SpecInvalid as exc:
        raise ProgramError(f"the spec of stack {settings.stack} is invalid:\n{exc}") from None
    for warning in loaded.warnings:
        pulumi.log.warn(str(warning))
    tenant = loaded.tenant
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


@dataclass(frozen=True)
class Handles:
    """What `declare` has declared so far, by the plan's keys: each part takes what it depends on."""

    budget: ChangeBudget
    ssh: SshKey
    servers: dict[str, DeclaredServer]
    dkim: dict[tuple[str, str], DkimKey]
    # What the steps that can wait depend on: the budget, and the operator key at each backend. The VPS
    # build is the longest step of a fresh `up`; until the servers' order has gone out, the program's
    # event loop and the engine's queue hold nothing else (globex: ordered 0.4 s after the budget, not 4 s).
    first: list[pulumi.Resource]
    dns: dict[str, cloudflare.DnsRecord] = field(default_factory=dict)
    rdns: dict[str, pulumi.Resource] = field(default_factory=dict)
    hosts: dict[str, MailHost] = field(default_factory=dict)
    certs: dict[str, Certificate] = field(default_factory=dict)

    def content(self, r: DnsRecord) -> pulumi.Input[str]:
        """The record's content, waiting for the fact it needs (a server IP, a DKIM key) only if it needs one."""
        match r.needs:
            case None:
                return r.content
            case ServerIp(server=server):
                return self.servers[server].ipv4
            case DkimPublicKey(domain=domain, selector=selector):
                return self.dkim[(domain, selector)].public_key.apply(lambda key: txt.quote(records.dkim(key)))
        raise AssertionError(r.needs)


def _budget(state: DesiredState, settings: Settings) -> ChangeBudget:
    return ChangeBudget(
        "change-budget",
        tenant=state.tenant,
        dns_records=[r.key for r in state.dns_records],
        mailboxes=[m.address for m in state.mailboxes],
        allow_mass_changes=settings.allow_mass_changes,
    )


def _servers(
    state: DesiredState, settings: Settings, budget: ChangeBudget, ssh: SshKey
) -> tuple[dict[str, DeclaredServer], list[pulumi.Resource]]:
    """Each server at its backend, after the operator key is registered there (once per backend); and
    `Handles.first`: the budget and those keys."""
    options = ServerOptions(allow_replacement=settings.allow_server_replacement, protect=settings.protect_servers)
    access = {
        name: registry.get(name).declare_access(state.tenant, ssh.public_key, [budget])
        for name in sorted({s.backend for s in state.servers})
    }
    servers = {
        s.name: registry.get(s.backend).declare_server(s, access[s.backend], options, [budget]) for s in state.servers
    }
    return servers, [budget, *(r for a in access.values() for r in a.resources)]


def _dns(state: DesiredState, settings: Settings, h: Handles) -> None:
    zone_ids: dict[str, pulumi.Input[str]] = {
        z: settings.zone_ids.get(z) or cloudflare.zone_id(z) for z in sorted({r.zone for r in state.dns_records})
    }
    for r in state.dns_records:
        h.dns[r.key] = cloudflare.DnsRecord(
            f"dns-{r.type}-{r.name}",
            zone_id=zone_ids[r.zone],
            name=r.name,
            type=r.type,
            content=h.content(r),
            ttl=r.ttl,
            priority=r.priority,
            comment=adopt.comment(state.tenant),
            opts=pulumi.ResourceOptions(
                depends_on=h.first,
                import_=settings.adopt_records.get(r.key),
                ignore_changes=adopt.IGNORED_WHILE_ADOPTING if r.key in settings.adopt_records else None,
            ),
        )
    for s in state.servers:
        a_record = h.dns[record_key("A", s.hostname)]
        h.rdns[s.name] = registry.get(s.backend).declare_reverse_dns(s, h.servers[s.name], [a_record])


def _signing_published(state: DesiredState, h: Handles, domain: str, selector: str) -> Published:
    """The gate a host passes before it signs with a key: the zone's servers answer its DKIM record (a
    rotation publishes the new key first; a first `up` waits for nothing, the VPS build takes longer)."""
    [r] = [r for r in state.dns_records if r.key == record_key("TXT", f"{selector}._domainkey.{domain}")]
    return Published(
        f"dkim-published-{domain}",
        zone=r.zone,
        purpose=f"dkim-{domain}",
        records=pulumi.Output.all(pulumi.Output.all(**record_row(r, h.content(r)))),
        opts=pulumi.ResourceOptions(depends_on=[h.dns[r.key]]),
    )


def _mail_hosts(state: DesiredState, settings: Settings, h: Handles) -> None:
    for mh in state.mailhosts:
        ip = h.servers[mh.server].ipv4
        host = h.hosts[mh.server] = MailHost(
            f"mailhost-{mh.server}",
            host=ip,
            private_key=h.ssh.private_key,
            plan=mh,
            dkim_keys=pulumi.Output.all(**{f"{d}/{sel}": h.dkim[(d, sel)].private_key for d, sel in mh.dkim}),
            operator_networks=settings.operator_networks,
            opts=pulumi.ResourceOptions(
                depends_on=[h.budget, *(_signing_published(state, h, d, sel) for d, sel in mh.dkim)]
            ),
        )
        names = [mh.hostname, *mh.policy_hosts]
        h.certs[mh.server] = Certificate(
            f"certificate-{mh.server}",
            host=ip,
            private_key=h.ssh.private_key,
            host_key=host.host_key,
            names=names,
            directory=settings.acme_directory,
            email=settings.acme_email,
            # HTTP-01 validation resolves each name: its A record must exist first.
            opts=pulumi.ResourceOptions(depends_on=[host, *(h.dns[record_key("A", n)] for n in names)]),
        )


def _mailboxes(state: DesiredState, settings: Settings, h: Handles) -> tuple[dict[str, Password], dict[str, Readiness]]:
    """Each mailbox: its password and its account on the host; each domain: the readiness gate after all its
    mailboxes need (returned for each mailbox)."""
    passwords: dict[str, Password] = {}
    accounts: dict[str, Mailbox] = {}
    domains: dict[str, list[MailboxPlan]] = {}
    for m in state.mailboxes:
        passwords[m.address] = Password(
            f"password-{m.address}",
            address=m.address,
            rotation=settings.password_rotation.get(m.address, 0),
            opts=pulumi.ResourceOptions(depends_on=h.first),
        )
        host = h.hosts[m.server]
        accounts[m.address] = Mailbox(
            f"mailbox-{m.address}",
            host=h.servers[m.server].ipv4,
            private_key=h.ssh.private_key,
            host_key=host.host_key,
            address=m.address,
            password=passwords[m.address].password,
            quota_mb=m.quota_mb,
            opts=pulumi.ResourceOptions(depends_on=[host]),
        )
        domains.setdefault(m.domain, []).append(m)
    gates = {domain: _domain_gate(state, h, ms, accounts) for domain, ms in domains.items()}
    return passwords, {m.address: gates[m.domain] for m in state.mailboxes}


def _domain_gate(
    state: DesiredState,
    h: Handles,
    mailboxes: list[MailboxPlan],
    accounts: dict[str, Mailbox],
) -> Readiness:
    """A domain's readiness gate, after its mailboxes' accounts (each proven by its logins): its records, its
    host's PTR and the certificate it serves."""
    first = mailboxes[0]  # a domain lives on one host (the spec names it once)
    records = [r for r in state.dns_records if r.domain == first.domain]
    return Readiness(
        f"ready-{first.domain}",
        domain=first.domain,
        zone=records[0].zone,
        ip=h.servers[first.server].ipv4,
        hostname=first.smtp_host,
        ipv6=next(host.ipv6 for host in state.mailhosts if host.server == first.server),
        records=pulumi.Output.all(*[pulumi.Output.all(**record_row(r, h.content(r))) for r in records]),
        opts=pulumi.ResourceOptions(
            depends_on=[
                *(accounts[m.address] for m in mailboxes),
                h.rdns[first.server],
                h.certs[first.server],
                *(h.dns[r.key] for r in records),
            ]
        ),
    )


def _sequencer_accounts(state: DesiredState, passwords: dict[str, Password], ready: dict[str, Readiness]) -> None:
    """Each mailbox's account in the sequencer workspaces that get it, added once the mailbox is ready (a
    sequencer never gets a mailbox that cannot log in); the workspace's key from its stack secret."""
    cfg = pulumi.Config("mailbox-iac")
    mailboxes = {m.address: m for m in state.mailboxes}
    for a in state.sequencer_accounts:
        SequencerAccount(
            f"sequencer-{a.sequencer}-{a.address}",
            plan=a,
            mailbox=mailboxes[a.address],
            api_key=cfg.require_secret(a.api_key),
            password=passwords[a.address].password,
            opts=pulumi.ResourceOptions(depends_on=[ready[a.address]]),
        )


def declare(state: DesiredState, settings: Settings) -> None:
    """Every resource of the tenant; every other resource depends on the budget, so a refusal stops all."""
    budget = _budget(state, settings)
    ssh = SshKey("ssh-key", comment=f"mailbox-iac-{state.tenant}", opts=pulumi.ResourceOptions(depends_on=[budget]))
    servers, first = _servers(state, settings, budget, ssh)
    dkim = {
        (k.domain, k.selector): DkimKey(
            f"dkim-{k.domain}-{k.selector}",
            domain=k.domain,
            selector=k.selector,
            bits=k.bits,
            # a previous selector keeps its key whatever key_size says now: a new key would break its mail
            opts=pulumi.ResourceOptions(depends_on=first, ignore_changes=None if k.signing else ["bits"]),
        )
        for k in state.dkim_keys
    }
    h = Handles(budget, ssh, servers, dkim, first)
    _dns(state, settings, h)
    _mail_hosts(state, settings, h)
    passwords, ready = _mailboxes(state, settings, h)
    _sequencer_accounts(state, passwords, ready)
    _export(state, h, passwords, {a: gate.ready for a, gate in ready.items()})


def _export(state: DesiredState, h: Handles, passwords: dict[str, Password], ready: dict[str, Any]) -> None:
    pulumi.export("tenant", state.tenant)
    pulumi.export(
        "servers",
        {
            s.name: {"serviceid": h.servers[s.name].id, "ip": h.servers[s.name].ipv4, "hostname": s.hostname}
            for s in state.servers
        },
    )
    pulumi.export("mailboxes", {m.address: {**mailbox_output(m), "ready": ready[m.address]} for m in state.mailboxes})
    pulumi.export("dkim_public_keys", {f"{d}/{sel}": key.public_key for (d, sel), key in h.dkim.items()})
    pulumi.export("mailbox_passwords", pulumi.Output.secret({a: p.password for a, p in passwords.items()}))
    by_domain: dict[str, dict[str, pulumi.Output[str]]] = {}
    for r in state.dns_records:
        by_domain.setdefault(r.domain, {})[r.key] = h.dns[r.key].id
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


def known_facts(outputs: Mapping[str, Any]) -> Facts:
    """The facts of outputs that may be missing (a stack whose first `up` never finished): none then."""
    return facts_from(dict(outputs)) if {"servers", "dkim_public_keys"} <= set(outputs) else Facts()


def deployed_state(stack: auto.Stack, project_dir: Path) -> tuple[DesiredState, dict[str, Any]]:
    """The desired state of a deployed stack, with the facts its outputs hold, and those outputs' values:
    what `verify` and `drift` compare the world with. KeyError: the stack has no such outputs yet."""
    outputs = {k: v.value for k, v in stack.outputs().items()}
    return plan(load_file(project.tenant_spec(project_dir, stack.name)).tenant, facts_from(outputs)), outputs


def stack_zones(config: Mapping[str, auto.ConfigValue]) -> list[str]:
    """The zones a stack may manage (`mailbox-iac:allowedZones`), from its config as the Automation API reads it."""
    value = config.get("mailbox-iac:allowedZones")
    return list(json.loads(value.value)) if value else []


def adopt_before_up(
    tenant: str,
    project_dir: Path,
    deployment: Mapping[str, Any],
    raw: Mapping[str, auto.ConfigValue],
    env: Mapping[str, str],
    say: Callable[[str], None],
) -> dict[str, str]:
    """The records to adopt in this `up` (adopt.py), from the spec, the stack's checkpoint (`stack export
    --show-secrets`: its last outputs too) and config (`raw`), and the zones. The Cloudflare token and
    endpoint: the stack's `cloudflare:apiToken` / `cloudflare:baseUrl`, else `env`."""
    facts = known_facts(checkpoint.stack_outputs(deployment))
    state = plan(load_file(project.tenant_spec(project_dir, tenant)).tenant, facts)
    config = {k: v.value for k, v in raw.items()}
    allowed = set(stack_zones(raw))
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


def main(
    project_dir: Path | None = None, adopt_records: dict[str, str] | None = None, allow: frozenset[str] | None = None
) -> None:
    """The program; `project_dir` (default: the working directory) is where Pulumi.yaml and specs/ are;
    `adopt_records` are the imports `adopt_before_up` found (mailbox-iac up); `allow`: the run's opt-ins
    (default: `MAILBOX_IAC_ALLOW`, for the plain CLI)."""
    if allow is None:
        try:
            allow = allowances.from_environment(os.environ)
        except allowances.UnknownAllowance as exc:
            raise ProgramError(f"{allowances.ENV}: {exc}") from None
    sdk_tuning.apply(os.environ)
    settings = Settings.from_config(project_dir or Path.cwd(), allow)
    if adopt_records:
        settings = dataclasses.replace(settings, adopt_records=dict(adopt_records))
    declare(desired_state(settings), settings)
