"""Every setting mailbox-iac reads: stack configuration (`pulumi config set`) and environment variables.
The README's settings table is this list (`mailbox-iac settings`; a test keeps them equal), and a test
finds every setting the code reads here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str
    meaning: str


STACK = (
    Setting(
        "mailbox-iac:allowedZones",
        "**required**: the Cloudflare zones this stack may touch; a spec using any other zone fails the preview",
    ),
    Setting("mailbox-iac:spec", "the spec file (default `specs/<stack>.yaml`); its `tenant` must equal the stack name"),
    Setting("mailbox-iac:zoneIds", "map zone -> Cloudflare zone id, to skip the lookup"),
    Setting(
        "mailbox-iac:allowServerReplacement",
        "allow, on every run while set, a change that replaces a server (new IP, lost reputation, new rDNS); "
        "otherwise preview fails and servers are protected (one change: `--allow server-replacement` or its label)",
    ),
    Setting(
        "mailbox-iac:allowMassChanges",
        "allow, on every run while set, deleting or replacing more than 30% of the tenant's DNS records or "
        "mailboxes (counted once there are at least 10, as octoDNS does), and, at any size, removing a domain's MX "
        "record, its last DKIM selector, or the selector that signed as another starts (one change: "
        "`--allow mass-changes` or its label)",
    ),
    Setting(
        "mailbox-iac:operatorNetworks",
        "addresses or networks (CIDR) fail2ban never bans, besides loopback and the address mailbox-iac's own SSH "
        "session comes from",
    ),
    Setting(
        "mailbox-iac:passwordRotation", "map address -> number; raising a mailbox's number gives it a new password"
    ),
    Setting(
        "mailbox-iac:allowDestroy",
        '`"true"`: the stack may be destroyed when its spec is deleted (its servers, mailboxes and delivered mail '
        "go); without it, or the change's `--allow destroy` (its label), the PR preview of the deletion fails and "
        "`mailbox-iac destroy` refuses",
    ),
    Setting("mailbox-iac:protectServers", "default true; the sandbox demo turns it off so `destroy` works"),
    Setting("mailbox-iac:acmeDirectory", "the ACME directory of the certificates (default: Let's Encrypt)"),
    Setting("mailbox-iac:acmeEmail", "the ACME account's contact address (default: none)"),
    Setting("mailbox-iac:hostwindsPollSeconds", "how often a Hostwinds build is polled (default 10)"),
    Setting(
        "mailbox-iac:healthWebhook",
        "where `health` POSTs this tenant's problems as JSON (set it as a secret); else MAILBOX_IAC_HEALTH_WEBHOOK",
    ),
    Setting("hostwinds:apiKey", "secret (`pulumi config set --secret`); else `HOSTWINDS_API_KEY`"),
    Setting("hostwinds:endpoint", "the Hostwinds API (default its public one); else `HOSTWINDS_API_URL`"),
    Setting(
        "hostwinds:rdnsResolver", "the DNS server (host:port) asked for PTR records; else `HOSTWINDS_RDNS_RESOLVER`"
    ),
    Setting("cloudflare:apiToken", "secret (`pulumi config set --secret`); else `CLOUDFLARE_API_TOKEN`"),
    Setting("cloudflare:baseUrl", "the Cloudflare API (default its public one); else `CLOUDFLARE_BASE_URL`"),
)

ENVIRONMENT = (
    Setting("HOSTWINDS_API_KEY", "the Hostwinds API key, when the stack has no `hostwinds:apiKey`"),
    Setting("HOSTWINDS_API_URL", "the Hostwinds API, when the stack has no `hostwinds:endpoint`"),
    Setting("HOSTWINDS_RDNS_RESOLVER", "the PTR resolver, when the stack has no `hostwinds:rdnsResolver`"),
    Setting("HOSTWINDS_RATE_FILE", "the lock file that holds the Hostwinds rate limit across processes"),
    Setting("CLOUDFLARE_API_TOKEN", "the Cloudflare token, when the stack has no `cloudflare:apiToken`"),
    Setting("CLOUDFLARE_BASE_URL", "the Cloudflare API, when the stack has no `cloudflare:baseUrl`"),
    Setting(
        "MAILBOX_IAC_SDK_DEBUG",
        "`1`: the program passes the Pulumi SDK's debug lines to the engine (shown by `pulumi up --debug`); "
        "dropped otherwise, as each costs the program a blocking call",
    ),
    Setting("MAILBOX_IAC_DNS_RESOLVER", "host:port of the DNS server checks ask (default: the zone's own servers)"),
    Setting(
        "MAILBOX_IAC_HEALTH_RESOLVER",
        "host:port of the recursive resolver `health` asks blocklists through (public lists refuse public resolvers)",
    ),
    Setting(
        "MAILBOX_IAC_HEALTH_PROBE",
        "host[:port] the mail hosts open port 25 to in `health` (over health.yaml's `outbound_probe`)",
    ),
    Setting("MAILBOX_IAC_HEALTH_WEBHOOK", "where `health` POSTs each tenant's problems as JSON (`--webhook`)"),
    Setting("MAILBOX_IAC_TLS_ROOTS", "a PEM file of roots trusted besides the system's (a private ACME CA)"),
    Setting(
        "MAILBOX_IAC_DNS_ROOT",
        "a zone file of the DNS root the hosts' resolvers use instead of the Internet's: its servers and key",
    ),
    Setting("MAILBOX_IAC_ACME_DIRECTORY", "the ACME directory where the stack sets none"),
    Setting("MAILBOX_IAC_ACME_CA", "a PEM file the hosts' certbot trusts for that directory"),
    Setting(
        "MAILBOX_IAC_INSTANTLY_URL", "Instantly's API root where the provider runs (default https://api.instantly.ai)"
    ),
    Setting(
        "MAILBOX_IAC_SMARTLEAD_URL",
        "Smartlead's API root where the provider runs (default https://server.smartlead.ai)",
    ),
    Setting(
        "MAILBOX_IAC_ALLOW",
        "guard-rail opt-ins for this run, comma-separated: mass-changes, server-replacement, destroy (`--allow`)",
    ),
    Setting("MAILBOX_IAC_CACHE", "where bootstrap keeps the built engine (default `~/.cache/mailbox-iac`)"),
    Setting("PULUMI_BACKEND_URL", "the state backend (else Pulumi.yaml's `backend.url`, else `.state/`)"),
    Setting("PULUMI_CONFIG_PASSPHRASE", "the passphrase of a passphrase secrets provider"),
)


def markdown() -> str:
    """The README's settings table."""
    rows = ["| setting | meaning |", "|---|---|"]
    rows += [f"| `{s.name}` | {s.meaning} |" for s in (*STACK, *ENVIRONMENT)]
    return "\n".join(rows) + "\n"
