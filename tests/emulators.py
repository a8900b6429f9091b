"""A Hostwinds emulator over real HTTP (and its reverse zones over real DNS) for each test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mailbox_iac.sandbox.dnsserver import DnsServer
from mailbox_iac.sandbox.hostwinds import HostwindsEmulator, serve

API_KEY = "test-key-0123456789abcdef"


@dataclass
class Emulator:
    emu: HostwindsEmulator
    url: str
    dns: str

    def state(self) -> dict[str, Any]:
        return httpx.get(self.url.replace("/cloud/api.php", "/_emulator/state")).json()

    def faults(self, **values: Any) -> None:
        httpx.post(self.url.replace("/cloud/api.php", "/_emulator/faults"), json=values).raise_for_status()

    def tamper(self, serviceid: int, **values: Any) -> None:
        httpx.post(self.url.replace("/cloud/api.php", f"/_emulator/instances/{serviceid}"), json=values)

    @property
    def config(self) -> dict[str, str]:
        return {"hostwinds:endpoint": self.url, "hostwinds:apiKey": API_KEY, "hostwinds:rdnsResolver": self.dns}


@pytest.fixture
def hostwinds(tmp_path, monkeypatch) -> Iterator[Emulator]:
    monkeypatch.setenv("HOSTWINDS_RATE_FILE", str(tmp_path / "rate"))
    emu = HostwindsEmulator(API_KEY, build_seconds=0.3)
    emu.ssh_keys["mailbox-iac"] = "ssh-ed25519 AAAA test"
    server = serve(emu)
    dns = DnsServer(emu.ptr_lookup)
    yield Emulator(emu, f"http://127.0.0.1:{server.server_address[1]}/cloud/api.php", dns.address)
    server.shutdown()
    dns.close()
