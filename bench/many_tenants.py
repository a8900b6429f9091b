"""Many tenants on the sandbox: N tenants x 5 mailboxes converged with `up --tenants` at several
--parallel levels, each on a fresh sandbox (Hostwinds build delay 0). Prints wall time, peak memory and
the request rate the Hostwinds emulator saw. Needs root. Asserts nothing.

    .venv/bin/python bench/many_tenants.py --tenants 50 --parallel 1,5,10,20
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailbox_iac.engine import Engine  # noqa: E402
from mailbox_iac.ops.many import run_many  # noqa: E402
from mailbox_iac.sandbox import run  # noqa: E402
from tests.e2e.test_many import tenant_files  # noqa: E402

MAILBOXES = ("ann", "bo", "cy", "di", "ed")


def once(count: int, parallel: int) -> None:
    project = Path(tempfile.mkdtemp(prefix="mbx-many-"))
    shutil.copy(ROOT / "Pulumi.yaml", project)
    (project / "specs").mkdir()
    (project / "stacks").mkdir()
    tenants = [f"b{i:03d}" for i in range(count)]
    zones = [tenant_files(project, t, MAILBOXES) for t in tenants]
    info = run.up(project, zones, build_seconds=0)
    try:
        engine = Engine.local(run.state_dir(project), project, env=run.environment(info))
        start = time.perf_counter()
        runs = run_many(tenants, engine, project / ".state/logs", parallel)
        wall = time.perf_counter() - start
        state = httpx.get(info["hostwinds_url"].replace("/cloud/api.php", "/_emulator/state")).json()
        converged = sum(r.status == "converged" for r in runs)
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"parallel {parallel:>2}: {converged}/{count} converged in {wall:6.1f} s; peak RSS of the runner "
            f"(every inline program runs in it) {own:.0f} MB; Hostwinds requests {state['requests']['total']}, "
            f"mean {state['requests']['total'] / wall:.2f}/s, max {state['requests']['max_per_second']} in any 1 s",
            flush=True,
        )
        for r in runs:
            if r.status != "converged":
                print(f"    {r.tenant}: {r.status} after {r.attempts} attempt(s): {r.error}", flush=True)
    finally:
        run.down(project)
        shutil.rmtree(project, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--parallel", default="1,5,10,20")
    args = parser.parse_args()
    for level in (int(p) for p in args.parallel.split(",")):
        once(args.tenants, level)


if __name__ == "__main__":
    main()
