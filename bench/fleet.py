"""What a fleet pays per tenant, on the sandbox: demo (1 host, 3 mailboxes, 2 zones) and globex (2 hosts,
50 mailboxes, 10 zones).

- Fresh up with a 30 s VPS build, against its critical path: the build plus the slowest single step that
  starts after it (the step timeline comes from the engine's events). Target: <= 1.2.
- A no-op preview, in process, against the engine's floor: a stack of as many trivial dynamic resources
  (create and diff return at once) in the same engine, backend and Automation API setup, with the SDK as
  installed (without what sdk_tuning.py takes off our program). Target: <= 1.5.
- A no-op `mailbox-iac drift` as a whole process: wall time, SSH logins on its hosts (their sshd's
  auth.log), Cloudflare calls (the emulator's count) and Hostwinds calls. Targets: <= 2 logins per host,
  <= 2 calls per zone.

Needs root. Prints figures; asserts nothing.

    .venv/bin/python bench/fleet.py [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pulumi
import pulumi.dynamic
import pulumi.log
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pulumi import automation as auto  # noqa: E402
from pulumi.runtime import resource  # noqa: E402

from mailbox_iac.engine import Engine  # noqa: E402
from mailbox_iac.ops import up as converging  # noqa: E402
from mailbox_iac.program import main as tenant_program  # noqa: E402
from mailbox_iac.sandbox import run  # noqa: E402

TENANTS = ("demo", "globex")
STOCK_SDK = pulumi.log.debug, resource._get_stack_trace
BUILD_SECONDS = 30.0


class Timeline:
    """When each step of an `up` started and ended (by resource name), from the engine's events."""

    def __init__(self) -> None:
        self.steps: dict[str, list[float]] = {}

    def __call__(self, event: auto.EngineEvent) -> None:
        now = time.perf_counter()
        if event.resource_pre_event and event.resource_pre_event.metadata.op != auto.OpType.SAME:
            self.steps[event.resource_pre_event.metadata.urn.rsplit("::", 1)[-1]] = [now, now]
        elif event.res_outputs_event:
            name = event.res_outputs_event.metadata.urn.rsplit("::", 1)[-1]
            if name in self.steps:
                self.steps[name][1] = now

    def critical_path(self) -> tuple[float, str, float]:
        """(the VPS build, the slowest step that started after the last build ended, its duration)."""
        builds = [v for k, v in self.steps.items() if k.startswith("server-")]
        built = max(end for _, end in builds)
        later = [(end - begin, name) for name, (begin, end) in self.steps.items() if begin >= built]
        slowest, name = max(later, default=(0.0, "none"))
        return max(end - begin for begin, end in builds), name, slowest


class Trivial(pulumi.dynamic.ResourceProvider):
    """The floor's provider: nothing to do, ever (pickled by value: it lives in __main__)."""

    def create(self, props: Any) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_="x", outs=props)

    def diff(self, _id: str, olds: Any, news: Any) -> pulumi.dynamic.DiffResult:
        return pulumi.dynamic.DiffResult(changes=False)


class Nothing(pulumi.dynamic.Resource):
    def __init__(self, name: str, n: int) -> None:
        super().__init__(Trivial(), name, {"n": n})


def floor_program(count: int) -> None:
    for i in range(count):
        Nothing(f"r{i}", i)


@contextlib.contextmanager
def stock_sdk() -> Iterator[None]:
    """The SDK as installed, for the floor: our program's process skips two of its per-resource costs
    (mailbox_iac/sdk_tuning.py), and the floor runs in this same process after it."""
    tuned = pulumi.log.debug, resource._get_stack_trace
    pulumi.log.debug, resource._get_stack_trace = STOCK_SDK
    try:
        yield
    finally:
        pulumi.log.debug, resource._get_stack_trace = tuned


def best_preview(stack: auto.Stack, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        stack.preview(expect_no_changes=True, color="never")
        best = min(best, time.perf_counter() - start)
    return best


def noop_preview(engine: Engine, project: Path, tenant: str, runs: int) -> None:
    ours = engine.stack(tenant, lambda: tenant_program(project))
    count = len((ours.export_stack().deployment or {})["resources"])
    floor = engine.stack(f"floor-{tenant}", lambda: floor_program(count))
    with stock_sdk():
        floor.up(color="never")
        base = best_preview(floor, runs)
    mine = best_preview(ours, runs)
    print(
        f"{tenant:<7} no-op preview, in process ({count} resources): {mine:.2f} s vs floor {base:.2f} s = "
        f"{mine / base:.1f}x (target <= 1.5)",
        flush=True,
    )
    floor.destroy(color="never")


def fresh_up(engine: Engine, project: Path, tenant: str, show: bool) -> None:
    timeline = Timeline()
    start = time.perf_counter()
    converging.up(engine, tenant, lambda _: None, lambda _: None, on_event=timeline)
    wall = time.perf_counter() - start
    build, step, slowest = timeline.critical_path()
    print(
        f"{tenant:<7} fresh up: {wall:.1f} s; critical path {build + slowest:.1f} s (VPS build {build:.1f} s + "
        f"slowest later step {step} {slowest:.1f} s); ratio {wall / (build + slowest):.2f} (target <= 1.2)",
        flush=True,
    )
    for name, (begin, end) in sorted(timeline.steps.items(), key=lambda s: s[1]) if show else ():
        print(f"    {begin - start:6.1f} -> {end - start:6.1f}  {name}")


def _state(info: dict[str, Any], api: str) -> Any:
    url = info["hostwinds_url"].replace("/cloud/api.php", "") if api == "hostwinds" else info["cloudflare_url"]
    return httpx.get(url.replace("/client/v4", "") + "/_emulator/state").json()


def _logins(project: Path, info: dict[str, Any], tenant: str) -> int:
    servers = [i for i in _state(info, "hostwinds")["instances"] if i["srvrname"].startswith(f"mbx-{tenant}-")]
    logs = [project / ".state/sandbox/vps" / str(s["serviceid"]) / "var/log/auth.log" for s in servers]
    return sum(log.read_text().count("Accepted publickey") for log in logs if log.exists())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="no-op drift runs per tenant (the best is shown)")
    parser.add_argument("--timeline", action="store_true", help="print each step of the fresh ups: start -> end")
    parser.add_argument("--tenants", default=",".join(TENANTS), help="which of demo,globex")
    parser.add_argument("--measure", default="preview,drift", help="after the fresh ups: preview, drift or both")
    args = parser.parse_args()
    tenants = args.tenants.split(",")
    project = Path(tempfile.mkdtemp(prefix="mbx-fleet-"))
    shutil.copy(ROOT / "Pulumi.yaml", project)
    for d in ("specs", "stacks"):
        (project / d).mkdir()
    zones: dict[str, list[str]] = {}
    for tenant in tenants:
        shutil.copy(ROOT / "specs" / f"{tenant}.yaml", project / "specs")
        stack = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{tenant}.yaml").read_text())
        stack["config"] |= {"mailbox-iac:protectServers": "false", "mailbox-iac:hostwindsPollSeconds": "0.5"}
        (project / "stacks" / f"Pulumi.{tenant}.yaml").write_text(yaml.safe_dump(stack))
        zones[tenant] = stack["config"]["mailbox-iac:allowedZones"]
    info = run.up(project, sorted({z for zs in zones.values() for z in zs}), build_seconds=BUILD_SECONDS)
    try:
        engine = Engine.local(run.state_dir(project), project, env=run.environment(info))
        for tenant in tenants:
            fresh_up(engine, project, tenant, args.timeline)
        for tenant in tenants if "preview" in args.measure else ():
            noop_preview(engine, project, tenant, args.runs)
        for tenant in tenants if "drift" in args.measure else ():
            best = float("inf")
            for _ in range(args.runs):
                logins, cf = _logins(project, info, tenant), sum(_state(info, "cloudflare")["answered"].values())
                hw = _state(info, "hostwinds")["requests"]["total"]
                argv = [sys.executable, "-m", "mailbox_iac", "drift", "--tenants", tenant, "--sandbox", "--format"]
                start = time.perf_counter()
                done = subprocess.run([*argv, "json"], cwd=project, capture_output=True, text=True)
                best = min(best, time.perf_counter() - start)
                findings = json.loads(done.stdout)["findings"] if done.returncode in (0, 2) else done.stderr[-300:]
                print(
                    f"{tenant:<7} no-op drift: exit {done.returncode}, {len(findings)} finding(s); SSH logins "
                    f"{_logins(project, info, tenant) - logins}, Cloudflare calls "
                    f"{sum(_state(info, 'cloudflare')['answered'].values()) - cf} for {len(zones[tenant])} zone(s), "
                    f"Hostwinds "
                    f"calls {_state(info, 'hostwinds')['requests']['total'] - hw}",
                    flush=True,
                )
            print(f"{tenant:<7} no-op drift, whole process: best of {args.runs} {best:.1f} s", flush=True)
    finally:
        run.down(project)
        shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
