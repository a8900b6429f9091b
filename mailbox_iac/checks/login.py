"""IMAPS and SMTP submission logins, the certificate verified for the mail hostname."""

from __future__ import annotations

import functools
import imaplib
import os
import smtplib
import socket
import ssl

from mailbox_iac.checks.result import Check, Result, Severity, Stage

IMAP = Check(
    "login.imap", Severity.error, frozenset({Stage.gate, Stage.verify}), "the mailbox logs in over IMAPS (993)"
)
SMTP = Check(
    "login.smtp",
    Severity.error,
    frozenset({Stage.gate, Stage.verify}),
    "the mailbox logs in over SMTP submission (587) after STARTTLS",
)


class Imaps(imaplib.IMAP4_SSL):
    """IMAPS to `ip`, verifying the certificate for `hostname` (no name lookup of our own)."""

    def __init__(self, ip: str, hostname: str, tls: ssl.SSLContext) -> None:
        self._ip = ip
        super().__init__(hostname, 993, ssl_context=tls, timeout=15)

    def _create_socket(self, timeout: float | None) -> ssl.SSLSocket:
        sock = socket.create_connection((self._ip, self.port), timeout)
        tls: ssl.SSLContext = self.ssl_context
        return tls.wrap_socket(sock, server_hostname=self.host)


class Submission(smtplib.SMTP):
    """SMTP to `ip` (submission, or `port` 25); STARTTLS then verifies the certificate for `hostname`."""

    def __init__(self, ip: str, hostname: str, port: int = 587) -> None:
        self._ip = ip
        super().__init__(hostname, port, timeout=15)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self._ip, port), timeout, self.source_address)


def trusted_tls(extra_roots: str | None) -> ssl.SSLContext:
    """The system's trust store, plus the roots in the PEM file `extra_roots` (MAILBOX_IAC_TLS_ROOTS: a
    private ACME CA, the sandbox's Pebble). Certificate and hostname are verified; TLS 1.2 at least.
    One context per roots file as it is now: reading the system's store costs 28 ms, paid once per process
    instead of once per readiness gate (and a context serves many connections, from any thread)."""
    changed = os.stat(extra_roots).st_mtime_ns if extra_roots else None
    return _trusting(extra_roots, changed)


@functools.lru_cache(maxsize=4)
def _trusting(extra_roots: str | None, _changed: int | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if extra_roots:
        ctx.load_verify_locations(cafile=extra_roots)
    return ctx


def pinned_tls(pem: str) -> ssl.SSLContext:
    """Trusts exactly the certificate(s) in `pem`, whatever name they hold: what a host says, over its pinned
    SSH session, that it serves (an account proven before ACME has run logs in over the placeholder)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False  # the pin is the identity
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # an issued leaf is trusted as it is, without its CA
    if pem.strip():
        ctx.load_verify_locations(cadata=pem)
    return ctx


def _failure(exc: Exception) -> str:
    """Why a login failed, as the server said it (its SMTP code and text: never our password)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{type(exc).__name__}: {exc.verify_message}"
    if isinstance(exc, smtplib.SMTPResponseException):
        said = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{type(exc).__name__}: {exc.smtp_code} {said}"[:200]
    return type(exc).__name__


def logins(ip: str, hostname: str, address: str, password: str, tls: ssl.SSLContext) -> list[Result]:
    out = []
    try:
        with Imaps(ip, hostname, tls) as im:
            im.login(address, password)
        out.append(IMAP.result(address, True))
    except (OSError, imaplib.IMAP4.error) as exc:
        out.append(IMAP.result(address, False, _failure(exc)))
    try:
        with Submission(ip, hostname) as smtp:
            smtp.starttls(context=tls)
            smtp.login(address, password)
        out.append(SMTP.result(address, True))
    except (OSError, smtplib.SMTPException) as exc:
        out.append(SMTP.result(address, False, _failure(exc)))
    return out
