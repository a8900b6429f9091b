"""PR preview on the sandbox with the real engine and a git fixture: only the changed tenant is previewed,
its counts are right, a guard-rail violation fails it, no change means exit 0, and a deleted spec is
previewed as the destroy of its stack, refused until the change allows it (the PR's label, passed as
`--allow`); then, merged, the tenant's deploy job destroys it (its protected server too) and removes the
stack, and drift is clean."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dns.resolver
import httpx
import pytest
import yaml
from pulumi import automation as auto

from mailbox_iac.engine import Engine
from mailbox_iac.program import main as tenant_program
from mailbox_iac.sandbox import run
from tests.conftest import REPO
from tests.e2e.test_many import tenant_files


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root, check=True, capture_output=True
    )


def git_repo(root: Path, ignored: str = ".state/\n") -> None:
    """`root` as a repository with everything in one first commit."""
    (root / ".gitignore").write_text(ignored)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")


def preview(root: Path, *allow: str) -> tuple[int, dict[str, Any], str]:
    """`allow`: the PR's labels `mailbox-iac:allow-*`, as the workflow passes them."""
    result = subprocess.run(
        [sys.executable, "-m", "mailbox_iac", "preview", "--changed-since", "HEAD", "--sandbox"]
        + (["--allow", ",".join(allow)] if allow else []),
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert result.returncode in (0, 1, 2), result.stderr
    return result.returncode, json.loads((root / ".state/preview/summary.json").read_text()), result.stdout


def mbx(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailbox_iac", *argv], cwd=root, capture_output=True, text=True)


def rotate_dkim(root: Path, info: dict[str, Any], spec: Path) -> None:
    """A DKIM rotation in one change: refused without an overlap; with one, the new key is published,
    answered, then signs, and the old one stays published. Judged by opendkim-testkey on the host."""
    data = yaml.safe_load(spec.read_text())
    zone = data["domains"][0]["name"]
    data["domains"][0]["dkim"] = {"selector": "next"}
    spec.write_text(yaml.safe_dump(data))
    code, report, _ = preview(root)
    p2 = next(t for t in report["tenants"] if t["tenant"] == "p2")
    assert code == 1 and "DKIM selector mail would be unpublished as next starts signing" in " ".join(
        p2["violations"]
    ), p2
    data["domains"][0]["dkim"] = {"selector": "next", "previous": [{"selector": "mail"}]}
    spec.write_text(yaml.safe_dump(data))
    code, report, _ = preview(root)
    assert code == 2 and [t["violations"] for t in report["tenants"]] == [[], []], report
    rotated = mbx(root, "up", "-s", "p2", "--sandbox")
    assert rotated.returncode == 0, rotated.stdout[-3000:] + rotated.stderr[-3000:]
    resolver = dns.resolver.Resolver(configure=False)
    host, _, port = info["dns"].rpartition(":")
    resolver.nameservers, resolver.port = [host], int(port)
    for selector in ("mail", "next"):
        assert "v=DKIM1" in resolver.resolve(f"{selector}._domainkey.{zone}", "TXT")[0].to_text()
    hostwinds = httpx.get(info["hostwinds_url"].replace("/cloud/api.php", "/_emulator/state")).json()
    [server] = [i for i in hostwinds["instances"] if i["srvrname"] == "mbx-p2-mx1"]
    pid = json.loads((run.state_dir(root) / "vps" / str(server["serviceid"]) / "vps.json").read_text())["pid"]
    key = f"/etc/mailbox-iac/current/opendkim/keys/{zone}/next.private"
    signing = subprocess.run(
        [
            "nsenter",
            "-t",
            str(pid),
            "-m",
            "-n",
            "-u",
            "sh",
            "-c",
            f"opendkim-testkey -d {zone} -s next -k {key} -vvv; cat /etc/mailbox-iac/current/opendkim/SigningTable",
        ],
        capture_output=True,
        text=True,
    )
    assert "key OK" in signing.stderr or "key not secure" in signing.stderr, signing.stderr
    assert f"next._domainkey.{zone}" in signing.stdout and "mail._domainkey" not in signing.stdout, signing.stdout
    git(root, "commit", "-qam", "rotate p2's DKIM key")


def test_preview_of_a_pull_request(tmp_path: Path) -> None:
    shutil.copy(REPO / "Pulumi.yaml", tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "stacks").mkdir()
    zones = [tenant_files(tmp_path, t) for t in ("p1", "p2")]
    p1_stack = tmp_path / "stacks/Pulumi.p1.yaml"  # p1's server protected, as by default: destroy lifts it
    p1_config = yaml.safe_load(p1_stack.read_text())
    del p1_config["config"]["mailbox-iac:protectServers"]
    p1_stack.write_text(yaml.safe_dump(p1_config))
    git_repo(tmp_path)
    info = run.up(tmp_path, zones, build_seconds=0.2)
    try:
        engine = Engine.local(run.state_dir(tmp_path), tmp_path, env=run.environment(info))
        for tenant in ("p1", "p2"):
            engine.stack(tenant, lambda: tenant_program(tmp_path)).up(show_secrets=False, color="never")
        git(tmp_path, "add", "-A")  # the first up wrote each stack's encryption salt: committed, as in a real repo
        git(tmp_path, "commit", "-qm", "stacks initialised")

        assert preview(tmp_path)[:2] == (0, {"tenants": [], "validation_errors": [], "exit_code": 0})

        spec = tmp_path / "specs/p1.yaml"
        data = yaml.safe_load(spec.read_text())
        data["domains"][0]["mailboxes"].append("cy")
        spec.write_text(yaml.safe_dump(data))
        code, report, summary = preview(tmp_path)
        assert code == 2, (tmp_path / ".state/preview/full.md").read_text()[-2500:]
        [p1] = report["tenants"]
        # its password and account created; its host and the change budget updated
        assert p1["tenant"] == "p1" and p1["counts"]["create"] == 2 and p1["counts"]["update"] == 2
        assert "| p1 | 2 | 2 | 0 | 0 | changes |" in summary
        assert p1["diff"] == ["+ mailbox cy@p1-mail.example  quota_mb='1024'"]
        assert "```diff\n+ mailbox cy@p1-mail.example  quota_mb='1024'\n```" in summary

        p2 = tmp_path / "specs/p2.yaml"
        data = yaml.safe_load(p2.read_text())
        zone = data["domains"][0]["name"]  # the mail moves to a subdomain: the old domain's MX would go
        data["domains"][0] |= {"name": f"sub.{zone}", "zone": zone}
        p2.write_text(yaml.safe_dump(data))
        code, report, summary = preview(tmp_path)
        assert code == 1
        assert [t["tenant"] for t in report["tenants"]] == ["p1", "p2"]
        violations = " ".join(report["tenants"][1]["violations"])
        assert (
            f"MX:{zone} would be deleted" in violations
            and "label the pull request `mailbox-iac:allow-mass-changes`" in violations
        )
        section = summary[summary.index("### p2") :]
        assert f"- dns_record MX:{zone}" in section and "- refused: " in section and "deletion(s)" in section
        code, report, _ = preview(tmp_path, "mailbox-iac:allow-mass-changes")  # the label: this change only
        assert code == 2 and [t["violations"] for t in report["tenants"]] == [[], []], report

        git(tmp_path, "checkout", "--", "specs/p2.yaml")
        rotate_dkim(tmp_path, info, p2)

        # Removing a tenant: its spec deleted, the preview is the destroy of its stack, refused until allowed.
        git(tmp_path, "checkout", "--", "specs/p2.yaml")
        git(tmp_path, "rm", "-qf", "specs/p1.yaml")
        code, report, summary = preview(tmp_path)
        [p1] = report["tenants"]
        assert code == 1 and p1["removed"] and p1["counts"]["delete"] > 0, p1
        assert "label the pull request `mailbox-iac:allow-destroy`" in " ".join(p1["violations"])
        assert "### p1 (spec deleted: the stack would be destroyed)" in summary
        assert "- Mailbox mailbox-ann@p1-mail.example" in p1["diff"] and "- MailHost mailhost-mx1" in p1["diff"], p1[
            "diff"
        ]
        code, report, _ = preview(tmp_path, "mailbox-iac:allow-destroy")
        assert code == 2 and report["tenants"][0]["violations"] == [], report

        # Merged: the deploy job destroys the tenant and removes its stack; drift is clean afterwards.
        git(tmp_path, "commit", "-qam", "remove tenant p1")
        assert json.loads(mbx(tmp_path, "matrix", "--changed-since", "HEAD~1").stdout)["include"] == [
            {"tenant": "p1", "action": "destroy"}
        ]
        kept = mbx(tmp_path, "destroy", "-s", "p2", "--sandbox")
        assert kept.returncode == 1 and "specs/p2.yaml still declares tenant 'p2'" in kept.stderr
        refused = mbx(tmp_path, "destroy", "-s", "p1", "--sandbox")  # a merge without the label
        assert refused.returncode == 1 and "label the pull request `mailbox-iac:allow-destroy`" in refused.stderr
        gone = mbx(tmp_path, "destroy", "-s", "p1", "--sandbox", "--allow", "mailbox-iac:allow-destroy")
        assert gone.returncode == 0, gone.stdout[-3000:] + gone.stderr
        assert "protection lifted from server-mx1" in gone.stderr and "destroyed and removed" in gone.stderr
        state = httpx.get(info["hostwinds_url"].replace("/cloud/api.php", "/_emulator/state")).json()
        assert [i["srvrname"] for i in state["instances"] if "p1" in i["srvrname"]] == []
        records = httpx.get(info["cloudflare_url"].replace("/client/v4", "/_emulator/state")).json()["records"]
        assert records["p1-mail.example"] == [] and records["p2-mail.example"]
        with pytest.raises(auto.StackNotFoundError):
            engine.existing("p1")
        assert mbx(tmp_path, "destroy", "-s", "p1", "--sandbox").returncode == 0  # again: nothing left to do
        drift = mbx(tmp_path, "drift", "--tenants", "all", "--sandbox", "--format", "json")
        assert drift.returncode == 0, drift.stdout + drift.stderr
        assert json.loads(drift.stdout)["findings"] == []
    finally:
        run.down(tmp_path)
