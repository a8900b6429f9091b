"""The mail-host resources a Pulumi program declares. Type tokens are part of state: never rename them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import pulumi
from pulumi.dynamic import Resource

from mailbox_iac.mailhost.provider import CertificateProvider, MailboxProvider, MailHostProvider
from mailbox_iac.plan.model import MailHostPlan


def _ssh_props(
    host: pulumi.Input[str], port: int, user: str, private_key: pulumi.Input[str], host_key: pulumi.Input[str]
) -> dict[str, Any]:
    """How each mail-host resource reaches its host."""
    return {"host": host, "port": port, "user": user, "private_key": private_key, "host_key": host_key}


def _secret_opts(opts: pulumi.ResourceOptions | None, *names: str) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=list(names)))


class MailHost(Resource, module="mailhost", name="MailHost"):
    host_key: pulumi.Output[str]
    release: pulumi.Output[str]
    files: pulumi.Output[dict[str, str]]
    hardening: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        resource_name: str,
        *,
        host: pulumi.Input[str],
        private_key: pulumi.Input[str],
        plan: MailHostPlan,
        dkim_keys: pulumi.Input[dict[str, str]],
        user: str = "root",
        port: int = 22,
        host_key: pulumi.Input[str] = "",
        operator_networks: Sequence[str] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`dkim_keys`: "domain/selector" -> private key PEM (a secret). `operator_networks`: never banned."""
        props: dict[str, Any] = {
            **_ssh_props(host, port, user, private_key, host_key),
            "plan": asdict(plan),
            "dkim_keys": dkim_keys,
            **({"operator_networks": list(operator_networks)} if operator_networks else {}),
            "hostname": None,
            "release": None,
            "files": None,
            "hardening": None,
        }
        super().__init__(MailHostProvider(), resource_name, props, _secret_opts(opts, "private_key", "dkim_keys"))


class Mailbox(Resource, module="mailhost", name="Mailbox"):
    address: pulumi.Output[str]
    verified: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        host: pulumi.Input[str],
        private_key: pulumi.Input[str],
        host_key: pulumi.Input[str],
        address: str,
        password: pulumi.Input[str],
        quota_mb: int,
        user: str = "root",
        port: int = 22,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            **_ssh_props(host, port, user, private_key, host_key),
            "address": address,
            "password": password,
            "quota_mb": quota_mb,
            "verified": None,
        }
        super().__init__(MailboxProvider(), resource_name, props, _secret_opts(opts, "private_key", "password"))


class Certificate(Resource, module="mailhost", name="Certificate"):
    """The certificates of a mail host, one for each of `names` (mail hostname first, then mta-sts.<domain>
    names), from the ACME `directory` ("": MAILBOX_IAC_ACME_DIRECTORY where the provider runs, else Let's
    Encrypt)."""

    valid: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        host: pulumi.Input[str],
        private_key: pulumi.Input[str],
        host_key: pulumi.Input[str],
        names: list[str],
        directory: str,
        email: str = "",
        user: str = "root",
        port: int = 22,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            **_ssh_props(host, port, user, private_key, host_key),
            "names": names,
            "directory": directory,
            "email": email,
            "one_per_name": True,
            "valid": None,
        }
        super().__init__(CertificateProvider(), resource_name, props, _secret_opts(opts, "private_key"))
