"""Every check of one mailbox, as the readiness gate and `verify` run them."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mailbox_iac.checks import dns, login, mta_sts, ptr, tls
from mailbox_iac.checks.result import Check, Result, Severity, Stage
from mailbox_iac.plan.model import DesiredState, SequencerAccountPlan

DEPLOYED = Check(
    "mailbox.deployed",
    Severity.error,
    frozenset({Stage.verify}),
    "a mailbox the spec declares has been created on its host (an `up` ran since)",
)


def domain(props: dict[str, Any], resolver_address: str | None) -> list[Result]:
    """A domain's records at its zone's servers, its host's PTR, and no AAAA for a host kept on IPv4. The DNS
    answers are shared with the other checks of the moment (a zone's are asked together)."""
    res = dns.resolver_for(props["zone"], resolver_address, shared=True)
    return [
        *dns.records(props["records"], res),
        ptr.ptr(props["ip"], props["hostname"], res),
        *([] if props.get("ipv6") else [dns.no_aaaa(props["hostname"], res)]),
    ]


def gate(props: dict[str, Any], resolver_address: str | None, trust: ssl.SSLContext) -> list[Result]:
    """The readiness gate of one domain (`props` as the Readiness resource holds them): `domain`, then the
    certificate its host serves on each port a mailbox client uses, verified for the mail hostname. Each
    mailbox's own logins were proven when its account was written (mailhost/provider.py)."""
    ip, hostname = props["ip"], props["hostname"]
    return [*domain(props, resolver_address), *(tls.verified(ip, hostname, trust, port) for port in tls.CLIENT_PORTS)]


def verify(
    state: DesiredState,
    passwords: dict[str, str],
    resolver: str | None,
    tls_roots: str | None,
    sequencer_account: Callable[[SequencerAccountPlan], Result] | None = None,
) -> dict[str, list[Result]]:
    """Every check of `verify` for every mailbox of a planned (facts filled in) tenant: the gate set, then
    its host's certificate and its domain's served MTA-STS policy (each asked once, reported per mailbox),
    then its account in each sequencer workspace (`sequencer_account`: checks.sequencer.connected with the
    workspace's key and endpoint)."""
    ips = {s.name: s.ip or "" for s in state.servers}
    ipv6 = {host.server: host.ipv6 for host in state.mailhosts}
    trust = login.trusted_tls(tls_roots)
    policies = {d: text for host in state.mailhosts for d, text in host.mta_sts_policies}
    certs: dict[str, list[Result]] = {}
    served: dict[str, Result] = {}
    results = {}
    for m in state.mailboxes:
        if m.address not in passwords:  # never log in with an account that does not exist: that is a ban
            results[m.address] = [
                DEPLOYED.result(
                    m.address,
                    False,
                    "declared in the spec but not created on the host yet (no `up` since): no login tried; "
                    f"run `mailbox-iac up -s {state.tenant}`",
                )
            ]
            continue
        ip = ips[m.server]
        rows = [r for r in state.dns_records if r.domain == m.domain]
        props = {
            "zone": rows[0].zone,
            "records": [dns.record_row(r) for r in rows],
            "ip": ip,
            "hostname": m.smtp_host,
            "ipv6": ipv6[m.server],
        }
        if m.server not in certs:
            certs[m.server] = tls.certificate(ip, m.smtp_host, trust, datetime.now(UTC))
        if m.domain not in served:
            served[m.domain] = mta_sts.policy(m.domain, ip, policies[m.domain], trust)
        logins = login.logins(ip, m.smtp_host, m.address, passwords[m.address], trust)
        results[m.address] = [*domain(props, resolver), *logins, *certs[m.server], served[m.domain]]
    if sequencer_account is not None:
        for a in state.sequencer_accounts:
            if a.address in passwords:
                results[a.address].append(sequencer_account(a))
    return results


def ready(results: list[Result]) -> bool:
    """Ready: no check of severity error failed (a warning is reported, not held against it)."""
    return all(r.ok or r.check.severity is Severity.warning for r in results)
