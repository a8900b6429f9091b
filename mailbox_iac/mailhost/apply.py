"""Converge a Debian host to a rendered release, over one SSH connection.

1. `prepare`: missing packages installed (skipped when present), the vmail user, directories, a
   self-signed certificate until a real one is issued.
2. `stage`: every file uploaded into `releases/<id>.tmp`, which is renamed to `releases/<id>` when complete.
3. `validate`: the staged files are checked by the daemons' own tools (postconf, doveconf, opendkim -n).
   A rejected release is never activated; the running configuration keeps serving.
4. `activate`: a script on the host, detached from the SSH session so that a dropped connection cannot
   stop it halfway, switches the `current` symlink atomically, runs `postfix check`, reloads only the
   daemons whose files changed (starting any that are not running), and switches back if anything fails.
   The hardening (harden.py), which no release holds, is applied while it runs.
The host ends either entirely on the old release or entirely on the new one.
"""

from __future__ import annotations

import secrets
import shlex
import time
from collections.abc import Sequence

from mailbox_iac.mailhost import facts, harden
from mailbox_iac.mailhost.connection import Connection
from mailbox_iac.mailhost.facts import HostFacts
from mailbox_iac.mailhost.render import (
    ACME_WEBROOT,
    CERT_DIR,
    CURRENT,
    FROM_GUARD_MILTER,
    FROM_GUARD_SCRIPT,
    FROM_GUARD_SOCKET,
    LINKS,
    LOG_DIR,
    MAIL_DIR,
    OPENDKIM_MILTER,
    OPENDMARC_MILTER,
    RATE_LIMIT_CONFIG,
    RATE_LIMIT_LIVE,
    RATE_LIMIT_PID,
    RESOLV_CONF,
    RESOLVERS,
    ROOT,
    SENDER_LOGINS,
    SITE_CERTS,
    STS_RESOLVER,
    STS_RESOLVER_CONFIG,
    STS_RESOLVER_PID,
    TLS_CERT,
    TLS_KEY,
    UNBOUND_CONFIG,
    USERS_DIR,
    WARMUP_SCHEDULE,
    WARMUP_SCRIPT,
    File,
    services_changed,
    site_cert,
)
from mailbox_iac.mailhost.resolver import LOCAL
from mailbox_iac.mailhost.resolver import PID as UNBOUND_PID
from mailbox_iac.mailhost.ssh import RemoteCommandFailed
from mailbox_iac.plan.model import MailHostPlan

RELEASES = f"{ROOT}/releases"
KEEP_RELEASES = 3


class ConfigRejected(Exception):
    """The daemons' own checks refused the new configuration; nothing was activated."""


class ActivationFailed(Exception):
    """The new release could not be activated; the host was switched back to the previous one."""


def _placeholder(name: str, cert: str, key: str) -> str:
    """A self-signed certificate for `name` where none is yet: the daemons start before ACME has run. Its
    key is ECDSA P-256, as certbot's are: an RSA key costs the first apply a fraction of a second per name."""
    q = shlex.quote
    return (
        f"[ -s {cert} ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 "
        f"-subj /CN={q(name)} "
        f"-addext subjectAltName=DNS:{q(name)} -keyout {key} -out {cert} 2>/dev/null; chmod 0600 {key}"
    )


def prepare(conn: Connection, host: HostFacts, hostname: str, sites: Sequence[str] = ()) -> None:
    if host.missing_packages:
        conn.run("echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections")
        conn.run("DEBIAN_FRONTEND=noninteractive apt-get update -qq")
        conn.run(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", *host.missing_packages])
    certs = [(hostname, (TLS_CERT, TLS_KEY)), *((s, site_cert(s)) for s in sites)]
    conn.run(
        "set -e; "
        "getent passwd vmail >/dev/null || useradd --system --user-group --home-dir "
        f"{MAIL_DIR} --shell /usr/sbin/nologin vmail; "
        f"getent passwd {_FROM_GUARD_USER} >/dev/null || useradd --system --user-group --no-create-home "
        f"--home-dir /nonexistent --shell /usr/sbin/nologin {_FROM_GUARD_USER}; "
        f"install -d -m 0755 {ROOT} {RELEASES} {LOG_DIR} {ACME_WEBROOT} {CERT_DIR} {SITE_CERTS}; "
        f"install -d -m 0700 {ROOT}/original; "
        f"install -d -m 0750 -o root -g dovecot {USERS_DIR}; "
        f"install -d -m 0770 -o vmail -g vmail {MAIL_DIR}; "
        "install -d -m 0700 -o policyd-rate-limit -g policyd-rate-limit /var/lib/policyd-rate-limit; "
        # Debian's unit makes unbound's copy of the root key at each start; without systemd this does.
        "[ -s /var/lib/unbound/root.key ] || /usr/libexec/unbound-helper root_trust_anchor_update; "
        f"{{ echo 'forward-zone:'; echo '  name: \".\"'; "
        f"awk '/^nameserver/ {{print \"  forward-addr: \" $2}}' /etc/resolv.conf; }} > {RESOLVERS}.new && "
        f"mv {RESOLVERS}.new {RESOLVERS}; " + "; ".join(_placeholder(name, *files) for name, files in certs)
    )
    if host.systemd:  # our units, reloaded into systemd when one changes
        conn.run(["install", "-d", "-m", "0755", _RATE_LIMIT_DROP_IN_DIR])
        for path, unit in sorted(UNITS.items()):
            conn.put(f"{path}.new", unit.encode())
        conn.run(
            "set -e; changed=; "
            + "".join(f"cmp -s {p}.new {p} && rm {p}.new || {{ mv {p}.new {p}; changed=1; }}; " for p in sorted(UNITS))
            + f'[ -z "$changed" ] || systemctl daemon-reload; systemctl enable -q --now {WARMUP_DAY}.timer'
        )


def stage(conn: Connection, release: str, files: dict[str, File]) -> str:
    """Upload a release and return its directory name (`<release>-<nonce>`). An intact directory of the
    same release is reused; one that was edited by hand is left alone and a fresh one is uploaded."""
    want = {p: f.sha256 for p, f in files.items()}
    _, existing, _ = conn.run(["sh", "-c", 'cd "$1" && ls -1d "$2"-* 2>/dev/null || true', "sh", RELEASES, release])
    for name in existing.split():
        if (
            not name.endswith(".tmp")
            and conn.read(f"{RELEASES}/{name}/.complete") is not None
            and facts.digests_of(f"{RELEASES}/{name}").read(conn) == want
        ):
            return name
    name = f"{release}-{secrets.token_hex(3)}"
    tmp = f"{RELEASES}/{name}.tmp"
    dirs = sorted({f"{tmp}/{p.rsplit('/', 1)[0]}" for p in files if "/" in p})
    conn.run(["sh", "-c", 'rm -rf "$1" && install -d -m 0755 "$@"', "sh", tmp, *dirs])
    for path, f in sorted(files.items()):
        conn.put(f"{tmp}/{path}", f.content.encode(), f.mode, f.owner, f.group)
    key_dirs = sorted({f"{tmp}/{p.rsplit('/', 1)[0]}" for p, f in files.items() if f.owner == "opendkim"})
    if key_dirs:
        conn.run(["chown", "-R", "opendkim:opendkim", f"{tmp}/opendkim/keys"])
        conn.run(["chmod", "0700", *key_dirs, f"{tmp}/opendkim/keys"])
    # Postfix reads a main.cf changed within the last second again every 0.3 s until it is older ("to let
    # it finish changing"): dated two seconds back (the host's clock), the release is checked and loaded at once.
    conn.run(["find", tmp, "-exec", "touch", "-h", "-d", "2 seconds ago", "{}", "+"])
    conn.put(f"{tmp}/.complete", b"")
    conn.run(["mv", "-T", tmp, f"{RELEASES}/{name}"])
    return name


def validate(conn: Connection, name: str) -> None:
    release_dir = f"{RELEASES}/{name}"
    checked = f"{release_dir}/.policyd-rate-limit-check.yaml"  # the day's file this release would give
    # opendkim.conf names its tables under `current`; check a copy that names the staged ones instead.
    conn.run(
        [
            "sh",
            "-c",
            'sed "s#$1/#$2/#g" "$2/opendkim/opendkim.conf" > "$2/.opendkim-check.conf"',
            "sh",
            CURRENT,
            release_dir,
        ]
    )
    checks = [
        ["postconf", "-c", f"{release_dir}/postfix", "-n"],
        ["postconf", "-c", f"{release_dir}/postfix", "-M"],
        ["doveconf", "-c", f"{release_dir}/dovecot/dovecot.conf", "-n"],
        ["opendkim", "-n", "-x", f"{release_dir}/.opendkim-check.conf"],
        ["opendmarc", "-n", "-c", f"{release_dir}/opendmarc/opendmarc.conf"],
        ["sh", "-c", f"{warmup_caps(release_dir, checked)} && policyd-rate-limit -f {checked} --get-config SOCKET"],
        ["/usr/bin/python3", "-c", _COMPILES_WITH_MILTER, f"{release_dir}/{FROM_GUARD_SCRIPT}"],
        ["/usr/bin/python3", "-c", _LOADS_STS_CONFIG, f"{release_dir}/{STS_RESOLVER_CONFIG}"],
        ["nginx", "-q", "-t", "-c", f"{release_dir}/nginx/nginx.conf"],
        ["unbound-checkconf", f"{release_dir}/{UNBOUND_CONFIG}"],
    ]
    _, out, _ = conn.run(all_at_once(checks), check=False)
    problems = refusals(checks, out)
    if problems:
        raise ConfigRejected("the new configuration was refused before activation:\n" + "\n".join(problems))


def all_at_once(commands: list[list[str]]) -> str:
    """One script that runs `commands` at the same time (postconf -n alone takes over a second) and then
    prints, in their order, each one's `<index> <exit status>` line, its stderr and a NUL."""
    started = "\n".join(
        f'( {shlex.join(argv)} >/dev/null 2>"$d/{i}.err"; echo $? >"$d/{i}.rc" ) &' for i, argv in enumerate(commands)
    )
    return (
        f"d=$(mktemp -d)\n{started}\nwait\nfor i in $(seq 0 {len(commands) - 1}); do "
        'printf "%s %s\\n" "$i" "$(cat "$d/$i.rc")"; cat "$d/$i.err"; printf "\\0"; done\nrm -rf "$d"'
    )


def refusals(commands: list[list[str]], out: str) -> list[str]:
    """What `all_at_once(commands)` printed -> one line per command that failed or warned, in order; a
    command it did not report (the script was cut short) is a refusal too."""
    reported: dict[int, tuple[int, str]] = {}
    for block in out.split("\0"):
        head, _, err = block.lstrip("\n").partition("\n")
        index, _, code = head.partition(" ")
        if index.isdigit() and code.strip().isdigit():
            reported[int(index)] = (int(code), err)
    problems = []
    for i, argv in enumerate(commands):
        status, err = reported.get(i, (-1, "no result"))
        if status != 0 or "warning" in err.lower() or "error" in err.lower():
            problems.append(f"{argv[0]}: {err.strip() or f'exit status {status}'}")
    return problems


def _alive(pidfile: str) -> str:
    """True in sh when the process its pid file names runs."""
    return f'kill -0 "$(cat {pidfile} 2>/dev/null)" 2>/dev/null'


def _stop(pidfile: str, signal: str = "") -> str:
    """Signals the process its pid file names (SIGTERM unless told) and waits until it is gone."""
    kill = f"kill -{signal}" if signal else "kill"
    return f'{kill} "$(cat {pidfile})"; while {_alive(pidfile)}; do sleep 0.2; done'


def _restarted(pidfile: str, start: str, signal: str = "") -> tuple[str, str, str]:
    """(is it running, restart it, start it) for a daemon that reads its files only when it starts."""
    return _alive(pidfile), f"{_stop(pidfile, signal)}; {start}", start


def warmup_caps(release_dir: str = CURRENT, out: str = RATE_LIMIT_LIVE, today: str = "") -> str:
    """The command that writes policyd-rate-limit's file of the day (`today`, YYYY-MM-DD, stands in for the
    clock): a release's limits with the warm-up caps of that day (warmup_caps.py)."""
    files = f"{release_dir}/{WARMUP_SCRIPT} {release_dir}/{RATE_LIMIT_CONFIG} {release_dir}/{WARMUP_SCHEDULE}"
    return f"/usr/bin/python3 {files} {out}" + (f" --today {shlex.quote(today)}" if today else "")


def _detached_rate_limit(config: str) -> str:
    return f"setsid -f policyd-rate-limit -f {config} >> {LOG_DIR}/policyd-rate-limit.log 2>&1 < /dev/null"


def rate_limit_daemon(today: str = "") -> tuple[str, str, str]:
    """(is it running, restart it, start it) for policyd-rate-limit with the caps of `today` (default: the
    clock's). It reads its file once: a reload is a restart, and SIGINT is how its own unit stops it."""
    return _restarted(RATE_LIMIT_PID, f"{warmup_caps(today=today)} && {_detached_rate_limit(RATE_LIMIT_LIVE)}", "INT")


# The resolver has no check mode: its own loader reads the file (and fails on what it cannot use), with
# the Debian python3 its package is installed for.
_LOADS_STS_CONFIG = "import sys; from postfix_mta_sts_resolver.utils import load_config; load_config(sys.argv[1])"
# It has no pid file either, nor a user switch: the shell that execs it records its pid, setpriv drops root.
_STS_LOG = f"{LOG_DIR}/mta-sts-daemon.log"
_DETACHED_STS_RESOLVER = (
    f"install -d /run/mta-sts && touch {_STS_LOG} && chown _mta-sts {_STS_LOG} && "
    # HOME is its own: aiohttp reads ~/.netrc, and root's is not readable by _mta-sts.
    f"setsid -f sh -c 'echo $$ > {STS_RESOLVER_PID}; exec env HOME=/var/lib/mta-sts "
    f"setpriv --reuid=_mta-sts --regid=_mta-sts --init-groups "
    f"mta-sts-daemon -c /etc/mta-sts-daemon.yml -l {_STS_LOG}' < /dev/null > /dev/null 2>&1"
)
# Our milter (render.FROM_GUARD_SCRIPT) runs as a user of its own, with Debian's python3 and python3-milter. It is
# compiled to check it, not run, and without writing __pycache__ into the release (its digests are its files').
_COMPILES_WITH_MILTER = "import sys, Milter; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')"
FROM_GUARD = "mailbox-iac-from-guard"
_FROM_GUARD_USER = "from-guard"
_FROM_GUARD_PID = "/run/mailbox-iac/from-guard.pid"
_FROM_GUARD_ARGV = f"/usr/bin/python3 {CURRENT}/{FROM_GUARD_SCRIPT} {FROM_GUARD_SOCKET} {CURRENT}/{SENDER_LOGINS}"
_DETACHED_FROM_GUARD = (
    f"install -d /run/mailbox-iac && setsid -f sh -c 'echo $$ > {_FROM_GUARD_PID}; exec setpriv "
    f"--reuid={_FROM_GUARD_USER} --regid={_FROM_GUARD_USER} --clear-groups {_FROM_GUARD_ARGV}' "
    f"< /dev/null >> {LOG_DIR}/from-guard.log 2>&1"
)
_FROM_GUARD_UNIT = f"""[Unit]
Description=mailbox-iac: the header From a mailbox may send with (milter)
Before=postfix.service

[Service]
User={_FROM_GUARD_USER}
Group={_FROM_GUARD_USER}
ExecStart={_FROM_GUARD_ARGV}
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""
# Debian's unit starts policyd-rate-limit with the release's file; ours makes it the day's, and a timer
# restarts it when a day turns (try-restart: a daemon that is stopped stays stopped).
WARMUP_DAY = "mailbox-iac-warmup-day"
_RATE_LIMIT_DROP_IN = f"""[Service]
ExecStartPre={warmup_caps()}
ExecStart=
ExecStart=/usr/bin/policyd-rate-limit -f {RATE_LIMIT_LIVE}
"""
_RATE_LIMIT_DROP_IN_DIR = "/etc/systemd/system/policyd-rate-limit.service.d"
_WARMUP_DAY_SERVICE = """[Unit]
Description=mailbox-iac: policyd-rate-limit restarted with a new day's warm-up caps

[Service]
Type=oneshot
ExecStart=/bin/systemctl try-restart policyd-rate-limit.service
"""
_WARMUP_DAY_TIMER = """[Unit]
Description=mailbox-iac: a new day's warm-up caps at 00:00 UTC

[Timer]
OnCalendar=*-*-* 00:00:05 UTC
Persistent=true

[Install]
WantedBy=timers.target
"""
UNITS = {
    f"/etc/systemd/system/{FROM_GUARD}.service": _FROM_GUARD_UNIT,
    f"{_RATE_LIMIT_DROP_IN_DIR}/mailbox-iac.conf": _RATE_LIMIT_DROP_IN,
    f"/etc/systemd/system/{WARMUP_DAY}.service": _WARMUP_DAY_SERVICE,
    f"/etc/systemd/system/{WARMUP_DAY}.timer": _WARMUP_DAY_TIMER,
}
# The resolver answers (a query for the root's NS, any NOERROR reply) within 10 s, or activation fails
# before /etc/resolv.conf names it. Written over in place: in a container it may be a bind mount.
_RESOLVER_ANSWERS = (
    "import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1); "
    f"s.sendto(bytes.fromhex('abcd010000010000000000000000020001'), ('{LOCAL}', 53)); r = s.recv(512); "
    "sys.exit(0 if r[:2] == bytes.fromhex('abcd') and r[3] & 15 == 0 else 1)"
)
_USE_LOCAL_RESOLVER = (
    f'i=0; until /usr/bin/python3 -c "{_RESOLVER_ANSWERS}" 2>/dev/null; do i=$((i+1)); '
    "[ $i -lt 50 ] || fail 'the local resolver (unbound) does not answer'; sleep 0.2; done\n"
    f"[ -e {ROOT}/original/resolv.conf ] || cp -L /etc/resolv.conf {ROOT}/original/resolv.conf\n"
    f"cmp -s {CURRENT}/{RESOLV_CONF} /etc/resolv.conf || {{ [ ! -L /etc/resolv.conf ] || rm -f /etc/resolv.conf; "
    f"cat {CURRENT}/{RESOLV_CONF} > /etc/resolv.conf; }} || fail 'pointing resolv.conf at the local resolver'"
)
# The daemons Postfix asks on every connection listen within 10 s of activation, or it fails naming them
# (a daemon that died right after starting would otherwise surface as every login's 4xx).
_LISTENERS = {
    "opendkim": OPENDKIM_MILTER,
    "opendmarc": OPENDMARC_MILTER,
    FROM_GUARD: FROM_GUARD_MILTER,
    "postfix-mta-sts-resolver": STS_RESOLVER,
}
# Read from the kernel's table of listening sockets, never by connecting: OpenDKIM 2.11 has been seen to
# crash on a first connection that sends nothing (trusteddomainproject/OpenDKIM#128).
_DEAF = (
    "import ipaddress; t = {l.split()[1] for l in open('/proc/net/tcp').readlines()[1:] if l.split()[3] == '0A'}; "
    "d = [n for n, p in "
    + repr({name: int(spec.rsplit(":", 1)[1]) for name, spec in _LISTENERS.items()})
    + f".items() if '%08X:%04X' % (int.from_bytes(ipaddress.ip_address('{LOCAL}').packed, 'little'), p) not in t]; "
    "print(' '.join(d)); raise SystemExit(1 if d else 0)"
)


def _daemons_listen(or_else: str) -> str:
    """Waits up to 10 s for them; then `or_else` runs (with $deaf: the daemons that do not listen)."""
    return (
        f'i=0; until deaf=$(/usr/bin/python3 -c "{_DEAF}"); do i=$((i+1)); '
        f"[ $i -lt 50 ] || {{ {or_else}; }}; sleep 0.2; done"
    )


_DETACHED_UNBOUND = f"setsid -f unbound -d -c /etc/unbound/unbound.conf >> {LOG_DIR}/unbound.log 2>&1 < /dev/null"
# Without systemd the daemons are driven directly: (is it running, reload it, start it).
DAEMONS = {
    "unbound": (_alive(UNBOUND_PID), f'kill -HUP "$(cat {UNBOUND_PID})"', _DETACHED_UNBOUND),
    "postfix": ("postfix status >/dev/null 2>&1", "postfix reload", "postfix start"),
    "dovecot": ("doveadm service status >/dev/null 2>&1", "doveadm reload", "dovecot"),
    "opendkim": (
        _alive("/run/opendkim/opendkim.pid"),
        'kill -USR1 "$(cat /run/opendkim/opendkim.pid)"',
        "install -d -o opendkim -g opendkim /run/opendkim && opendkim -x /etc/opendkim.conf",
    ),
    "opendmarc": (
        _alive("/run/opendmarc/opendmarc.pid"),
        'kill -USR1 "$(cat /run/opendmarc/opendmarc.pid)"',
        "install -d -o opendmarc -g opendmarc /run/opendmarc && opendmarc -c /etc/opendmarc.conf",
    ),
    "policyd-rate-limit": rate_limit_daemon(),
    "postfix-mta-sts-resolver": _restarted(STS_RESOLVER_PID, _DETACHED_STS_RESOLVER),
    FROM_GUARD: _restarted(_FROM_GUARD_PID, _DETACHED_FROM_GUARD),
    "nginx": (_alive("/run/nginx.pid"), "nginx -s reload", "nginx"),
}
RESTARTED = {"policyd-rate-limit", "postfix-mta-sts-resolver", FROM_GUARD}  # no reload under systemd either
SERVICES = (
    "unbound",
    "opendkim",
    "opendmarc",
    "policyd-rate-limit",
    "postfix-mta-sts-resolver",
    FROM_GUARD,
    "dovecot",
    "postfix",
    "nginx",
)


def activation_script(release: str, previous: str, changed: list[str], systemd: bool) -> str:
    """The script that switches releases on the host. Pure, so it can be read and tested."""

    def ensure(service: str, reload_it: bool) -> str:
        running, reload, start = (
            (
                f"systemctl is-active -q {service}",
                f"systemctl {'restart' if service in RESTARTED else 'reload'} {service}",
                f"systemctl enable --now {service}",
            )
            if systemd
            else DAEMONS[service]
        )
        return f"if {running}; then {reload if reload_it else 'true'}; else {start}; fi"

    links = "\n".join(
        f"[ -L {live} ] || {{ [ -e {live} ] && cp -a {live} {ROOT}/original/ 2>/dev/null; true; }}\n"
        f"ln -sfn {CURRENT}/{rel} {live}.mbx-new && mv -T {live}.mbx-new {live}"
        for rel, live in sorted(LINKS.items())
    )

    def switch(target: str) -> str:
        return f"ln -sfn releases/{target} {CURRENT}.new && mv -T {CURRENT}.new {CURRENT}"

    services = "\n".join(f"{ensure(s, s in changed)} || fail 'starting or reloading {s}'" for s in SERVICES)
    restarted = "\n".join(ensure(s, True) + " || true" for s in SERVICES)
    # the old release serves again once its daemons listen (whatever they do, the rollback goes on)
    rollback = f"{switch(previous)}\n{restarted}\n{_daemons_listen('break')}" if previous else "true"
    return f"""#!/bin/sh
# Switches this host to release {release}; written and started by mailbox-iac, detached from SSH.
R={RELEASES}/{release}
result() {{ echo "$1" > "$R/.result.tmp" && mv "$R/.result.tmp" "$R/.result"; }}
fail() {{
  {rollback}
  result "rolled back: $1"
  exit 1
}}
{links}
{switch(release)} || fail 'switching the current release'
postfix check || fail 'postfix check'
{services}
{_daemons_listen('fail "not listening: $deaf"')}
{_USE_LOCAL_RESOLVER}
cd {RELEASES} && ls -1t | grep -v -x -e {release} -e {previous or release} | tail -n +{KEEP_RELEASES} | xargs -r rm -rf
result ok
"""


def start_activation(conn: Connection, release: str, previous: str, changed: list[str], systemd: bool) -> None:
    """Starts the activation script on the host, detached; `wait_for_activation` reads how it ended."""
    release_dir = f"{RELEASES}/{release}"
    conn.put(f"{release_dir}/.activate.sh", activation_script(release, previous, changed, systemd).encode(), 0o700)
    conn.run(["rm", "-f", f"{release_dir}/.result"])
    conn.run(f"setsid -f sh {release_dir}/.activate.sh > {release_dir}/.activate.log 2>&1 < /dev/null")


def wait_for_activation(conn: Connection, release: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = conn.read(f"{RELEASES}/{release}/.result")
        if result is not None:
            if result.strip() != b"ok":
                log = (conn.read(f"{RELEASES}/{release}/.activate.log") or b"").decode("utf-8", "replace")
                raise ActivationFailed(f"release {release}: {result.decode().strip()}\n{log[-2000:]}")
            return
        time.sleep(0.2)
    raise ActivationFailed(f"release {release} did not finish activating within {timeout:.0f}s")


def live_digests(conn: Connection) -> dict[str, str]:
    """{path relative to the release: sha256} of what the live links point at; missing links are absent.
    A file edited by hand on the server shows up here as a different digest (drift). Only the links of
    files the live release has are read: a release made by an older version lacks the newer ones."""
    release = facts.digests_of(CURRENT).read(conn)
    return release | {rel: v for rel, v in facts.LINK_TARGETS.read(conn).items() if rel in release}


def converge(
    conn: Connection,
    plan: MailHostPlan,
    release: str,
    files: dict[str, File],
    operator_networks: Sequence[str] = (),
) -> tuple[dict[str, str], dict[str, str]]:
    """The whole apply, hardening included. Returns the live digests and hardening status afterwards."""
    host = facts.HOST.read(conn)
    prepare(conn, host, plan.hostname, plan.policy_hosts)
    before = live_digests(conn)
    name = stage(conn, release, files)
    validate(conn, name)
    changed = services_changed(before, {p: f.sha256 for p, f in files.items()})
    previous = host.current_release if host.current_release != name else ""
    try:
        start_activation(conn, name, previous, changed, host.systemd)
    except RemoteCommandFailed as exc:
        raise ActivationFailed(str(exc)) from None
    # The hardening does not depend on the release: applied while the activation starts the daemons (most
    # of its second is spent waiting for them), and read back before its result.
    hardening = harden.harden(conn, host.systemd, operator_networks)
    wait_for_activation(conn, name)
    return live_digests(conn), hardening


def restore_script() -> str:
    """Undo mailbox-iac on a host: the package's original files back in place, daemons reloaded, releases
    removed. Accounts and delivered mail stay where they are."""
    restore = "\n".join(
        f"if [ -L {live} ]; then if [ -e {ROOT}/original/{live.rsplit('/', 1)[1]} ]; then "
        f"cp -a {ROOT}/original/{live.rsplit('/', 1)[1]} {live}.mbx-old && mv -T {live}.mbx-old {live}; "
        f"else rm -f {live}; fi; fi"
        for live in LINKS.values()
    )
    # policyd-rate-limit goes back to the file Debian's unit gives it, our milter is stopped: nothing refers to it.
    debian_rate_limit = _restarted(RATE_LIMIT_PID, _detached_rate_limit(LINKS[RATE_LIMIT_CONFIG]), "INT")
    daemons = DAEMONS | {"policyd-rate-limit": debian_rate_limit}
    reload = "\n".join(
        f"if {running}; then {again}; fi" for service, (running, again, _) in daemons.items() if service != FROM_GUARD
    )
    stop = f"if {_alive(_FROM_GUARD_PID)}; then {_stop(_FROM_GUARD_PID)}; fi"
    systemd = "[ -d /run/systemd/system ]"
    units = (
        f"if {systemd}; then systemctl disable -q --now {WARMUP_DAY}.timer || true; fi\n"
        f"rm -f {' '.join(sorted(UNITS))} {RATE_LIMIT_LIVE}\nif {systemd}; then systemctl daemon-reload; fi"
    )
    resolv = f"if [ -e {ROOT}/original/resolv.conf ]; then cat {ROOT}/original/resolv.conf > /etc/resolv.conf; fi"
    return f"set -u\n{resolv}\n{restore}\n{reload}\n{stop}\n{units}\nrm -rf {CURRENT} {RELEASES}\n"
