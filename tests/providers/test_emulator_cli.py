"""`mailbox-iac sandbox hostwinds` runs the emulator as its own process, as a user would start it."""

from __future__ import annotations

import subprocess
import sys
from typing import IO

import httpx

from hostwinds_dynamic.client import HostwindsClient, HostwindsTransientError
from hostwinds_dynamic.provider import lookup_ptr


def _announced(stream: IO[str], *labels: str) -> dict[str, str]:
    """The `label: address` lines the emulator prints at start, read as a script would: by label, so a
    library's warning on the same stream does not shift them."""
    found: dict[str, str] = {}
    while set(labels) - found.keys():
        line = stream.readline()
        assert line, f"the emulator exited before announcing {sorted(set(labels) - found.keys())}"
        label, _, address = line.partition(": ")
        if label in labels:
            found[label] = address.strip()
    return found


def test_emulator_process_serves_api_faults_and_ptr() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailbox_iac",
            "sandbox",
            "hostwinds",
            "--port",
            "0",
            "--dns-port",
            "0",
            "--api-key",
            "k",
            "--build-seconds",
            "0",
            "--http-5xx-rate",
            "1",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr
        announced = _announced(proc.stderr, "Hostwinds emulator", "reverse DNS (PTR)")
        url, dns = announced["Hostwinds emulator"], announced["reverse DNS (PTR)"]
        with HostwindsClient(url, "k", rate=50, retries=0) as c:
            try:
                c.list_instances()
                raise AssertionError("the --http-5xx-rate fault was not applied")
            except HostwindsTransientError as exc:
                assert exc.message == "HTTP 502"
            httpx.post(url.replace("/cloud/api.php", "/_emulator/faults"), json={"http_5xx_rate": 0}).raise_for_status()
            c.call("add_ssh_key", {"name": "k1", "public_key": "ssh-ed25519 AAAA"})
            c.add_instance(
                template="b1e32484-ea0d-4875-921f-2d01fd7b4341",
                rid=52,
                location_id=12,
                srvrname="cli",
                keys=["k1"],
                billingcycle="monthly",
            )
            [inst] = c.find_by_name("cli")
            c.set_rdns(inst["serviceid"], inst["main_ip"], "mail.cli.example")
        assert lookup_ptr(inst["main_ip"], dns) == "mail.cli.example"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
