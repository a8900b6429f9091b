"""Reverse DNS: the PTR of a server's address is its mail hostname (receivers' forward-confirmed rDNS)."""

from __future__ import annotations

import dns.resolver
import dns.reversename

from mailbox_iac.checks.dns import answer
from mailbox_iac.checks.result import Check, Result, Severity, Stage

PTR = Check(
    "ptr.hostname",
    Severity.error,
    frozenset({Stage.gate, Stage.verify}),
    "the PTR of the server's address is the mail hostname",
)


def ptr(ip: str, hostname: str, resolver: dns.resolver.Resolver) -> Result:
    got = answer(resolver, dns.reversename.from_address(ip).to_text(), "PTR")
    ok = hostname.lower() in got
    return PTR.result(ip, ok, "" if ok else f"expected {hostname}, got {sorted(got) or 'nothing'}")
