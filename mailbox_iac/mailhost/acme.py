"""TLS certificates over ACME, obtained and renewed on the mail host by certbot.

One certificate per name, so that none links two of the tenant's domains (for anyone reading it, or the
CT logs): the mail hostname's (lineage `mailbox-iac`: Postfix on 25, 465, 587, Dovecot on 993, nginx's
default server) and one per MTA-STS policy host (lineage `mailbox-iac.<name>`, nginx's server for that
name). certbot answers HTTP-01 challenges from the webroot nginx serves on port 80 (render.nginx_conf).
Its deploy hook copies a new certificate to the pair of files its daemons read, then reloads them.
certbot's own timer (systemd) or cron job renews, and the hook runs again on every renewal. The ACME
directory is configurable (stack config, else MAILBOX_IAC_ACME_DIRECTORY where the provider runs, else
Let's Encrypt); MAILBOX_IAC_ACME_CA names a PEM file with a private CA that signs the directory's own
HTTPS (the sandbox's Pebble).
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
from mailbox_iac.mailhost.render import ACME_WEBROOT, CERT_DIR, HEADER, ROOT, SITE_CERTS, TLS_CERT, TLS_KEY

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
CERT_NAME = "mailbox-iac"  # the mail hostname's lineage; each other name's is `mailbox-iac.<name>`
LIVE = "/etc/letsencrypt/live"
DEPLOY_HOOK = f"{ROOT}/certbot-deploy-hook"
DIRECTORY_CA = f"{ROOT}/acme-directory-ca.pem"
RENEW_BEFORE = timedelta(days=30)  # certbot's own default: a certificate closer to expiry is not "valid" here


def lineages(names: list[str]) -> list[str]:
    """certbot's lineage (certificate name) for each name: the first is the mail hostname."""
    return [CERT_NAME, *(f"{CERT_NAME}.{n}" for n in names[1:])]


def served_file(lineage: str) -> str:
    """Where a lineage's certificate is served from, relative to CERT_DIR."""
    return "mail.crt" if lineage == CERT_NAME else f"sites/{lineage.removeprefix(CERT_NAME + '.')}.crt"


def deploy_hook(systemd: bool) -> str:
    """Copies a lineage's certificate into place (key first, each file swapped in by a rename) and
    reloads the daemons serving it. Does nothing when the files are already the same."""
    if systemd:
        reload = "systemctl reload postfix dovecot nginx"
    else:
        served_by = (DAEMONS[s] for s in ("postfix", "dovecot", "nginx"))
        reload = "; ".join(f"if {running}; then {again}; fi" for running, again, _ in served_by)
    return f"""#!/bin/sh
{HEADER}set -e
L="${{RENEWED_LINEAGE:?}}"
case "${{L##*/}}" in
{CERT_NAME}) C={TLS_CERT} K={TLS_KEY} ;;
{CERT_NAME}.*) N="${{L##*/{CERT_NAME}.}}"; C="{SITE_CERTS}/$N.crt" K="{SITE_CERTS}/$N.key" ;;
*) exit 0 ;;
esac
if cmp -s "$L/fullchain.pem" "$C" && cmp -s "$L/privkey.pem" "$K"; then exit 0; fi
install -m 0600 "$L/privkey.pem" "$K.new" && mv "$K.new" "$K"
install -m 0644 "$L/fullchain.pem" "$C.new" && mv "$C.new" "$C"
{reload}
"""


def certbot_argv(name: str, lineage: str, directory: str, email: str, force: bool) -> list[str]:
    argv = [
        "certbot",
        "certonly",
        "--non-interactive",
        "--agree-tos",
        "--webroot",
        "--webroot-path",
        ACME_WEBROOT,
        "--cert-name",
        lineage,
        "--server",
        directory,
        "--deploy-hook",
        DEPLOY_HOOK,
        "--expand",
        "--force-renewal" if force else "--keep-until-expiring",
    ]
    argv += ["--email", email] if email else ["--register-unsafely-without-email"]
    return [*argv, "-d", name]


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


def parse_served(_status: int, out: str) -> dict[str, Served]:
    """`file=<path>` lines, each followed by that certificate's `openssl x509` text -> {path: Served}."""
    found: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in out.splitlines():
        if line.startswith("file="):
            lines = found.setdefault(line[5:], [])
        else:
            lines.append(line)
    return {path: parse_x509_text("\n".join(text)) for path, text in found.items()}


# Every certificate served (paths relative to CERT_DIR), in one command.
SERVED = facts.Reader(
    f'cd {CERT_DIR} 2>/dev/null && for f in mail.crt sites/*.crt; do [ -s "$f" ] || continue; echo "file=$f"; '
    'openssl x509 -in "$f" -noout -issuer -enddate -ext subjectAltName 2>/dev/null; done; true',
    parse_served,
)


def valid_for(served: dict[str, Served], names: list[str], now: datetime) -> bool:
    """Each name has its own certificate, naming it alone and good for a while yet."""
    files = [served_file(lineage) for lineage in lineages(names)]
    return all(f in served and served[f].valid_for([n], now) for f, n in zip(files, names, strict=True))


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


def _stale_lineages(names: list[str]) -> str:
    """Forgets the lineages of names no longer wanted (and their served files): no renewals, no reloads."""
    keep = " ".join(shlex.quote(f"{CERT_NAME}.{n}") for n in names[1:])
    return (
        f'for f in /etc/letsencrypt/renewal/{CERT_NAME}.*.conf; do [ -e "$f" ] || continue; '
        'c="${f##*/}"; c="${c%.conf}"; case " ' + keep + ' " in *" $c "*) continue ;; esac; '
        'certbot delete --non-interactive --cert-name "$c" >/dev/null 2>&1 || true; '
        f'rm -f "{SITE_CERTS}/${{c#{CERT_NAME}.}}.crt" "{SITE_CERTS}/${{c#{CERT_NAME}.}}.key"; done'
    )


def obtain(conn: Connection, names: list[str], directory: str, email: str, force: bool) -> dict[str, Served]:
    """Issue (or keep, while it is not due for renewal) a certificate for each of `names` and serve it."""
    conn.put(DEPLOY_HOOK, deploy_hook(facts.HOST.read(conn).systemd).encode(), 0o755)
    env = []
    ca_bundle = _directory_ca()
    if ca_bundle:
        conn.put(DIRECTORY_CA, ca_bundle.encode(), 0o644)
        env = ["env", f"REQUESTS_CA_BUNDLE={DIRECTORY_CA}"]
    for name, lineage in zip(names, lineages(names), strict=True):
        conn.run([*env, *certbot_argv(name, lineage, directory, email, force)])
        conn.run(["env", f"RENEWED_LINEAGE={LIVE}/{lineage}", DEPLOY_HOOK])  # also when certbot kept it
    conn.run(_stale_lineages(names))
    return SERVED.read(conn)


def remove(conn: Connection) -> None:
    """Forget the lineages (no more renewals); the files in use stay until the host is reconfigured."""
    conn.run(
        f"for f in /etc/letsencrypt/renewal/{CERT_NAME}.conf /etc/letsencrypt/renewal/{CERT_NAME}.*.conf; do "
        '[ -e "$f" ] || continue; c="${f##*/}"; '
        'certbot delete --non-interactive --cert-name "${c%.conf}" >/dev/null 2>&1 || true; done; '
        f"rm -f {DEPLOY_HOOK} {DIRECTORY_CA}"
    )


def now() -> datetime:
    return datetime.now(UTC)
