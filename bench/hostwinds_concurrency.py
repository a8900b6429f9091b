"""50 Instance creates at once through the Hostwinds provider against the emulator (1 s builds, 5% transient
faults). Prints successes, duplicates, wall time and the request rate the emulator saw. Asserts nothing.

    .venv/bin/python bench/hostwinds_concurrency.py [--creates 50] [--rate 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hostwinds_dynamic.provider import InstanceProvider
from mailbox_iac.sandbox.hostwinds import Faults, HostwindsEmulator, serve

DEBIAN = "b1e32484-ea0d-4875-921f-2d01fd7b4341"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creates", type=int, default=50)
    parser.add_argument("--rate", type=float, default=2.0, help="client rate limit, requests/s")
    args = parser.parse_args()

    emu = HostwindsEmulator("bench-key", build_seconds=1.0, faults=Faults(error_rate=0.025, http_5xx_rate=0.025))
    server = serve(emu)
    os.environ["HOSTWINDS_API_URL"] = f"http://127.0.0.1:{server.server_address[1]}/cloud/api.php"
    os.environ["HOSTWINDS_API_KEY"] = "bench-key"
    os.environ["HOSTWINDS_RATE_FILE"] = os.path.join(tempfile.mkdtemp(), "rate")
    provider = InstanceProvider(rate=args.rate, poll_interval=2.0, build_timeout=3600)

    def create(i: int) -> str:
        props = {"location_id": 12, "template": DEBIAN, "rid": 52, "srvrname": f"bench-{i:03d}", "ssh_keys": []}
        try:
            return str((provider.create(props).outs or {})["status"])
        except Exception as exc:
            return f"failed: {exc}"

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.creates) as pool:
        results = list(pool.map(create, range(args.creates)))
    wall = time.perf_counter() - start
    state = emu.state()
    names = Counter(i["srvrname"] for i in state["instances"])
    requests = state["requests"]
    print(f"creates: {args.creates} in parallel, client rate limit {args.rate}/s, 1 s builds, 5% transient faults")
    print(f"successes: {results.count('ACTIVE')}/{args.creates}")
    print(f"servers in emulator: {len(state['instances'])}, duplicates: {sum(n - 1 for n in names.values())}")
    print(f"wall time: {wall:.1f} s")
    print(
        f"requests: {requests['total']} ({dict(requests['by_action'])}); "
        f"mean {requests['total'] / wall:.2f}/s; max in any 1 s window: {requests['max_per_second']}"
    )
    for r in results:
        if r != "ACTIVE":
            print("  ", r)
    server.shutdown()


if __name__ == "__main__":
    main()
