"""The Cloudflare and DNS side of a fleet-wide no-op drift: N generated tenants (2 domains, 5 mailboxes
each, planned by the real planner), their planned records published in the sandbox's Cloudflare emulator
as `up` would leave them, then drift's record layer (`ops.drift.dns_findings`: every deployed record
asked of the zone's servers, one paged Cloudflare listing per zone) for every tenant, `--parallel` tenants
at once, through the machine-wide Cloudflare budget, against the emulator's limit of Cloudflare's published
1,200 requests per 5 minutes. Prints the calls per tenant, the 429s (the target is none) and the findings
(a no-op: none). `--runs 2` drifts twice back to back: past 1,200 calls the budget waits instead of a
429. Needs root (the sandbox). Asserts nothing.

The servers and mail hosts are not booted (200 full mail hosts would need ~37 GB): their layer of drift
is one SSH session per host and no Cloudflare call (`bench/fleet.py` counts it).

    .venv/bin/python bench/fleet_drift.py --tenants 200
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailbox_iac import cloudflare_api, keys  # noqa: E402
from mailbox_iac.ops import drift  # noqa: E402
from mailbox_iac.plan.model import Facts  # noqa: E402
from mailbox_iac.plan.planner import plan  # noqa: E402
from mailbox_iac.sandbox import run  # noqa: E402
from mailbox_iac.spec.model import TenantSpec  # noqa: E402
from mailbox_iac.spec.resolve import resolve  # noqa: E402

MAILBOXES = ("ann", "bo", "cy", "di", "ed")
SEEDER = "bench-seeding-token-000000000000000"  # the emulator's own token for seeding, not a secret


def tenant(i: int) -> TenantSpec:
    domains = [f"f{i:03d}-a.example", f"f{i:03d}-b.example"]
    return TenantSpec.model_validate(
        {
            "tenant": f"f{i:03d}",
            "servers": {"mx1": {"hostname": f"mail.{domains[0]}", "location": 12, "plan": 52, "image": "debian-12"}},
            "domains": [{"name": d, "mailboxes": list(MAILBOXES[n::2])} for n, d in enumerate(domains)],
        }
    )


def publish(emulator: httpx.Client, count: int) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Each tenant's planned records created in the emulator; tenant -> zone -> deployed rows, the shape
    `checkpoint.record_rows` reads from a stack's checkpoint."""
    _, dkim_public = keys.dkim_key(1024)  # one key for all: only the record's size matters here
    deployed: dict[str, dict[str, list[dict[str, Any]]]] = {}
    zone_ids: dict[str, str] = {}
    for i in range(count):
        spec, problems = resolve(tenant(i))
        assert not problems, problems
        facts = Facts(
            server_ips={"mx1": str(run.NETWORK[100 + i % 100])},  # content only: no host is booted
            dkim_public_keys={(d.name, d.dkim.selector): dkim_public for d in spec.domains},
        )
        rows = deployed.setdefault(spec.tenant, {})
        for record in plan(spec, facts).dns_records:
            if record.zone not in zone_ids:
                zone_ids[record.zone] = emulator.get("/zones", params={"name": record.zone}).json()["result"][0]["id"]
            body = {"name": record.name, "type": record.type, "content": record.content, "ttl": record.ttl}
            if record.priority is not None:
                body["priority"] = record.priority
            made = emulator.post(f"/zones/{zone_ids[record.zone]}/dns_records", json=body)
            made.raise_for_status()
            row = {**body, "priority": record.priority or 0, "id": made.json()["result"]["id"], "resource": record.key}
            rows.setdefault(record.zone, []).append(row)
    return deployed


def calls(admin: httpx.Client) -> tuple[int, int]:
    """(answered, refused with 429) for the sandbox's own token, the one drift uses."""
    state = admin.get("/_emulator/state").json()
    mine = run.CLOUDFLARE_TOKEN[:6] + "..."
    return state["answered"].get(mine, 0), state["refused"].get(mine, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=10, help="tenants read at once (up --tenants' default)")
    parser.add_argument("--runs", type=int, default=1, help="drifts back to back (2 x 200 tenants > 1,200 calls)")
    args = parser.parse_args()
    project = Path(tempfile.mkdtemp(prefix="mbx-drift-"))
    shutil.copy(ROOT / "Pulumi.yaml", project)
    zones = [f"f{i:03d}-{x}.example" for i in range(args.tenants) for x in "ab"]
    info = run.up(project, zones, build_seconds=0)
    admin = httpx.Client(base_url=info["cloudflare_url"].replace("/client/v4", ""), timeout=30)
    try:
        # Seeding is a past `up`'s work, done with a token of its own so that drift's budget starts empty.
        admin.post("/_emulator/tokens", json={"token": SEEDER, "zones": None, "edit": True}).raise_for_status()
        admin.post("/_emulator/limits", json={"requests": 10**9}).raise_for_status()
        emulator = httpx.Client(base_url=info["cloudflare_url"], headers={"Authorization": f"Bearer {SEEDER}"})
        started = time.monotonic()
        deployed = publish(emulator, args.tenants)
        records = sum(len(rows) for zs in deployed.values() for rows in zs.values())
        seeded = time.monotonic() - started
        print(f"{args.tenants} tenants, {len(zones)} zones, {records} records published in {seeded:.1f} s")
        limits = admin.post("/_emulator/limits", json={"requests": 1200, "window": 300, "block": 300}).json()
        print(f"emulator limit: {limits['requests']} requests per {limits['window']:g} s per token")

        env = run.environment(info)
        cloudflare = cloudflare_api.client(env)
        before = calls(admin)

        def one(name: str) -> int:
            return len(drift.dns_findings(name, deployed[name], env["MAILBOX_IAC_DNS_RESOLVER"], cloudflare, []))

        for n in range(1, args.runs + 1):
            started = time.monotonic()
            with ThreadPoolExecutor(args.parallel) as pool:
                findings = sum(pool.map(one, sorted(deployed)))
            wall = time.monotonic() - started
            answered, refused = (now - then for now, then in zip(calls(admin), before, strict=True))
            print(f"no-op drift {n}, record layer: {args.tenants} tenants in {wall:.1f} s, {args.parallel} at a time")
            print(
                f"Cloudflare calls so far: {answered} = {answered / (n * args.tenants):.1f} per tenant and run, "
                f"{answered / (n * len(zones)):.1f} per zone; refused (429): {refused}; findings: {findings}"
            )
    finally:
        run.down(project)
        shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
