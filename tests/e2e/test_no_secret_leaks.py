"""After a full life on the sandbox (up, verify, drift, export, preview, the many-tenant runner), no secret
appears in plaintext in anything we write or print: command output, logs, reports, plan output, Pulumi state.
The secrets are taken from the stack itself (`pulumi stack export --show-secrets`) and from the sandbox
(API key, token, passphrase, the VPS root password), so a new secret output is scanned for without edits."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailbox_iac.engine import Engine
from mailbox_iac.sandbox import run
from tests.conftest import REPO

ZONES = ["demo-a.example", "demo-b.example"]
# The sandbox's own disks: a VPS holds its keys and Pebble its API key, as real ones do.
NOT_OURS = (".git", ".state/sandbox/vps", ".state/sandbox/acme")


def _children(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else list(value) if isinstance(value, list) else []


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value} if len(value) >= 8 else set()
    return {s for child in _children(value) for s in _strings(child)}


def plaintext_secrets(node: Any) -> set[str]:
    """Every string inside a `{"plaintext": ...}` secret of a `stack export --show-secrets` deployment."""
    if isinstance(node, dict) and "plaintext" in node:
        return _strings(json.loads(node["plaintext"]))
    return {s for child in _children(node) for s in plaintext_secrets(child)}


def needles(secret: str) -> set[str]:
    """What to look for: the secret; for a PEM key, each line of the second half of its body (a key stays a
    key when re-wrapped or JSON-escaped). The first half holds the modulus, which the public key shares."""
    if "-----BEGIN" in secret:
        body = [line for line in secret.splitlines() if line and not line.startswith("-----")]
        return {line for line in body[len(body) // 2 :] if len(line) >= 40}
    return {secret}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("leaks")
    shutil.copy(REPO / "Pulumi.yaml", root)
    for d in ("specs", "stacks"):
        (root / d).mkdir()
    shutil.copy(REPO / "specs" / "demo.yaml", root / "specs")
    shutil.copy(REPO / "stacks" / "Pulumi.demo.yaml", root / "stacks")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=root, check=True)
    info = run.up(root, ZONES, build_seconds=0.5)
    try:
        yield root, info
    finally:
        run.down(root)


def cli(root: Path, *args: str, ok: tuple[int, ...] = (0,)) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "mailbox_iac", *args], cwd=root, capture_output=True, text=True, timeout=900
    )
    assert result.returncode in ok, f"{args}: {result.stdout[-2000:]}{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def test_no_secret_in_anything_we_write_or_print(project: Any) -> None:
    root, info = project
    printed = [
        cli(root, "up", "--stack", "demo", "--sandbox"),
        cli(root, "verify", "--stack", "demo", "--sandbox"),
        cli(root, "drift", "--tenants", "demo", "--sandbox"),
        cli(root, "drift", "--tenants", "demo", "--sandbox", "--format", "json"),
        cli(root, "export", "--stack", "demo", "--sandbox"),
        cli(root, "export", "--stack", "demo", "--sandbox", "--format", "smartlead-csv"),  # has password columns
        cli(root, "plan", "specs/demo.yaml"),
        cli(root, "health", "--tenants", "demo", "--sandbox", "--format", "json", ok=(0, 2)),  # logs in to the host
        cli(root, "health", "--tenants", "demo", "--sandbox", "--format", "html", "--output", "h.html", ok=(0, 2)),
    ]
    spec = root / "specs" / "demo.yaml"
    spec.write_text(spec.read_text().replace("      - {local: grace,", "      - {local: hedy}\n      - {local: grace,"))
    printed.append(cli(root, "preview", "--changed-since", "HEAD", "--sandbox", ok=(2,)))
    printed.append(cli(root, "up", "--tenants", "demo", "--parallel", "1", "--sandbox"))

    engine = Engine.local(run.state_dir(root), root, env=run.environment(info))
    deployment = engine.existing("demo").workspace.export_stack("demo").deployment
    secrets = plaintext_secrets(deployment)
    hostwinds = httpx.get(info["hostwinds_url"].replace("/cloud/api.php", "/_emulator/state")).json()
    secrets |= {i["password"] for i in hostwinds["instances"] if i.get("password")}
    secrets |= {run.HOSTWINDS_KEY, run.CLOUDFLARE_TOKEN, run.PASSPHRASE}
    kinds = " ".join(sorted(secrets))
    assert kinds.count("PRIVATE KEY-----") >= 3  # the hosts' SSH key and the two DKIM keys
    assert len(secrets) >= 3 + 4 + 3  # and four mailbox passwords, and the sandbox's credentials

    written = {
        str(p.relative_to(root)): p.read_text(errors="replace")
        for p in root.rglob("*")
        if p.is_file() and not str(p.relative_to(root)).startswith(NOT_OURS)
    }
    assert any(name.startswith(".state/sandbox/backend") for name in written)  # the state was scanned
    assert any(name.startswith(".state/logs/") for name in written) and ".state/preview/full.md" in written
    sources = {**written, **{f"output of command {i}": text for i, text in enumerate(printed)}}
    leaks = [
        (name, needle[:6] + "...")
        for secret in secrets
        for needle in needles(secret)
        for name, text in sources.items()
        if needle in text
    ]
    assert leaks == []
