"""Host hardening, applied with every activation (while it runs) and read back by the MailHost provider.

- SSH: keys only (no password or keyboard-interactive login), root by key only, few tries per connection.
- Firewall (nftables table `inet mailbox_iac`): only 22, 25, 80 (ACME), 443 (MTA-STS), 465, 587 and 993
  are open; replies to our own connections (DNS, outbound SMTP, ACME) come back as established traffic.
- fail2ban jails for SSH, SMTP AUTH (postfix-sasl) and IMAP (dovecot), banning through nftables.

Not part of a release: where sshd logs depends on the host (the journal with systemd, /var/log/auth.log
without), so the files are written here, each checked by its daemon before it is used.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence

from mailbox_iac.mailhost import facts
from mailbox_iac.mailhost.connection import Connection
from mailbox_iac.mailhost.render import HEADER, LOG_DIR, ROOT

OPEN_TCP_PORTS = (22, 25, 80, 443, 465, 587, 993)
SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-mailbox-iac.conf"  # first match wins in sshd: ours is read first
FIREWALL = f"{ROOT}/firewall.nft"
FIREWALL_UNIT = "/etc/systemd/system/mailbox-iac-firewall.service"
JAIL = "/etc/fail2ban/jail.d/mailbox-iac.local"
JAILS = ("dovecot", "postfix-sasl", "sshd")

# What `sshd -T` must report (the effective configuration, whatever other drop-ins say).
SSHD_SETTINGS = {
    "passwordauthentication": "no",
    "kbdinteractiveauthentication": "no",
    "permitrootlogin": "without-password",  # sshd's own spelling of prohibit-password
    "pubkeyauthentication": "yes",
    "permitemptypasswords": "no",
    "maxauthtries": "3",
}


def sshd_dropin() -> str:
    return HEADER + (
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\nPermitEmptyPasswords no\nMaxAuthTries 3\nLoginGraceTime 30\n"
        "X11Forwarding no\n"
    )


def firewall_table() -> str:
    """The table exactly as `nft list table inet mailbox_iac` prints it, so the live one can be compared."""
    ports = ", ".join(str(p) for p in OPEN_TCP_PORTS)
    return (
        "table inet mailbox_iac {\n\tchain input {\n"
        "\t\ttype filter hook input priority filter; policy drop;\n"
        "\t\tct state established,related accept\n"
        "\t\tct state invalid drop\n"
        '\t\tiif "lo" accept\n'
        "\t\tmeta l4proto { icmp, ipv6-icmp } accept\n"
        "\t\tudp sport 67 udp dport 68 accept\n"
        f"\t\ttcp dport {{ {ports} }} accept\n"
        "\t}\n}\n"
    )


def firewall_file() -> str:
    # Declaring then deleting the table makes the load idempotent; nft applies the whole file atomically.
    return HEADER + "table inet mailbox_iac {}\ndelete table inet mailbox_iac\n" + firewall_table()


def firewall_unit() -> str:
    """Loads the firewall at boot on systemd hosts, before the network comes up."""
    return HEADER + (
        "[Unit]\nDescription=mailbox-iac firewall\nWants=network-pre.target\nBefore=network-pre.target\n"
        "DefaultDependencies=no\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
        f"ExecStart=/usr/sbin/nft -f {FIREWALL}\n\n[Install]\nWantedBy=sysinit.target\n"
    )


SSH_CLIENT = "@SSH_CLIENT@"  # replaced on the host by the address mailbox-iac's SSH session comes from


def jail(systemd: bool, operator_networks: Sequence[str] = ()) -> str:
    """The jails. `ignoreip`: loopback, the address this very SSH session comes from (mailbox-iac, whose
    readiness checks log in), and the operators' networks: checks must never get their own runner banned."""
    sshd_source = "backend = systemd\n" if systemd else "backend = auto\nlogpath = /var/log/auth.log\n"
    ignore = " ".join(["127.0.0.1/8", "::1", SSH_CLIENT, *operator_networks])
    return HEADER + (
        "[DEFAULT]\nbanaction = nftables-multiport\nbanaction_allports = nftables-allports\n"
        f"bantime = 1h\nfindtime = 10m\nmaxretry = 5\nignoreip = {ignore}\n\n"
        f"[sshd]\nenabled = true\nmode = aggressive\n{sshd_source}\n"
        f"[postfix-sasl]\nenabled = true\nport = smtp,submission,submissions\nbackend = auto\n"
        f"logpath = {LOG_DIR}/postfix.log\n\n"
        f"[dovecot]\nenabled = true\nport = imaps\nbackend = auto\nlogpath = {LOG_DIR}/dovecot.log\n"
    )


def expected() -> dict[str, str]:
    """The hardening status a converged host reports (see `status`)."""
    return {
        "ssh": ";".join(f"{k} {v}" for k, v in sorted(SSHD_SETTINGS.items())),
        "firewall": hashlib.sha256(firewall_table().encode()).hexdigest(),
        "fail2ban": ",".join(JAILS),
    }


def parse_hardening(_status: int, out: str) -> dict[str, str]:
    """The live hardening, in the shape of `expected()`: a hand change shows up as drift."""
    found = facts.pairs(out)
    firewall = found.get("firewall", "")
    return {
        "ssh": found.get("ssh", ""),
        "firewall": "" if firewall == hashlib.sha256(b"").hexdigest() else firewall,
        "fail2ban": ",".join(sorted(j for j in found.get("fail2ban", "").split(",") if j)),
    }


STATUS = facts.Reader(
    f"echo ssh=$(sshd -T 2>/dev/null | grep -E '^({'|'.join(SSHD_SETTINGS)}) ' | sort | paste -sd ';'); "
    "echo firewall=$(nft list table inet mailbox_iac 2>/dev/null | sha256sum | cut -d' ' -f1); "
    "echo fail2ban=$(fail2ban-client status 2>/dev/null | sed -n 's/.*Jail list:[[:space:]]*//p' | tr -d ' ')",
    parse_hardening,
)


def apply_script(systemd: bool, operator_networks: Sequence[str] = ()) -> str:
    """Write, check and load every piece; a piece its daemon refuses is not loaded (the script fails)."""
    q = shlex.quote
    if systemd:
        reload_sshd = "systemctl reload ssh"
        boot_firewall = f"printf %s {q(firewall_unit())} > {FIREWALL_UNIT} && systemctl daemon-reload && "
        boot_firewall += "systemctl enable -q mailbox-iac-firewall"
        fail2ban = "systemctl enable -q fail2ban && systemctl restart fail2ban"
    else:
        reload_sshd = 'kill -HUP "$(cat /run/sshd.pid)"'
        boot_firewall = "true"
        fail2ban = (
            "if fail2ban-client ping >/dev/null 2>&1; then fail2ban-client reload; "
            "else install -d /run/fail2ban && fail2ban-client -x start; fi"
        )
    return f"""set -e
install -d -m 0755 /etc/ssh/sshd_config.d {ROOT}
touch /var/log/auth.log {LOG_DIR}/postfix.log {LOG_DIR}/dovecot.log
printf %s {q(sshd_dropin())} > {SSHD_DROPIN}.new
mv {SSHD_DROPIN}.new {SSHD_DROPIN}
sshd -t
{reload_sshd}
printf %s {q(firewall_file())} > {FIREWALL}.new
nft -c -f {FIREWALL}.new
mv {FIREWALL}.new {FIREWALL}
nft -f {FIREWALL}
{boot_firewall}
printf %s {q(jail(systemd, operator_networks))} | sed "s|{SSH_CLIENT}|${{SSH_CLIENT%% *}}|" > {JAIL}
fail2ban-client -t >/dev/null
{fail2ban}
"""


def harden(conn: Connection, systemd: bool, operator_networks: Sequence[str] = ()) -> dict[str, str]:
    """Apply everything and return the live status afterwards."""
    conn.run(["sh", "-c", apply_script(systemd, operator_networks)])
    return STATUS.read(conn)
