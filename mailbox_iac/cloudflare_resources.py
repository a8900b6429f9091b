"""The Cloudflare provider's `DnsRecord` resource and `getZone` function, declared by their type tokens.

`import pulumi_cloudflare` costs about 1.5 s and 160 MB (779 modules) in every process that runs the
program, for these two names. Declared here, they send the provider plugin exactly what that SDK sends
(tests/program/test_cloudflare_wire.py holds both side by side): the same tokens, the camelCase property
names, the alias of the provider's older `Record` type, and the SDK's plugin version, on which the
stacks' default provider (`default_6_23_1`) and so every record's identity depend.
"""

from __future__ import annotations

from typing import Any

import pulumi

# The pulumi-cloudflare release this program speaks to: its plugin version. It stays the pinned SDK's
# (a test compares them): a new version is a new default provider for every stack.
PROVIDER_VERSION = "6.23.1"
DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
GET_ZONE = "cloudflare:index/getZone:getZone"
_OLD_RECORD = "cloudflare:index/record:Record"  # the provider's v4 name, aliased by its SDK


class DnsRecord(pulumi.CustomResource):
    """A DNS record of a zone (the provider's `DnsRecord`), with the inputs the program gives."""

    def __init__(
        self,
        resource_name: str,
        *,
        zone_id: pulumi.Input[str],
        name: str,
        type: str,
        content: pulumi.Input[str],
        ttl: int,
        priority: int | None = None,
        comment: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "comment": comment,
            "content": content,
            "name": name,
            "priority": priority,
            "ttl": ttl,
            "type": type,
            "zoneId": zone_id,
        }
        opts = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(version=PROVIDER_VERSION), opts)
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=_OLD_RECORD)]))
        super().__init__(DNS_RECORD, resource_name, props, opts)


def zone_id(name: str) -> pulumi.Output[str]:
    """The id of the zone called `name` in the account the provider's token reaches (`getZone`)."""
    found = pulumi.runtime.invoke_output(
        GET_ZONE, {"filter": {"name": name, "match": "all"}}, pulumi.InvokeOutputOptions(version=PROVIDER_VERSION)
    )
    return found.apply(lambda zone: str(zone["id"]))
