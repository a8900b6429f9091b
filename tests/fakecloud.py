"""A second server backend, as a test double: what adding a backend takes (its own module, a provider of
its resources, a `registry.register` line), with nothing in the program, drift, planner or change layer
edited for it. Its servers take named regions and sizes, as most clouds have them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

from mailbox_iac.plan.model import ServerPlan
from mailbox_iac.servers.backend import SERVER_RESOURCE, Access, DeclaredServer, Problem, ServerOptions

SIZES = ("small", "large")


class FakeCloudProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"fc-{props.get('label') or props.get('name')}", {**props, "ipv4": "203.0.113.20"})


class Server(Resource, module="fakecloud", name="Server"):
    ipv4: pulumi.Output[str]
    server_id: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(FakeCloudProvider(), name, {**props, "ipv4": None, "server_id": None}, opts)


class ReverseDns(Resource, module="fakecloud", name="ReverseDns"):
    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(FakeCloudProvider(), name, props, opts)


class Key(Resource, module="fakecloud", name="Key"):
    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(FakeCloudProvider(), name, props, opts)


class FakeCloud:
    name = "fakecloud"
    module = "fakecloud"
    server_type = "pulumi-python:dynamic/fakecloud:Server"

    def problems(self, settings: Mapping[str, Any]) -> list[Problem]:
        out: list[Problem] = []
        if not isinstance(settings.get("location"), str):
            out.append(("location", "fakecloud regions are names, e.g. test-1"))
        if settings.get("plan") not in SIZES:
            out.append(("plan", f"fakecloud sizes: {', '.join(SIZES)}"))
        return out

    def declare_access(
        self, tenant: str, public_key: pulumi.Output[str], depends_on: Sequence[pulumi.Resource]
    ) -> Access:
        key = Key(
            "fakecloud-key",
            {"name": tenant, "public_key": public_key},
            pulumi.ResourceOptions(depends_on=[*depends_on]),
        )
        return Access((tenant,), (key,))

    def declare_server(
        self, server: ServerPlan, access: Access, options: ServerOptions, depends_on: Sequence[pulumi.Resource]
    ) -> DeclaredServer:
        props = {"label": server.label, "region": server.region, "size": server.size, "image": server.image}
        opts = pulumi.ResourceOptions(depends_on=[*depends_on, *access.resources], protect=options.protect)
        made = Server(SERVER_RESOURCE.format(server.name), {**props, "keys": list(access.key_names)}, opts)
        return DeclaredServer(made, made.server_id, made.ipv4)

    def declare_reverse_dns(
        self, server: ServerPlan, declared: DeclaredServer, depends_on: Sequence[pulumi.Resource]
    ) -> pulumi.Resource:
        props = {"ip": declared.ipv4, "hostname": server.hostname}
        return ReverseDns(f"fakecloud-ptr-{server.name}", props, pulumi.ResourceOptions(depends_on=[*depends_on]))

    def deployed(self, outputs: Mapping[str, Any]) -> dict[str, str]:
        return {
            "backend": self.name,
            "label": str(outputs.get("label", "")),
            "region": str(outputs.get("region", "")),
            "size": str(outputs.get("size", "")),
            "image": str(outputs.get("image", "")),
            "billing_cycle": "monthly",
        }
