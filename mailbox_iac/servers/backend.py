"""What every server backend offers the program, the planner, drift and `plan --against`.

A backend turns a provider-neutral `ServerPlan` (a label, a region, a size, an image) into the resources
of its cloud, and reads those resources back from a checkpoint. The rest of mailbox-iac knows backends
only through this protocol and `registry.py`: adding one is its own module, its emulator and a registry
line. Its resources' type tokens and names are part of every stack's state, like any dynamic provider's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mailbox_iac.plan.model import ServerPlan

if TYPE_CHECKING:  # the SDK is the program's: validating and planning a spec run without it
    import pulumi

Problem = tuple[str, str]  # (field of the server's settings, message)
SERVER_RESOURCE = "server-{}"  # every backend names a server's resource so: checkpoint.py finds it by name


@dataclass(frozen=True)
class Access:
    """The operator SSH key registered at the backend: key names a server is built with, and the resources
    a server must wait for."""

    key_names: tuple[str, ...]
    resources: tuple[pulumi.Resource, ...]


@dataclass(frozen=True)
class ServerOptions:
    allow_replacement: bool  # mailbox-iac:allowServerReplacement: a new server (and IP) is acceptable
    protect: bool  # pulumi `protect`: `destroy` refuses the server


@dataclass(frozen=True)
class DeclaredServer:
    resource: pulumi.Resource
    id: pulumi.Output[Any]  # the backend's id of the server (an `up`'s outputs call it serviceid)
    ipv4: pulumi.Output[str]


class ServerBackend(Protocol):
    name: str  # what `servers.<name>.backend` says in a spec
    module: str  # the type-token module of its resources (`pulumi-python:dynamic/<module>:...`)
    server_type: str  # the type token of its server resource, as a checkpoint holds it

    def problems(self, settings: Mapping[str, Any]) -> list[Problem]:
        """What is wrong with a server's merged settings (location, plan, image, billing_cycle) for this
        backend; each problem names the field."""
        ...

    def declare_access(
        self, tenant: str, public_key: pulumi.Output[str], depends_on: Sequence[pulumi.Resource]
    ) -> Access: ...

    def declare_server(
        self, server: ServerPlan, access: Access, options: ServerOptions, depends_on: Sequence[pulumi.Resource]
    ) -> DeclaredServer: ...

    def declare_reverse_dns(
        self, server: ServerPlan, declared: DeclaredServer, depends_on: Sequence[pulumi.Resource]
    ) -> pulumi.Resource:
        """The PTR of the server's IPv4 address: the mail hostname."""
        ...

    def deployed(self, outputs: Mapping[str, Any]) -> dict[str, str]:
        """A deployed server resource's outputs in the neutral vocabulary of `changes.server_attributes`."""
        ...
