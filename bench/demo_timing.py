"""Wall time of a fresh `up`, a no-op `preview`, and an `up` that adds one mailbox, for the demo tenant
and for globex (2 servers, 50 mailboxes), on the sandbox with Hostwinds build delays at 0, so the
figures are mailbox-iac's and Pulumi's own overhead. Needs root (sandbox). Prints figures only.

    .venv/bin/python bench/demo_timing.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hostwinds_dynamic.client import HostwindsClient  # noqa: E402
from mailbox_iac import keys  # noqa: E402
from mailbox_iac.engine import Engine  # noqa: E402
from mailbox_iac.program import main as tenant_program  # noqa: E402
from mailbox_iac.sandbox import run  # noqa: E402
from mailbox_iac.spec.load import load_file  # noqa: E402


def timed(label: str, fn: Callable[[], object]) -> None:
    start = time.perf_counter()
    fn()
    print(f"  {label:<28} {time.perf_counter() - start:7.1f} s", flush=True)


def measure(engine: Engine, tenant: str, spec: Path, grow: Callable[[str], str]) -> None:
    print(f"{tenant} ({sum(len(d.mailboxes) for d in load_file(spec).tenant.domains)} mailboxes)")
    stack = engine.stack(tenant, lambda: tenant_program(engine.project_dir))
    timed("fresh up", lambda: stack.up(show_secrets=False, color="never"))
    timed("no-op preview", lambda: stack.preview(expect_no_changes=True, color="never"))
    spec.write_text(grow(spec.read_text()))
    timed("up adding one mailbox", lambda: stack.up(show_secrets=False, color="never"))
    stack.destroy(show_secrets=False, color="never")


def main() -> None:
    project = Path(tempfile.mkdtemp(prefix="mbx-bench-"))
    shutil.copy(ROOT / "Pulumi.yaml", project)
    (project / "specs").mkdir()
    (project / "stacks").mkdir()
    zones: list[str] = []
    for tenant in ("demo", "globex"):
        shutil.copy(ROOT / "specs" / f"{tenant}.yaml", project / "specs")
        tenant_zones = sorted({d.zone for d in load_file(project / "specs" / f"{tenant}.yaml").tenant.domains})
        zones += tenant_zones
        config = {
            "mailbox-iac:allowedZones": tenant_zones,
            "mailbox-iac:protectServers": False,
            "mailbox-iac:hostwindsPollSeconds": 0.2,
        }
        (project / "stacks" / f"Pulumi.{tenant}.yaml").write_text(yaml.safe_dump({"config": config}))
    info = run.up(project, zones, build_seconds=0)
    try:
        with HostwindsClient(info["hostwinds_url"], run.HOSTWINDS_KEY, rate=50) as hw:  # globex's own admin key
            hw.call("add_ssh_key", {"name": "mailbox-iac", "public_key": keys.ssh_key("admin")[1]})
        engine = Engine.local(run.state_dir(project), project, env=run.environment(info))
        measure(
            engine,
            "demo",
            project / "specs/demo.yaml",
            lambda t: t.replace("      - {local: ada", "      - hedy\n      - {local: ada", 1),
        )
        measure(engine, "globex", project / "specs/globex.yaml", lambda t: t.replace("dan, eve]", "dan, eve, fay]", 1))
    finally:
        run.down(project)
        shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
