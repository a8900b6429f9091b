"""The mail host's configuration files, rendered from the plan. Pure: plan in, {path: File} out.

Postfix receives mail for the virtual domains and hands it to Dovecot over LMTP; submission (587,
STARTTLS) and submissions (465, implicit TLS) require TLS and SASL authentication through Dovecot and
only let a mailbox send as itself (the envelope by Postfix, the header From by `from_guard.py`), up to
its daily limit (policyd-rate-limit, answered 4xx), with the sender's own host and IP taken out of the
first Received line. OpenDKIM signs what authenticated users
send and verifies what arrives; OpenDMARC checks SPF and DMARC on what arrives on port 25, adds
Authentication-Results and rejects what fails a p=reject policy. Mail from outside may not use one of
this host's own sender addresses. Every value that comes
from a spec was validated by the spec model (hostnames, local parts, addresses); `_safe` checks again so
that no value can add a line, a parameter or a path component to a file.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources

from mailbox_iac.mailhost.resolver import RESOLVER_LINES, Root, unbound_conf
from mailbox_iac.plan.model import MailHostPlan
from mailbox_iac.spec.defaults import DEFAULT_DAILY_LIMIT

ROOT = "/etc/mailbox-iac"
CURRENT = f"{ROOT}/current"  # symlink to the active release; switched atomically
USERS_DIR = "/var/lib/mailbox-iac/users"  # one passwd-file per mailbox: users/<domain>/<local>
MAIL_DIR = "/var/mail/vhosts"
CERT_DIR = "/etc/ssl/mailbox-iac"
TLS_CERT = f"{CERT_DIR}/mail.crt"  # the mail hostname's, on 25, 465, 587, 993 and nginx's default server
TLS_KEY = f"{CERT_DIR}/mail.key"
SITE_CERTS = f"{CERT_DIR}/sites"  # one per MTA-STS policy host: no certificate names two domains
LOG_DIR = "/var/log/mailbox-iac"
ACME_WEBROOT = "/var/lib/mailbox-iac/acme"  # HTTP-01 challenges, served on port 80
OPENDKIM_SOCKET = "inet:8891@127.0.0.1"  # OpenDKIM's spelling of the milter socket...
OPENDKIM_MILTER = "inet:127.0.0.1:8891"  # ...and Postfix's spelling of the same socket
# OpenDKIM resolves through libunbound, which ignores resolv.conf: this file (written on the host by
# `apply.prepare`) forwards it to the resolvers every other daemon of the host uses.
RESOLVERS = f"{ROOT}/resolvers.unbound.conf"
OPENDMARC_SOCKET = "inet:8893@127.0.0.1"
OPENDMARC_MILTER = "inet:127.0.0.1:8893"
RATE_LIMIT_POLICY = "ratelimit/policy"  # as Postfix names it: relative to its queue directory
RATE_LIMIT_SOCKET = f"/var/spool/postfix/{RATE_LIMIT_POLICY}"
RATE_LIMIT_CONFIG = "policyd-rate-limit/policyd-rate-limit.yaml"  # in a release
RATE_LIMIT_PID = "/run/policyd-rate-limit/policyd-rate-limit.pid"
WARMUP_SCHEDULE = "policyd-rate-limit/warmup.json"  # in a release: login -> first day and ramp
WARMUP_SCRIPT = "policyd-rate-limit/warmup_caps.py"  # in a release: writes RATE_LIMIT_LIVE
RATE_LIMIT_LIVE = "/run/mailbox-iac/policyd-rate-limit.yaml"  # the day's: the release's, warm-up caps applied
STS_RESOLVER = "127.0.0.1:8461"  # postfix-mta-sts-resolver: recipients' MTA-STS policies, as a socketmap
STS_RESOLVER_CONFIG = "mta-sts-resolver/mta-sts-daemon.yml"  # in a release
STS_RESOLVER_PID = "/run/mta-sts/mta-sts-daemon.pid"  # without systemd only: our start script writes it
FROM_GUARD_SOCKET = "inet:8895@127.0.0.1"  # from_guard.py: the header From a login may use (pymilter)
FROM_GUARD_MILTER = "inet:127.0.0.1:8895"
FROM_GUARD_SCRIPT = "from-guard/from_guard.py"  # in a release
SENDER_LOGINS = "postfix/sender_logins"  # address -> logins: the envelope and the header From rule
UNBOUND_CONFIG = "unbound/unbound.conf"  # in a release: the host's validating resolver (resolver.py)
RESOLV_CONF = "unbound/resolv.conf"  # written over /etc/resolv.conf once unbound answers (not a link)
SYSTEM_CAS = "/etc/ssl/certs/ca-certificates.crt"  # Debian's bundle: what outbound TLS verifies against
DAY = 86400
# What OpenDKIM signs, and over-signs so that none of them can be added after signing: RFC 6376 §5.4's
# list plus the one-click unsubscribe pair (RFC 8058 §4 requires both signed).
SIGNED_HEADERS = (
    "From",
    "Reply-To",
    "Sender",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)

# Files of a release, relative to the release directory, and the live paths that link to them.
LINKS = {
    "postfix/main.cf": "/etc/postfix/main.cf",
    "postfix/master.cf": "/etc/postfix/master.cf",
    "dovecot/dovecot.conf": "/etc/dovecot/dovecot.conf",
    "opendkim/opendkim.conf": "/etc/opendkim.conf",
    "opendmarc/opendmarc.conf": "/etc/opendmarc.conf",
    RATE_LIMIT_CONFIG: "/etc/policyd-rate-limit.yaml",
    STS_RESOLVER_CONFIG: "/etc/mta-sts-daemon.yml",
    "nginx/nginx.conf": "/etc/nginx/nginx.conf",
    UNBOUND_CONFIG: "/etc/unbound/unbound.conf",
}
# nginx reads the MTA-STS policies at each request: a changed policy needs no reload.
SERVICE_OF = {
    "postfix": "postfix",
    "dovecot": "dovecot",
    "opendkim": "opendkim",
    "opendmarc": "opendmarc",
    "policyd-rate-limit": "policyd-rate-limit",
    "mta-sts-resolver": "postfix-mta-sts-resolver",
    "from-guard": "mailbox-iac-from-guard",
    "nginx": "nginx",
    "unbound": "unbound",
    "mta-sts": None,
}

_SAFE = re.compile(r"^[A-Za-z0-9@._+-]+$")


@dataclass(frozen=True)
class File:
    content: str
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


def _safe(value: str) -> str:
    if not _SAFE.match(value):
        raise ValueError(f"refusing to write {value!r} into a mail-server file")
    return value


def site_cert(name: str) -> tuple[str, str]:
    """(certificate, key) files of an MTA-STS policy host."""
    return f"{SITE_CERTS}/{_safe(name)}.crt", f"{SITE_CERTS}/{_safe(name)}.key"


HEADER = "# Managed by mailbox-iac. Changes made here are reported as drift and overwritten.\n"


def main_cf(plan: MailHostPlan) -> str:
    return (
        HEADER
        + f"""compatibility_level = 3.6
myhostname = {_safe(plan.hostname)}
myorigin = $myhostname
mydestination = localhost
mynetworks = 127.0.0.0/8{" [::1]/128" if plan.ipv6 else ""}
inet_interfaces = all
inet_protocols = {"all" if plan.ipv6 else "ipv4"}
smtpd_banner = $myhostname ESMTP
local_header_rewrite_clients = permit_mynetworks, permit_sasl_authenticated
biff = no
append_dot_mydomain = no
readme_directory = no
maillog_file = {LOG_DIR}/postfix.log
alias_maps =
alias_database =
recipient_delimiter = +

virtual_mailbox_domains = texthash:{CURRENT}/postfix/virtual_domains
virtual_mailbox_maps = texthash:{CURRENT}/postfix/virtual_mailboxes
virtual_alias_maps = texthash:{CURRENT}/postfix/virtual_aliases
virtual_transport = lmtp:unix:private/dovecot-lmtp

smtpd_tls_chain_files = {TLS_KEY}, {TLS_CERT}
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_loglevel = 1
# Outbound: TLS when offered; verified, and required, where the recipient publishes TLSA records in a
# signed zone (DANE, through the host's validating resolver) or an MTA-STS policy says so ("Verified TLS
# connection established" in the log). An unanswered policy lookup defers the mail.
smtp_dns_support_level = dnssec
smtp_tls_security_level = dane
smtp_tls_CAfile = {SYSTEM_CAS}
smtp_tls_policy_maps = socketmap:inet:{STS_RESOLVER}:postfix
smtp_tls_loglevel = 1

smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_auth_enable = no
smtpd_sender_login_maps = texthash:{CURRENT}/{SENDER_LOGINS}
smtpd_sender_restrictions = reject_non_fqdn_sender, check_sender_access texthash:{CURRENT}/postfix/own_senders
smtpd_helo_required = yes
smtpd_peername_lookup = no
disable_vrfy_command = yes
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, reject_unlisted_recipient
message_size_limit = 26214400
mailbox_size_limit = 0
smtpd_client_connection_count_limit = 20
smtpd_client_connection_rate_limit = 60
smtpd_client_message_rate_limit = 200
smtpd_client_recipient_rate_limit = 500
smtpd_recipient_limit = 100
smtpd_error_sleep_time = 1s

# OpenDKIM first: OpenDMARC reads the DKIM result it adds. Mail made on the host is only signed.
smtpd_milters = {OPENDKIM_MILTER}, {OPENDMARC_MILTER}
non_smtpd_milters = {OPENDKIM_MILTER}
milter_default_action = tempfail
milter_protocol = 6

# Submission: the header From checked against the login before anything signs it; each mailbox up to
# its daily limit (policyd-rate-limit), then authenticated users only.
mbx_submission_milters = {FROM_GUARD_MILTER}, {OPENDKIM_MILTER}, {OPENDMARC_MILTER}
mbx_submission_recipient_restrictions = check_policy_service unix:{RATE_LIMIT_POLICY},
  permit_sasl_authenticated, reject
"""
    )


_SUBMISSION = """  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=$mbx_submission_recipient_restrictions
  -o smtpd_milters=$mbx_submission_milters
  -o milter_macro_daemon_name=ORIGINATING
  -o cleanup_service_name=subcleanup
"""


def master_cf() -> str:
    return (
        HEADER
        + "smtp       inet  n - n - -    smtpd\n"
        + "submission inet  n - n - -    smtpd\n  -o syslog_name=postfix/submission\n"
        + _SUBMISSION
        + "submissions inet n - n - -    smtpd\n  -o syslog_name=postfix/submissions\n  -o smtpd_tls_wrappermode=yes\n"
        + _SUBMISSION
        + f"""pickup     unix  n - n 60 1   pickup
cleanup    unix  n - n - 0    cleanup
  -o header_checks=regexp:{CURRENT}/postfix/inbound_header_checks
subcleanup unix  n - n - 0    cleanup
  -o header_checks=regexp:{CURRENT}/postfix/submission_header_checks
qmgr       unix  n - n 300 1  qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n - -    trivial-rewrite
bounce     unix  - - n - 0    bounce
defer      unix  - - n - 0    bounce
trace      unix  - - n - 0    bounce
verify     unix  - - n - 1    verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - -    proxymap
proxywrite unix  - - n - 1    proxymap
smtp       unix  - - n - -    smtp
relay      unix  - - n - -    smtp
showq      unix  n - n - -    showq
error      unix  - - n - -    error
retry      unix  - - n - -    error
discard    unix  - - n - -    discard
local      unix  - n n - -    local
virtual    unix  - n n - -    virtual
lmtp       unix  - - n - -    lmtp
anvil      unix  - - n - 1    anvil
scache     unix  - - n - 1    scache
postlog    unix-dgram n - n - 1 postlogd
"""
    )


def dovecot_conf(plan: MailHostPlan) -> str:
    return (
        HEADER
        + f"""protocols = imap lmtp
listen = {"*, ::" if plan.ipv6 else "*"}
log_path = {LOG_DIR}/dovecot.log
ssl = required
ssl_cert = <{TLS_CERT}
ssl_key = <{TLS_KEY}
ssl_min_protocol = TLSv1.2
ssl_prefer_server_ciphers = yes
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_username_chars = abcdefghijklmnopqrstuvwxyz0123456789.-_@
auth_username_format = %Lu
mail_location = maildir:{MAIL_DIR}/%d/%n
mail_uid = vmail
mail_gid = vmail
first_valid_uid = 100
mail_plugins = quota
postmaster_address = postmaster@{_safe(plan.hostname)}
hostname = {_safe(plan.hostname)}

passdb {{
  driver = passwd-file
  args = scheme=ARGON2ID {USERS_DIR}/%d/%n
}}
userdb {{
  driver = passwd-file
  args = {USERS_DIR}/%d/%n
  default_fields = uid=vmail gid=vmail home={MAIL_DIR}/%d/%n
}}

service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = 993
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener /var/spool/postfix/private/dovecot-lmtp {{
    mode = 0600
    user = postfix
    group = postfix
  }}
}}
service auth {{
  unix_listener /var/spool/postfix/private/auth {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}

namespace inbox {{
  inbox = yes
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}

protocol lmtp {{
  mail_plugins = $mail_plugins
}}
protocol imap {{
  mail_plugins = $mail_plugins imap_quota
}}
plugin {{
  quota = maildir:User quota
  quota_rule = *:storage=1G
}}
"""
    )


def opendkim_conf(plan: MailHostPlan) -> str:
    """OpenDKIM signs what the logins send. Its process (the pid file's) watches a worker it restarts when
    that dies (AutoRestart, at most 10 times an hour): Debian's 2.11 has been seen to crash on a first
    connection, and a milter that is gone makes Postfix refuse every session (milter_default_action)."""
    return (
        HEADER
        + f"""Syslog yes
AuthservID {_safe(plan.hostname)}
UMask 007
UserID opendkim
PidFile /run/opendkim/opendkim.pid
AutoRestart yes
AutoRestartRate 10/1h
Socket {OPENDKIM_SOCKET}
Mode sv
MTA ORIGINATING
Canonicalization relaxed/simple
SignHeaders {",".join(SIGNED_HEADERS)}
OversignHeaders {",".join(SIGNED_HEADERS)}
SubDomains no
ResolverConfiguration {RESOLVERS}
KeyTable refile:{CURRENT}/opendkim/KeyTable
SigningTable refile:{CURRENT}/opendkim/SigningTable
InternalHosts {CURRENT}/opendkim/TrustedHosts
ExternalIgnoreList {CURRENT}/opendkim/TrustedHosts
"""
    )


def opendmarc_conf(plan: MailHostPlan) -> str:
    """DMARC for what arrives on port 25: SPF checked here, DKIM as OpenDKIM found it, p=reject rejected."""
    return (
        HEADER
        + f"""Syslog true
UMask 007
UserID opendmarc
PidFile /run/opendmarc/opendmarc.pid
AutoRestart true
AutoRestartRate 10/1h
Socket {OPENDMARC_SOCKET}
AuthservID {_safe(plan.hostname)}
TrustedAuthservIDs {_safe(plan.hostname)}
IgnoreAuthenticatedClients true
IgnoreHosts {CURRENT}/opendkim/TrustedHosts
SPFSelfValidate true
SPFIgnoreResults true
RejectFailures true
RequiredHeaders false
FailureReports false
PublicSuffixList /usr/share/publicsuffix/public_suffix_list.dat
"""
    )


def rate_limits(plan: MailHostPlan) -> str:
    """policyd-rate-limit: each mailbox's daily limit, counted per recipient over the last 24 hours (lowered
    for the day on the host while it warms up: warmup_caps.py). JSON, which is YAML; a full table or database
    error defers (4xx) rather than lets mail through."""
    config = {
        "user": "policyd-rate-limit",
        "group": "policyd-rate-limit",
        "pidfile": RATE_LIMIT_PID,
        "backend": 0,
        "sqlite_config": {"database": "/var/lib/policyd-rate-limit/db.sqlite3"},
        "SOCKET": RATE_LIMIT_SOCKET,
        "socket_permission": 0o666,
        "limit_by_sasl": True,
        "limit_by_sender": False,
        "limit_by_ip": False,
        "limited_networks": [],
        "limits": [[min((n for _, n in plan.sending_limits), default=DEFAULT_DAILY_LIMIT), DAY]],  # none else logs in
        "limits_by_id": {_safe(a): [[n, DAY]] for a, n in plan.sending_limits},
        "success_action": "dunno",
        "fail_action": "defer_if_permit 4.7.1 this mailbox reached its sending limit for today, retry later",
        "db_error_action": "defer_if_permit 4.3.0 the sending limit could not be checked, retry later",
        "report": False,
        "debug": False,
    }
    return HEADER + json.dumps(config, indent=1) + "\n"


def warmup_schedule(plan: MailHostPlan) -> str:
    """The mailboxes whose warm-up has a first day, by their policyd-rate-limit id (see warmup_caps.py)."""
    schedule = {
        _safe(a): {"start": start, "start_per_day": n, "increment_per_day": i} for a, start, n, i in plan.warmups
    }
    return json.dumps(schedule, indent=1, sort_keys=True) + "\n"


def sts_resolver_conf() -> str:
    """postfix-mta-sts-resolver: policies cached in memory, `testing` policies not enforced (RFC 8461 §5).
    JSON, which is YAML."""
    host, port = STS_RESOLVER.split(":")
    config = {
        "host": host,
        "port": int(port),
        "reuse_port": True,
        "shutdown_timeout": 20,
        "cache": {"type": "internal", "options": {"cache_size": 10000}},
        "default_zone": {"strict_testing": False, "timeout": 4},
    }
    return HEADER + json.dumps(config, indent=1) + "\n"


def _escaped(hostname: str) -> str:
    return _safe(hostname).replace(".", "\\.")


def submission_header_checks() -> str:
    """The first Received line of a submission names the sender's own machine: keep only `by ...` onwards."""
    return HEADER + (
        "/^Received: from [^[:space:]]+ \\([^)]*\\)([[:space:]]+by .* with ESMTPS?A .*)$/"
        " REPLACE Received: from authenticated-user${1}\n"
    )


def inbound_header_checks(plan: MailHostPlan) -> str:
    """Authentication-Results claiming to come from this host were forged before it: dropped."""
    return HEADER + f"/^Authentication-Results:[[:space:]]*{_escaped(plan.hostname)}([[:space:];]|$)/ IGNORE\n"


def nginx_conf(plan: MailHostPlan) -> str:
    """Port 80 answers ACME HTTP-01 challenges only; 443 serves each MTA-STS policy under its own name and
    certificate."""

    def listen(port: str) -> str:  # IPv6 too only when the server has it
        return f"listen {port};" + (f"\n        listen [::]:{port};" if plan.ipv6 else "")

    def policy(domain: str) -> str:
        cert, key = site_cert(f"mta-sts.{domain}")
        return f"""    server {{
        {listen("443 ssl")}
        server_name mta-sts.{_safe(domain)};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location = /.well-known/mta-sts.txt {{
            alias {CURRENT}/mta-sts/{_safe(domain)}.txt;
        }}
        location / {{
            return 404;
        }}
    }}
"""

    policies = "".join(policy(domain) for domain, _ in plan.mta_sts_policies)
    return (
        HEADER
        + f"""user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log {LOG_DIR}/nginx-error.log;
events {{
    worker_connections 512;
}}
http {{
    server_tokens off;
    access_log off;
    default_type text/plain;
    ssl_certificate {TLS_CERT};
    ssl_certificate_key {TLS_KEY};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    server {{
        {listen("80 default_server")}
        server_name _;
        location /.well-known/acme-challenge/ {{
            root {ACME_WEBROOT};
        }}
        location / {{
            return 404;
        }}
    }}
    server {{
        {listen("443 ssl default_server")}
        server_name _;
        return 404;
    }}
{policies}}}
"""
    )


def sender_logins(plan: MailHostPlan) -> list[tuple[str, str]]:
    """Who may send as what: each mailbox as itself, and as each forward that delivers to it (the spec
    gives it that address). A catch-all gives no one its domain."""
    logins = {a for a, _ in plan.mailboxes}
    rows = [(a, a) for a, _ in plan.mailboxes]
    for source, targets in plan.aliases:
        owners = sorted(t for t in set(targets) if t in logins)
        if owners and not source.startswith("@"):
            rows.append((source, ",".join(owners)))
    return rows


def _map(rows: list[tuple[str, str]]) -> str:
    return HEADER + "".join(f"{_safe(k)} {v}\n" for k, v in rows)


def _shipped(script: str) -> str:
    """A script of this package that runs on the mail host."""
    return resources.files("mailbox_iac.mailhost").joinpath(script).read_text()


def render(plan: MailHostPlan, dkim_keys: dict[tuple[str, str], str], root: Root | None = None) -> dict[str, File]:
    """Every file of a release, relative to the release directory. `dkim_keys`: (domain, selector) -> PEM;
    `root`: the DNS root the host's resolver starts from, when not the Internet's."""
    files = {
        "postfix/main.cf": File(main_cf(plan)),
        "postfix/master.cf": File(master_cf()),
        "postfix/virtual_domains": File(_map([(d, "OK") for d in plan.domains])),
        "postfix/virtual_mailboxes": File(_map([(a, "OK") for a, _ in plan.mailboxes])),
        # Identity rows first: without them a catch-all (@domain) would also swallow existing mailboxes.
        "postfix/virtual_aliases": File(
            _map(
                [(a, a) for a, _ in plan.mailboxes]
                + [(src, ",".join(_safe(t) for t in ts)) for src, ts in plan.aliases]
            )
        ),
        SENDER_LOGINS: File(_map(sender_logins(plan))),
        FROM_GUARD_SCRIPT: File(_shipped("from_guard.py")),
        # On port 25 nobody logs in: a sender address of this host's own arriving there is forged.
        "postfix/own_senders": File(
            _map([(a, f"REJECT 5.7.1 {a} sends from here only after login") for a, _ in plan.mailboxes])
        ),
        "dovecot/dovecot.conf": File(dovecot_conf(plan)),
        "postfix/submission_header_checks": File(submission_header_checks()),
        "postfix/inbound_header_checks": File(inbound_header_checks(plan)),
        "opendkim/opendkim.conf": File(opendkim_conf(plan)),
        "opendmarc/opendmarc.conf": File(opendmarc_conf(plan)),
        RATE_LIMIT_CONFIG: File(rate_limits(plan)),
        WARMUP_SCHEDULE: File(warmup_schedule(plan)),
        WARMUP_SCRIPT: File(_shipped("warmup_caps.py")),
        STS_RESOLVER_CONFIG: File(sts_resolver_conf()),
        "opendkim/TrustedHosts": File("127.0.0.1\n::1\nlocalhost\n"),
        "nginx/nginx.conf": File(nginx_conf(plan)),
        UNBOUND_CONFIG: File(unbound_conf(root, plan.ipv6)),
        RESOLV_CONF: File(RESOLVER_LINES),
    }
    key_rows, signing_rows = [], []
    for domain, selector in plan.dkim:
        name = f"{_safe(selector)}._domainkey.{_safe(domain)}"
        key_path = f"{CURRENT}/opendkim/keys/{domain}/{selector}.private"
        key_rows.append(f"{name} {domain}:{selector}:{key_path}\n")
        signing_rows.append(f"*@{domain} {name}\n")
        pem = dkim_keys.get((domain, selector))
        if pem is None:
            raise ValueError(f"no DKIM private key for {domain} selector {selector}")
        files[f"opendkim/keys/{domain}/{selector}.private"] = File(pem, 0o600, "opendkim", "opendkim")
    files["opendkim/KeyTable"] = File("".join(key_rows))
    files["opendkim/SigningTable"] = File("".join(signing_rows))
    for domain, policy in plan.mta_sts_policies:
        files[f"mta-sts/{_safe(domain)}.txt"] = File(policy)
    return files


def release_id(files: dict[str, File]) -> str:
    """Releases are named by their content: the same configuration is the same release."""
    digest = hashlib.sha256()
    for path in sorted(files):
        f = files[path]
        digest.update(f"{path}\0{f.mode:o}\0{f.owner}\0{f.group}\0{f.sha256}\n".encode())
    return digest.hexdigest()[:16]


def services_changed(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Daemons to reload: those with a file whose digest differs between two {path: sha256} maps."""
    changed = {p.split("/", 1)[0] for p in set(old) | set(new) if old.get(p) != new.get(p)}
    return sorted(s for d in changed if (s := SERVICE_OF.get(d)))


def user_line(address: str, argon2_hash: str, quota_mb: int) -> str:
    """One Dovecot passwd-file entry: the hash only, never the password; the quota as a userdb field."""
    _safe(address)
    if not argon2_hash.startswith("$argon2id$") or any(c in argon2_hash for c in ":\n"):
        raise ValueError("not an ARGON2ID hash")
    return f"{address}:{{ARGON2ID}}{argon2_hash}::::::userdb_quota_rule=*:storage={int(quota_mb)}M\n"
