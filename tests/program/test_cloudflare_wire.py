"""Our declarations of the Cloudflare provider's DnsRecord and getZone (mailbox_iac/cloudflare_resources.py)
against the official pulumi-cloudflare SDK: both run under Pulumi's mocks and what each sends the engine is
compared request by request. A difference would change every stack's records or their provider."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from importlib import metadata
from typing import Any

import pulumi
import pulumi_cloudflare
from pulumi.runtime import mocks
from pulumi.runtime.proto import resource_pb2

from mailbox_iac import cloudflare_resources as ours


class _Zones(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any] | None]:
        return {"id": "zone-" + args.args["filter"]["name"], "name": args.args["filter"]["name"]}, []


class _Wire(mocks.MockMonitor):
    """Every registration and invoke, as the engine would receive it."""

    def __init__(self) -> None:
        super().__init__(_Zones())
        self.sent: list[Any] = []

    def _record(self, request: Any) -> None:
        sent = type(request)()
        sent.CopyFrom(request)
        for where in ("sourcePosition", "stackTrace"):  # the line that declared it: ours or the test's
            sent.ClearField(where)
        self.sent.append(sent)

    def RegisterResource(self, request: resource_pb2.RegisterResourceRequest) -> Any:
        if request.type != "pulumi:pulumi:Stack":
            self._record(request)
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]

    def Invoke(self, request: resource_pb2.ResourceInvokeRequest) -> Any:
        self._record(request)
        return super().Invoke(request)  # type: ignore[no-untyped-call]


def _sent(record: Callable[..., pulumi.CustomResource], zone_id: Callable[[str], Any]) -> tuple[list[Any], str]:
    """The requests of a program that looks a zone up and declares two records in it; the zone id seen."""
    asyncio.set_event_loop(asyncio.new_event_loop())
    wire = _Wire()
    pulumi.runtime.set_mocks(wire.mocks, project="mailbox-iac", stack="wire", preview=False, monitor=wire)
    seen: list[str] = []

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> Any:
        zone = zone_id("demo-a.example")
        zone.apply(seen.append)
        adopted = pulumi.ResourceOptions(ignore_changes=["comment"], import_="rec-1")
        mx = {"name": "demo-a.example", "type": "MX", "content": "mail.demo-a.example", "ttl": 300, "priority": 10}
        record("mx", zone_id=zone, **mx, comment="managed by mailbox-iac: demo", opts=adopted)
        dmarc = {"name": "_dmarc.demo-a.example", "type": "TXT", "content": '"v=DMARC1; p=reject"', "ttl": 3600}
        return record("txt", zone_id=zone, **dmarc).id

    program()
    return wire.sent, seen[0]


def _official_zone_id(name: str) -> Any:
    return pulumi_cloudflare.get_zone_output(filter={"name": name, "match": "all"}).id


def test_records_and_the_zone_lookup_reach_the_engine_as_the_official_sdk_sends_them() -> None:
    official, official_zone = _sent(pulumi_cloudflare.DnsRecord, _official_zone_id)
    mine, my_zone = _sent(ours.DnsRecord, ours.zone_id)
    assert my_zone == official_zone == "zone-demo-a.example"
    assert [type(r) for r in mine] == [resource_pb2.ResourceInvokeRequest] + [resource_pb2.RegisterResourceRequest] * 2
    for theirs, sent in zip(official, mine, strict=True):
        assert sent == theirs, f"{sent}\n!=\n{theirs}"
    assert isinstance(official[0], resource_pb2.ResourceInvokeRequest) and official[0].tok == ours.GET_ZONE
    assert official[1].version == ours.PROVIDER_VERSION and official[1].importId == "rec-1"


def test_the_provider_version_is_the_pinned_sdks() -> None:
    assert metadata.version("pulumi_cloudflare") == ours.PROVIDER_VERSION
