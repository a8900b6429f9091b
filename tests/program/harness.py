"""Run the tenant program under Pulumi mocks and record what it registers, with its dependencies."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import dill
import pulumi
from pulumi.runtime import mocks, rpc
from pulumi.runtime._serialization import _deserialize
from pulumi.runtime.settings import get_root_resource

from mailbox_iac import program

FAKE: dict[str, dict[str, Any]] = {
    "pulumi-python:dynamic/hostwinds:Instance": {"main_ip": "192.0.2.10", "serviceid": 100001, "status": "ACTIVE"},
    "pulumi-python:dynamic/credentials:SshKey": {"public_key": "ssh-ed25519 AAAA", "private_key": "PRIVATE-SSH"},
    "pulumi-python:dynamic/credentials:DkimKey": {"public_key": "MIIBPUBLIC", "private_key": "PRIVATE-DKIM"},
    "pulumi-python:dynamic/credentials:Password": {"password": "generated-password"},
    "pulumi-python:dynamic/mailhost:MailHost": {"host_key": "ssh-ed25519 HOSTKEY"},
}


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    dependencies: set[str]
    secret_outputs: list[str]
    declared_at: tuple[str, int]  # the source position the engine gets: (file URI, line)


@dataclass
class Recorder(mocks.MockMonitor):
    registered: dict[str, Registered] = field(default_factory=dict)
    outputs: dict[str, tuple[Any, bool]] = field(default_factory=dict)  # stack output -> (value, is secret)
    run_providers: bool = False

    def __post_init__(self) -> None:
        super().__init__(_Mocks(self))

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
            deps = set(request.dependencies) | {u for d in request.propertyDependencies.values() for u in d.urns}
            self.registered[response.urn] = Registered(
                request.type,
                request.name,
                inputs,
                deps,
                list(request.additionalSecretOutputs),
                (request.sourcePosition.uri, request.sourcePosition.line),
            )
        return response

    def by_type(self, suffix: str) -> list[Registered]:
        return [r for r in self.registered.values() if r.type.endswith(suffix)]

    def named(self, name: str) -> Registered:
        return next(r for r in self.registered.values() if r.name == name)

    def urn(self, name: str) -> str:
        return next(u for u, r in self.registered.items() if r.name == name)

    def counts(self) -> Counter[str]:
        return Counter(r.type.rsplit(":", 1)[-1] for r in self.registered.values())


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outs = dict(args.inputs)
        if self.recorder.run_providers and args.typ.startswith("pulumi-python:dynamic/credentials"):
            # the real provider code, deserialized from what the program pickled
            props = {k: rpc.unwrap_rpc_secret(v) for k, v in args.inputs.items()}
            prov = _deserialize(lambda: dill.loads(base64.b64decode(props.pop("__provider"))))  # noqa: S301 (our own pickle)
            result = prov.create(prov.check({}, props).inputs)
            return result.id, {**(result.outs or {})}
        outs.update(FAKE.get(args.typ, {}))
        return f"{args.name}-id", outs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any] | None]:
        if args.token == "cloudflare:index/getZone:getZone":
            return {"id": "zone-" + args.args["filter"]["name"], "name": args.args["filter"]["name"]}, []
        return {}, []


def run(
    stack: str, config: dict[str, Any], run_providers: bool = False, allow: frozenset[str] | None = None
) -> Recorder:
    """Run `program.main` for `stack` with `config` (mailbox-iac:* keys without the prefix) and the run's
    opt-ins `allow` (None: from the environment, as the plain CLI's program takes them)."""
    asyncio.set_event_loop(asyncio.new_event_loop())  # servicer tests (asyncio.run) leave none behind
    recorder = Recorder(run_providers=run_providers)
    pulumi.runtime.set_mocks(recorder.mocks, project="mailbox-iac", stack=stack, preview=False, monitor=recorder)
    pulumi.runtime.set_all_config(
        {f"mailbox-iac:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    )

    async def collect() -> None:
        root = get_root_resource()
        assert root is not None
        for name, value in getattr(root, "outputs", {}).items():
            out = pulumi.Output.from_input(value)
            recorder.outputs[name] = (await out.future(), await out.is_secret())

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program_run() -> Any:
        program.main(allow=allow)
        return asyncio.ensure_future(collect())

    program_run()
    return recorder
