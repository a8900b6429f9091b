"""The tenant spec: what a tenant declares. Unknown fields are errors; passwords never appear here.

Sections such as `dkim` or `dmarc` may be given in `defaults.domain` and per domain; a domain's
section overrides only the fields it sets (see `resolve.py`).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic.config import JsonDict

from mailbox_iac.dns.spf import SPF_TERM_PATTERN, check_term
from mailbox_iac.spec import names
from mailbox_iac.spec.defaults import (
    DAILY_LIMIT_MAX,
    DEFAULT_BACKEND,
    DEFAULT_BILLING_CYCLE,
    DEFAULT_DAILY_LIMIT,
    DEFAULT_QUOTA_MB,
)


def _pattern(pattern: str) -> WithJsonSchema:
    """What the schema says of a string the loader checks with a function (see names.py)."""
    return WithJsonSchema({"type": "string", "pattern": pattern})


Hostname = Annotated[str, AfterValidator(names.check_hostname), _pattern(names.HOSTNAME_PATTERN)]
LocalPart = Annotated[str, AfterValidator(names.check_local_part), _pattern(names.LOCAL_PART_PATTERN)]
Address = Annotated[str, AfterValidator(names.check_address), _pattern(names.ADDRESS_PATTERN)]
DisplayName = Annotated[str, AfterValidator(names.check_display_name), _pattern(names.DISPLAY_NAME_PATTERN)]
SpfTerm = Annotated[str, AfterValidator(check_term), _pattern(SPF_TERM_PATTERN)]
ServerName = Annotated[
    str, AfterValidator(lambda v: names.check_identifier(v, "server name")), _pattern(names.IDENTIFIER_PATTERN)
]


def _effective(value: int | str) -> JsonDict:
    return {"default": value}


BillingCycle = Literal["hourly", "monthly", "quarterly", "semiannually", "annually", "biennially", "triennially"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Dmarc(Strict):
    policy: Literal["none", "quarantine", "reject"] = "quarantine"
    subdomain_policy: Literal["none", "quarantine", "reject"] | None = None
    rua: Address | None = Field(None, description="aggregate report address; `{domain}` stands for the domain")
    adkim: Literal["r", "s"] = "r"
    aspf: Literal["r", "s"] = "r"
    testing: bool = Field(False, description="RFC 9989 test mode (t=y)")


class Spf(Strict):
    extra: list[SpfTerm] = Field(default_factory=list, description="terms added before the final 'all'")
    all: Literal["~all", "-all"] = "~all"


class MtaSts(Strict):
    mode: Literal["enforce", "testing", "none"] = "testing"
    max_age: int = Field(604800, ge=86400, le=31557600, description="seconds")


class TlsRpt(Strict):
    rua: Address = Field(description="TLS report address; `{domain}` stands for the domain")


def _day(value: Any) -> Any:
    """A day, written bare (YAML reads it as a date) or quoted as YYYY-MM-DD; a time of day is refused."""
    if isinstance(value, datetime):
        raise ValueError("a day (YYYY-MM-DD) is expected, not a time")
    if not isinstance(value, str):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"a day (YYYY-MM-DD) is expected, not {value!r}") from None


Selector = Annotated[
    str, AfterValidator(lambda v: names.check_identifier(v, "DKIM selector")), _pattern(names.IDENTIFIER_PATTERN)
]


class PreviousSelector(Strict):
    """A selector that signed before the current one: still published, so that mail it signed (queued,
    forwarded, re-checked) keeps passing; no longer signing."""

    selector: Selector
    until: Annotated[date, BeforeValidator(_day)] | None = Field(
        None, description="the last day (UTC) it is published; the first run after that day removes it"
    )


class Dkim(Strict):
    selector: Selector = Field(
        "mail",
        description="the DKIM selector that signs. Rotating: a new selector here, the old one under `previous`; "
        "one `up` publishes the new key, waits until the zone's servers answer it, then switches signing",
    )
    previous: list[PreviousSelector] = Field(
        default_factory=list, description="selectors still published after a rotation; removed here, or by `until`"
    )
    key_size: Literal[2048, 3072, 4096] = Field(2048, description="RSA key size in bits (>= 2048, RFC 8301)")


class Warmup(Strict):
    """Warm-up, exported to sequencers; with a `start`, the host also caps what the mailbox sends each day."""

    enabled: bool = True
    start: Annotated[date, BeforeValidator(_day)] | None = Field(
        None,
        description="first day of warm-up (YYYY-MM-DD, days turn at 00:00 UTC): the host then caps the mailbox "
        "at start_per_day, increment_per_day more each day, up to daily_limit; without it only daily_limit caps",
    )
    start_per_day: int = Field(2, ge=1, le=DAILY_LIMIT_MAX)
    increment_per_day: int = Field(2, ge=0, le=DAILY_LIMIT_MAX)
    max_per_day: int = Field(20, ge=1, le=DAILY_LIMIT_MAX, description="the sequencer's warm-up volume a day")
    reply_rate_percent: int = Field(30, ge=0, le=100)


class DomainSettings(Strict):
    """Settings a domain may take from `defaults.domain`."""

    dkim: Dkim | None = None
    dmarc: Dmarc | None = None
    spf: Spf | None = None
    mta_sts: MtaSts | None = None
    tls_rpt: TlsRpt | None = None


class MailboxSettings(Strict):
    """Settings a mailbox may take from `defaults.mailbox`."""

    quota_mb: int | None = Field(None, ge=1, le=1048576, json_schema_extra=_effective(DEFAULT_QUOTA_MB))
    daily_limit: int | None = Field(
        None, ge=1, le=DAILY_LIMIT_MAX, description="sends per day", json_schema_extra=_effective(DEFAULT_DAILY_LIMIT)
    )
    warmup: Warmup | None = None


class Mailbox(MailboxSettings):
    local: LocalPart = Field(description="the part before @")
    name: DisplayName | None = Field(None, description="display name (From:)")


def _mailbox_shorthand(value: Any) -> Any:
    return {"local": value} if isinstance(value, str) else value


class Domain(DomainSettings):
    name: Hostname
    zone: Hostname | None = Field(None, description="Cloudflare zone holding the records; default: the domain")
    server: ServerName | None = Field(None, description="server that receives its mail; default: the only server")
    catch_all: LocalPart | None = Field(None, description="mailbox (local part) receiving mail for unknown addresses")
    forwards: dict[LocalPart, list[Address]] = Field(
        default_factory=dict, description="alias -> destinations (local parts of this domain or addresses)"
    )
    no_mail: list[str] = Field(
        default_factory=list, description="names under the domain that must never send or receive mail (null MX)"
    )
    mailboxes: list[
        Annotated[Mailbox, BeforeValidator(_mailbox_shorthand, json_schema_input_type=LocalPart | Mailbox)]
    ] = Field(default_factory=list, description="mailboxes: a local part alone, or a mapping with `local`")


BackendId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
BACKEND_VALUE_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


def _backend_value(value: Any) -> int | str:
    """A region or size as its backend names it: a positive number (Hostwinds' ids) or a name ("fsn1")."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and re.fullmatch(BACKEND_VALUE_PATTERN, value):
        return value
    raise ValueError(f"expected a positive number or a name of letters, digits, '.', '_', '-', not {value!r}")


BackendValue = Annotated[
    int | str,
    PlainValidator(_backend_value),
    WithJsonSchema(
        {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": BACKEND_VALUE_PATTERN}]}
    ),
]


class ServerSettings(Strict):
    backend: BackendId | None = Field(
        None, description="where the server runs (servers/registry.py)", json_schema_extra=_effective(DEFAULT_BACKEND)
    )
    location: BackendValue | None = Field(None, description="the backend's region (Hostwinds: location_id)")
    plan: BackendValue | None = Field(None, description="the backend's server size (Hostwinds: plan rid)")
    image: str | None = Field(
        None, pattern=r"^[A-Za-z0-9-]{1,64}$", description="the backend's image (Hostwinds: template id)"
    )
    billing_cycle: BillingCycle | None = Field(None, json_schema_extra=_effective(DEFAULT_BILLING_CYCLE))
    ssh_keys: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]] | None = None
    ipv6: bool | None = Field(
        None,
        description="mail over IPv6 too (AAAA, IPv6 PTR, ip6: in SPF), where the backend can set an IPv6 PTR; "
        "default off: the host sends and listens on IPv4 only, and readiness checks the mail hostname has no AAAA",
        json_schema_extra=_effective(False),
    )


class Server(ServerSettings):
    hostname: Hostname = Field(description="mail hostname: HELO name and PTR of the server IP")


class Defaults(Strict):
    server: ServerSettings = ServerSettings()
    domain: DomainSettings = DomainSettings()
    mailbox: MailboxSettings = MailboxSettings()
    ttl: int = Field(3600, ge=60, le=86400, description="TTL of every DNS record, seconds")


SEQUENCER_KEY_PATTERN = r"^[a-z][A-Za-z0-9]{0,39}$"
SequencerName = Annotated[
    str, AfterValidator(lambda v: names.check_identifier(v, "sequencer name")), _pattern(names.IDENTIFIER_PATTERN)
]


class SequencerSettings(Strict):
    """What a sequencer gets of a mailbox, over the mailbox's own settings."""

    daily_limit: int | None = Field(None, ge=1, le=DAILY_LIMIT_MAX, description="sends per day there")
    warmup: Warmup | None = Field(None, description="its warm-up there; fields not set come from the mailbox")


class Sequencer(SequencerSettings):
    """A sequencer workspace the tenant's mailboxes are connected to (one account per mailbox)."""

    kind: Literal["instantly", "smartlead"] = Field(description="the sequencer")
    api_key: str = Field(
        pattern=SEQUENCER_KEY_PATTERN,
        description="the NAME of the stack secret holding the workspace's API key (`pulumi config set --secret "
        "mailbox-iac:<api_key> ...`), never the key itself",
    )
    domains: list[Hostname] | None = Field(None, description="the domains whose mailboxes it gets; default: all")
    mailboxes: list[Address] | None = Field(None, description="single mailboxes it gets (with or instead of domains)")
    overrides: dict[Address, SequencerSettings] = Field(
        default_factory=dict, description="per mailbox (address): its daily limit or warm-up there"
    )


class TenantSpec(Strict):
    """One tenant's desired mailboxes (`specs/<tenant>.yaml`)."""

    version: Literal[1] = 1
    tenant: Annotated[
        str, AfterValidator(lambda v: names.check_identifier(v, "tenant id")), _pattern(names.IDENTIFIER_PATTERN)
    ]
    defaults: Defaults = Defaults()
    postmaster: Address | None = Field(
        None,
        description="receives postmaster@ and abuse@ of every domain, and the DMARC/TLS-RPT report addresses that "
        "lie in the tenant's domains (unless the spec makes them mailboxes or forwards): one of the tenant's "
        "mailboxes or forwards, or an outside address; default: the first mailbox in the file",
    )
    servers: dict[ServerName, Server]
    domains: list[Domain]
    sequencers: dict[SequencerName, Sequencer] = Field(
        default_factory=dict, description="sequencer workspaces (by a name of yours) that get the mailboxes"
    )
