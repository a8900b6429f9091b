"""What the providers read from a host, as typed readers: the command that asks, and the pure function that
turns its output into a fact. The parsers are tested from fixture outputs (tests/core/host_facts/); the
commands against real hosts in the sandbox. A reader's command never fails the run: the parser decides
what a non-zero status or an empty answer means."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from mailbox_iac.mailhost.connection import Connection
from mailbox_iac.mailhost.render import CURRENT, LINKS, RESOLV_CONF

T = TypeVar("T")

PACKAGES = (
    "postfix",
    "dovecot-imapd",
    "dovecot-lmtpd",
    "opendkim",
    "opendmarc",
    "publicsuffix",  # OpenDMARC's organisational domains
    "policyd-rate-limit",
    "postfix-mta-sts-resolver",
    "python3-milter",  # from_guard.py
    "unbound",  # the host's validating resolver (DANE)
    "openssl",
    "ca-certificates",
    "nginx-light",
    "certbot",
    "nftables",
    "fail2ban",
)


@dataclass(frozen=True)
class Reader(Generic[T]):
    command: list[str] | str
    parse: Callable[[int, str], T]  # (exit status, stdout) -> fact

    def read(self, conn: Connection) -> T:
        status, out, _ = conn.run(self.command, check=False)
        return self.parse(status, out)


@dataclass(frozen=True)
class HostFacts:
    systemd: bool
    missing_packages: tuple[str, ...]
    current_release: str  # directory name of the live release, `<release>-<nonce>`; "" before the first apply


def pairs(out: str) -> dict[str, str]:
    """`key=value` lines; the first `=` splits, so a value may hold any character."""
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def parse_host(_status: int, out: str) -> HostFacts:
    values = pairs("\n".join(line for line in out.splitlines() if not line.startswith("pkg=")))
    installed = {
        line[4:].split()[0] for line in out.splitlines() if line.startswith("pkg=") and line.endswith(" installed")
    }
    return HostFacts(
        systemd=values.get("systemd") == "1",
        missing_packages=tuple(p for p in PACKAGES if p not in installed),
        current_release=values.get("current", "").strip(),
    )


HOST = Reader(
    "if [ -d /run/systemd/system ]; then echo systemd=1; else echo systemd=0; fi; "
    f'echo current=$(basename "$(readlink {CURRENT} 2>/dev/null)" 2>/dev/null); '
    f"dpkg-query -W -f='pkg=${{Package}} ${{db:Status-Status}}\\n' {' '.join(PACKAGES)} 2>/dev/null || true",
    parse_host,
)


def parse_digests(status: int, out: str) -> dict[str, str]:
    """`sha256sum` lines (`<digest>  ./<path>`) -> {path: digest}; nothing when the directory is missing."""
    if status != 0:
        return {}
    found = {}
    for line in out.splitlines():
        digest, _, path = line.partition("  ")
        found[path.removeprefix("./")] = digest
    return found


def digests_of(directory: str) -> Reader[dict[str, str]]:
    """{path relative to `directory`: sha256} of its files (hidden bookkeeping files left out)."""
    script = "cd \"$1\" 2>/dev/null && find . -type f ! -name '.*' -print0 | xargs -0 -r sha256sum"
    return Reader(["sh", "-c", script, "sh", directory], parse_digests)


def parse_links(_status: int, out: str) -> dict[str, str]:
    """One `readlink` answer per live link, in LINKS order, then the digest of /etc/resolv.conf -> {release
    path: what the live file is}: a link is absent when it points into the live release, else
    `not-linked:<hash of its target>` (a hand-made file); resolv.conf, not a link, is its live digest."""
    lines = out.splitlines()
    found = {}
    for (rel, _), target in zip(LINKS.items(), lines[: len(LINKS)], strict=True):
        if target != f"{CURRENT}/{rel}":
            found[rel] = "not-linked:" + hashlib.sha256(target.encode()).hexdigest()[:12]
    found[RESOLV_CONF] = "".join(lines[len(LINKS) :]).split(" ")[0]
    return found


LINK_TARGETS = Reader(
    " ; ".join(f"readlink {live} || echo -" for live in LINKS.values()) + " ; sha256sum /etc/resolv.conf || echo -",
    parse_links,
)
