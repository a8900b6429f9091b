"""What the engine is given: outside the sandbox nothing stops Pulumi from fetching the real (pinned)
Cloudflare plugin; only the sandbox, whose stand-in plugin is on PATH, turns acquisition off. The backend
is the one Pulumi would choose."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbox_iac.engine import Engine
from mailbox_iac.sandbox import run

SANDBOX_INFO = {
    "hostwinds_url": "http://127.0.0.1:1/cloud/api.php",
    "cloudflare_url": "http://127.0.0.1:2/client/v4",
    "dns": "127.0.0.1:3",
    "acme_directory": "https://198.51.100.1:4/dir",
    "acme_ca": "/ca.pem",
    "tls_roots": "/roots.pem",
    "dns_root": "/dns-root.zone",
    "receiver": "198.51.100.1:25",
    "bin": "/sandbox/bin",
}


def project(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: mailbox-iac\nruntime: python\n" + extra)
    return tmp_path


def test_outside_the_sandbox_plugin_acquisition_stays_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", raising=False)
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    env = Engine.for_project(project(tmp_path)).env_vars()
    assert "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION" not in env
    assert env["PULUMI_BACKEND_URL"] == f"file://{(tmp_path / '.state' / 'backend').resolve()}"


def test_the_sandbox_turns_acquisition_off_and_puts_its_plugin_first() -> None:
    env = run.environment(SANDBOX_INFO)
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert env["PATH"].startswith("/sandbox/bin:")


def test_backend_from_the_environment_then_pulumi_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    root = project(tmp_path, "backend:\n  url: s3://team-bucket/mailbox-iac\n")
    assert Engine.for_project(root).backend_url == "s3://team-bucket/mailbox-iac"
    monkeypatch.setenv("PULUMI_BACKEND_URL", "https://api.pulumi.com")
    assert Engine.for_project(root).backend_url == "https://api.pulumi.com"


def test_sandbox_env_is_shell_code_that_reproduces_the_engine_environment(tmp_path: Path) -> None:
    text = run.shell_environment(tmp_path, SANDBOX_INFO)
    assert f"export PULUMI_BACKEND_URL=file://{(tmp_path / '.state/sandbox/backend').resolve()}" in text
    assert "export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true" in text
    assert 'export PATH=/sandbox/bin":$PATH"' in text


def test_a_sandbox_started_by_an_older_version_still_runs_stacks() -> None:
    """Its sandbox.json predates the port-25 receiver: the environment is whole without it."""
    older = {k: v for k, v in SANDBOX_INFO.items() if k != "receiver"}
    env = run.environment(older)
    assert "MAILBOX_IAC_HEALTH_PROBE" not in env and env["MAILBOX_IAC_DNS_RESOLVER"] == "127.0.0.1:3"
    assert run.environment(SANDBOX_INFO)["MAILBOX_IAC_HEALTH_PROBE"] == "198.51.100.1:25"
