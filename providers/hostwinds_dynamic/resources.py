"""The resources a Pulumi program declares. Type tokens (`pulumi-python:dynamic/hostwinds:Instance`) are
part of every stack's state: never rename them."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi.dynamic import Resource

from hostwinds_dynamic.provider import InstanceProvider, ReverseDnsProvider, SshKeyProvider


class Instance(Resource, module="hostwinds", name="Instance"):
    serviceid: pulumi.Output[int]
    main_ip: pulumi.Output[str]
    ip_v6: pulumi.Output[str]
    status: pulumi.Output[str]
    srvrname: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        location_id: pulumi.Input[int],
        template: pulumi.Input[str],
        rid: pulumi.Input[int],
        srvrname: pulumi.Input[str],
        ssh_keys: Sequence[str] = (),
        billing_cycle: str = "monthly",
        allow_replace: bool = False,
        provider: InstanceProvider | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "location_id": location_id,
            "template": template,
            "rid": rid,
            "srvrname": srvrname,
            "ssh_keys": list(ssh_keys),
            "billing_cycle": billing_cycle,
            "allow_replace": allow_replace,
            "serviceid": None,
            "main_ip": None,
            "ip_v6": None,
            "status": None,
        }
        super().__init__(provider or InstanceProvider(), resource_name, props, opts)


class ReverseDns(Resource, module="hostwinds", name="ReverseDns"):
    hostname: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        serviceid: pulumi.Input[int],
        ip: pulumi.Input[str],
        hostname: pulumi.Input[str],
        provider: ReverseDnsProvider | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"serviceid": serviceid, "ip": ip, "hostname": hostname}
        super().__init__(provider or ReverseDnsProvider(), resource_name, props, opts)


class SshKey(Resource, module="hostwinds", name="SshKey"):
    name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        name: pulumi.Input[str],
        public_key: pulumi.Input[str],
        provider: SshKeyProvider | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(provider or SshKeyProvider(), resource_name, {"name": name, "public_key": public_key}, opts)
