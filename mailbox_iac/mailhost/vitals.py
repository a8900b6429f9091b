"""What `health` reads from a running mail host in one command: whether it can open port 25 to another
server (VPS providers close it; Mail-in-a-Box probes Google's MX the same way), the name it says HELO with,
its deferred queue and the bounces its log holds. The command never fails; the parser reads what it says."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbox_iac.mailhost import facts
from mailbox_iac.mailhost.render import LOG_DIR

PROBE_SECONDS = 8  # a provider that drops port 25 shows as a timeout after this long
DEFAULT_PROBE = "aspmx.l.google.com:25"


@dataclass(frozen=True)
class Vitals:
    now: datetime  # the host's clock, which its log's timestamps are read against
    outbound: str  # the probe target's greeting ("220 ..."), or why there was none
    outbound_ok: bool
    helo: str  # smtp_helo_name, expanded
    deferred: int  # messages in the deferred queue
    bounced: tuple[datetime, ...]  # when each `status=bounced` line of the mail log was written

    def bounces_within(self, window: timedelta, until: datetime) -> int:
        return sum(until - window < t <= until for t in self.bounced)


def _log_time(stamp: str, now: datetime) -> datetime | None:
    """A syslog-style "Dec  5 08:58:03" (no year) as the latest such moment not after the host's `now`."""
    try:
        parsed = datetime.strptime(f"{now.year} {stamp}", "%Y %b %d %H:%M:%S").replace(tzinfo=now.tzinfo)
    except ValueError:
        return None
    return parsed.replace(year=now.year - 1) if parsed > now + timedelta(days=1) else parsed


def parse_vitals(_status: int, out: str) -> Vitals:
    values = facts.pairs("\n".join(line for line in out.splitlines() if not line.startswith("bounced=")))
    zone = datetime.strptime(values.get("zone", "").strip() or "+0000", "%z").tzinfo
    now = datetime.fromtimestamp(int(values.get("now") or 0), zone)
    stamps = [line.removeprefix("bounced=") for line in out.splitlines() if line.startswith("bounced=")]
    status = values.get("outbound_status", "")
    said = values.get("outbound", "").strip()
    ok = status == "0" and said.startswith("220")
    if status == "124":
        said = f"no answer within {PROBE_SECONDS} s (the connection is dropped on the way)"
    elif status == "3":  # bash's "host: connect: Connection refused"
        said = f"no connection: {said.rsplit(': ', 1)[-1]}"
    elif not ok:
        said = said or f"the probe ended with status {status or 'unknown'}"
    return Vitals(
        now=now,
        outbound=said[:200],
        outbound_ok=ok,
        helo=values.get("helo", "").strip().lower(),
        deferred=int(values.get("deferred") or 0),
        bounced=tuple(t for t in (_log_time(s, now) for s in stamps) if t is not None),
    )


_PROBE = (  # $0 host, $1 port: the first line the target says, then a polite QUIT
    'exec 3<>"/dev/tcp/$0/$1" || exit 3; IFS= read -r -t 6 line <&3 || exit 4; '
    "printf 'QUIT\\r\\n' >&3; printf '%s' \"${line%$'\\r'}\""
)


def of(target: str) -> facts.Reader[Vitals]:
    """The reader probing `target` ("host" or "host:port"; a name or an IPv4 address)."""
    host, _, port = target.partition(":")
    port = port or "25"
    probe = f"timeout {PROBE_SECONDS} bash -c {shlex.quote(_PROBE)} {shlex.quote(host)} {shlex.quote(port)}"
    return facts.Reader(
        "echo now=$(date +%s); echo zone=$(date +%z); "
        "echo helo=$(postconf -xh smtp_helo_name 2>/dev/null); "
        f"said=$({probe} 2>&1); echo outbound_status=$?; "
        "echo \"outbound=$(printf '%s' \"$said\" | head -n 1 | head -c 300 | tr -d '\\r')\"; "
        'echo deferred=$(postqueue -j 2>/dev/null | grep -c \'"queue_name": *"deferred"\'); '
        f"cat {LOG_DIR}/postfix.log {LOG_DIR}/postfix.log.[0-9]* 2>/dev/null "
        "| grep ' status=bounced ' | cut -c1-15 | sed 's/^/bounced=/' | tail -n 100000",
        parse_vitals,
    )
