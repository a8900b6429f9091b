"""The dynamic-provider plugin as the engine starts it (`python -m mailbox_iac.plugin_host pulumi.dynamic`,
bootstrap's launcher), driven over its real gRPC port: independent operations the engine sends at once
are served at once, not four at a time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pulumi.dynamic
from google.protobuf import empty_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import proto, rpc
from pulumi.runtime._serialization import _serialize
from pulumi.runtime.proto import provider_pb2_grpc

from tests.conftest import REPO

AT_ONCE = 12  # the engine's default --parallel on a 3-core machine; more than the SDK's 4 threads
GATHERED = threading.Barrier(AT_ONCE, timeout=30)  # in the plugin process: each create waits for all others


class Gathering(pulumi.dynamic.ResourceProvider):
    """A create that returns only once AT_ONCE creates are running together (pickled by reference)."""

    def create(self, props: Any) -> pulumi.dynamic.CreateResult:
        GATHERED.wait()
        return pulumi.dynamic.CreateResult(id_=props["name"], outs={"name": props["name"]})


@contextlib.contextmanager
def plugin(module: str) -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """The plugin as the engine starts it (the launchers' command), and a gRPC stub on the port it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mailbox_iac.plugin_host", module],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_dynamic_provider_serves_as_many_creates_at_once_as_the_engine_sends() -> None:
    pickled, _ = _serialize(True, serialize_provider, Gathering())
    with plugin("pulumi.dynamic") as stub:

        def create(name: str) -> str:
            props = asyncio.run(rpc.serialize_properties({"name": name, "__provider": pickled}, {}))
            return str(stub.Create(proto.CreateRequest(urn=f"urn:test:{name}", properties=props), timeout=60).id)

        with ThreadPoolExecutor(AT_ONCE) as pool:
            ids = list(pool.map(create, [f"r{i}" for i in range(AT_ONCE)]))
    assert ids == [f"r{i}" for i in range(AT_ONCE)]


# What a plugin process imports before it serves: neither the SDK's runtime (the stand-in only needs its
# protocol modules) nor the command-line extras of httpx and paramiko (mailbox_iac/__init__.py).
_PLUGIN_IMPORTS = """
import sys
import mailbox_iac.plugin_host  # first, as `python -m mailbox_iac.plugin_host` runs it
import httpx, paramiko, mailbox_iac.sandbox.cfplugin
loaded = [m for m, module in sys.modules.items() if module is not None]
print(sorted(m for m in loaded if m.split(".")[0] in ("pulumi", "click", "rich", "pygments", "invoke")))
"""


def test_the_stand_in_cloudflare_plugin_starts_without_the_sdk_runtime_or_cli_extras() -> None:
    done = subprocess.run([sys.executable, "-c", _PLUGIN_IMPORTS], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


# The dynamic provider's process, as plugin_host sets it up, loading every provider module of a stack:
# neither the spec's pydantic models nor dnspython's DNS-over-HTTPS client stack.
_PROVIDER_IMPORTS = """
import sys
import mailbox_iac.plugin_host as host
host.without_dns_over_https()
import pulumi.dynamic, hostwinds_dynamic.provider, mailbox_iac.credentials.provider, mailbox_iac.guards
import mailbox_iac.mailhost.provider, mailbox_iac.readiness, mailbox_iac.sequencers.provider
loaded = {m.split(".")[0] for m, module in sys.modules.items() if module is not None}
print(sorted(loaded & {"pydantic", "httpx2", "httpcore2", "h2", "click", "rich", "invoke"}))
"""


def test_the_dynamic_provider_loads_its_resources_without_the_spec_models_or_dns_over_https() -> None:
    done = subprocess.run([sys.executable, "-c", _PROVIDER_IMPORTS], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_stand_in_cloudflare_plugin_answers_over_grpc() -> None:
    with plugin("mailbox_iac.sandbox.cfplugin") as stub:
        info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=30)
        schema = stub.GetSchema(proto.GetSchemaRequest(version=0), timeout=30)
    assert info.version == "6.23.1"
    assert json.loads(schema.schema) == {"name": "cloudflare", "version": "6.23.1"}
