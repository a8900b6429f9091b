"""The desired state: everything the program declares, as plain frozen data (no secrets, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from mailbox_iac.dns import txt

SMTP_SUBMISSION_PORT = 587  # STARTTLS
SMTPS_PORT = 465  # implicit TLS
IMAPS_PORT = 993


@dataclass(frozen=True)
class Facts:
    """What the outside world has told us so far; anything missing is planned as a placeholder."""

    server_ips: dict[str, str] = field(default_factory=dict)  # server name -> IPv4
    dkim_public_keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (domain, selector) -> base64 DER
    today: date = field(default_factory=lambda: datetime.now(UTC).date())  # days turn at 00:00 UTC


@dataclass(frozen=True)
class ServerIp:
    """A record's content is the IPv4 address of this server, known once the backend built it."""

    server: str

    def __str__(self) -> str:
        return f"<server_ip:{self.server}>"


@dataclass(frozen=True)
class DkimPublicKey:
    """A record's content carries this DKIM public key, known once the key is generated."""

    domain: str
    selector: str

    def __str__(self) -> str:
        return f"<dkim_key:{self.domain}/{self.selector}>"


Reference = ServerIp | DkimPublicKey


@dataclass(frozen=True)
class ServerPlan:
    """A server in the vocabulary of every backend (`servers/`); each backend translates it."""

    name: str
    backend: str  # servers.registry name
    label: str  # unique per tenant and server: how the backend finds (adopts) the server after a crash
    hostname: str
    region: int | str
    size: int | str
    image: str
    billing_cycle: str
    ssh_keys: tuple[str, ...]  # keys of the operators, by their names at the backend
    ip: str | None


@dataclass(frozen=True)
class DnsRecord:
    zone: str
    name: str  # FQDN without trailing dot
    type: str
    content: str  # TXT content is quoted and split; see dns.txt
    ttl: int
    priority: int | None
    # mail-host, helo-spf, mx, spf, dkim, dmarc, dmarc-report-auth, mta-sts, mta-sts-host, tls-rpt, null-mx
    purpose: str
    domain: str  # the mail domain the record serves (for a server's A record: its zone)
    needs: Reference | None = None  # the fact the content waits for; `content` holds its placeholder

    @property
    def key(self) -> str:
        """Stable identity of the record within a tenant (one record per name and type)."""
        return record_key(self.type, self.name)

    @property
    def value(self) -> str:
        """Content as a resolver would hand it to a parser (canonical TXT)."""
        return txt.canonical(self.content) if self.type == "TXT" else self.content


def record_key(rtype: str, name: str) -> str:
    return f"{rtype}:{name}"


@dataclass(frozen=True)
class DkimKeyPlan:
    domain: str
    selector: str
    bits: int
    signing: bool = True  # False: a previous selector, published until it is retired


@dataclass(frozen=True)
class MailboxPlan:
    address: str
    domain: str
    server: str
    display_name: str
    username: str
    smtp_host: str
    smtp_port: int
    smtp_tls: str
    smtps_port: int
    imap_host: str
    imap_port: int
    imap_tls: str
    quota_mb: int
    daily_limit: int
    warmup: dict[str, Any]


@dataclass(frozen=True)
class SequencerAccountPlan:
    """A mailbox's account in a sequencer workspace: what the sequencer is told (names, limit, warm-up in
    its own terms); the connection settings come from the mailbox's plan, the password from its secret."""

    sequencer: str
    kind: str
    api_key: str  # the NAME of the stack secret holding the workspace's key
    address: str
    first_name: str
    last_name: str
    daily_limit: int
    warmup: dict[str, Any]


@dataclass(frozen=True)
class MailHostPlan:
    server: str
    hostname: str
    domains: tuple[str, ...]
    mailboxes: tuple[tuple[str, int], ...]  # (address, quota MB)
    aliases: tuple[tuple[str, tuple[str, ...]], ...]  # source (address, or "@domain" for catch-all) -> targets
    dkim: tuple[tuple[str, str], ...]  # (domain, selector)
    mta_sts_policies: tuple[tuple[str, str], ...]  # (domain, policy text)
    sending_limits: tuple[tuple[str, int], ...]  # (address, messages a day), enforced on the host
    warmups: tuple[tuple[str, str, int, int], ...]  # (address, first day YYYY-MM-DD, start_per_day, increment_per_day)
    ipv6: bool  # off: Postfix, Dovecot and nginx on IPv4 only

    @property
    def policy_hosts(self) -> tuple[str, ...]:
        """The names nginx serves MTA-STS policies under, each with a certificate of its own."""
        return tuple(f"mta-sts.{d}" for d, _ in self.mta_sts_policies)


@dataclass(frozen=True)
class DesiredState:
    tenant: str
    servers: tuple[ServerPlan, ...]
    dns_records: tuple[DnsRecord, ...]
    dkim_keys: tuple[DkimKeyPlan, ...]
    mailhosts: tuple[MailHostPlan, ...]
    mailboxes: tuple[MailboxPlan, ...]
    sequencer_accounts: tuple[SequencerAccountPlan, ...] = ()


def json_default(value: Any) -> Any:
    """The JSON encoder's hook: a dataclass as a dict of its fields, a reference as "server_ip:mx1"; the
    encoder walks the rest. A plan dataclass's `__dict__` holds exactly its fields, in order: none has slots
    or caches attributes."""
    if isinstance(value, (ServerIp, DkimPublicKey)):
        return str(value).strip("<>")
    return value.__dict__
