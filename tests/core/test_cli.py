"""The CLI as a user runs it: exit codes, error lines, JSON shapes (issue acceptance points)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mailbox_iac.dns import txt
from tests.conftest import REPO


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailbox_iac", *args], cwd=cwd, capture_output=True, text=True)


def test_validate_examples() -> None:
    result = run("validate", "specs/")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "3 spec(s) valid: acme, demo, globex (58 mailboxes)\n"


def broken_copy(tmp_path: Path, edit: str) -> Path:
    text = (REPO / "specs" / "acme.yaml").read_text()
    path = tmp_path / "acme.yaml"
    if edit == "duplicate-key":
        text = text.replace("tenant: acme\n", "tenant: acme\ntenant: acme\n")
    elif edit == "unknown-field":
        text = text.replace("tenant: acme\n", "tenant: acme\nowner: bob\n")
    elif edit == "syntax":
        text = text.replace("tenant: acme\n", "tenant: [acme\n")
    elif edit == "newline-local":
        text = text.replace("      - carol\n", '      - "car\\nol"\n')
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("edit", "line", "needle"),
    [
        ("duplicate-key", 5, "tenant: duplicate key 'tenant' (first defined on line 4)"),
        ("unknown-field", 5, "owner: unknown field"),
        ("syntax", 6, "YAML error:"),
        ("newline-local", 35, "domains[0].mailboxes[2].local: local part 'car\\nol' is not allowed"),
    ],
)
def test_broken_copies_exit_1_and_name_the_line(tmp_path: Path, edit: str, line: int, needle: str) -> None:
    path = broken_copy(tmp_path, edit)
    result = run("validate", str(path))
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{path}:{line}:") and needle in first, result.stderr


def test_validate_json_format(tmp_path: Path) -> None:
    result = run("validate", "--format", "json", str(broken_copy(tmp_path, "unknown-field")))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert report["errors"][0] | {"path": ""} == {
        "path": "",
        "line": 5,
        "column": 1,
        "field": "owner",
        "message": "unknown field (allowed: version, tenant, defaults, postmaster, servers, domains, sequencers)",
    }


def test_plan_json_globex() -> None:
    result = run("plan", "specs/globex.yaml", "--format", "json")
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    records = state["dns_records"]
    assert {"zone", "name", "type", "content", "ttl", "priority"} <= set(records[0])
    spf = Counter(r["name"] for r in records if r["type"] == "TXT" and txt.canonical(r["content"]).startswith("v=spf1"))
    assert len(spf) == 13 and set(spf.values()) == {1}  # 10 domains, www, the 2 HELO names
    assert all(len(s.encode()) <= 255 for r in records if r["type"] == "TXT" for s in txt.strings(r["content"]))
    assert not [r for r in records if r["name"].endswith(".")]
    assert {"address", "smtp_host", "smtp_port", "imap_host", "imap_port", "daily_limit"} <= set(state["mailboxes"][0])
    assert len(state["mailboxes"]) == 50 and "password" not in result.stdout


# Runs one command in a fresh interpreter and prints the modules it imported that it does not need.
_IMPORTED = """
import sys
from mailbox_iac.cli import main
sys.argv = ["mailbox-iac", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
heavy = ("pulumi", "pulumi_cloudflare", "grpc", "httpx", "paramiko", "dns", "mailbox_iac.engine", "mailbox_iac.sandbox.run")
print(sorted(m for m, module in sys.modules.items() if m.startswith(heavy) and module is not None), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["--help"], ["validate", "specs"], ["plan", "specs/globex.yaml", "--format", "json"]])
def test_validate_plan_and_help_start_without_the_engine_or_the_sandbox(argv: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", _IMPORTED, *argv], cwd=REPO, capture_output=True, text=True)
    assert done.stderr.splitlines()[-1] == "[]", done.stderr


def test_plan_of_invalid_spec_fails(tmp_path: Path) -> None:
    assert run("plan", str(broken_copy(tmp_path, "syntax"))).returncode == 1


def test_schema_is_published_and_current() -> None:
    result = run("schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "TenantSpec" and schema["additionalProperties"] is False
    assert (REPO / "schema" / "tenant.schema.json").read_text().strip() == result.stdout.strip()
    for spec in (REPO / "specs").glob("*.yaml"):
        assert spec.read_text().startswith("# yaml-language-server: $schema=../schema/tenant.schema.json\n")


def test_help_explains_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("validate", "plan", "schema"):
        assert command in result.stdout


def test_default_path_is_specs(tmp_path: Path) -> None:
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    assert run("validate", cwd=tmp_path).returncode == 0


def test_usage_errors_exit_1_never_2() -> None:
    for args in (["up", "--no-such-option"], ["verify"], ["nonsense"], ["plan"]):
        result = run(*args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert "Usage" in result.stderr or "Error" in result.stderr


def test_version_and_short_options() -> None:
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("mailbox-iac ")
    short = run("up", "-h")
    assert short.returncode == 0 and "-s" in short.stdout and "--stack" in short.stdout


def test_a_stack_without_a_spec_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    shutil.copy(REPO / "Pulumi.yaml", tmp_path)
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    shutil.copytree(REPO / "stacks", tmp_path / "stacks")
    result = run("up", "-s", "demoo", cwd=tmp_path)
    assert result.returncode == 1
    assert "stack 'demoo' has no tenant spec: specs/demoo.yaml does not exist" in result.stderr
    assert "acme, demo, globex" in result.stderr
    assert not (tmp_path / "stacks" / "Pulumi.demoo.yaml").exists() and not (tmp_path / ".state").exists()


@pytest.mark.parametrize(
    "command", [["up", "-s", "demo"], ["destroy", "-s", "gone"], ["preview", "--changed-since", "HEAD"]]
)
def test_an_opt_in_that_does_not_exist_fails_before_anything_starts(tmp_path: Path, command: list[str]) -> None:
    shutil.copy(REPO / "Pulumi.yaml", tmp_path)
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    shutil.copytree(REPO / "stacks", tmp_path / "stacks")
    result = run(*command, "--allow", "destroy,mass-change", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "--allow: unknown allowance 'mass-change': name one or more of mass-changes, server-replacement, destroy, "
        "comma-separated"
    )
    assert not (tmp_path / ".state").exists()


def test_commands_find_the_project_from_a_subdirectory(tmp_path: Path) -> None:
    shutil.copy(REPO / "Pulumi.yaml", tmp_path)
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    shutil.copytree(REPO / "stacks", tmp_path / "stacks")
    assert run("validate", cwd=tmp_path / "specs").stdout.startswith("3 spec(s) valid")
    assert run("matrix", cwd=tmp_path / "specs").stdout.count('"tenant"') == 3
    result = run("verify", "-s", "nobody", cwd=tmp_path / "specs")
    assert result.returncode == 1 and "has no tenant spec" in result.stderr
    assert not (tmp_path / "specs" / "Pulumi.yaml").exists() and not (tmp_path / "specs" / ".state").exists()


def test_outside_a_project_commands_say_where_to_run(tmp_path: Path) -> None:
    result = run("up", "-s", "demo", cwd=tmp_path)
    assert result.returncode == 1 and "no Pulumi.yaml" in result.stderr


def test_matrix_on_a_new_branch_takes_every_tenant() -> None:
    result = run("matrix", "--changed-since", "0" * 40)
    assert result.returncode == 0 and json.loads(result.stdout)["include"] == [
        {"tenant": t, "action": "up"} for t in ("acme", "demo", "globex")
    ]


def test_matrix_against_an_unknown_ref_fails_cleanly() -> None:
    result = run("matrix", "--changed-since", "no-such-ref")
    assert result.returncode == 1 and "Traceback" not in result.stderr and "git diff" in result.stderr
