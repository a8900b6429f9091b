"""The certificate a mail host serves: verified for the mail hostname, and not about to expire (certbot
renews 30 days ahead, so 14 days left means renewal has been failing for two weeks)."""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime, timedelta

from mailbox_iac.checks.result import Check, Result, Severity, Stage

VERIFIED = Check(
    "tls.verified",
    Severity.error,
    frozenset({Stage.verify, Stage.health}),
    "IMAPS (993) serves a certificate that verifies for the mail hostname",
)
EXPIRY = Check(
    "tls.expiry",
    Severity.warning,
    frozenset({Stage.verify, Stage.health}),
    "the served certificate has more than 14 days left",
)
WARN_BEFORE = timedelta(days=14)


def not_after(ip: str, hostname: str, tls: ssl.SSLContext, port: int = 993) -> datetime:
    """The expiry of the certificate `ip:port` serves, verified for `hostname` (raises when it does not verify)."""
    with socket.create_connection((ip, port), timeout=15) as sock, tls.wrap_socket(sock, server_hostname=hostname) as s:
        cert = s.getpeercert()
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(str((cert or {})["notAfter"])), UTC)


def certificate(ip: str, hostname: str, tls: ssl.SSLContext, now: datetime, port: int = 993) -> list[Result]:
    subject = f"{hostname} ({ip}:{port})"
    try:
        expires = not_after(ip, hostname, tls, port)
    except ssl.SSLCertVerificationError as exc:
        return [VERIFIED.result(subject, False, f"does not verify: {exc.verify_message}")]
    except OSError as exc:
        return [VERIFIED.result(subject, False, f"no TLS handshake: {type(exc).__name__}")]
    left = expires - now
    return [
        VERIFIED.result(subject, True),
        EXPIRY.result(subject, left > WARN_BEFORE, "" if left > WARN_BEFORE else f"expires {expires:%Y-%m-%d}"),
    ]
