"""The readiness gate at the end of `pulumi up`: a dynamic resource per domain that waits (with a timeout)
until every check of the gate set passes (`checks.mailbox.gate`: the domain's records at the authoritative
DNS, its host's PTR, the certificate its host serves on each client port verified for the mail hostname),
and says which failed; each of its mailboxes logged in as its account was written. One gate per domain,
not per mailbox: each resource costs the engine two writes of the whole checkpoint, one after another, and
a domain's mailboxes stand or fall with its records and host. `Published`
gates a step on records alone: a mail host signs with a DKIM key only once the zone's servers answer it.
THIS MODULE PATH IS PERMANENT (`mailbox_iac.readiness`): state pickles `ReadinessProvider` and
`PublishedProvider` by reference.
"""

from __future__ import annotations

import os
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from mailbox_iac.checks import dns, mailbox
from mailbox_iac.checks.login import trusted_tls
from mailbox_iac.checks.result import until_passing


def _resolver(props: dict[str, Any]) -> str | None:
    return props.get("resolver") or os.environ.get("MAILBOX_IAC_DNS_RESOLVER") or None


class _Gate(ResourceProvider):
    """A resource that is its wait: created or updated once its checks pass; what is live later is drift's
    question (checks/), so `read` keeps what it holds."""

    def __init__(self, timeout: float = 600.0, interval: float = 2.0) -> None:
        self.timeout = timeout
        self.interval = interval

    def _id(self, props: dict[str, Any]) -> str:
        raise NotImplementedError

    def _wait(self, props: dict[str, Any]) -> dict[str, Any]:
        """`props` with the gate's output, once its checks pass."""
        raise NotImplementedError

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(self._id(props), self._wait(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._wait(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)


class ReadinessProvider(_Gate):
    def _id(self, props: dict[str, Any]) -> str:
        return str(props["domain"])

    def _wait(self, props: dict[str, Any]) -> dict[str, Any]:
        resolver, tls = _resolver(props), trusted_tls(os.environ.get("MAILBOX_IAC_TLS_ROOTS"))
        what = f"{props['domain']} is not ready"
        until_passing(lambda: mailbox.gate(props, resolver, tls), what, self.timeout, self.interval)
        return {**props, "ready": True}

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("domain", "ip", "hostname", "records", "zone")
        ipv6_changed = bool(olds.get("ipv6")) != bool(news.get("ipv6"))  # absent in older states: off
        return DiffResult(changes=ipv6_changed or any(olds.get(k) != news.get(k) for k in keys))


class Readiness(Resource, module="readiness", name="Readiness"):
    """A domain's gate."""

    ready: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        *,
        domain: str,
        zone: str,
        ip: pulumi.Input[str],
        hostname: str,
        ipv6: bool,
        records: pulumi.Input[list[dict[str, Any]]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "domain": domain,
            "zone": zone,
            "ip": ip,
            "hostname": hostname,
            "ipv6": ipv6,
            "records": records,
            "ready": None,
        }
        super().__init__(ReadinessProvider(), name, props, opts)


class PublishedProvider(_Gate):
    """Waits until the zone's authoritative servers (or MAILBOX_IAC_DNS_RESOLVER) answer every record."""

    def _id(self, props: dict[str, Any]) -> str:
        return f"published-{props['purpose']}"

    def _wait(self, props: dict[str, Any]) -> dict[str, Any]:
        res = dns.resolver_for(props["zone"], _resolver(props))
        names = ", ".join(r["name"] for r in props["records"])
        what = f"{names} not answered as planned by the servers of {props['zone']}"
        until_passing(lambda: dns.records(props["records"], res), what, self.timeout, self.interval)
        return {**props, "published": True}

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in ("zone", "records")))


class Published(Resource, module="readiness", name="Published"):
    """`records` (rows as `checks.dns.record_row` makes them) answered at the zone's servers, then done."""

    published: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        *,
        zone: str,
        purpose: str,
        records: pulumi.Input[list[dict[str, Any]]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"zone": zone, "purpose": purpose, "records": records, "published": None}
        super().__init__(PublishedProvider(), name, props, opts)
