"""Many tenants at once on the sandbox with the real engine: 12 generated tenants with --parallel 10 while
Hostwinds injects 5% transient faults. All converge, no duplicate server, the rate limit holds across the
separate provider processes of all stacks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import yaml

from mailbox_iac.sandbox import run
from tests.conftest import REPO

TENANTS = [f"t{i:02d}" for i in range(12)]


def tenant_files(root: Path, tenant: str, mailboxes: tuple[str, ...] = ("ann", "bo")) -> str:
    zone = f"{tenant}-mail.example"
    spec = {
        "tenant": tenant,
        "defaults": {"server": {"location": 12, "plan": 52, "image": "b1e32484-ea0d-4875-921f-2d01fd7b4341"}},
        "servers": {"mx1": {"hostname": f"mail.{zone}"}},
        "domains": [{"name": zone, "mailboxes": list(mailboxes)}],
    }
    (root / "specs" / f"{tenant}.yaml").write_text(yaml.safe_dump(spec))
    config = {
        "mailbox-iac:allowedZones": [zone],
        "mailbox-iac:protectServers": False,
        "mailbox-iac:hostwindsPollSeconds": 0.5,
    }
    (root / "stacks" / f"Pulumi.{tenant}.yaml").write_text(yaml.safe_dump({"config": config}))
    return zone


def test_twelve_tenants_converge_in_parallel_under_faults(tmp_path: Path) -> None:
    shutil.copy(REPO / "Pulumi.yaml", tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "stacks").mkdir()
    zones = [tenant_files(tmp_path, t) for t in TENANTS]
    info = run.up(tmp_path, zones, build_seconds=0.5)
    try:
        state_url = info["hostwinds_url"].replace("/cloud/api.php", "/_emulator")
        httpx.post(f"{state_url}/faults", json={"error_rate": 0.025, "http_5xx_rate": 0.025}).raise_for_status()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "mailbox_iac",
                "up",
                "--tenants",
                ",".join(TENANTS),
                "--parallel",
                "10",
                "--sandbox",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert result.returncode == 0, result.stdout + result.stderr[-3000:]
        table = result.stdout.splitlines()
        assert sum(" converged " in line for line in table) == 12
        assert all((tmp_path / ".state/logs" / f"{t}.log").stat().st_size > 0 for t in TENANTS)
        assert "converged 12/12" in result.stderr
        state = httpx.get(f"{state_url}/state").json()
        names = Counter(i["srvrname"] for i in state["instances"])
        assert sorted(names) == [f"mbx-{t}-mx1" for t in TENANTS] and set(names.values()) == {1}
        assert all(i["status"] == "ACTIVE" for i in state["instances"])
        assert state["requests"]["max_per_second"] <= 2
        assert state["requests"]["total"] > 0
    finally:
        run.down(tmp_path)
