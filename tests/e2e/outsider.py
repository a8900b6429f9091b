"""A stranger on the sandbox network: a network namespace of its own with an address on the sandbox bridge
(never the operator's), from which tests guess passwords so that fail2ban's verdict about the operator
and about a stranger can both be seen."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from mailbox_iac.sandbox import vps

ADDRESS = "198.51.100.250"


def _ip(*argv: str, check: bool = True) -> None:
    subprocess.run(["ip", *argv], check=check, capture_output=True)


@contextmanager
def outsider(address: str = ADDRESS) -> Iterator[str]:
    """The namespace's name; commands run in it with `run_in(...)`."""
    ns, veth = "mbx-outsider", "mbxvoutsider"
    _ip("netns", "del", ns, check=False)
    _ip("link", "del", veth, check=False)  # a pair left by a run that was killed
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("link", "set", veth, "master", vps.BRIDGE, "up")
        _ip("netns", "exec", ns, "ip", "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("netns", "exec", ns, "ip", "link", "set", "eth0", "up")
        yield ns
    finally:
        _ip("link", "del", veth, check=False)
        _ip("netns", "del", ns, check=False)


def python_in(ns: str, script: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a Python script (this interpreter, so paramiko is there) inside the namespace."""
    return subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout
    )
