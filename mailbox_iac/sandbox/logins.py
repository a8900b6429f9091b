"""The connection test a sequencer runs on a new account, as the sandbox's sequencer emulators run it: a
real SMTP login (STARTTLS, or TLS on 465) and a real IMAP login over TLS to the host the account names.
Certificates are not judged here (a sequencer connects to whatever the account names); the logins are."""

from __future__ import annotations

import imaplib
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Login:
    """What an account tells the sequencer about its mailbox."""

    smtp_host: str
    smtp_port: int
    smtp_username: str
    smtp_password: str
    imap_host: str
    imap_port: int
    imap_username: str
    imap_password: str


@dataclass(frozen=True)
class LoginFailure:
    leg: str  # smtp or imap
    command: str  # what was being done: CONN, AUTH PLAIN, IMAP LOGIN
    code: int | None  # the SMTP server's reply code, when it answered one
    reply: str  # the server's own words, or the connection error


# A login check: None when SMTP and IMAP both log in, else what failed first.
LoginTest = Callable[[Login], LoginFailure | None]


def login_test(address_of: Callable[[str], str]) -> LoginTest:
    """Logs in as `Login` says, each host found with `address_of` (the sandbox's DNS)."""
    unverified = ssl.create_default_context()
    unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE

    def test(login: Login) -> LoginFailure | None:
        leg, command = "smtp", "CONN"
        try:
            host, port = address_of(login.smtp_host), login.smtp_port
            ssl_only = port == 465
            smtp = (
                smtplib.SMTP_SSL(host, port, context=unverified, timeout=20)
                if ssl_only
                else smtplib.SMTP(host, port, timeout=20)
            )
            with smtp:
                if not ssl_only:
                    smtp.starttls(context=unverified)
                command = "AUTH PLAIN"
                smtp.login(login.smtp_username, login.smtp_password)
            leg, command = "imap", "IMAP LOGIN"
            imap = imaplib.IMAP4_SSL(address_of(login.imap_host), login.imap_port, ssl_context=unverified)
            try:
                imap.login(login.imap_username, login.imap_password)
            finally:
                imap.logout()
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            return LoginFailure(leg, command, exc.smtp_code, f"{exc.smtp_code} {text}")
        except (imaplib.IMAP4.error, OSError, smtplib.SMTPException, ValueError) as exc:
            return LoginFailure(leg, command, None, str(exc))
        return None

    return test
