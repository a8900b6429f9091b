"""Reachability of a deployed mail host: its port 25 out (probed by the host itself), its SMTP and IMAP ports
in (asked from where the tool runs), and its names agreeing: the PTR of its address, the name it says HELO
with and that name's A record (receivers refuse or junk mail where they differ)."""

from __future__ import annotations

import socket
import ssl

import dns.exception
import dns.resolver
import dns.reversename

from mailbox_iac.checks.dns import answer
from mailbox_iac.checks.result import Check, Result, Severity, Stage

HEALTH = frozenset({Stage.health})
SSH = Check("host.ssh", Severity.error, HEALTH, "health can log in to the mail host over SSH to read it")
OUTBOUND_25 = Check(
    "reach.outbound-25",
    Severity.error,
    HEALTH,
    "the mail host can open port 25 to another server (VPS providers close it: then no mail leaves)",
)
INBOUND = Check(
    "reach.inbound",
    Severity.error,
    HEALTH,
    "the mail host's SMTP (25, 587) and IMAP (993) ports greet from where the tool runs",
)
IDENTITY = Check(
    "reach.identity",
    Severity.error,
    HEALTH,
    "PTR = HELO = A: the address's PTR, the host's HELO name and that name's A record agree",
)
INBOUND_PORTS = (25, 587, 993)


def _first_line(ip: str, hostname: str, port: int, tls: ssl.SSLContext) -> str:
    with socket.create_connection((ip, port), timeout=10) as sock:
        if port == 993:
            with tls.wrap_socket(sock, server_hostname=hostname) as wrapped:
                return wrapped.recv(512).decode("ascii", "replace").splitlines()[0]
        return sock.recv(512).decode("ascii", "replace").splitlines()[0]


def inbound(ip: str, hostname: str, port: int, tls: ssl.SSLContext) -> Result:
    """The greeting `ip:port` says first: SMTP's "220", IMAP's "* OK" (over TLS on 993)."""
    subject = f"{hostname} ({ip}:{port})"
    try:
        said = _first_line(ip, hostname, port, tls)
    except (OSError, IndexError) as exc:
        return INBOUND.result(subject, False, f"no greeting: {type(exc).__name__} {exc}".strip()[:200])
    ok = said.startswith("* OK" if port == 993 else "220")
    return INBOUND.result(subject, ok, "" if ok else f"greeted {said[:120]!r}")


def outbound(ip: str, target: str, said: str, ok: bool) -> Result:
    """What the host's own probe of `target` found (mailhost/vitals.py)."""
    return OUTBOUND_25.result(f"{ip} -> {target}", ok, "" if ok else said)


def identity(ip: str, hostname: str, helo: str, resolver: dns.resolver.Resolver) -> Result:
    """Forward-confirmed reverse DNS with the HELO name: PTR(ip) = hostname = HELO, and A(hostname) holds ip."""
    try:
        ptr = answer(resolver, dns.reversename.from_address(ip).to_text(), "PTR")
        a = answer(resolver, hostname, "A")
    except dns.exception.DNSException as exc:
        return IDENTITY.result(ip, False, f"no answer: {type(exc).__name__}")
    name = hostname.lower().rstrip(".")
    wrong = [
        f"PTR is {sorted(ptr) or 'missing'}" if name not in ptr else "",
        f"HELO is {helo or 'unknown'!r}" if helo != name else "",
        f"A of {name} is {sorted(a) or 'missing'}" if ip not in a else "",
    ]
    problems = [w for w in wrong if w]
    return IDENTITY.result(ip, not problems, f"not {name} everywhere: {'; '.join(problems)}" if problems else "")
