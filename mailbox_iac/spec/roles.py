"""Addresses a mail domain must accept, and report destinations that must agree to receive reports.

Every domain accepts `postmaster@` (RFC 5321 §4.5.1) and `abuse@` (RFC 2142), and the report addresses
(DMARC `rua`, TLS-RPT) that lie in the tenant's own domains. Each is delivered to the tenant's postmaster
unless the spec already makes it a mailbox or a forward, so it never falls to a catch-all by accident.

A DMARC report address outside the domain's organisational domain is only used by receivers when its
domain publishes `<domain>._report._dmarc.<destination> TXT "v=DMARC1"` (RFC 7489 §7.1): planned when the
destination is one of the tenant's domains, warned about otherwise. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from publicsuffixlist import PublicSuffixList

if TYPE_CHECKING:
    from mailbox_iac.spec.resolve import Domain

ROLE_LOCALS = ("postmaster", "abuse")
REPORT_AUTHORISATION = "v=DMARC1"


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def organisational(domain: str) -> str:
    """The organisational domain (RFC 7489 §3.2): one label below the public suffix."""
    return _suffixes().privatesuffix(domain.lower()) or domain.lower()


def report_addresses(domains: Sequence[Domain]) -> list[str]:
    """Every report address the domains publish, once each."""
    found = {d.dmarc.rua for d in domains if d.dmarc.rua} | {d.tls_rpt.rua for d in domains if d.tls_rpt}
    return sorted(found)


def role_forwards(domains: Sequence[Domain], postmaster: str) -> dict[str, dict[str, tuple[str, ...]]]:
    """{domain: {local part: (postmaster,)}} for each address a domain must accept and the spec left open."""
    wanted: dict[str, set[str]] = {d.name: set(ROLE_LOCALS) for d in domains}
    for address in report_addresses(domains):
        local, _, domain = address.rpartition("@")
        if domain in wanted:
            wanted[domain].add(local)
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for d in domains:
        taken = {m.local for m in d.mailboxes} | set(d.forwards)
        out[d.name] = {local: (postmaster,) for local in sorted(wanted[d.name] - taken)}
    return out


def report_destination(domain: str, rua: str | None) -> str | None:
    """The destination domain that must authorise `domain`'s DMARC reports, or None when none must."""
    if not rua:
        return None
    destination = rua.rpartition("@")[2]
    return destination if organisational(destination) != organisational(domain) else None
