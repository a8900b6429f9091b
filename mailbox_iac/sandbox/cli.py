"""`mailbox-iac sandbox ...`: the local stand-ins for services that cannot be reached from here."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Annotated

import typer

from mailbox_iac.sandbox.dnsserver import DnsServer
from mailbox_iac.sandbox.hostwinds import Faults, HostwindsEmulator, serve

app = typer.Typer(help="Local emulators of the third-party APIs (Hostwinds, Cloudflare) for tests and demos.")


@app.command()
def hostwinds(
    port: Annotated[int, typer.Option(help="HTTP port of the API (0: any free port)")] = 8088,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    api_key: Annotated[str, typer.Option(envvar="HOSTWINDS_API_KEY", help="The one API key accepted")] = "sandbox-key",
    build_seconds: Annotated[float, typer.Option(help="How long a build stays in BUILD")] = 2.0,
    ip_pool: Annotated[str, typer.Option(help="Network the server IPs come from")] = "198.51.100.0/24",
    dns_port: Annotated[int, typer.Option(help="Serve the reverse zones (PTR) over DNS on this port; -1: off")] = -1,
    error_rate: Annotated[float, typer.Option(help="Share of calls answered with an error body (HTTP 200)")] = 0.0,
    http_5xx_rate: Annotated[float, typer.Option(help="Share of calls answered with HTTP 502")] = 0.0,
    slow_rate: Annotated[float, typer.Option(help="Share of calls answered only after --slow-seconds")] = 0.0,
    slow_seconds: Annotated[float, typer.Option(help="Delay of slow replies")] = 35.0,
    stuck_builds: Annotated[bool, typer.Option(help="Builds never finish")] = False,
    failed_builds: Annotated[bool, typer.Option(help="Builds end in ERROR")] = False,
    auth_failure: Annotated[bool, typer.Option(help="Every call is Not Authorized")] = False,
) -> None:
    """Run the Hostwinds Cloud API emulator until interrupted.

    The API is at http://HOST:PORT/cloud/api.php. Faults can also be changed while it runs:
    `curl -X POST localhost:PORT/_emulator/faults -d '{"error_rate": 0.1}'`; `GET /_emulator/state` dumps
    instances, rDNS, SSH keys and the request rate it observed.
    """
    faults = Faults(
        error_rate=error_rate,
        http_5xx_rate=http_5xx_rate,
        slow_rate=slow_rate,
        slow_seconds=slow_seconds,
        stuck_builds=stuck_builds,
        failed_builds=failed_builds,
        auth_failure=auth_failure,
    )
    emu = HostwindsEmulator(api_key, build_seconds=build_seconds, ip_pool=ip_pool, faults=faults)
    server = serve(emu, host, port)
    typer.echo(f"Hostwinds emulator: http://{host}:{server.server_address[1]}/cloud/api.php", err=True)
    dns = DnsServer(emu.ptr_lookup, host, dns_port) if dns_port >= 0 else None
    if dns:
        typer.echo(f"reverse DNS (PTR): {dns.address}", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.shutdown()
    if dns:
        dns.close()
