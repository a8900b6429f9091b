"""Blocklists (DNSBLs): a server's addresses on IP lists, a mail domain on domain lists. A list answers a
question under its zone (`4.3.2.1.zen.spamhaus.org`, `example.com.dbl.spamhaus.org`) with an address in
127.0.0.0/8 when the subject is listed and NXDOMAIN when it is not. Some answers are not listings but the
list refusing to answer: Spamhaus' 127.255.255.252/254/255 (a malformed query, a query through a public
resolver, too many queries) and URIBL's 127.0.0.1. Those are reported as a problem with the resolver
used, never as a listing (YunoHost #1873, Mail-in-a-Box #2127 show the false alarms). The public lists
refuse queries through public resolvers: `health` asks them through a resolver the operator names."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

import dns.exception
import dns.resolver
import dns.reversename

from mailbox_iac.checks.result import Check, Result, Severity, Stage

IP_LISTED = Check(
    "blocklist.ip",
    Severity.error,
    frozenset({Stage.health}),
    "the server's address is on no IP blocklist: receivers that use one refuse its mail",
)
DOMAIN_LISTED = Check(
    "blocklist.domain",
    Severity.error,
    frozenset({Stage.health}),
    "the mail domain is on no domain blocklist: receivers that use one refuse or junk its mail",
)
UNANSWERED = Check(
    "blocklist.unanswered",
    Severity.warning,
    frozenset({Stage.health}),
    "every blocklist answered the question (a refusal says nothing about a listing: fix the resolver)",
)

_SPAMHAUS_REFUSALS = {
    "127.255.255.252": "the list says the query was malformed",
    "127.255.255.254": "the list refuses queries through a public or open resolver: name your own resolver",
    "127.255.255.255": "the list refuses this resolver: too many queries",
}


@dataclass(frozen=True)
class Blocklist:
    name: str  # as operators call it: "Spamhaus ZEN"
    zone: str  # where it answers: "zen.spamhaus.org"
    kind: Literal["ip", "domain"]
    refusals: dict[str, str] = field(default_factory=dict)  # answers that are the list refusing, not a listing


DEFAULT_LISTS: tuple[Blocklist, ...] = (
    Blocklist("Spamhaus ZEN", "zen.spamhaus.org", "ip", _SPAMHAUS_REFUSALS),
    Blocklist("Barracuda", "b.barracudacentral.org", "ip"),
    Blocklist("SpamCop", "bl.spamcop.net", "ip"),
    Blocklist("Mailspike", "bl.mailspike.net", "ip"),
    Blocklist("PSBL", "psbl.surriel.com", "ip"),
    Blocklist(
        "Spamhaus DBL",
        "dbl.spamhaus.org",
        "domain",
        {**_SPAMHAUS_REFUSALS, "127.0.1.255": "the list says IP addresses are not to be asked of it"},
    ),
    Blocklist(
        "URIBL", "multi.uribl.com", "domain", {"127.0.0.1": "the list refused the query (see uribl.com/refused)"}
    ),
)


def question(subject: str, blocklist: Blocklist) -> str:
    """The name to ask: an address reversed (octets, or IPv6 nibbles), or the domain, under the list's zone."""
    if blocklist.kind == "ip":
        reversed_ = dns.reversename.from_address(str(ipaddress.ip_address(subject))).to_text(omit_final_dot=True)
        reversed_ = reversed_.removesuffix(".in-addr.arpa").removesuffix(".ip6.arpa")
        return f"{reversed_}.{blocklist.zone}"
    return f"{subject.rstrip('.').lower()}.{blocklist.zone}"


def verdict(subject: str, blocklist: Blocklist, answers: set[str] | None, problem: str = "") -> Result:
    """What a list's answers mean: `set()` is NXDOMAIN (not listed), None is no answer at all (`problem`)."""
    listed = IP_LISTED if blocklist.kind == "ip" else DOMAIN_LISTED
    where, zone = f"{subject} on {blocklist.name}", blocklist.zone
    if answers is None:
        return UNANSWERED.result(where, False, f"{zone} did not answer: {problem}")
    refused = sorted(a for a in answers if a in blocklist.refusals)
    if refused:
        return UNANSWERED.result(where, False, f"{zone} answered {refused[0]}: {blocklist.refusals[refused[0]]}")
    outside = sorted(a for a in answers if not ipaddress.ip_address(a).is_loopback)
    if outside:  # a resolver that rewrites NXDOMAIN into an ad server's address, say
        return UNANSWERED.result(where, False, f"{zone} answered {outside[0]}, outside 127.0.0.0/8: no list's answer")
    if answers:
        return listed.result(where, False, f"listed on {blocklist.name} ({zone} answered {', '.join(sorted(answers))})")
    return listed.result(where, True)


def check(subject: str, blocklist: Blocklist, resolver: dns.resolver.Resolver) -> Result:
    """Ask `blocklist` about `subject` (an address for an IP list, a domain for a domain list)."""
    try:
        found = resolver.resolve(question(subject, blocklist), "A")
    except dns.resolver.NXDOMAIN:
        return verdict(subject, blocklist, set())
    except dns.resolver.NoAnswer:
        return verdict(subject, blocklist, None, "no A record and no NXDOMAIN")
    except dns.exception.DNSException as exc:
        return verdict(subject, blocklist, None, type(exc).__name__)
    return verdict(subject, blocklist, {r.to_text() for r in found})
