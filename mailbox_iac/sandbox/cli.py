"""`mailbox-iac sandbox ...`: the local stand-ins for services that cannot be reached from here.

Annotations are not strings here, as in `mailbox_iac/cli.py`: typer reads them at every start."""

import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from mailbox_iac import project

# The emulators and the sandbox's runner are imported by the commands that start them: `mailbox-iac --help`
# and the commands outside the sandbox do not pay for them.
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
    from mailbox_iac.sandbox import hostwinds as hostwinds_emulator
    from mailbox_iac.sandbox.dnsserver import DnsServer

    faults = hostwinds_emulator.Faults(
        error_rate=error_rate,
        http_5xx_rate=http_5xx_rate,
        slow_rate=slow_rate,
        slow_seconds=slow_seconds,
        stuck_builds=stuck_builds,
        failed_builds=failed_builds,
        auth_failure=auth_failure,
    )
    emu = hostwinds_emulator.HostwindsEmulator(api_key, build_seconds=build_seconds, ip_pool=ip_pool, faults=faults)
    server = hostwinds_emulator.serve(emu, host, port)
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


def _zones(root: Path, extra: list[str] | None) -> list[str]:
    """Every zone the specs in specs/ use, plus any given: the sandbox's Cloudflare account."""
    from mailbox_iac.spec.errors import SpecInvalid
    from mailbox_iac.spec.load import load_file, spec_files

    zones = set(extra or [])
    specs = root / "specs"
    for f in spec_files([specs]) if specs.is_dir() else []:
        try:
            zones |= {d.zone for d in load_file(f).tenant.domains}
        except SpecInvalid:
            continue
    return sorted(zones)


@app.command()
def serve(
    zone: Annotated[list[str] | None, typer.Option(help="Extra Cloudflare zone (repeatable)")] = None,
    build_seconds: Annotated[float, typer.Option(help="How long a Hostwinds build takes")] = 1.0,
) -> None:
    """Run the whole sandbox in the foreground (what `sandbox up` starts in the background)."""
    from mailbox_iac.sandbox import run

    root = project.find_root()
    run.serve(root, _zones(root, zone), build_seconds)


@app.command()
def up(
    zone: Annotated[list[str] | None, typer.Option(help="Extra Cloudflare zone (repeatable)")] = None,
    build_seconds: Annotated[float, typer.Option(help="How long a Hostwinds build takes")] = 1.0,
) -> None:
    """Start the sandbox: Hostwinds and Cloudflare emulators, DNS, and a real VPS host per server built.

    Needs root (network namespaces). Its zones are those of the specs in specs/. Idempotent.
    """
    from mailbox_iac.sandbox import run

    if os.geteuid() != 0:
        typer.echo("the sandbox needs root: it creates network namespaces for its VPS hosts", err=True)
        raise typer.Exit(code=1)
    root = project.find_root()
    info = run.up(root, _zones(root, zone), build_seconds)
    typer.echo(
        f"sandbox running (pid {info['pid']})\n  Hostwinds API:  {info['hostwinds_url']}\n"
        f"  Cloudflare API: {info['cloudflare_url']}\n  DNS:            {info['dns']} "
        f"(VPS hosts: {info['dns_bridge']})\n  zones:          {', '.join(info['zones'])}"
    )


@app.command()
def down() -> None:
    """Stop the sandbox and remove every namespace, process and file it created."""
    from mailbox_iac.sandbox import run

    run.down(project.find_root())
    typer.echo("sandbox stopped and removed")


@app.command()
def status() -> None:
    """Show whether the sandbox runs, its endpoints, and its servers and zones. Exit 1 when not running."""
    import httpx

    from mailbox_iac.sandbox import run

    info = run.read_info(project.find_root())
    if not info:
        typer.echo("sandbox not running (start it with `mailbox-iac sandbox up`)")
        raise typer.Exit(code=1)
    hw = httpx.get(info["hostwinds_url"].replace("/cloud/api.php", "/_emulator/state")).json()
    cf = httpx.get(info["cloudflare_url"].replace("/client/v4", "/_emulator/state")).json()
    typer.echo(f"sandbox running (pid {info['pid']}); DNS {info['dns']}")
    for inst in hw["instances"]:
        typer.echo(f"  server {inst['serviceid']} {inst['srvrname']:<24} {inst['status']:<7} {inst['main_ip']}")
    for zone, recs in cf["records"].items():
        typer.echo(f"  zone {zone}: {len(recs)} records")


@app.command()
def env() -> None:
    """Print shell `export` lines with the sandbox's Pulumi backend, passphrase, API endpoints and
    credentials, and the stand-in Cloudflare plugin on PATH, so that the plain Pulumi CLI works on the
    sandbox's stacks (as `minikube docker-env` does for Docker):

        eval "$(mailbox-iac sandbox env)" && source .venv/bin/activate && pulumi stack select demo

    Exit 1 when the sandbox is not running.
    """
    from mailbox_iac.sandbox import run

    root = project.find_root()
    info = run.read_info(root)
    if not info:
        typer.echo("the sandbox is not running: start it with `mailbox-iac sandbox up`", err=True)
        raise typer.Exit(code=1)
    typer.echo(run.shell_environment(root, info), nl=False)
