"""TLS certificates over ACME, obtained and renewed on the mail host by certbot.

certbot answers HTTP-01 challenges from the webroot nginx serves on port 80 (see render.nginx_conf).
Its deploy hook copies a new certificate to the one pair of files Postfix (25, 465, 587), Dovecot (993)
and nginx (443, MTA-STS) use, then reloads them. certbot's own timer (systemd) or cron job renews, and
the hook runs again on every renewal. The ACME directory is configurable (stack config, else
MAILBOX_IAC_ACME_DIRECTORY where the provider runs, else Let's Encrypt); MAILBOX_IAC_ACME_CA names a PEM
file with a private CA that signs the directory's own HTTPS (the sandbox's Pebble).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailbox_iac.mailhost import facts
from mailbox_iac.mailhost.apply import DAEMONS
from mailbox_iac.mailhost.connection import Connection
from mailbox_iac.mailhost.render import ACME_WEBROOT, HEADER, ROOT, TLS_CERT, TLS_KEY

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
CERT_NAME = "mailbox-iac"
LINEAGE = f"/etc/letsencrypt/live/{CERT_NAME}"
DEPLOY_HOOK = f"{ROOT}/certbot-deploy-hook"
DIRECTORY_CA = f"{ROOT}/acme-directory-ca.pem"
RENEW_BEFORE = timedelta(days=30)  # certbot's own default: a certificate closer to expiry is not "valid" here


def deploy_hook(systemd: bool) -> str:
    """Copies the lineage's certificate into place (key first, each file swapped in by a rename) and
    reloads the daemons serving it. Does nothing when the files are already the same."""
    if systemd:
        reload = "systemctl reload postfix dovecot nginx"
    else:
        served_by = (DAEMONS[s] for s in ("postfix", "dovecot", "nginx"))
        reload = "; ".join(f"if {running}; then {again}; fi" for running, again, _ in served_by)
    return f"""#!/bin/sh
{HEADER}set -e
L="${{RENEWED_LINEAGE:-{LINEAGE}}}"
if cmp -s "$L/fullchain.pem" {TLS_CERT} && cmp -s "$L/privkey.pem" {TLS_KEY}; then exit 0; fi
install -m 0600 "$L/privkey.pem" {TLS_KEY}.new && mv {TLS_KEY}.new {TLS_KEY}
install -m 0644 "$L/fullchain.pem" {TLS_CERT}.new && mv {TLS_CERT}.new {TLS_CERT}
{reload}
"""


def certbot_argv(names: list[str], directory: str, email: str, force: bool) -> list[str]:
    argv = [
        "certbot",
        "certonly",
        "--non-interactive",
        "--agree-tos",
        "--webroot",
        "--webroot-path",
        ACME_WEBROOT,
        "--cert-name",
        CERT_NAME,
        "--server",
        directory,
        "--deploy-hook",
        DEPLOY_HOOK,
        "--expand",
        "--force-renewal" if force else "--keep-until-expiring",
    ]
    argv += ["--email", email] if email else ["--register-unsafely-without-email"]
    for name in names:
        argv += ["-d", name]
    return argv


@dataclass(frozen=True)
class Served:
    """The certificate the host serves: its names and whether it is good for a while yet."""

    names: tuple[str, ...]
    not_after: datetime | None
    issuer: str

    def valid_for(self, names: list[str], now: datetime) -> bool:
        fresh = self.not_after is not None and self.not_after - now > RENEW_BEFORE
        return fresh and sorted(self.names) == sorted(names)


def parse_x509_text(text: str) -> Served:
    """From `openssl x509 -noout -issuer -enddate -ext subjectAltName`."""
    names: list[str] = []
    not_after = None
    issuer = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("notAfter="):
            not_after = datetime.strptime(line[9:].replace("  ", " "), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)
        elif line.startswith("issuer="):
            issuer = line[7:].strip()
        elif "DNS:" in line:
            names += [p.strip()[4:] for p in line.split(",") if p.strip().startswith("DNS:")]
    return Served(tuple(sorted(names)), not_after, issuer)


SERVED = facts.Reader(
    ["openssl", "x509", "-in", TLS_CERT, "-noout", "-issuer", "-enddate", "-ext", "subjectAltName"],
    lambda _status, out: parse_x509_text(out),
)


def directory(configured: object) -> str:
    """The ACME directory URL: the configured one, else the provider environment's, else Let's Encrypt."""
    return str(configured or os.environ.get("MAILBOX_IAC_ACME_DIRECTORY") or LETS_ENCRYPT)


def _directory_ca() -> str:
    path = os.environ.get("MAILBOX_IAC_ACME_CA")
    if not path:
        return ""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"MAILBOX_IAC_ACME_CA: cannot read {path}: {exc.strerror}") from None


def obtain(conn: Connection, names: list[str], directory: str, email: str, force: bool) -> Served:
    """Issue (or keep, while it is not due for renewal) the certificate for `names` and serve it."""
    conn.put(DEPLOY_HOOK, deploy_hook(facts.HOST.read(conn).systemd).encode(), 0o755)
    env = []
    ca_bundle = _directory_ca()
    if ca_bundle:
        conn.put(DIRECTORY_CA, ca_bundle.encode(), 0o644)
        env = ["env", f"REQUESTS_CA_BUNDLE={DIRECTORY_CA}"]
    conn.run([*env, *certbot_argv(names, directory, email, force)])
    conn.run(["env", f"RENEWED_LINEAGE={LINEAGE}", DEPLOY_HOOK])  # also when certbot kept the certificate
    return SERVED.read(conn)


def remove(conn: Connection) -> None:
    """Forget the lineage (no more renewals); the files in use stay until the host is reconfigured."""
    conn.run(
        f"certbot delete --non-interactive --cert-name {shlex.quote(CERT_NAME)} >/dev/null 2>&1 || true; "
        f"rm -f {DEPLOY_HOOK} {DIRECTORY_CA}"
    )


def now() -> datetime:
    return datetime.now(UTC)
