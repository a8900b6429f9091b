"""Sandbox "VPS" hosts: a network namespace with its own address, a private mount namespace in which the
mail-server directories are the host's own, and a real OpenSSH server that accepts the given keys.

The mail-host provider configures such a host exactly as it would a real Debian server: over SSH, as
root, with the Debian postfix/dovecot/opendkim packages of this machine. Nothing of the machine's own
configuration is touched: the host's /etc is an overlay of the machine's (its package files, as on a fresh
image, with the host's own changes kept in its folder), and every directory the mail host writes is
bind-mounted from the host's folder.
Needs root (ip netns, mount); only ever reachable on the sandbox bridge's own addresses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BRIDGE = "mbxbr0"
# Directories a mail host writes; each is private to one sandbox host.
SYSTEM_CAS = "/etc/ssl/certs/ca-certificates.crt"  # Debian's bundle of trusted CAs
PRIVATE_DIRS = (
    "etc/postfix",
    "etc/dovecot",
    "etc/opendkim",
    "etc/nginx",
    "etc/fail2ban",
    "etc/letsencrypt",
    "etc/ssh",
    "etc/mailbox-iac",
    "etc/ssl/mailbox-iac",
    "var/lib/mailbox-iac",
    "var/spool/postfix",
    "var/lib/postfix",
    "var/lib/dovecot",
    "var/lib/nginx",
    "var/lib/fail2ban",
    "var/lib/letsencrypt",
    "var/lib/policyd-rate-limit",
    "var/mail",
    "var/log",
    "root",  # a fresh image's root home, not this machine's (whose shell start-up files run on every SSH exec)
)
# Copied from the machine's package defaults (with owners and modes), like a fresh image of the VPS.
SEEDED_DIRS = (
    "etc/postfix",
    "etc/dovecot",
    "etc/nginx",
    "etc/fail2ban",
    "var/spool/postfix",
    "var/lib/postfix",
    "var/lib/dovecot",
    "var/lib/nginx",
)
# The image's SSH server: Debian's default configuration plus what cloud images add (password login on),
# its own host key, and no PAM (a namespace has no login sessions to open).
IMAGE_SSHD_DROPIN = "PasswordAuthentication yes\nUsePAM no\nHostKey /etc/ssh/ssh_host_ed25519_key\n"


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def ensure_bridge(gateway: str) -> None:
    """The sandbox network: one bridge on this machine holding `gateway` (e.g. 198.51.100.1/24)."""
    if _run("ip", "link", "show", BRIDGE, check=False).returncode != 0:
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
        _run("ip", "addr", "add", gateway, "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")


def remove_bridge() -> None:
    _run("ip", "link", "del", BRIDGE, check=False)


# sshd's log as a real host's syslog writes it ("Dec  2 14:10:01 host sshd[42]: ..."): fail2ban's sshd filter
# needs the time stamp (sshd's own -E file has none, so the jail never counted a failure).
SSHD_WITH_SYSLOG_LINES = (
    "/usr/sbin/sshd -D -e 2>&1 | while IFS= read -r line; do "
    'printf \'%s %s sshd[%s]: %s\\n\' "$(date \'+%b %e %H:%M:%S\')" "$(hostname)" "$$" "$line"; '
    "done >> /var/log/auth.log"
)


@dataclass
class Vps:
    name: str  # short: used in interface and namespace names
    address: str  # IPv4 inside the sandbox network
    hostname: str
    root: Path  # the host's own folder (its "disk")
    prefix: int = 24

    @property
    def netns(self) -> str:
        return f"mbx-{self.name}"

    @property
    def veth(self) -> str:
        return "mbxv" + hashlib.sha256(self.name.encode()).hexdigest()[:10]

    @property
    def host_key_path(self) -> Path:
        return self.root / "etc/ssh/ssh_host_ed25519_key"

    def host_key(self) -> str:
        """The server's public host key, `ssh-ed25519 AAAA...` (what a client pins on first contact)."""
        return " ".join(self.host_key_path.with_suffix(".pub").read_text().split()[:2])

    def start(
        self, authorized_keys: list[str], gateway: str, nameserver: str = "127.0.0.1", roots: Path | None = None
    ) -> None:
        """Boot the host. Its resolver is `nameserver` (the sandbox DNS) and it has no default route:
        it reaches the sandbox network and nothing else. `roots` (the sandbox CA's) join the system's
        trusted CAs on this host, as Let's Encrypt's are on a real one: MTA-STS fetches and outbound SMTP
        verify the certificates of the other sandbox hosts."""
        ensure_bridge(gateway)
        for d in PRIVATE_DIRS:
            target = self.root / d
            if d in SEEDED_DIRS and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                _run("cp", "-a", f"/{d}", str(target))  # owners and modes too
            target.mkdir(parents=True, exist_ok=True)
        (self.root / "var/log/nginx").mkdir(exist_ok=True)
        boot_dir = self.root / "boot"  # the sandbox's own files for this host, outside its file system
        boot_dir.mkdir(parents=True, exist_ok=True)
        if not self.host_key_path.exists():
            (self.root / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
            shutil.copy("/usr/share/openssh/sshd_config", self.root / "etc/ssh/sshd_config")
            (self.root / "etc/ssh/sshd_config.d/50-cloud-init.conf").write_text(IMAGE_SSHD_DROPIN)
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key_path))
        home = self.root / "root"
        os.chmod(home, 0o700)
        for dotfile in (".bashrc", ".profile"):  # what Debian's base-files gives root on a new system
            if not (home / dotfile).exists():
                shutil.copy(f"/usr/share/base-files/dot{dotfile}", home / dotfile)
        auth = home / ".ssh/authorized_keys"
        auth.parent.mkdir(exist_ok=True)
        auth.write_text("".join(k.strip() + "\n" for k in authorized_keys))
        os.chmod(auth.parent, 0o700)
        os.chmod(auth, 0o600)
        (boot_dir / "resolv.conf").write_text(f"nameserver {nameserver}\noptions timeout:1 attempts:1\n")
        upper, work = self.root / "overlay/etc", self.root / "overlay/work"
        upper.mkdir(parents=True, exist_ok=True)
        work.mkdir(parents=True, exist_ok=True)
        mounts = f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc\n"
        mounts += "\n".join(f"mkdir -p /{d} && mount --bind {self.root / d} /{d}" for d in PRIVATE_DIRS)
        mounts += f"\nmount --bind {boot_dir / 'resolv.conf'} /etc/resolv.conf"
        if roots is not None:
            bundle = boot_dir / "ca-certificates.crt"
            bundle.write_text(Path(SYSTEM_CAS).read_text() + roots.read_text())
            mounts += f"\nmount --bind {bundle} {SYSTEM_CAS}"
        (boot_dir / "boot.sh").write_text(
            "set -e\nmount --make-rprivate /\n"
            f"{mounts}\nmount -t tmpfs tmpfs /run\nmkdir -p /run/sshd\n"
            f"hostname {self.hostname}\n{SSHD_WITH_SYSLOG_LINES}\n"
        )
        _run("ip", "netns", "add", self.netns)
        _run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.netns)
        _run("ip", "link", "set", self.veth, "master", BRIDGE, "up")
        for cmd in (
            ("ip", "addr", "add", f"{self.address}/{self.prefix}", "dev", "eth0"),
            ("ip", "link", "set", "eth0", "up"),
            ("ip", "link", "set", "lo", "up"),
        ):
            _run("ip", "netns", "exec", self.netns, *cmd)
        # A previous host at this address had another MAC: forget it, or packets go nowhere until it expires.
        _run("ip", "neigh", "flush", "to", self.address, check=False)
        log = open(self.root / "boot.log", "ab")  # noqa: SIM115 (handed to the daemon)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--uts", "sh", str(boot_dir / "boot.sh")],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        (self.root / "vps.json").write_text(json.dumps({**asdict(self), "root": str(self.root), "pid": proc.pid}))
        self._wait_listening()

    def _wait_listening(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"Server listening" in self._log():
                return
            time.sleep(0.05)
        raise RuntimeError(f"sshd of sandbox host {self.name} did not start: {self._log().decode(errors='replace')}")

    def _log(self) -> bytes:
        return b"".join(p.read_bytes() for p in (self.root / "boot.log", self.root / "var/log/auth.log") if p.exists())

    def stop(self) -> None:
        """Stop every process of the host and remove its namespace and interface (its folder stays)."""
        pids = _run("ip", "netns", "pids", self.netns, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        _run("ip", "netns", "del", self.netns, check=False)
        _run("ip", "link", "del", self.veth, check=False)

    def close_outbound(self, port: int, closed: bool = True) -> None:
        """Connections out to `port` refused with a TCP reset, as some VPS providers answer port 25 (others
        drop it: a timeout). In a table of the host's namespace that its own firewall (harden.py's
        `mailbox_iac` table) never touches: the provider's, not the host's."""
        script = "table inet sandbox_provider {}\ndelete table inet sandbox_provider\n"
        if closed:
            script += (
                "table inet sandbox_provider {\n chain output {\n"
                "  type filter hook output priority filter; policy accept;\n"
                f"  tcp dport {port} reject with tcp reset\n }}\n}}\n"
            )
        subprocess.run(["ip", "netns", "exec", self.netns, "nft", "-f", "-"], input=script, text=True, check=True)

    def running(self) -> bool:
        return self.netns in _run("ip", "netns", "list", check=False).stdout.split()
