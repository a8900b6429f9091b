"""Blocklist answers as a DNS server gives them (the sandbox's, over real DNS): a listing, not listed, a list
refusing the resolver (never a listing), an answer no list gives; and the question asked for IPv4, IPv6 and
domains."""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime

import dns.resolver
import pytest

from mailbox_iac.checks import blocklist
from mailbox_iac.checks.blocklist import DEFAULT_LISTS, Blocklist
from mailbox_iac.checks.dns import resolver_for
from mailbox_iac.ops import health
from mailbox_iac.ops.health_config import HealthConfig
from mailbox_iac.sandbox.dnsserver import DnsServer

ZEN = next(b for b in DEFAULT_LISTS if b.name == "Spamhaus ZEN")
DBL = next(b for b in DEFAULT_LISTS if b.name == "Spamhaus DBL")
URIBL = next(b for b in DEFAULT_LISTS if b.name == "URIBL")
NOW = datetime(2026, 12, 5, tzinfo=UTC)
ANSWERS = {
    "7.2.0.192.zen.spamhaus.org": "127.0.0.2",  # listed (SBL)
    "9.2.0.192.zen.spamhaus.org": "127.255.255.254",  # asked through a public resolver
    "10.2.0.192.zen.spamhaus.org": "198.51.100.80",  # a resolver that rewrites NXDOMAIN
    "spam.example.dbl.spamhaus.org": "127.0.1.2",
    "busy.example.multi.uribl.com": "127.0.0.1",  # URIBL refusing
}


@pytest.fixture(scope="module")
def resolver() -> Iterator[dns.resolver.Resolver]:
    def lookup(name: str, rtype: str) -> tuple[int, list[tuple[str, int]]]:
        found = ANSWERS.get(name.rstrip(".").lower())
        return (0, [(found, 60)] if rtype == "A" else []) if found else (3, [])

    server = DnsServer(lookup)
    yield resolver_for("zen.spamhaus.org", server.address)
    server.close()


def test_the_question_for_each_kind_of_subject() -> None:
    assert blocklist.question("192.0.2.7", ZEN) == "7.2.0.192.zen.spamhaus.org"
    assert blocklist.question("2001:db8::1", ZEN) == "1." + "0." * 23 + "8.b.d.0.1.0.0.2.zen.spamhaus.org"
    assert blocklist.question("Mail.Example.", DBL) == "mail.example.dbl.spamhaus.org"


def test_a_listed_address_fails_naming_the_list(resolver: dns.resolver.Resolver) -> None:
    found = blocklist.check("192.0.2.7", ZEN, resolver)
    assert found.check is blocklist.IP_LISTED and not found.ok
    assert found.detail == "listed on Spamhaus ZEN (zen.spamhaus.org answered 127.0.0.2)"
    assert blocklist.check("192.0.2.8", ZEN, resolver).ok  # NXDOMAIN: not listed


def test_a_refusal_is_about_the_resolver_never_a_listing(resolver: dns.resolver.Resolver) -> None:
    refused = blocklist.check("192.0.2.9", ZEN, resolver)
    assert refused.check is blocklist.UNANSWERED and refused.check.severity == "warning"
    assert "127.255.255.254" in refused.detail and "public or open resolver" in refused.detail
    uribl = blocklist.check("busy.example", URIBL, resolver)
    assert uribl.check is blocklist.UNANSWERED and "refused" in uribl.detail
    rewritten = blocklist.check("192.0.2.10", ZEN, resolver)
    assert rewritten.check is blocklist.UNANSWERED and "outside 127.0.0.0/8" in rewritten.detail


def test_a_listed_domain(resolver: dns.resolver.Resolver) -> None:
    listed = blocklist.check("spam.example", DBL, resolver)
    assert listed.check is blocklist.DOMAIN_LISTED and not listed.ok and "Spamhaus DBL" in listed.detail
    assert blocklist.check("clean.example", DBL, resolver).ok


def test_a_list_that_does_not_answer() -> None:
    silent = Blocklist("Silent", "silent.test", "ip")
    res = dns.resolver.Resolver(configure=False)
    res.nameservers, res.port, res.lifetime = ["127.0.0.1"], 9, 0.5  # discard: nothing answers
    found = blocklist.check("192.0.2.7", silent, res)
    assert found.check is blocklist.UNANSWERED and "did not answer" in found.detail


def test_health_asks_each_address_and_domain_of_each_tenant_once_per_list(resolver: dns.resolver.Resolver) -> None:
    outputs = {
        "servers": {"mx1": {"ip": "192.0.2.7", "hostname": "mx1.spam.example"}, "new": {"ip": "", "hostname": "n"}},
        "mailboxes": {
            a: {"domain": a.split("@")[1], "server": "mx1"}
            for a in ("a@spam.example", "b@spam.example", "c@ok.example")
        },
        "dns_records": {"spam.example": {"A:mta-sts.spam.example": "r1", "MX:spam.example": "r2"}, "ok.example": {}},
    }
    acme = health.subjects("acme", outputs)
    assert (acme.addresses, acme.domains) == (("192.0.2.7",), ("ok.example", "spam.example"))
    assert acme.tls == (  # ok.example serves no MTA-STS policy: no A record for its policy host
        ("192.0.2.7", "mta-sts.spam.example", 443),
        *(("192.0.2.7", "mx1.spam.example", port) for port in (25, 465, 587, 993)),
    )
    deployment = {
        "resources": [
            {
                "type": "cloudflare:index/dnsRecord:DnsRecord",
                "urn": "urn:pulumi:acme::mailbox-iac::cloudflare:index/dnsRecord:DnsRecord::dns-TXT-spam.example",
                "id": "r3",
                "outputs": {"name": "spam.example", "type": "TXT", "content": '"v=spf1 -all"', "ttl": 1},
            }
        ]
    }
    [(zone, [row])] = health.subjects("acme", outputs, deployment, ["spam.example"]).records.items()
    assert zone == "spam.example" and (row["type"], row["content"]) == ("TXT", '"v=spf1 -all"')
    assert acme.hosts == (health.Host("192.0.2.7", "mx1.spam.example", None),)  # no MailHost in its checkpoint
    acme = dataclasses.replace(acme, tls=(), hosts=())  # certificates: test_checks.py; hosts: test_health_host.py
    lists = HealthConfig.model_validate({"blocklists": [dataclasses.asdict(b) for b in (ZEN, DBL)]})
    asking = health.Asking(lists, resolver, None, ssl.create_default_context(), NOW)
    results = health.check([acme, health.subjects("globex", {})], asking)
    assert results["globex"] == [] and len(results["acme"]) == 3
    assert health.problems(results) == 2
    text = health.as_text(results, ["initech"], NOW)
    assert text.splitlines() == [
        "Health at 2026-12-05T00:00:00+00:00",
        "acme: 2 problem(s) (3 checks)",
        "  error   blocklist.ip 192.0.2.7 on Spamhaus ZEN: listed on Spamhaus ZEN (zen.spamhaus.org answered 127.0.0.2)",
        "  error   blocklist.domain spam.example on Spamhaus DBL: listed on Spamhaus DBL (dbl.spamhaus.org answered "
        "127.0.1.2)",
        "globex: healthy (0 checks)",
        "Not deployed yet (no stack): initech.",
    ]
