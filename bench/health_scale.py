"""`health` over a fleet on the sandbox: N tenants x 5 mailboxes on 2 domains each, one real host (a sandbox
VPS running sshd) per tenant, their records in the Cloudflare emulator's zones. Runs `ops.health.check` as
the command does, through a DNS forwarder that counts every question, and counts the SSH logins each
host's sshd logged. Prints wall time, DNS questions per (server + domain) and SSH logins per host.
Needs root. Asserts nothing.

The hosts run no mail daemons (booting 50 mail hosts takes ~9 GB): their ports in answer with a refusal,
so the figures are the cost of asking, not of a healthy fleet.

    .venv/bin/python bench/health_scale.py --tenants 50
"""

from __future__ import annotations

import argparse
import ipaddress
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailbox_iac import checkpoint, keys  # noqa: E402
from mailbox_iac.checks.dns import asking as dns_asking  # noqa: E402
from mailbox_iac.checks.login import trusted_tls  # noqa: E402
from mailbox_iac.ops import health  # noqa: E402
from mailbox_iac.ops.health_config import HealthConfig  # noqa: E402
from mailbox_iac.sandbox import run  # noqa: E402
from mailbox_iac.sandbox.dnsserver import DnsServer  # noqa: E402
from mailbox_iac.sandbox.vps import Vps  # noqa: E402

MAILBOXES = ("ann", "bo", "cy", "di", "ed")
FIRST_HOST = 100  # 198.51.100.100 on: outside the Hostwinds emulator's first addresses


class Counting:
    """A DNS forwarder to the sandbox's server that counts the questions it is asked."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream, self.port, self.asked = host, int(port), 0
        self.lock = threading.Lock()
        self.server = DnsServer(self.lookup)

    def lookup(self, name: str, rdtype: str) -> tuple[int, list[tuple[str, int]]]:
        with self.lock:
            self.asked += 1
        reply = dns.query.udp(dns.message.make_query(name, rdtype), self.upstream, timeout=5, port=self.port)
        wanted = dns.rdatatype.from_text(rdtype)
        found = [(r.to_text(), rrset.ttl) for rrset in reply.answer if rrset.rdtype == wanted for r in rrset]
        return reply.rcode(), found


def records(domain: str, ip: str, hostname: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"name": domain, "type": "MX", "content": hostname, "priority": 10},
        {"name": domain, "type": "TXT", "content": '"v=spf1 mx -all"'},
        {"name": f"_dmarc.{domain}", "type": "TXT", "content": '"v=DMARC1; p=reject"'},
        {"name": f"s1._domainkey.{domain}", "type": "TXT", "content": '"v=DKIM1; k=ed25519; p=AAAA"'},
    ]
    if hostname.endswith("." + domain):
        rows.append({"name": hostname, "type": "A", "content": ip})
    return rows


def fleet(project: Path, info: dict[str, Any], count: int, public_key: str, private_key: str) -> list[health.Subjects]:
    """Boot one host per tenant, publish its records, and return what `health` would read of each stack."""
    cloudflare = httpx.Client(
        base_url=info["cloudflare_url"], headers={"Authorization": f"Bearer {run.CLOUDFLARE_TOKEN}"}
    )
    gateway = str(ipaddress.ip_interface(run.GATEWAY).ip)
    subjects = []
    for i in range(count):
        tenant, domains = f"h{i:03d}", [f"h{i:03d}-a.example", f"h{i:03d}-b.example"]
        ip, hostname = str(run.NETWORK[FIRST_HOST + i]), f"mail.{domains[0]}"
        host = Vps(f"bench{i}", ip, hostname, run.state_dir(project) / "vps" / f"bench{i}")
        host.start([public_key], run.GATEWAY, nameserver=gateway, roots=Path(info["tls_roots"]))
        resources: list[dict[str, Any]] = [
            {
                "type": checkpoint.MAIL_HOST,
                "outputs": {"host": ip, "port": 22, "user": "root", "private_key": private_key},
            }
        ]
        for domain in domains:
            [zone] = cloudflare.get("/zones", params={"name": domain}).json()["result"]
            for row in records(domain, ip, hostname):
                cloudflare.post(f"/zones/{zone['id']}/dns_records", json={**row, "ttl": 1}).raise_for_status()
                resources.append({"type": checkpoint.DNS_RECORD, "outputs": {**row, "ttl": 1}})
        outputs = {
            "servers": {"mx1": {"ip": ip, "hostname": hostname}},
            "mailboxes": {
                f"{m}@{d}": {"domain": d, "server": "mx1"} for n, d in enumerate(domains) for m in MAILBOXES[n::2]
            },
        }
        subjects.append(health.subjects(tenant, outputs, {"resources": resources}, domains))
    return subjects


def logins(project: Path) -> int:
    logs = (run.state_dir(project) / "vps").glob("bench*/var/log/auth.log")
    return sum(p.read_text(errors="replace").count("Accepted publickey") for p in logs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=50)
    args = parser.parse_args()
    project = Path(tempfile.mkdtemp(prefix="mbx-health-"))
    shutil.copy(ROOT / "Pulumi.yaml", project)
    zones = [f"h{i:03d}-{x}.example" for i in range(args.tenants) for x in "ab"]
    info = run.up(project, zones, build_seconds=0)
    try:
        private_key, public_key = keys.ssh_key("bench")
        started = time.monotonic()
        subjects = fleet(project, info, args.tenants, public_key, private_key)
        print(f"{args.tenants} hosts booted, records published in {time.monotonic() - started:.1f} s")
        counter = Counting(info["dns"])
        asking = health.Asking(
            HealthConfig(outbound_probe=info["receiver"]),
            dns_asking(counter.server.address),
            counter.server.address,
            trusted_tls(info["tls_roots"]),
            datetime.now(UTC),
        )
        before = logins(project)
        started = time.monotonic()
        results = health.check(subjects, asking)
        wall = time.monotonic() - started
        servers = sum(len(s.hosts) for s in subjects)
        domains = sum(len(s.domains) for s in subjects)
        mailboxes = args.tenants * len(MAILBOXES)
        ran = sum(len(r) for r in results.values())
        ssh = logins(project) - before
        print(f"fleet: {args.tenants} tenants, {servers} servers, {domains} domains, {mailboxes} mailboxes")
        print(f"health: {ran} checks in {wall:.1f} s, {health.QUESTIONS_AT_ONCE} at a time")
        print(f"DNS questions: {counter.asked} = {counter.asked / (servers + domains):.2f} per (server + domain)")
        print(f"SSH logins: {ssh} = {ssh / servers:.2f} per host")
        failed = Counter(r.check.id for rs in results.values() for r in rs if not r.ok)
        print(f"not ok (these hosts run no mail daemons): {dict(sorted(failed.items()))}")
        counter.server.close()
    finally:
        run.down(project)
        shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
