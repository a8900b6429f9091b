"""The readiness gate at the end of `pulumi up`: a dynamic resource per mailbox that waits (with a timeout)
until every check of the gate set passes (`checks.mailbox.gate`: its domain's records at the authoritative
DNS, the PTR, IMAPS and SMTP logins with the certificate verified), and says which failed.
THIS MODULE PATH IS PERMANENT (`mailbox_iac.readiness`): state pickles `ReadinessProvider` by reference.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from mailbox_iac.checks import mailbox
from mailbox_iac.checks.login import trusted_tls


class ReadinessProvider(ResourceProvider):
    def __init__(self, timeout: float = 600.0, interval: float = 2.0) -> None:
        self.timeout = timeout
        self.interval = interval

    def _wait(self, props: dict[str, Any]) -> dict[str, Any]:
        resolver = props.get("resolver") or os.environ.get("MAILBOX_IAC_DNS_RESOLVER") or None
        tls = trusted_tls(os.environ.get("MAILBOX_IAC_TLS_ROOTS"))
        deadline = time.monotonic() + self.timeout
        while True:
            failed = [c for c in mailbox.gate(props, resolver, tls) if not c.ok]
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
        ipv6_changed = bool(olds.get("ipv6")) != bool(news.get("ipv6"))  # absent in older states: off
        return DiffResult(changes=ipv6_changed or any(olds.get(k) != news.get(k) for k in keys))

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
        ipv6: bool,
        password: pulumi.Input[str],
        records: pulumi.Input[list[dict[str, Any]]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "address": address,
            "zone": zone,
            "ip": ip,
            "hostname": hostname,
            "ipv6": ipv6,
            "password": password,
            "records": records,
            "ready": None,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["password"]))
        super().__init__(ReadinessProvider(), name, props, opts)
