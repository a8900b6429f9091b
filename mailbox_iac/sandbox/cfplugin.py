"""A stand-in `pulumi-resource-cloudflare` for the sandbox ONLY: serves `cloudflare:index/dnsRecord:DnsRecord`
and the `cloudflare:index/getZone:getZone` invoke over the Pulumi provider gRPC protocol, against the
Cloudflare API at `baseUrl` / `CLOUDFLARE_BASE_URL` (the sandbox emulator).

The real plugin cannot be downloaded here. Users with internet use it unchanged; the sandbox puts this
one on PATH (never installs it globally), and the engine prefers a plugin found on PATH.
Inputs are checked the way the real provider does (required fields, types, TTL range, content xor data).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import sys
import types
from collections.abc import Callable
from concurrent import futures
from typing import TYPE_CHECKING, Any

import grpc
import httpx
from google.protobuf import empty_pb2, json_format, struct_pb2

from mailbox_iac import cloudflare_api


def _pulumi_protos(*names: str) -> list[types.ModuleType]:
    """The SDK's generated protocol modules, loaded without the `pulumi` package around them: importing
    `pulumi.runtime.proto` runs the whole SDK's `__init__` (the runtime, the Automation API), a third of
    this plugin's start, for modules that need only protobuf and grpc."""
    sdk = importlib.util.find_spec("pulumi")
    if sdk is None or not sdk.submodule_search_locations:
        raise ImportError("the pulumi package is not installed")
    package = types.ModuleType("_pulumi_protos")
    package.__path__ = [os.path.join(sdk.submodule_search_locations[0], "runtime", "proto")]
    sys.modules[package.__name__] = package
    return [importlib.import_module(f"{package.__name__}.{name}") for name in names]


if TYPE_CHECKING:
    from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc
else:
    plugin_pb2, provider_pb2, provider_pb2_grpc = _pulumi_protos("plugin_pb2", "provider_pb2", "provider_pb2_grpc")

VERSION = "6.23.1"
RECORD = "cloudflare:index/dnsRecord:DnsRecord"
GET_ZONE = "cloudflare:index/getZone:getZone"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105 (Pulumi's secret marker, not a secret)  # nosec B105
INPUTS = ("zoneId", "name", "type", "content", "ttl", "priority", "proxied", "comment", "tags", "data")
REPLACE_ON = ("zoneId", "type")


def _plain(struct: struct_pb2.Struct) -> dict[str, Any]:
    def unwrap(v: Any) -> Any:
        if isinstance(v, dict):
            if v.get(SECRET_SIG) is not None and "value" in v:
                return unwrap(v["value"])
            return {k: unwrap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [unwrap(x) for x in v]
        return v

    plain: dict[str, Any] = unwrap(json_format.MessageToDict(struct)) if struct is not None else {}
    return plain


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update({k: v for k, v in values.items() if v is not None})
    return s


class CloudflareApiError(Exception):
    pass


def _api_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Cloudflare API errors fail the step with the API's own message, as the real provider does."""

    @functools.wraps(method)
    def wrapper(self: StandIn, request: Any, context: Any) -> Any:
        try:
            return method(self, request, context)
        except CloudflareApiError as exc:
            context.abort(grpc.StatusCode.UNKNOWN, str(exc))

    return wrapper


@functools.cache
def _client(base_url: str, token: str) -> httpx.Client | None:
    """One client per endpoint and token for the plugin's life, its connections kept as the real plugin
    keeps them: a client made per call cost about 40 ms (its TLS context) on every record operation."""
    return cloudflare_api.client({"CLOUDFLARE_API_TOKEN": token, "CLOUDFLARE_BASE_URL": base_url})


class StandIn(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self) -> None:
        self.base_url = os.environ.get("CLOUDFLARE_BASE_URL", "")
        self.token = os.environ.get("CLOUDFLARE_API_TOKEN", "")

    # --- plumbing --------------------------------------------------------------------------------------

    def _api(
        self, method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        if not self.base_url:
            raise CloudflareApiError("no Cloudflare base URL: set cloudflare:baseUrl or CLOUDFLARE_BASE_URL")
        api = _client(self.base_url, self.token)
        if api is None:
            raise CloudflareApiError("no Cloudflare API token: set cloudflare:apiToken or CLOUDFLARE_API_TOKEN")
        try:
            data = cloudflare_api.request(api, method, path, params, body)
        except cloudflare_api.CloudflareError as exc:
            if exc.status == 404:
                return 404, None
            raise CloudflareApiError(str(exc)) from None
        return 200, data["result"]

    def GetPluginInfo(self, request: Any, context: Any) -> Any:
        return plugin_pb2.PluginInfo(version=VERSION)

    def GetSchema(self, request: Any, context: Any) -> Any:
        return provider_pb2.GetSchemaResponse(schema=json.dumps({"name": "cloudflare", "version": VERSION}))

    def CheckConfig(self, request: Any, context: Any) -> Any:
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request: Any, context: Any) -> Any:
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)

    def Configure(self, request: Any, context: Any) -> Any:
        args = _plain(request.args)
        variables = dict(request.variables)
        self.base_url = str(args.get("baseUrl") or variables.get("cloudflare:config:baseUrl") or self.base_url)
        self.token = str(args.get("apiToken") or variables.get("cloudflare:config:apiToken") or self.token)
        return provider_pb2.ConfigureResponse(acceptSecrets=False, supportsPreview=True)

    def Cancel(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()

    # --- DnsRecord -------------------------------------------------------------------------------------

    def Check(self, request: Any, context: Any) -> Any:
        news = _plain(request.news)
        failures = []
        for key in ("zoneId", "name", "type", "ttl"):
            if news.get(key) in (None, ""):
                failures.append(provider_pb2.CheckFailure(property=key, reason=f"Missing required argument: {key}"))
        for key in ("zoneId", "name", "type", "content", "comment"):
            if news.get(key) not in (None, UNKNOWN) and not isinstance(news[key], str):
                failures.append(provider_pb2.CheckFailure(property=key, reason=f"{key} must be a string"))
        ttl = news.get("ttl")
        if isinstance(ttl, int | float) and not (ttl == 1 or 60 <= ttl <= 86400):
            failures.append(provider_pb2.CheckFailure(property="ttl", reason="ttl must be 1 (automatic) or 60-86400"))
        prio = news.get("priority")
        if isinstance(prio, int | float) and not 0 <= prio <= 65535:
            failures.append(provider_pb2.CheckFailure(property="priority", reason="priority must be 0-65535"))
        if news.get("content") is not None and news.get("data") is not None:
            failures.append(provider_pb2.CheckFailure(property="content", reason="content conflicts with data"))
        return provider_pb2.CheckResponse(inputs=request.news, failures=failures)

    def Diff(self, request: Any, context: Any) -> Any:
        olds, news = _plain(request.olds), _plain(request.news)
        changed = [k for k in INPUTS if k in olds or k in news if olds.get(k) != news.get(k)]
        if olds.get("proxied") is False and "proxied" not in news:
            changed = [k for k in changed if k != "proxied"]
        replaces = [k for k in changed if k in REPLACE_ON]
        kind = provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE
        return provider_pb2.DiffResponse(changes=kind, replaces=replaces, diffs=changed)

    def _body(self, props: dict[str, Any]) -> dict[str, Any]:
        body = {
            k: props[k]
            for k in ("name", "type", "content", "ttl", "priority", "proxied", "comment", "tags", "data")
            if props.get(k) is not None
        }
        for key in ("ttl", "priority"):
            if key in body:
                body[key] = int(body[key])
        return body

    def _outs(self, inputs: dict[str, Any], rec: dict[str, Any] | None, from_api: bool = False) -> dict[str, Any]:
        """Create/Update keep the configured name/content (as the bridge does); Read stores the API's."""
        outs = {k: inputs.get(k) for k in INPUTS}
        if rec:
            outs |= {
                "id": rec["id"],
                "createdOn": rec["created_on"],
                "modifiedOn": rec["modified_on"],
                "proxiable": rec["proxiable"],
                "proxied": rec["proxied"],
                "meta": json.dumps(rec.get("meta") or {}),
            }
            if from_api:
                outs |= {
                    "name": rec["name"],
                    "type": rec["type"],
                    "content": rec["content"],
                    "ttl": rec["ttl"],
                    "priority": rec.get("priority"),
                    "comment": rec.get("comment"),
                }
        return outs

    @_api_errors
    def Create(self, request: Any, context: Any) -> Any:
        props = _plain(request.properties)
        if request.preview:
            return provider_pb2.CreateResponse(id="", properties=_struct(self._outs(props, None)))
        _, rec = self._api("POST", f"/zones/{props['zoneId']}/dns_records", self._body(props))
        return provider_pb2.CreateResponse(id=rec["id"], properties=_struct(self._outs(props, rec)))

    @_api_errors
    def Read(self, request: Any, context: Any) -> Any:
        """Refresh (the record id) and import (`<zone_id>/<record_id>`, as the real provider takes it)."""
        props = _plain(request.properties) or _plain(request.inputs)
        zone, _, record_id = request.id.rpartition("/")
        zone = zone or props.get("zoneId", "")
        status, rec = self._api("GET", f"/zones/{zone}/dns_records/{record_id}")
        if status == 404:
            return provider_pb2.ReadResponse(id="")  # gone: no properties
        outs = self._outs({**props, "zoneId": zone}, rec, from_api=True)
        inputs = {k: outs.get(k) for k in INPUTS}
        return provider_pb2.ReadResponse(id=record_id, properties=_struct(outs), inputs=_struct(inputs))

    @_api_errors
    def Update(self, request: Any, context: Any) -> Any:
        olds, news = _plain(request.olds), _plain(request.news)
        if request.preview:
            return provider_pb2.UpdateResponse(properties=_struct({**olds, **self._outs(news, None)}))
        _, rec = self._api("PUT", f"/zones/{news['zoneId']}/dns_records/{request.id}", self._body(news))
        return provider_pb2.UpdateResponse(properties=_struct(self._outs(news, rec)))

    @_api_errors
    def Delete(self, request: Any, context: Any) -> Any:
        props = _plain(request.properties)
        self._api("DELETE", f"/zones/{props.get('zoneId')}/dns_records/{request.id}")
        return empty_pb2.Empty()

    # --- getZone --------------------------------------------------------------------------------------

    @_api_errors
    def Invoke(self, request: Any, context: Any) -> Any:
        if request.tok != GET_ZONE:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"the sandbox stand-in does not serve {request.tok}")
        args = _plain(request.args)
        if args.get("zoneId"):
            zone_id = args["zoneId"]
        else:
            name = (args.get("filter") or {}).get("name", "")
            _, found = self._api("GET", "/zones", params={"name": name})
            if len(found) != 1:
                return provider_pb2.InvokeResponse(
                    failures=[
                        provider_pb2.CheckFailure(
                            property="filter", reason=f"failed to find exactly one result, {len(found)} found"
                        )
                    ]
                )
            zone_id = found[0]["id"]
        _, zone = self._api("GET", f"/zones/{zone_id}")
        result = {
            "id": zone["id"],
            "zoneId": zone["id"],
            "name": zone["name"],
            "status": zone["status"],
            "type": zone["type"],
            "paused": zone["paused"],
            "developmentMode": zone["development_mode"],
            "nameServers": zone["name_servers"],
            "originalNameServers": zone["original_name_servers"] or [],
            "vanityNameServers": zone["vanity_name_servers"],
            "permissions": zone["permissions"],
            "account": zone["account"],
            "activatedOn": zone["activated_on"],
            "createdOn": zone["created_on"],
            "modifiedOn": zone["modified_on"],
            "filter": args.get("filter"),
        }
        return provider_pb2.InvokeResponse(**{"return": _struct(result)})


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(StandIn(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
