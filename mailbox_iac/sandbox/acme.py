"""The sandbox's ACME certificate authority: Debian's Pebble (Let's Encrypt's test server), validating
HTTP-01 challenges against the sandbox DNS, so certbot on a sandbox host goes through the real flow.

Pebble serves its API over HTTPS; the sandbox makes a small CA for that (`api-ca.pem`, handed to certbot
as MAILBOX_IAC_ACME_CA). The certificates Pebble issues chain to a root it generates at each start, fetched
from its management API into `roots.pem` (MAILBOX_IAC_TLS_ROOTS: what clients verify mail hosts with).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Pebble:
    process: subprocess.Popen[bytes]
    directory: str  # the ACME directory URL the hosts use
    api_ca: Path
    roots: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _api_certificates(folder: Path, ip: str) -> None:
    """A CA and, signed by it, a certificate for Pebble's API at `ip` (and 127.0.0.1)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailbox-iac sandbox ACME API CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    addresses = [x509.IPAddress(ipaddress.ip_address(a)) for a in sorted({ip, "127.0.0.1"})]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), *addresses]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "api-ca.pem").write_bytes(_pem(ca))
    (folder / "api-cert.pem").write_bytes(_pem(cert))
    (folder / "api-key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(folder / "api-key.pem", 0o600)


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        port: int = s.getsockname()[1]
        return port


def start(folder: Path, ip: str, dns: str, timeout: float = 30.0) -> Pebble:
    """Start Pebble with its API on `ip` and its management API on loopback; `dns`: "host:port"."""
    folder.mkdir(parents=True, exist_ok=True)
    _api_certificates(folder, ip)
    port, management = _free_port(ip), _free_port("127.0.0.1")
    config = {
        "pebble": {
            "listenAddress": f"{ip}:{port}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(folder / "api-cert.pem"),
            "privateKey": str(folder / "api-key.pem"),
            "httpPort": 80,
            "tlsPort": 443,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (folder / "pebble.json").write_text(json.dumps(config, indent=2))
    log = open(folder / "pebble.log", "ab")  # noqa: SIM115 (handed to the process)
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    proc = subprocess.Popen(
        ["pebble", "-config", str(folder / "pebble.json"), "-dnsserver", dns, "-strict"],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    api_trust = ssl.create_default_context(cafile=str(folder / "api-ca.pem"))
    (folder / "pebble.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            root = httpx.get(f"https://127.0.0.1:{management}/roots/0", verify=api_trust, timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        root.raise_for_status()
        (folder / "roots.pem").write_text(root.text)
        return Pebble(proc, f"https://{ip}:{port}/dir", folder / "api-ca.pem", folder / "roots.pem")
    proc.kill()
    raise RuntimeError(f"pebble did not start: {(folder / 'pebble.log').read_text(errors='replace')[-2000:]}")


def stop_leftover(folder: Path) -> None:
    """Stop a Pebble that a killed sandbox left running."""
    try:
        pid = int((folder / "pebble.pid").read_text())
        if "pebble" in Path(f"/proc/{pid}/cmdline").read_text():
            os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass
