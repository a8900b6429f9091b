"""Generated credentials as resources. Secret outputs are declared so that state encrypts them."""

from __future__ import annotations

import pulumi
from pulumi.dynamic import Resource

from mailbox_iac.credentials.provider import DkimKeyProvider, PasswordProvider, SshKeyProvider


def _secret(opts: pulumi.ResourceOptions | None, *names: str) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=list(names)))


class DkimKey(Resource, module="credentials", name="DkimKey"):
    """An RSA key for one domain and selector. A new selector makes a new key; the old one stays until
    its selector leaves the spec."""

    public_key: pulumi.Output[str]
    private_key: pulumi.Output[str]

    def __init__(
        self, name: str, *, domain: str, selector: str, bits: int = 2048, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {"domain": domain, "selector": selector, "bits": bits, "public_key": None, "private_key": None}
        super().__init__(DkimKeyProvider(), name, props, _secret(opts, "private_key"))


class SshKey(Resource, module="credentials", name="SshKey"):
    public_key: pulumi.Output[str]
    private_key: pulumi.Output[str]

    def __init__(self, name: str, *, comment: str, opts: pulumi.ResourceOptions | None = None) -> None:
        props = {"comment": comment, "public_key": None, "private_key": None}
        super().__init__(SshKeyProvider(), name, props, _secret(opts, "private_key"))


class Password(Resource, module="credentials", name="Password"):
    """A mailbox password, generated once; bumping `rotation` makes a new one."""

    password: pulumi.Output[str]

    def __init__(
        self, name: str, *, address: str, rotation: int = 0, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {"address": address, "rotation": rotation}
        props["password"] = None  # an output, filled in by the provider
        super().__init__(PasswordProvider(), name, props, _secret(opts, "password"))
