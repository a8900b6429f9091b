"""Both drivers of one program on the sandbox with the real engine: the plain Pulumi CLI (`pulumi up` of
the repository's __main__.py through the Python language host) and `mailbox-iac up`, with the sandbox's
settings from `eval "$(mailbox-iac sandbox env)"`. Previews of anything new (a brand-new tenant, a new
server, a new domain, a DKIM selector change) list their creates before any `up`, never an error; state
is interchangeable both ways; nothing secret reaches the CLI's output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mailbox_iac.sandbox import run
from tests.conftest import REPO
from tests.e2e.test_many import tenant_files
from tests.e2e.test_preview import git, git_repo

EXAMPLES = ("acme", "globex")
EXTRA_ZONE = "cli2-mail.example"  # the new domain of the edited spec, on a new server


class Project:
    def __init__(self, root: Path, info: dict[str, Any]) -> None:
        self.root, self.info = root, info
        self.outputs: list[str] = []  # everything the CLI printed, for the secret scan

    def sh(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A shell as the README has it: the sandbox's environment, the project's virtualenv."""
        script = f'eval "$({sys.executable} -m mailbox_iac sandbox env)" && source .venv/bin/activate && {command}'
        result = subprocess.run(
            ["bash", "-c", script], cwd=self.root, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL
        )
        self.outputs.append(result.stdout + result.stderr)
        if check:
            assert result.returncode == 0, f"{command}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
        return result

    def mbx(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "mailbox_iac", *args], cwd=self.root, capture_output=True, text=True, timeout=900
        )
        self.outputs.append(result.stdout + result.stderr)
        return result

    def cloudflare(self) -> dict[str, Any]:
        return httpx.get(self.info["cloudflare_url"].replace("/client/v4", "/_emulator/state")).json()

    def hostwinds(self) -> dict[str, Any]:
        return httpx.get(self.info["hostwinds_url"].replace("/cloud/api.php", "/_emulator/state")).json()

    def edit_spec(self, tenant: str, edit: Any) -> None:
        path = self.root / "specs" / f"{tenant}.yaml"
        data = yaml.safe_load(path.read_text())
        edit(data)
        path.write_text(yaml.safe_dump(data))


def cli_project(root: Path) -> Path:
    """`root` as a checkout the plain CLI runs in: the program, the project's virtualenv, specs/, stacks/."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, root)
    (root / ".venv").symlink_to(REPO / ".venv")
    (root / "specs").mkdir()
    (root / "stacks").mkdir()
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = cli_project(tmp_path_factory.mktemp("cli-project"))
    zones = [tenant_files(root, "cli"), EXTRA_ZONE, "fresh-mail.example"]
    for example in EXAMPLES:  # as committed: their stack files hold no credentials to override the sandbox's
        shutil.copy(REPO / "specs" / f"{example}.yaml", root / "specs")
        shutil.copy(REPO / "stacks" / f"Pulumi.{example}.yaml", root / "stacks")
        zones += yaml.safe_load((REPO / "stacks" / f"Pulumi.{example}.yaml").read_text())["config"][
            "mailbox-iac:allowedZones"
        ]
    config_path = root / "stacks" / "Pulumi.cli.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["config"]["mailbox-iac:allowedZones"].append(EXTRA_ZONE)
    config_path.write_text(yaml.safe_dump(config))
    git_repo(root, ".state/\n.venv\n")
    info = run.up(root, zones, build_seconds=0.2)
    try:
        yield Project(root, info)
    finally:
        run.down(root)


def summary(project: Project) -> dict[str, Any]:
    return json.loads((project.root / ".state/preview/summary.json").read_text())


def test_a_brand_new_tenant_previews_its_creates(project: Project) -> None:
    tenant_files(project.root, "fresh")
    result = project.mbx("preview", "--changed-since", "HEAD", "--sandbox")
    assert result.returncode == 2, result.stdout + result.stderr
    [fresh] = summary(project)["tenants"]
    assert fresh["tenant"] == "fresh" and not fresh["error"] and not fresh["violations"]
    assert fresh["counts"]["create"] >= 20 and "| fresh |" in result.stdout
    plain = project.sh("pulumi preview --stack fresh --diff")
    assert "to create" in plain.stdout and "error" not in plain.stdout.lower()
    assert "[unknown]" in plain.stdout or "output<string>" in plain.stdout  # the new server's IP
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "fresh tenant")


def test_the_plain_cli_deploys_and_finds_nothing_to_change(project: Project) -> None:
    assert project.sh("pulumi stack select cli", check=False).returncode != 0  # no such stack yet
    project.sh("pulumi stack init cli")
    project.sh("pulumi preview")
    project.sh("pulumi up --yes --skip-preview")
    project.sh("pulumi preview --expect-no-changes")
    # The other driver takes over the same state: nothing to do, every mailbox ready.
    up = project.mbx("up", "-s", "cli", "--sandbox")
    assert up.returncode == 0, up.stdout + up.stderr
    assert " to create" not in up.stdout and " to update" not in up.stdout
    verify = project.mbx("verify", "-s", "cli", "--sandbox")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_new_server_new_domain_and_dkim_selector_preview_before_any_up(project: Project) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["servers"]["mx2"] = {"hostname": f"mail.{EXTRA_ZONE}"}
        spec["domains"][0] |= {"server": "mx1", "dkim": {"selector": "s2026", "previous": [{"selector": "mail"}]}}
        spec["domains"].append({"name": EXTRA_ZONE, "server": "mx2", "mailboxes": ["cy"]})

    project.edit_spec("cli", edit)
    result = project.mbx("preview", "--changed-since", "HEAD", "--sandbox")
    assert result.returncode == 2, result.stdout + result.stderr
    [cli] = summary(project)["tenants"]
    assert not cli["error"] and not cli["violations"], cli
    # server, rDNS, mail host, certificate, DKIM key, the new domain's records, cy's password/mailbox/readiness
    assert cli["counts"]["create"] >= 15 and cli["counts"]["update"] >= 1
    plain = project.sh("pulumi preview --stack cli --diff")
    for name in ("server-mx2", "mailhost-mx2", "dkim-cli-mail.example-s2026", "mailbox-cy@cli2-mail.example"):
        assert name in plain.stdout
    git(project.root, "checkout", "specs/cli.yaml")
    project.sh("pulumi preview --stack cli --expect-no-changes")


def test_hand_change_in_cloudflare_is_drift_for_the_plain_cli_and_up_repairs_it(project: Project) -> None:
    zone = next(z["id"] for z in project.cloudflare()["zones"] if z["name"] == "cli-mail.example")
    dmarc = next(r for r in project.cloudflare()["records"]["cli-mail.example"] if r["name"].startswith("_dmarc."))
    httpx.patch(
        f"{project.info['cloudflare_url']}/zones/{zone}/dns_records/{dmarc['id']}",
        headers={"Authorization": f"Bearer {run.CLOUDFLARE_TOKEN}"},
        json={"content": '"v=DMARC1; p=none"'},
    ).raise_for_status()
    drift = project.sh("pulumi refresh --stack cli --preview-only --expect-no-changes --yes", check=False)
    assert drift.returncode != 0, drift.stdout
    project.sh("pulumi up --stack cli --refresh --yes --skip-preview")
    project.sh("pulumi preview --stack cli --expect-no-changes")
    repaired = next(r for r in project.cloudflare()["records"]["cli-mail.example"] if r["name"].startswith("_dmarc."))
    assert "p=quarantine" in repaired["content"]


def test_a_change_made_by_mailbox_iac_is_no_change_for_the_plain_cli(project: Project) -> None:
    project.edit_spec("cli", lambda spec: spec["domains"][0]["mailboxes"].append("dee"))
    up = project.mbx("up", "--stack", "cli", "--sandbox")
    assert up.returncode == 0, up.stdout + up.stderr
    project.sh("pulumi preview --stack cli --expect-no-changes")
    outputs = json.loads(project.sh("pulumi stack output --stack cli --json").stdout)
    assert "dee@cli-mail.example" in outputs["mailboxes"]
    assert outputs["mailbox_passwords"] == "[secret]"


def test_the_example_stacks_work_on_the_sandbox_as_committed(project: Project) -> None:
    up = project.mbx("up", "-s", "acme", "--sandbox")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr
    verify = project.mbx("verify", "-s", "acme", "--sandbox")
    assert verify.returncode == 0 and verify.stdout.count(" ready ") == 5, verify.stdout + verify.stderr
    project.sh("pulumi stack init globex")
    preview = project.sh("pulumi preview --stack globex")
    assert "to create" in preview.stdout


def test_destroy_with_the_plain_cli_and_no_secret_in_its_output(project: Project) -> None:
    passwords = json.loads(project.sh("pulumi stack output --stack cli --json --show-secrets").stdout)[
        "mailbox_passwords"
    ]
    project.outputs.pop()  # the one output that shows secrets on purpose
    project.sh("pulumi destroy --stack cli --yes --skip-preview")
    assert [i for i in project.hostwinds()["instances"] if i["srvrname"].startswith("mbx-cli-")] == []
    assert project.cloudflare()["records"]["cli-mail.example"] == []
    printed = "\n".join(project.outputs)
    assert passwords and all(pw not in printed for pw in passwords.values())
    for marker in ("PRIVATE KEY-----", "$argon2id$", run.HOSTWINDS_KEY, run.CLOUDFLARE_TOKEN):
        assert marker not in printed
