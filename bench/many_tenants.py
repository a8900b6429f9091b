"""Many tenants on the sandbox: N tenants x 5 mailboxes converged with `up --tenants` at several
--parallel levels, each on a fresh sandbox (Hostwinds build delay 0). Prints wall time, peak memory, the
request rate the Hostwinds emulator saw, and the Cloudflare calls per tenant (answered and refused 429)
of the `up` and of a no-op `mailbox-iac drift --tenants all` after it. Needs root. Asserts nothing.

    .venv/bin/python bench/many_tenants.py --tenants 50 --parallel 1,5,10,20
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
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
        up_calls = cloudflare_calls(info)
        drift = subprocess.run(
            [sys.executable, "-m", "mailbox_iac", "drift", "--tenants", "all", "--sandbox", "--format", "json"],
            cwd=project,
            capture_output=True,
            text=True,
        )
        answered, refused = (now - before for now, before in zip(cloudflare_calls(info), up_calls, strict=True))
        print(
            f"            Cloudflare calls per tenant: up {up_calls[0] / count:.1f} ({up_calls[1]} refused); "
            f"no-op drift (exit {drift.returncode}) {answered / count:.1f} ({refused} refused)",
            flush=True,
        )
    finally:
        run.down(project)
        shutil.rmtree(project, ignore_errors=True)


def cloudflare_calls(info: dict[str, str]) -> tuple[int, int]:
    """(answered, refused with 429) by the Cloudflare emulator so far, all tokens."""
    state = httpx.get(info["cloudflare_url"].replace("/client/v4", "/_emulator/state")).json()
    return sum(state["answered"].values()), sum(state["refused"].values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--parallel", default="1,5,10,20")
    args = parser.parse_args()
    for level in (int(p) for p in args.parallel.split(",")):
        once(args.tenants, level)


if __name__ == "__main__":
    main()
