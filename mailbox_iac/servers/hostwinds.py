"""Hostwinds, the first server backend: Cloud API instances, their reverse DNS and the operator SSH key.

The Hostwinds vocabulary lives here and in `hostwinds_dynamic` only: a server's region is a location_id,
its size a plan rid, its image a template, its label a srvrname. The resource names (`server-<name>`,
`rdns-<name>`, `hostwinds-ssh-key`) and type tokens are those stacks have had since the first version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hostwinds_dynamic import BILLING_CYCLES
from mailbox_iac.plan.model import ServerPlan
from mailbox_iac.servers.backend import SERVER_RESOURCE, Access, DeclaredServer, Problem, ServerOptions

# The SDK and the provider are imported where resources are declared, in the program: validating and
# planning a spec (`problems`) run without them.
if TYPE_CHECKING:
    import pulumi

POLL_SETTING = "hostwindsPollSeconds"  # mailbox-iac:hostwindsPollSeconds: how often a build is polled


class Hostwinds:
    name = "hostwinds"
    module = "hostwinds"
    server_type = "pulumi-python:dynamic/hostwinds:Instance"

    def problems(self, settings: Mapping[str, Any]) -> list[Problem]:
        wanted = {
            "location": "a Hostwinds location_id (get_locations), e.g. 1",
            "plan": "a Hostwinds plan rid (get_price_list), e.g. 31",
        }
        out: list[Problem] = []
        for key, what in wanted.items():
            value = settings.get(key)
            if value is None:
                out.append((key, f"required (here or in defaults.server.{key}): {what}"))
            elif not isinstance(value, int):
                out.append((key, f"Hostwinds wants {what}, not {value!r}"))
        if settings.get("image") is None:
            out.append(("image", "required (here or in defaults.server.image): a Hostwinds template id"))
        if settings.get("billing_cycle") not in BILLING_CYCLES:
            out.append(("billing_cycle", f"Hostwinds bills {', '.join(BILLING_CYCLES)}"))
        if settings.get("ipv6"):
            out.append(
                (
                    "ipv6",
                    "Hostwinds documents reverse DNS (set_rdns) for IPv4 only, and mail sent over IPv6 without a PTR "
                    "is rejected by receivers such as Gmail: leave ipv6 off (the host then sends over IPv4 only)",
                )
            )
        return out

    def declare_access(
        self, tenant: str, public_key: pulumi.Output[str], depends_on: Sequence[pulumi.Resource]
    ) -> Access:
        import pulumi

        from hostwinds_dynamic.resources import SshKey

        key_name = f"mbx-{tenant}"
        key = SshKey(
            "hostwinds-ssh-key",
            name=key_name,
            public_key=public_key,
            opts=pulumi.ResourceOptions(depends_on=list(depends_on)),
        )
        return Access((key_name,), (key,))

    def declare_server(
        self, server: ServerPlan, access: Access, options: ServerOptions, depends_on: Sequence[pulumi.Resource]
    ) -> DeclaredServer:
        import pulumi

        from hostwinds_dynamic.provider import InstanceProvider
        from hostwinds_dynamic.resources import Instance

        poll = pulumi.Config("mailbox-iac").get_float(POLL_SETTING) or 10.0
        instance = Instance(
            SERVER_RESOURCE.format(server.name),
            location_id=int(server.region),  # problems() refused anything but a number
            template=server.image,
            rid=int(server.size),
            srvrname=server.label,
            ssh_keys=[*access.key_names, *server.ssh_keys],
            billing_cycle=server.billing_cycle,
            allow_replace=options.allow_replacement,
            provider=InstanceProvider(poll_interval=poll),
            opts=pulumi.ResourceOptions(
                depends_on=[*depends_on, *access.resources], protect=options.protect and not options.allow_replacement
            ),
        )
        return DeclaredServer(instance, instance.serviceid, instance.main_ip)

    def declare_reverse_dns(
        self, server: ServerPlan, declared: DeclaredServer, depends_on: Sequence[pulumi.Resource]
    ) -> pulumi.Resource:
        import pulumi

        from hostwinds_dynamic.resources import ReverseDns

        return ReverseDns(
            f"rdns-{server.name}",
            serviceid=declared.id,
            ip=declared.ipv4,
            hostname=server.hostname,
            opts=pulumi.ResourceOptions(depends_on=list(depends_on)),
        )

    def deployed(self, outputs: Mapping[str, Any]) -> dict[str, str]:
        return {
            "backend": self.name,
            "label": str(outputs.get("srvrname", "")),
            "region": str(int(outputs.get("location_id") or 0)),
            "size": str(int(outputs.get("rid") or 0)),
            "image": str(outputs.get("template", "")),
            "billing_cycle": str(outputs.get("billing_cycle", "")),
        }
