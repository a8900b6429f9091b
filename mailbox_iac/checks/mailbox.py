"""Every check of one mailbox, as the readiness gate and `verify` run them."""

from __future__ import annotations

import ssl
from typing import Any

from mailbox_iac.checks import dns, login, ptr
from mailbox_iac.checks.result import Check, Result, Severity, Stage
from mailbox_iac.plan.model import DesiredState

DEPLOYED = Check(
    "mailbox.deployed",
    Severity.error,
    frozenset({Stage.verify}),
    "a mailbox the spec declares has been created on its host (an `up` ran since)",
)


def gate(props: dict[str, Any], resolver_address: str | None, tls: ssl.SSLContext) -> list[Result]:
    """The readiness gate of one mailbox: `props` as the Readiness resource holds them."""
    res = dns.resolver_for(props["zone"], resolver_address)
    return [
        *dns.records(props["records"], res),
        ptr.ptr(props["ip"], props["hostname"], res),
        *login.logins(props["ip"], props["hostname"], props["address"], props["password"], tls),
    ]


def verify(
    state: DesiredState, passwords: dict[str, str], resolver: str | None, tls_roots: str | None
) -> dict[str, list[Result]]:
    """Every check for every mailbox of a planned (facts filled in) tenant: `mailbox-iac verify`."""
    ips = {s.name: s.ip or "" for s in state.servers}
    tls = login.trusted_tls(tls_roots)
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
        rows = [r for r in state.dns_records if r.domain == m.domain]
        props = {
            "zone": rows[0].zone,
            "records": [dns.record_row(r) for r in rows],
            "ip": ips[m.server],
            "hostname": m.smtp_host,
            "address": m.address,
            "password": passwords[m.address],
        }
        results[m.address] = gate(props, resolver, tls)
    return results
