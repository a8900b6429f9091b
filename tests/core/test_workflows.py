"""The GitHub workflows as written: one pinned Pulumi CLI everywhere (the version bootstrap builds), one
setup, a checks workflow on every push and PR, a drift issue that is labelled and closed again."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from mailbox_iac import allowances
from tests.conftest import REPO

WORKFLOWS = {p.stem: yaml.safe_load(p.read_text()) for p in (REPO / ".github/workflows").glob("*.yml")}
SETUP = yaml.safe_load((REPO / ".github/actions/setup/action.yml").read_text())


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_one_pinned_cli_for_bootstrap_the_go_build_and_the_workflows() -> None:
    version = (REPO / ".pulumi-version").read_text().strip()
    assert f"github.com/pulumi/pulumi/pkg/v3 v{version}" in (REPO / "scripts/pulumi-build/go.mod").read_text()
    [pulumi] = [s for s in SETUP["runs"]["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"] == {"pulumi-version-file": ".pulumi-version"}
    for name, workflow in WORKFLOWS.items():
        uses = [s.get("uses", "") for s in steps(workflow)]
        assert not any(u.startswith("pulumi/actions@") for u in uses), f"{name}: install through the setup action"


def test_every_workflow_that_runs_the_engine_uses_the_setup_with_a_pip_cache() -> None:
    [python] = [s for s in SETUP["runs"]["steps"] if s.get("uses", "").startswith("actions/setup-python@")]
    assert python["with"]["cache"] == "pip"
    for name in ("checks", "deploy", "drift", "pr"):
        assert "./.github/actions/setup" in [s.get("uses") for s in steps(WORKFLOWS[name])], name


def test_checks_run_lint_types_audit_and_tests_on_every_push_and_pr() -> None:
    checks = WORKFLOWS["checks"]
    assert set(checks[True]) == {"push", "pull_request"}  # YAML 1.1 reads the key `on` as True
    commands = " ".join(s.get("run", "") for s in steps(checks))
    for tool in ("ruff check", "ruff format --check", "mypy", "scripts/audit", 'pytest -m "not sandbox"'):
        assert tool in commands


def test_drift_issue_label_is_created_and_the_issue_closed_when_clear() -> None:
    runs = [s.get("run", "") for s in steps(WORKFLOWS["drift"])]
    assert any("gh label create drift" in r and "--force" in r for r in runs)
    closing = next(s for s in steps(WORKFLOWS["drift"]) if "gh issue close" in s.get("run", ""))
    assert closing["if"] == "steps.drift.outputs.exit_code == '0'"


def test_the_deploy_matrix_passes_the_before_ref_through_the_environment() -> None:
    matrix = next(s for s in steps(WORKFLOWS["deploy"]) if s.get("id") == "matrix")
    assert "${{" not in matrix["run"] and re.search(r"--changed-since \"\$BEFORE\"", matrix["run"])


def labels_filter(script: str, labels: str) -> frozenset[str]:
    """The opt-ins a workflow's label filter (its `allow=$(...)` line, run by bash and jq) gives the CLI."""
    [line] = [line for line in script.splitlines() if line.strip().startswith("allow=$(jq")]
    out = subprocess.run(
        ["bash", "-c", line + '\nprintf %s "$allow"'], env={"LABELS": labels}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return allowances.parse(out.stdout)


def test_a_pull_requests_labels_are_its_opt_ins_and_previewed_again_when_changed() -> None:
    pr = WORKFLOWS["pr"][True]["pull_request"]
    assert {"labeled", "unlabeled", "synchronize"} <= set(pr["types"])
    preview = next(s for s in steps(WORKFLOWS["pr"]) if s.get("id") == "preview")
    assert preview["env"]["LABELS"] == "${{ toJSON(github.event.pull_request.labels.*.name) }}"
    assert '--allow "$allow"' in preview["run"]
    assert labels_filter(preview["run"], '["bug", "mailbox-iac:allow-destroy", "mailbox-iac:allow-mass-changes"]') == {
        "destroy",
        "mass-changes",
    }
    assert labels_filter(preview["run"], "[]") == frozenset()


def test_a_deploy_takes_the_opt_ins_of_the_pull_request_it_merged() -> None:
    deploy = WORKFLOWS["deploy"]
    labels = next(s for s in deploy["jobs"]["plan"]["steps"] if s.get("id") == "labels")
    assert "commits/${GITHUB_SHA}/pulls" in labels["run"] and 'startswith("mailbox-iac:allow-")' in labels["run"]
    assert deploy["permissions"]["pull-requests"] == "read"
    assert deploy["jobs"]["tenant"]["env"]["MAILBOX_IAC_ALLOW"] == "${{ needs.plan.outputs.allow }}"


def test_each_deploy_job_runs_what_its_matrix_entry_asks() -> None:
    runs = {s["if"]: s["run"] for s in WORKFLOWS["deploy"]["jobs"]["tenant"]["steps"] if "if" in s}
    assert runs == {
        "matrix.action == 'up'": '.venv/bin/mailbox-iac up --stack "${{ matrix.tenant }}"',
        "matrix.action == 'destroy'": '.venv/bin/mailbox-iac destroy --stack "${{ matrix.tenant }}"',
    }


def test_pr_paths_include_the_program_pulumi_runs() -> None:
    paths = WORKFLOWS["pr"][True]["pull_request"]["paths"]
    assert {"__main__.py", ".pulumi-version", "Pulumi.yaml"} <= set(paths)
    assert Path(REPO / "__main__.py").exists()


def test_health_keeps_one_issue_per_tenant(tmp_path: Path) -> None:
    """The workflow's own issue step, run by bash with a stand-in `gh` that records its calls: acme has a
    problem and no issue yet (created), globex is healthy and has one open (closed), initech is healthy."""
    health = WORKFLOWS["health"]
    assert health[True]["schedule"] == [{"cron": "30 */6 * * *"}] and health["permissions"]["issues"] == "write"
    step = next(s for s in steps(health) if "gh issue" in s.get("run", ""))
    assert step["if"] == "always() && hashFiles('health.json') != ''"
    listed = {"id": "blocklist.ip", "severity": "error", "subject": "192.0.2.7 on Spamhaus ZEN", "ok": False}
    report = {
        "checked_at": "2026-12-05T06:00:00+00:00",
        "tenants": {
            "acme": [{**listed, "detail": "listed on Spamhaus ZEN"}, {**listed, "ok": True, "detail": ""}],
            "globex": [{**listed, "ok": True, "detail": ""}],
            "initech": [],
        },
    }
    (tmp_path / "health.json").write_text(json.dumps(report))
    gh = tmp_path / "bin/gh"
    gh.parent.mkdir()
    gh.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$*" >> "$CALLS"\n'
        'case "$1 $2" in "issue list") echo \'[{"number": 7, "title": "mailbox-iac health: globex"}]\';; esac\n'
    )
    gh.chmod(0o755)
    env = {"PATH": f"{gh.parent}:/usr/bin:/bin", "CALLS": str(tmp_path / "calls"), "GITHUB_RUN_ID": "42"}
    env |= {"GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": "o/r"}
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, check=True)
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[:2] == [
        "label create health --color b60205 --description found by mailbox-iac health --force",
        "issue list --state open --label health --limit 500 --json number,title",
    ]
    create = "issue create --title mailbox-iac health: acme --label health --body Found by "
    assert calls[2] == create + "https://github.example/o/r/actions/runs/42 at 2026-12-05T06:00:00+00:00:"
    assert calls[3:5] == ["", "- **error** `blocklist.ip` 192.0.2.7 on Spamhaus ZEN: listed on Spamhaus ZEN"]
    assert calls[5:] == ["issue close 7 --comment Healthy again in https://github.example/o/r/actions/runs/42."]
