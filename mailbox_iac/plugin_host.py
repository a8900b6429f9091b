"""Runs a provider plugin module (the SDK's dynamic-provider server `pulumi.dynamic`, the sandbox's
stand-in Cloudflare plugin) so that it never outlives the engine that started it (see lifetime.py): a
SIGKILL of a run would otherwise leave it running, perhaps in the middle of a create over SSH.
`python -m mailbox_iac.plugin_host MODULE ARGS...` (the launchers that bootstrap and the sandbox write).
"""

from __future__ import annotations

import runpy
import sys
from concurrent import futures
from typing import Any

import grpc

from mailbox_iac.lifetime import exit_with_parent

# The engine sends a provider up to 4 x its cores operations at once (`--parallel`, PULUMI_PARALLEL); a
# pool this wide never makes one of them wait for a thread. Threads start only when a call needs one.
SERVER_THREADS = 64


def serve_every_call() -> None:
    """The SDK's dynamic-provider server (pulumi/dynamic/__main__.py) serves every dynamic resource of a run
    with `ThreadPoolExecutor(max_workers=4)`: a fifth independent create (a mailbox's SSH session, a
    Readiness poll, a server build's wait) queued behind four others, whatever it depended on. The one
    gRPC server of this process gets a pool of SERVER_THREADS instead."""
    original = grpc.server

    def server(thread_pool: futures.Executor, *args: Any, **kwargs: Any) -> grpc.Server:
        thread_pool.shutdown(wait=False)  # never used: its threads would start with its first call
        return original(futures.ThreadPoolExecutor(max_workers=SERVER_THREADS), *args, **kwargs)

    grpc.server = server


def without_dns_over_https() -> None:
    """dnspython loads an HTTP/2 client stack (httpx2, httpcore2, h2: 80 ms) whenever it is installed, for
    DNS over HTTPS, which no resource of ours uses: turned off before any provider module imports it."""
    import dns._features  # here: only the dynamic provider process asks DNS

    dns._features.force("doh", False)


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m mailbox_iac.plugin_host MODULE [ARGS...]")
    module = sys.argv.pop(1)
    exit_with_parent()
    serve_every_call()
    if module == "pulumi.dynamic":
        without_dns_over_https()
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
