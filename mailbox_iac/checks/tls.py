"""The certificates a mail host serves: verified for the name asked, and not about to expire (certbot renews
30 days ahead, so 14 days left means renewal has been failing for two weeks; `health` warns from 21 days
left on every port, SMTP's after STARTTLS, and fails from 7, as mailcow's watchdog does)."""

from __future__ import annotations

import smtplib
import socket
import ssl
from datetime import UTC, datetime, timedelta

from mailbox_iac.checks.login import Submission
from mailbox_iac.checks.result import Check, Result, Severity, Stage

VERIFIED = Check(
    "tls.verified",
    Severity.error,
    frozenset({Stage.gate, Stage.verify, Stage.health}),
    "the host serves a certificate that verifies for the name asked (gate: 465, 587, 993; verify: IMAPS 993; "
    "health: every TLS port)",
)
EXPIRY = Check(
    "tls.expiry",
    Severity.warning,
    frozenset({Stage.verify}),
    "the served certificate has more than 14 days left",
)
WARN_BEFORE = timedelta(days=14)
DAYS_LEFT = Check(
    "tls.days-left",
    Severity.warning,
    frozenset({Stage.health}),
    "every certificate a mail host serves (25 and 587 after STARTTLS, 465, 993, MTA-STS hosts on 443) has more "
    "than 21 days left",
)
LAPSING = Check(
    "tls.lapsing",
    Severity.error,
    frozenset({Stage.health}),
    "every certificate a mail host serves can be read and has more than 7 days left",
)
HEALTH_WARN, HEALTH_FAIL = timedelta(days=21), timedelta(days=7)
MAIL_PORTS = (25, 465, 587, 993)
CLIENT_PORTS = (465, 587, 993)  # what a mailbox's client (a sequencer, a mail app) connects to
STARTTLS_PORTS = (25, 587)


def not_after(ip: str, hostname: str, tls: ssl.SSLContext, port: int = 993) -> datetime:
    """The expiry of the certificate `ip:port` serves, verified for `hostname` (raises when it does not verify);
    on the SMTP ports after STARTTLS."""
    if port in STARTTLS_PORTS:
        with Submission(ip, hostname, port) as smtp:
            smtp.starttls(context=tls)
            cert = smtp.sock.getpeercert() if isinstance(smtp.sock, ssl.SSLSocket) else None
    else:
        with (
            socket.create_connection((ip, port), timeout=15) as sock,
            tls.wrap_socket(sock, server_hostname=hostname) as s,
        ):
            cert = s.getpeercert()
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(str((cert or {})["notAfter"])), UTC)


def _expiry(subject: str, ip: str, name: str, port: int, tls: ssl.SSLContext, unread: Check) -> datetime | Result:
    """The expiry of the certificate served for `name`, or the result saying why there is none: `tls.verified`
    when it does not verify, `unread` when no TLS handshake happened."""
    try:
        return not_after(ip, name, tls, port)
    except ssl.SSLCertVerificationError as exc:
        return VERIFIED.result(subject, False, f"does not verify: {exc.verify_message}")
    except (OSError, smtplib.SMTPException) as exc:
        return unread.result(subject, False, f"no TLS handshake: {type(exc).__name__}")


def lasting(ip: str, name: str, port: int, tls: ssl.SSLContext, as_of: datetime) -> Result:
    """`health`: how long the certificate `ip:port` serves for `name` lasts from `as_of`."""
    subject = f"{name} ({ip}:{port})"
    expires = _expiry(subject, ip, name, port, tls, LAPSING)
    if isinstance(expires, Result):
        return expires
    left = expires - as_of
    detail = f"{left.days} days left (expires {expires:%Y-%m-%d})"
    if left < HEALTH_FAIL:
        return LAPSING.result(subject, False, detail)
    return DAYS_LEFT.result(subject, left >= HEALTH_WARN, detail)


def verified(ip: str, hostname: str, tls: ssl.SSLContext, port: int) -> Result:
    """The readiness gate: the certificate `ip:port` serves verifies for `hostname`."""
    subject = f"{hostname} ({ip}:{port})"
    expires = _expiry(subject, ip, hostname, port, tls, VERIFIED)
    return expires if isinstance(expires, Result) else VERIFIED.result(subject, True)


def certificate(ip: str, hostname: str, tls: ssl.SSLContext, now: datetime, port: int = 993) -> list[Result]:
    subject = f"{hostname} ({ip}:{port})"
    expires = _expiry(subject, ip, hostname, port, tls, VERIFIED)
    if isinstance(expires, Result):
        return [expires]
    left = expires - now
    return [
        VERIFIED.result(subject, True),
        EXPIRY.result(subject, left > WARN_BEFORE, "" if left > WARN_BEFORE else f"expires {expires:%Y-%m-%d}"),
    ]
