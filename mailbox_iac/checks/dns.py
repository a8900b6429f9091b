"""DNS at the zone's authoritative servers: every planned record answers with its planned value."""

from __future__ import annotations

from typing import Any

import dns.exception
import dns.resolver

from mailbox_iac.checks.result import Check, Result, Severity, Stage
from mailbox_iac.dns import txt
from mailbox_iac.plan.model import DnsRecord
from mailbox_iac.recent import Recent

RECORD = Check(
    "dns.record",
    Severity.error,
    frozenset({Stage.gate, Stage.verify, Stage.drift, Stage.health}),
    "a planned record answers at the zone's authoritative servers with its planned value",
)


NO_AAAA = Check(
    "dns.no-aaaa",
    Severity.error,
    frozenset({Stage.gate, Stage.verify}),
    "a mail host kept on IPv4 has no AAAA: receivers would try IPv6, which its PTR and SPF do not cover",
)


def record_row(r: DnsRecord, content: Any = None) -> dict[str, Any]:
    """The one shape of a record a check compares (`content` may be a Pulumi output inside the program)."""
    return {
        "name": r.name,
        "type": r.type,
        "content": r.content if content is None else content,
        "priority": r.priority if r.priority is not None else 0,
    }


Outcome = dns.resolver.Answer | dns.resolver.NXDOMAIN | dns.resolver.NoAnswer
_ASKED: Recent[tuple[str, ...], Outcome] = Recent(1.0)


class SharedResolver(dns.resolver.Resolver):
    """Answers (a name that does not exist or has no such record too) shared for a second by the callers
    of one process that ask the same servers the same question: the readiness waits of a zone's mailboxes
    run together and check the same records, so each poll asks once per zone, not once per mailbox."""

    def resolve(self, qname: Any, rdtype: Any = "A", *args: Any, **kwargs: Any) -> dns.resolver.Answer:
        def ask() -> Outcome:
            try:
                return super(SharedResolver, self).resolve(qname, rdtype, *args, **kwargs)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer) as exc:
                return exc

        question = (*map(str, self.nameservers), str(self.port), str(qname).lower().rstrip("."), str(rdtype))
        outcome = _ASKED.get(question, ask)
        if isinstance(outcome, dns.resolver.Answer):
            return outcome
        raise outcome


def asking(address: str | None, shared: bool = False) -> dns.resolver.Resolver:
    """A resolver asking `address` ("host:port"), else the system's; `shared`: one whose answers the
    process's callers share (SharedResolver)."""
    res = (SharedResolver if shared else dns.resolver.Resolver)(configure=address is None)
    res.lifetime = 5.0
    if address:
        host, _, port = address.rpartition(":")
        res.nameservers, res.port = [host], int(port)
    return res


def resolver_for(zone: str, address: str | None, shared: bool = False) -> dns.resolver.Resolver:
    """A resolver asking `address` ("host:port"), or the zone's own authoritative servers."""
    res = asking(address, shared)
    if address:
        return res
    servers = [str(a) for ns in res.resolve(zone, "NS") for a in res.resolve(str(ns.target), "A")]
    res.nameservers = servers
    return res


def norm(rtype: str, text: str) -> str:
    """One spelling for a record value, whether it comes from the plan, a resolver or the Cloudflare API."""
    if rtype == "TXT":
        return txt.canonical(text)
    if rtype == "MX":
        prio, _, host = text.partition(" ")
        return f"{int(float(prio))} {host.strip().rstrip('.').lower() or '.'}"
    return text.rstrip(".").lower()


def answer(res: dns.resolver.Resolver, name: str, rtype: str) -> set[str]:
    try:
        found = res.resolve(name, rtype)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return set()
    return {norm(rtype, r.to_text()) for r in found}


def expected(record: dict[str, Any]) -> str:
    """The value a resolver should return for a record row."""
    text = f"{record['priority']} {record['content']}" if record["type"] == "MX" else str(record["content"])
    return norm(record["type"], text)


def no_aaaa(hostname: str, resolver: dns.resolver.Resolver) -> Result:
    try:
        found = answer(resolver, hostname, "AAAA")
    except dns.exception.DNSException as exc:
        return NO_AAAA.result(hostname, False, f"no answer: {type(exc).__name__}")
    return NO_AAAA.result(hostname, not found, f"AAAA {', '.join(sorted(found))} published" if found else "")


def records(rows: list[dict[str, Any]], resolver: dns.resolver.Resolver) -> list[Result]:
    """One result per row, in the rows' order."""
    out = []
    for r in rows:
        subject, want = f"{r['type']} {r['name']}", expected(r)
        try:
            got = answer(resolver, r["name"], r["type"])
        except dns.exception.DNSException as exc:
            out.append(RECORD.result(subject, False, f"no answer: {type(exc).__name__}"))
            continue
        ok = want in got
        out.append(RECORD.result(subject, ok, "" if ok else f"expected {want[:60]!r}, got {sorted(got)}"))
    return out
