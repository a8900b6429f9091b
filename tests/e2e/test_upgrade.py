"""A stack deployed by the version before the architecture step (server backends, the change layer, the
checks package) refreshes and previews with no change under this one: resource names, type tokens, inputs
and the module paths state pickles its providers by all held. Then `plan --against` reads that stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mailbox_iac.sandbox import run
from tests.conftest import REPO
from tests.e2e.test_many import tenant_files
from tests.e2e.test_preview import git_repo
from tests.e2e.test_pulumi_cli import Project, cli_project

PREVIOUS = "b1457ad"  # main before the architecture step (issue 16)
TENANT = "upg"
KEPT = ("same", "create", "update")  # the steps that leave every resource of the old stack in place


def previous_version(into: Path) -> Path:
    """The previous version's packages, from the repository's history (CI's clone is a full one)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", PREVIOUS, "mailbox_iac", "providers"], capture_output=True
    )
    assert archive.returncode == 0, f"git archive {PREVIOUS} (needs the repository's history): {archive.stderr!r}"
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    old = previous_version(tmp_path_factory.mktemp("previous"))
    root = cli_project(tmp_path_factory.mktemp("upgrade"))
    zone = tenant_files(root, TENANT)
    git_repo(root, ".state/\n.venv\n")
    info = run.up(root, [zone], build_seconds=0.2)
    try:
        # The previous version runs everything: the program, and (through PYTHONPATH, which the engine
        # hands its plugins) every dynamic provider, whose pickles state keeps.
        env = {**os.environ, "PYTHONPATH": f"{old}{os.pathsep}{old / 'providers'}"}
        probe = [sys.executable, "-c", "import mailbox_iac.program as p; print(p.__file__)"]
        assert str(old) in subprocess.run(probe, cwd=root, env=env, capture_output=True, text=True).stdout
        up = subprocess.run(
            [sys.executable, "-m", "mailbox_iac", "up", "-s", TENANT, "--sandbox"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        yield Project(root, info)
    finally:
        run.down(root)


def test_a_stack_of_the_previous_version_upgrades_in_place(upgraded: Project) -> None:
    """What this version adds (records, mail host files) is created and updated; nothing of the old stack
    is replaced, and nothing deleted but the readiness gates of single mailboxes (waits that hold nothing
    in the world; a gate is now a domain's); afterwards refresh and preview find nothing to change. Before the upgrade,
    refresh may see the mail host and its certificate differ (this version reads what it manages now: more
    files, one certificate per name), and nothing else."""
    before = json.loads(upgraded.sh(f"pulumi refresh --stack {TENANT} --preview-only --json").stdout)
    assert set(before["changeSummary"]) <= {"same", "update"}, before["changeSummary"]
    updated = {step["urn"].split("::")[2].rsplit(":", 1)[-1] for step in before["steps"] if step["op"] == "update"}
    assert updated <= {"MailHost", "Certificate"}, updated
    planned = json.loads(upgraded.sh(f"pulumi preview --stack {TENANT} --json").stdout)
    removed = {(s["op"], s["urn"].rsplit("::", 1)[-1]) for s in planned["steps"] if s["op"] not in KEPT}
    assert removed and all(op == "delete" and name.startswith("ready-") and "@" in name for op, name in removed)
    up = upgraded.mbx("up", "-s", TENANT, "--sandbox")
    assert up.returncode == 0, up.stdout + up.stderr
    assert " to replace" not in up.stdout, up.stdout
    upgraded.sh(f"pulumi refresh --stack {TENANT} --preview-only --expect-no-changes")
    upgraded.sh(f"pulumi preview --stack {TENANT} --expect-no-changes")
    assert upgraded.mbx("verify", "-s", TENANT, "--sandbox").returncode == 0


def test_plan_against_the_stack_lists_each_change_before_any_up(upgraded: Project) -> None:
    spec = upgraded.root / "specs" / f"{TENANT}.yaml"
    assert upgraded.mbx("up", "-s", TENANT, "--sandbox").returncode == 0  # upgraded, whichever test ran first
    same = upgraded.mbx("plan", str(spec), "--against", TENANT, "--sandbox")
    assert same.returncode == 0 and same.stdout.strip().endswith("no changes"), same.stdout + same.stderr
    edited = yaml.safe_load(spec.read_text())
    domain = edited["domains"][0]
    domain["dmarc"] = {"policy": "reject"}
    domain["mailboxes"] = ["ann", "cy"]  # bo goes, cy comes
    path = upgraded.root / "edited.yaml"
    path.write_text(yaml.safe_dump(edited))
    result = upgraded.mbx("plan", str(path), "--against", TENANT, "--sandbox")
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path} against stack {TENANT}: 1 to create, 1 to update, 1 to delete"
    zone = domain["name"]
    assert f"  ~ dns_record TXT:_dmarc.{zone}  content: 'v=DMARC1; p=quarantine; adkim=r; aspf=r' => " in lines[1]
    assert lines[1].endswith("'v=DMARC1; p=reject; adkim=r; aspf=r'")
    assert lines[2:] == [f"  - mailbox bo@{zone}", f"  + mailbox cy@{zone}  quota_mb='1024'"]
    bigger = {**edited, "defaults": {"server": {**edited["defaults"]["server"], "plan": 53}}}
    path.write_text(yaml.safe_dump(bigger))
    refused = upgraded.mbx("plan", str(path), "--against", TENANT, "--sandbox")
    assert refused.returncode == 1 and "-/+ server mx1  size: '52' => '53'" in refused.stdout
    assert "! server mx1 would be replaced" in refused.stdout
