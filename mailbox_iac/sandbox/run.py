"""The sandbox: every outside service mailbox-iac talks to, on this machine.

`serve` runs in the foreground until SIGTERM: the Hostwinds emulator (each finished build becomes a VPS: a
network namespace with a real sshd, see vps.py; a terminated instance's VPS is removed), the Cloudflare
emulator, and one authoritative DNS server for the Cloudflare zones and the Hostwinds reverse zones,
listening on loopback for this machine and on the sandbox bridge for the VPS hosts. `up` starts `serve`
in the background and waits until it is ready; `down` stops it and removes every namespace, process and
file it created. State lives in `.state/sandbox/` (ignored by git).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mailbox_iac import keys
from mailbox_iac.project import local_backend_url
from mailbox_iac.sandbox import acme as sandbox_acme
from mailbox_iac.sandbox import dnsbl
from mailbox_iac.sandbox import vps as vps_mod
from mailbox_iac.sandbox.cloudflare import CloudflareEmulator
from mailbox_iac.sandbox.cloudflare import serve as serve_cloudflare
from mailbox_iac.sandbox.dnsserver import DnsServer, RootKey
from mailbox_iac.sandbox.hostwinds import HostwindsEmulator, Instance
from mailbox_iac.sandbox.hostwinds import serve as serve_hostwinds
from mailbox_iac.sandbox.instantly import InstantlyEmulator
from mailbox_iac.sandbox.instantly import serve as serve_instantly
from mailbox_iac.sandbox.logins import login_test
from mailbox_iac.sandbox.receiver import Receiver
from mailbox_iac.sandbox.smartlead import SmartleadEmulator
from mailbox_iac.sandbox.smartlead import serve as serve_smartlead

NETWORK = ipaddress.ip_network("198.51.100.0/24")
GATEWAY = "198.51.100.1/24"
HOSTWINDS_KEY = "sandbox-hostwinds-key"
# Published on purpose: the sandbox emulators' credentials and the passphrase of the sandbox stacks' secrets.
# The sandbox holds nothing real.
CLOUDFLARE_TOKEN = "sandbox-cloudflare-token-0000000000"  # noqa: S105  # nosec B105
INSTANTLY_KEY = "sandbox-instantly-key-0000000000000"  # nosec B105
SMARTLEAD_KEY = "sandbox-smartlead-key-0000000000000"  # nosec B105
PASSPHRASE = "mailbox-iac-sandbox"  # noqa: S105  # nosec B105
OPERATOR_KEY = "mailbox-iac"  # the name of the operators' SSH key at Hostwinds in the example specs


def state_dir(root: Path) -> Path:
    return root / ".state" / "sandbox"


def info_path(root: Path) -> Path:
    return state_dir(root) / "sandbox.json"


def read_info(root: Path) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = json.loads(info_path(root).read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(int(info["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None
    return info


def environment(info: dict[str, Any]) -> dict[str, str]:
    """What a `pulumi up` against the sandbox needs: endpoints, keys, and the stand-in Cloudflare plugin."""
    return {
        "HOSTWINDS_API_URL": info["hostwinds_url"],
        "HOSTWINDS_API_KEY": HOSTWINDS_KEY,
        "HOSTWINDS_RDNS_RESOLVER": info["dns"],
        "CLOUDFLARE_BASE_URL": info["cloudflare_url"],
        "CLOUDFLARE_API_TOKEN": CLOUDFLARE_TOKEN,
        "MAILBOX_IAC_DNS_RESOLVER": info["dns"],
        "MAILBOX_IAC_ACME_DIRECTORY": info["acme_directory"],
        "MAILBOX_IAC_ACME_CA": info["acme_ca"],
        "MAILBOX_IAC_TLS_ROOTS": info["tls_roots"],
        "MAILBOX_IAC_DNS_ROOT": info["dns_root"],
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE),
        # The stand-in Cloudflare plugin on PATH is the one to use: the real one cannot be downloaded here.
        # Only the sandbox turns acquisition off; everywhere else Pulumi fetches the pinned real plugin.
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PATH": f"{info['bin']}{os.pathsep}{os.environ.get('PATH', '')}",
        # A sandbox started by an older version has no port-25 receiver (health then probes its default)
        # and no Instantly.
        **({"MAILBOX_IAC_HEALTH_PROBE": info["receiver"]} if "receiver" in info else {}),
        **({"MAILBOX_IAC_INSTANTLY_URL": info["instantly_url"]} if "instantly_url" in info else {}),
        **({"MAILBOX_IAC_SMARTLEAD_URL": info["smartlead_url"]} if "smartlead_url" in info else {}),
    }


def shell_environment(root: Path, info: dict[str, Any]) -> str:
    """`export` lines that give a shell what `mailbox-iac up --sandbox` gives the engine, so that the plain
    Pulumi CLI (`pulumi preview`, `up`, `refresh`) works on the sandbox's stacks: eval "$(... sandbox env)"."""
    env = {k: v for k, v in environment(info).items() if k != "PATH"}  # the shell's own PATH, the plugin first
    env |= {"PULUMI_BACKEND_URL": local_backend_url(state_dir(root)), "PULUMI_SKIP_UPDATE_CHECK": "true"}
    lines = [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    lines.append(f'export PATH={shlex.quote(info["bin"])}"{os.pathsep}$PATH"')
    return "\n".join(
        [
            "# The sandbox's backend, endpoints and credentials for the Pulumi CLI. Use:",
            '#   eval "$(mailbox-iac sandbox env)" && source .venv/bin/activate && pulumi stack select demo',
            *lines,
            "",
        ]
    )


def _operator_key(base: Path) -> str:
    """The team's own key that the example specs name (`ssh_keys: [mailbox-iac]`), registered at the
    sandbox's Hostwinds like an operator would at the real one: `ssh -i .state/sandbox/operator_key root@IP`."""
    private, public = keys.ssh_key(f"{OPERATOR_KEY}-sandbox-operator")
    path = base / "operator_key"
    path.touch(mode=0o600)
    path.write_text(private)
    return public


def _write_plugin(bin_dir: Path) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    plugin = bin_dir / "pulumi-resource-cloudflare"
    plugin.write_text(
        f'#!/bin/sh\nexec {sys.executable} -u -m mailbox_iac.plugin_host mailbox_iac.sandbox.cfplugin "$@"\n'
    )
    plugin.chmod(0o755)


def _write_dns_root(base: Path, address: str, key: RootKey) -> Path:
    """The root the hosts' resolvers use instead of the Internet's (MAILBOX_IAC_DNS_ROOT): where it answers
    and the key it signs with, as root hints and a trust anchor are written."""
    path = base / "dns-root.zone"
    path.write_text(
        "; The sandbox's DNS root: its server and its key (mailbox_iac/mailhost/resolver.py reads this).\n"
        f". 86400 IN NS root.sandbox.invalid.\nroot.sandbox.invalid. 86400 IN A {address}\n"
        f". 3600 IN DNSKEY {key.dnskey.to_text()}\n"
    )
    return path


def serve(root: Path, zones: list[str], build_seconds: float = 1.0, dns_port: int = 0, http_port: int = 0) -> None:
    """Run the sandbox in the foreground until SIGTERM or SIGINT."""
    base = state_dir(root)
    base.mkdir(parents=True, exist_ok=True)
    gateway = str(ipaddress.ip_interface(GATEWAY).ip)
    vps_mod.ensure_bridge(GATEWAY)
    hosts: dict[int, vps_mod.Vps] = {}
    hw: HostwindsEmulator

    def boot(inst: Instance) -> None:
        host = vps_mod.Vps(
            f"s{inst.serviceid}", inst.main_ip, f"vps-{inst.serviceid}", base / "vps" / str(inst.serviceid)
        )
        host.stop()
        keys = [hw.ssh_keys[k] for k in inst.keys if hw.ssh_keys.get(k)]
        host.start(keys, GATEWAY, nameserver=gateway, roots=pebble.roots)
        hosts[inst.serviceid] = host

    def halt(inst: Instance) -> None:
        host = hosts.pop(inst.serviceid, None)
        if host:
            host.stop()
            shutil.rmtree(host.root, ignore_errors=True)

    hw = HostwindsEmulator(
        HOSTWINDS_KEY, build_seconds=build_seconds, ip_pool=str(NETWORK), on_active=boot, on_terminate=halt
    )
    hw.ssh_keys[OPERATOR_KEY] = _operator_key(base)
    cf = CloudflareEmulator(CLOUDFLARE_TOKEN, zones, nameservers=("ns1.sandbox.test", "ns2.sandbox.test"))

    def lookup(name: str, rdtype: str) -> tuple[int, list[tuple[str, int]]]:
        listed = dnsbl.lookup(base, name, rdtype)
        if listed is not None:
            return listed
        return hw.ptr_lookup(name, rdtype) if name.endswith(".arpa") else cf.dns_lookup(name, rdtype)

    def address_of(name: str) -> str:
        _, found = lookup(name, "A")
        if not found:
            raise OSError(f"{name}: no A record in the sandbox")
        return found[0][0]

    # The emulated sequencers test a new account's logins against the host its records name.
    instantly = InstantlyEmulator({INSTANTLY_KEY}, connection_test=login_test(address_of))
    smartlead = SmartleadEmulator({SMARTLEAD_KEY}, connection_test=login_test(address_of))
    hw_http = serve_hostwinds(hw, "127.0.0.1", http_port)
    cf_http = serve_cloudflare(cf, "127.0.0.1", 0)
    instantly_http = serve_instantly(instantly, "127.0.0.1", 0)
    smartlead_http = serve_smartlead(smartlead, "127.0.0.1", 0)
    root_key = RootKey()  # the sandbox's DNS root signs every answer asked for with the DO bit
    dns_local = DnsServer(lookup, "127.0.0.1", dns_port, root_key)
    dns_bridge = DnsServer(lookup, gateway, 53, root_key)  # what the VPS hosts ask (their resolvers forward here)
    dns_root = _write_dns_root(base, gateway, root_key)
    pebble = sandbox_acme.start(base / "acme", gateway, dns_bridge.address)
    mx = Receiver(gateway)  # the other side of the hosts' port 25 out
    _write_plugin(base / "bin")
    info = {
        "pid": os.getpid(),
        "hostwinds_url": f"http://127.0.0.1:{hw_http.server_address[1]}/cloud/api.php",
        "cloudflare_url": f"http://127.0.0.1:{cf_http.server_address[1]}/client/v4",
        "instantly_url": f"http://127.0.0.1:{instantly_http.server_address[1]}",
        "smartlead_url": f"http://127.0.0.1:{smartlead_http.server_address[1]}",
        "dns": dns_local.address,
        "dns_bridge": dns_bridge.address,
        "bin": str(base / "bin"),
        "acme_directory": pebble.directory,
        "acme_ca": str(pebble.api_ca),
        "tls_roots": str(pebble.roots),
        "dns_root": str(dns_root),
        "receiver": mx.target,
        "zones": zones,
    }
    tmp = info_path(root).with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    tmp.rename(info_path(root))

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for host in list(hosts.values()):
        host.stop()
    for server in (hw_http, cf_http, instantly_http, smartlead_http):
        server.shutdown()
    pebble.stop()
    mx.close()
    dns_local.close()
    dns_bridge.close()
    info_path(root).unlink(missing_ok=True)


def up(root: Path, zones: list[str], build_seconds: float = 1.0, timeout: float = 30.0) -> dict[str, Any]:
    """Start the sandbox in the background (idempotent) and return its endpoints."""
    running = read_info(root)
    if running:
        return running
    base = state_dir(root)
    base.mkdir(parents=True, exist_ok=True)
    log = open(base / "sandbox.log", "ab")  # noqa: SIM115 (handed to the background process)
    argv = [
        sys.executable,
        "-m",
        "mailbox_iac",
        "sandbox",
        "serve",
        "--build-seconds",
        str(build_seconds),
        *(a for z in zones for a in ("--zone", z)),
    ]
    proc = subprocess.Popen(argv, cwd=root, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = read_info(root)
        if info:
            return info
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    tail = (base / "sandbox.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the sandbox did not start:\n{tail}")


def _hosts(base: Path) -> list[vps_mod.Vps]:
    """Every VPS host the sandbox has booted (running or left behind by a killed sandbox)."""
    found = []
    for meta in sorted(base.glob("vps/*/vps.json")):
        data = json.loads(meta.read_text())
        found.append(vps_mod.Vps(data["name"], data["address"], data["hostname"], Path(data["root"])))
    return found


def close_outbound(root: Path, address: str, port: int = 25, closed: bool = True) -> None:
    """Do to the host at `address` what VPS providers do to port 25 (or let it through again)."""
    [host] = [h for h in _hosts(state_dir(root)) if h.address == address]
    host.close_outbound(port, closed)


def logs_dir(root: Path) -> Path:
    """Where `down` keeps the hosts' logs (/var/log of each VPS) for a post-mortem, until the next `down`."""
    return root / ".state" / "sandbox-logs"


def down(root: Path, timeout: float = 30.0) -> None:
    """Stop the sandbox and remove every namespace, process and file it created, but the hosts' logs
    (`logs_dir`)."""
    info = read_info(root)
    if info:
        os.kill(int(info["pid"]), signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and read_info(root):
            time.sleep(0.1)
    base = state_dir(root)
    shutil.rmtree(logs_dir(root), ignore_errors=True)
    for host in _hosts(base):  # anything a killed sandbox left behind
        host.stop()
        if (host.root / "var/log").is_dir():
            shutil.copytree(host.root / "var/log", logs_dir(root) / host.name, symlinks=True, dirs_exist_ok=True)
    sandbox_acme.stop_leftover(base / "acme")
    vps_mod.remove_bridge()
    shutil.rmtree(base, ignore_errors=True)
