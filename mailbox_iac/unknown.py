"""Values the engine does not know yet: during a preview, an input computed by a resource that does not
exist yet (a new server's IP, a new DKIM key). The SDK hands dynamic providers `pulumi.output.Unknown`
objects (older SDKs and raw gRPC plugins: the `rpc.UNKNOWN` string), at any depth of a list or dict."""

from __future__ import annotations

from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown) or (isinstance(value, str) and value == rpc.UNKNOWN)


def has_unknown(value: Any) -> bool:
    """The value is unknown or holds an unknown anywhere inside it."""
    if is_unknown(value):
        return True
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_unknown(v) for v in value)
    return False
