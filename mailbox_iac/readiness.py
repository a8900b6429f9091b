"""Is a mailbox ready? Every planned record of its domain answers correctly at the zone's authoritative
server, the PTR of its server's IP is the mail hostname, and it logs in over IMAPS and SMTP submission
with the certificate verified for the mail hostname.

Used by `Readiness`, a dynamic resource at the end of `pulumi up` that waits (with a timeout) and says
which check failed, and by `mailbox-iac verify`.
THIS MODULE PATH IS PERMANENT (`mailbox_iac.readiness`): state pickles `ReadinessProvider` by reference.
"""

from __future__ import annotations

import imaplib
import os
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.resolver
import dns.reversename
import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from mailbox_iac.dns import txt
from mailbox_iac.plan.model import DesiredState


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def resolver_for(zone: str, address: str | None) -> dns.resolver.Resolver:
    """A resolver asking `address` ("host:port"), or the zone's own authoritative servers."""
    res = dns.resolver.Resolver(configure=address is None)
    res.lifetime = 5.0
    if address:
        host, _, port = address.rpartition(":")
        res.nameservers, res.port = [host], int(port)
        return res
    servers = [str(a) for ns in dns.resolver.resolve(zone, "NS") for a in dns.resolver.resolve(str(ns.target), "A")]
    res.nameservers = servers
    return res


def _norm(rtype: str, text: str) -> str:
    """One spelling for a record value, whether it comes from the plan or from a resolver."""
    if rtype == "TXT":
        return txt.canonical(text)
    if rtype == "MX":
        prio, _, host = text.partition(" ")
        return f"{int(float(prio))} {host.strip().rstrip('.').lower() or '.'}"
    return text.rstrip(".").lower()


def _answer(res: dns.resolver.Resolver, name: str, rtype: str) -> set[str]:
    try:
        answer = res.resolve(name, rtype)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return set()
    return {_norm(rtype, r.to_text()) for r in answer}


def expected(record: dict[str, Any]) -> str:
    """The value a resolver should return for a planned record."""
    text = f"{record['priority']} {record['content']}" if record["type"] == "MX" else str(record["content"])
    return _norm(record["type"], text)


def dns_checks(records: list[dict[str, Any]], resolver: dns.resolver.Resolver) -> list[Check]:
    out = []
    for r in records:
        want = expected(r)
        try:
            got = _answer(resolver, r["name"], r["type"])
        except dns.exception.DNSException as exc:
            out.append(Check(f"dns {r['type']} {r['name']}", False, f"no answer: {type(exc).__name__}"))
            continue
        ok = want in got
        out.append(
            Check(f"dns {r['type']} {r['name']}", ok, "" if ok else f"expected {want[:60]!r}, got {sorted(got)}")
        )
    return out


def ptr_check(ip: str, hostname: str, resolver: dns.resolver.Resolver) -> Check:
    got = _answer(resolver, dns.reversename.from_address(ip).to_text(), "PTR")
    ok = hostname.lower() in got
    return Check(f"ptr {ip}", ok, "" if ok else f"expected {hostname}, got {sorted(got) or 'nothing'}")


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
    """SMTP submission to `ip`; STARTTLS then verifies the certificate for `hostname`."""

    def __init__(self, ip: str, hostname: str) -> None:
        self._ip = ip
        super().__init__(hostname, 587, timeout=15)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self._ip, port), timeout, self.source_address)


def trusted_tls(extra_roots: str | None) -> ssl.SSLContext:
    """The system's trust store, plus the roots in the PEM file `extra_roots` (MAILBOX_IAC_TLS_ROOTS: a
    private ACME CA, the sandbox's Pebble). Certificate and hostname are verified; TLS 1.2 at least."""
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if extra_roots:
        ctx.load_verify_locations(cafile=extra_roots)
    return ctx


def _failure(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{type(exc).__name__}: {exc.verify_message}"
    return type(exc).__name__


def login_checks(ip: str, hostname: str, address: str, password: str, tls: ssl.SSLContext) -> list[Check]:
    checks = []
    try:
        with Imaps(ip, hostname, tls) as im:
            im.login(address, password)
        checks.append(Check("imap login", True))
    except (OSError, imaplib.IMAP4.error) as exc:
        checks.append(Check("imap login", False, _failure(exc)))
    try:
        with Submission(ip, hostname) as smtp:
            smtp.starttls(context=tls)
            smtp.login(address, password)
        checks.append(Check("smtp submission login", True))
    except (OSError, smtplib.SMTPException) as exc:
        checks.append(Check("smtp submission login", False, _failure(exc)))
    return checks


def mailbox_checks(props: dict[str, Any], resolver_address: str | None, tls: ssl.SSLContext) -> list[Check]:
    res = resolver_for(props["zone"], resolver_address)
    return [
        *dns_checks(props["records"], res),
        ptr_check(props["ip"], props["hostname"], res),
        *login_checks(props["ip"], props["hostname"], props["address"], props["password"], tls),
    ]


class ReadinessProvider(ResourceProvider):
    def __init__(self, timeout: float = 600.0, interval: float = 2.0) -> None:
        self.timeout = timeout
        self.interval = interval

    def _wait(self, props: dict[str, Any]) -> dict[str, Any]:
        resolver = props.get("resolver") or os.environ.get("MAILBOX_IAC_DNS_RESOLVER") or None
        tls = trusted_tls(os.environ.get("MAILBOX_IAC_TLS_ROOTS"))
        deadline = time.monotonic() + self.timeout
        while True:
            failed = [c for c in mailbox_checks(props, resolver, tls) if not c.ok]
            if not failed:
                return {"address": props["address"], "ready": True}
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{props['address']} is not ready after {self.timeout:.0f}s: "
                    + "; ".join(f"{c.name}: {c.detail}" for c in failed)
                )
            time.sleep(self.interval)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(props["address"], {**props, **self._wait(props)})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult({**news, **self._wait(news)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("address", "ip", "hostname", "password", "records", "zone")
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in keys))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)  # readiness is checked when things change, drift detection re-checks DNS


class Readiness(Resource, module="readiness", name="Readiness"):
    ready: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        *,
        address: str,
        zone: str,
        ip: pulumi.Input[str],
        hostname: str,
        password: pulumi.Input[str],
        records: pulumi.Input[list[dict[str, Any]]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "address": address,
            "zone": zone,
            "ip": ip,
            "hostname": hostname,
            "password": password,
            "records": records,
            "ready": None,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["password"]))
        super().__init__(ReadinessProvider(), name, props, opts)


def verify(
    state: DesiredState, passwords: dict[str, str], resolver: str | None, tls_roots: str | None
) -> dict[str, list[Check]]:
    """Every check for every mailbox of a planned (facts filled in) tenant: `mailbox-iac verify`."""
    ips = {s.name: s.ip or "" for s in state.servers}
    tls = trusted_tls(tls_roots)
    results = {}
    for m in state.mailboxes:
        if m.address not in passwords:  # never log in with an account that does not exist: that is a ban
            results[m.address] = [
                Check(
                    "deployed",
                    False,
                    "declared in the spec but not created on the host yet (no `up` since): no login tried; "
                    f"run `mailbox-iac up -s {state.tenant}`",
                )
            ]
            continue
        records = [
            {"name": r.name, "type": r.type, "content": r.content, "priority": r.priority or 0}
            for r in state.dns_records
            if r.domain == m.domain
        ]
        zone = next(r.zone for r in state.dns_records if r.domain == m.domain)
        props = {
            "zone": zone,
            "records": records,
            "ip": ips[m.server],
            "hostname": m.smtp_host,
            "address": m.address,
            "password": passwords.get(m.address, ""),
        }
        results[m.address] = mailbox_checks(props, resolver, tls)
    return results
